// How the console says what happened. A refusal shows the server's own message and code, and
// what the person can do about it, never a bare "something went wrong".
import type { ApiError } from '../api.js'

const HINTS: Record<number, string> = {
  0: 'Nothing reached the server. Check the connection, then try again.',
  401: 'Your sign-in is no longer accepted. Sign in again with a valid token.',
  403: 'Your token does not allow this. Ask an administrator for the role or scope named above.',
  404: 'It is no longer there: someone may have moved, deleted or restored it. Refresh the list.',
  409: 'Something else holds this name now. Refresh to see the current state.',
  413: 'The file is larger than this server accepts.',
  415: 'This server does not accept files of this type.',
  502: 'Storage refused the request. Nothing was recorded as done; try again shortly.',
  503: 'Storage or the ledger is unavailable. Nothing was recorded as done; try again shortly.',
}

export function ErrorNotice({ error, action }: { error: ApiError; action?: string }) {
  const hint = HINTS[error.status] ?? (error.status >= 500 ? HINTS[503] : undefined)
  return (
    <div class="notice notice-error" role="alert">
      <p>
        <strong>{action ? `${action}: ` : ''}{error.status === 403 ? 'Refused. ' : ''}</strong>
        {error.message}
      </p>
      <p class="notice-code">
        <code>{error.code}</code>
        {error.status > 0 ? ` · HTTP ${error.status}` : ''}
      </p>
      {hint ? <p>{hint}</p> : null}
    </div>
  )
}

/** A polite live region: progress and confirmations read out without moving focus. */
export function LiveStatus({ message }: { message: string }) {
  return (
    <p class="live-status" role="status" aria-live="polite">
      {message}
    </p>
  )
}
