// The console's shell: sign-in, then a header with who is signed in, the views this token may
// use, and the view the address names.
import { useMemo, useState } from 'preact/hooks'
import { createApi } from './api.js'
import type { ConsoleConfig } from './config.js'
import { formatTime } from './format.js'
import { href, navigate, useRoute } from './router.js'
import { canAudit, clearSession, loadSession, saveSession, systemsFor, type Session } from './session.js'
import { AuditView } from './views/audit.js'
import { FilesView } from './views/files.js'
import { SignIn } from './views/sign-in.js'
import { TrashView } from './views/trash.js'
import { UsageView } from './views/usage.js'

interface ViewLink {
  view: string
  label: string
}

/** The views this token can use at all; the server still decides each request. */
export function viewsFor(session: Session, config: ConsoleConfig): ViewLink[] {
  const views: ViewLink[] = []
  const fileSystems = [...systemsFor(session, 'read', config.systems), ...systemsFor(session, 'write', config.systems)]
  if (fileSystems.length > 0) views.push({ view: 'files', label: 'Files' })
  if (systemsFor(session, 'delete', config.systems).length > 0) views.push({ view: 'trash', label: 'Trash' })
  if (canAudit(session)) views.push({ view: 'audit', label: 'Audit' }, { view: 'usage', label: 'Usage' })
  return views
}

function describeAccess(session: Session): string {
  const parts = [...session.roles]
  if (session.scopes.length > 0) parts.push(`scopes ${session.scopes.join(' ')}`)
  return parts.length > 0 ? parts.join(', ') : 'no roles or scopes'
}

function focusMain(event: Event) {
  event.preventDefault()
  document.getElementById('main')?.focus()
}

export function App({ config }: { config: ConsoleConfig }) {
  const [session, setSession] = useState<Session | undefined>(loadSession)
  const [signedOutReason, setSignedOutReason] = useState<string | undefined>()
  const route = useRoute()
  const api = useMemo(
    () =>
      session
        ? createApi(config.api, session.token, (error) => {
            clearSession()
            setSession(undefined)
            setSignedOutReason(`You were signed out: ${error.message} (${error.code}).`)
          })
        : undefined,
    [session?.token],
  )

  if (!session || !api) {
    return (
      <SignIn
        config={config}
        reason={signedOutReason}
        onSignIn={(s) => {
          saveSession(s)
          setSignedOutReason(undefined)
          setSession(s)
          const first = viewsFor(s, config)[0]
          navigate(href(first?.view ?? 'files'))
        }}
      />
    )
  }

  const views = viewsFor(session, config)
  const current = views.find((v) => v.view === route.view) ? route.view : views[0]?.view
  let body
  switch (current) {
    case 'files':
      body = <FilesView api={api} session={session} config={config} path={route.path} />
      break
    case 'trash':
      body = <TrashView api={api} session={session} config={config} />
      break
    case 'audit':
      body = <AuditView api={api} session={session} query={route.query} />
      break
    case 'usage':
      body = <UsageView api={api} config={config} />
      break
    default:
      body = (
        <>
          <h1>Nothing to show</h1>
          <p>
            This token has no role or scope that the console can use in {session.org}. Ask an administrator for the
            auditor role, or for a scope such as <code>epcr:read</code>.
          </p>
        </>
      )
  }

  return (
    <>
      <a class="skip-link" href="#main" onClick={focusMain}>
        Skip to content
      </a>
      <header class="masthead">
        <p class="brand">Storage console</p>
        <p class="who">
          <span data-testid="signed-in-as">
            {session.sub} · {session.org}
          </span>
          <span class="muted"> · {describeAccess(session)}</span>
          {session.expiresAt ? <span class="muted"> · until {formatTime(new Date(session.expiresAt * 1000).toISOString())}</span> : null}
        </p>
        <button
          type="button"
          onClick={() => {
            clearSession()
            setSession(undefined)
            setSignedOutReason(undefined)
          }}
        >
          Sign out
        </button>
      </header>
      <nav class="views" aria-label="Views">
        <ul>
          {views.map((v) => (
            <li key={v.view}>
              <a href={href(v.view)} aria-current={v.view === current ? 'page' : undefined}>
                {v.label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" tabIndex={-1} key={current}>
        {body}
      </main>
    </>
  )
}
