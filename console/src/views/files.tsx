// Files: org → system → object type → object id, then the record's files with preview, download,
// delete and drag-and-drop upload. Each level lists what the API returns for it; the server
// filters by the token's grants, and the console only hides what the token could never do.
import { useEffect, useRef, useState } from 'preact/hooks'
import { type Api, type FileRecord, type Page } from '../api.js'
import { useAsync } from '../components/async.js'
import { ErrorNotice } from '../components/notice.js'
import type { ConsoleConfig } from '../config.js'
import { href } from '../router.js'
import { systemsFor, type Session } from '../session.js'
import { FileList } from './file-list.js'

interface Props {
  api: Api
  session: Session
  config: ConsoleConfig
  path: string[]
}

const SEGMENT = /^[A-Za-z0-9._-]{1,128}$/
const LEVELS = ['system', 'objectType', 'objectId'] as const
const LEVEL_NAMES = { system: 'System', objectType: 'Object type', objectId: 'Object id' } as const

function Breadcrumbs({ org, path }: { org: string; path: string[] }) {
  const crumbs = [{ label: org, to: href('files') }, ...path.map((segment, i) => ({ label: segment, to: href('files', path.slice(0, i + 1)) }))]
  return (
    <nav aria-label="Breadcrumb" class="breadcrumbs">
      <ol>
        {crumbs.map((crumb, i) => (
          <li key={crumb.to}>
            {i === crumbs.length - 1 ? <span aria-current="page">{crumb.label}</span> : <a href={crumb.to}>{crumb.label}</a>}
          </li>
        ))}
      </ol>
    </nav>
  )
}

/** Distinct values of one key segment over every page listed so far, with how many files each holds. */
function ChildList({ api, path }: { api: Api; path: string[] }) {
  const level = LEVELS[path.length]!
  const [pages, setPages] = useState<Page<FileRecord>[]>([])
  const [cursor, setCursor] = useState<string | undefined>()
  const query = { system: path[0], objectType: path[1], limit: 1000, cursor }
  const listing = useAsync(() => api.get<Page<FileRecord>>('/files', query), [path.join('/'), cursor])
  useEffect(() => {
    if (listing.data) setPages((seen) => [...seen, listing.data!])
  }, [listing.data])

  const counts = new Map<string, number>()
  for (const page of pages) {
    for (const item of page.items) {
      const segment = item.key.split('/')[path.length + 1]!
      counts.set(segment, (counts.get(segment) ?? 0) + 1)
    }
  }
  const next = pages.at(-1)?.nextCursor
  const label = LEVEL_NAMES[level]
  return (
    <section aria-labelledby="children-heading">
      <h2 id="children-heading">{label}s</h2>
      {listing.error ? <ErrorNotice error={listing.error} action={`Listing ${path.join('/')}`} /> : null}
      {counts.size === 0 && !listing.loading && !listing.error ? <p>No live files here.</p> : null}
      <ul class="child-list">
        {[...counts].map(([segment, count]) => (
          <li key={segment}>
            <a href={href('files', [...path, segment])}>{segment}</a> <span class="muted">{count} file{count === 1 ? '' : 's'}</span>
          </li>
        ))}
      </ul>
      {listing.loading ? <p role="status">Loading…</p> : null}
      {next && !listing.loading ? (
        <button type="button" onClick={() => setCursor(next)}>
          Load more
        </button>
      ) : null}
    </section>
  )
}

/** Jump straight to a record: what someone with a case number in hand does first. */
function OpenRecord({ path }: { path: string[] }) {
  const [objectType, setObjectType] = useState(path[1] ?? '')
  const [objectId, setObjectId] = useState('')
  const [problem, setProblem] = useState<string | undefined>()
  return (
    <form
      class="open-record"
      aria-labelledby="open-record-heading"
      onSubmit={(event) => {
        event.preventDefault()
        if (!SEGMENT.test(objectType) || !SEGMENT.test(objectId)) {
          setProblem('Use 1 to 128 letters, digits, dots, dashes or underscores for each.')
          return
        }
        location.hash = href('files', [path[0]!, objectType, objectId])
      }}
    >
      <h2 id="open-record-heading">Open a record</h2>
      <div class="fields">
        <label>
          Object type
          <input name="objectType" value={objectType} onInput={(e) => setObjectType((e.target as HTMLInputElement).value.trim())} />
        </label>
        <label>
          Object id
          <input name="objectId" value={objectId} onInput={(e) => setObjectId((e.target as HTMLInputElement).value.trim())} />
        </label>
        <button type="submit">Open</button>
      </div>
      {problem ? (
        <p class="field-error" role="alert">
          {problem}
        </p>
      ) : null}
    </form>
  )
}

export function FilesView({ api, session, config, path }: Props) {
  const heading = useRef<HTMLHeadingElement>(null)
  const readable = systemsFor(session, 'read', config.systems)
  const writable = systemsFor(session, 'write', config.systems)
  const shown = path.slice(0, 3)
  useEffect(() => heading.current?.focus(), [shown.join('/')])

  return (
    <>
      <h1 tabIndex={-1} ref={heading}>
        Files
      </h1>
      <Breadcrumbs org={session.org} path={shown} />
      {shown.length === 0 ? (
        <section aria-labelledby="systems-heading">
          <h2 id="systems-heading">Systems</h2>
          {readable.length === 0 && writable.length === 0 ? (
            <p>Your token grants no access to file content. The audit trail and usage views remain available to auditors.</p>
          ) : (
            <ul class="child-list">
              {config.systems
                .filter((s) => readable.includes(s) || writable.includes(s))
                .map((system) => (
                  <li key={system}>
                    <a href={href('files', [system])}>{system}</a>
                    {readable.includes(system) ? null : <span class="muted"> upload only</span>}
                  </li>
                ))}
            </ul>
          )}
        </section>
      ) : shown.length < 3 ? (
        <>
          <OpenRecord path={shown} />
          <ChildList key={shown.join('/')} api={api} path={shown} />
        </>
      ) : (
        <FileList key={shown.join('/')} api={api} session={session} resumable={config.resumable} target={{ org: session.org, system: shown[0]!, objectType: shown[1]!, objectId: shown[2]! }} />
      )}
    </>
  )
}
