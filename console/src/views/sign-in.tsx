// Sign-in: paste a bearer token. It is kept in this tab's sessionStorage only. In development
// the sidecar offers its own token to a browser on the same machine.
import { useState } from 'preact/hooks'
import type { ConsoleConfig } from '../config.js'
import { sessionFromToken, type Session } from '../session.js'

export function SignIn({ config, onSignIn, reason }: { config: ConsoleConfig; onSignIn(s: Session): void; reason?: string }) {
  const [token, setToken] = useState('')
  const [problem, setProblem] = useState<string | undefined>()

  function submit(value: string) {
    try {
      onSignIn(sessionFromToken(value))
    } catch (err) {
      setProblem((err as Error).message)
    }
  }

  async function takeDevToken() {
    try {
      const response = await fetch(`${config.base}/dev-token`, { headers: { accept: 'application/json' } })
      if (!response.ok) throw new Error(`The development token is not offered here (HTTP ${response.status}).`)
      const { token: devToken } = (await response.json()) as { token: string }
      setToken(devToken)
      submit(devToken)
    } catch (err) {
      setProblem((err as Error).message)
    }
  }

  return (
    <main id="main" class="sign-in" tabIndex={-1}>
      <h1>Storage console</h1>
      <p>Files, trash, the audit trail and usage of your organisation’s documents.</p>
      {reason ? (
        <div class="notice notice-error" role="alert">
          <p>{reason}</p>
        </div>
      ) : null}
      <form
        onSubmit={(event) => {
          event.preventDefault()
          submit(token)
        }}
      >
        <label for="token">Bearer token</label>
        <p class="hint" id="token-hint">
          Paste the JWT you were given. It stays in this browser tab only and is forgotten when the tab closes.
        </p>
        <textarea
          id="token"
          name="token"
          rows={4}
          spellcheck={false}
          autocomplete="off"
          aria-describedby={problem ? 'token-hint token-problem' : 'token-hint'}
          aria-invalid={problem ? true : undefined}
          value={token}
          onInput={(event) => {
            setToken((event.target as HTMLTextAreaElement).value)
            setProblem(undefined)
          }}
        />
        {problem ? (
          <p id="token-problem" class="field-error" role="alert">
            {problem}
          </p>
        ) : null}
        <div class="actions">
          <button type="submit" class="primary">
            Sign in
          </button>
          {config.devTokenOffered ? (
            <button type="button" onClick={() => void takeDevToken()}>
              Use the development token
            </button>
          ) : null}
        </div>
      </form>
    </main>
  )
}
