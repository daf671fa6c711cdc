// What the server filled into the page: where the API is, which systems exist, and whether a
// development token is on offer. Read once at start.
export interface ConsoleConfig {
  api: string
  systems: string[]
  devTokenOffered: boolean
  /** Uploads resume over tus (the store has multipart uploads); else a form upload per file. */
  resumable: boolean
  /** Where the page itself is served (for the dev-token route beside it). */
  base: string
}

export function readConfig(doc: Document = document): ConsoleConfig {
  const data = doc.body.dataset
  const base = location.pathname.endsWith('/') ? location.pathname.slice(0, -1) : location.pathname
  return {
    api: data.api ?? '/v1',
    systems: (data.systems ?? '').split(',').filter((s) => s.length > 0),
    devTokenOffered: data.devToken === 'offered',
    resumable: data.resumable === 'true',
    base,
  }
}
