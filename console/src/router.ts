// Hash routes, so the server serves one page and a view can be bookmarked or shared:
// #/files/{system}/{objectType}/{objectId}, #/trash, #/audit?actor=…, #/usage.
import { useEffect, useState } from 'preact/hooks'

export interface Route {
  view: string
  /** Decoded path segments after the view. */
  path: string[]
  query: URLSearchParams
}

export function parseRoute(hash: string): Route {
  const [pathPart = '', queryPart = ''] = hash.replace(/^#\/?/, '').split('?', 2)
  const segments = pathPart.split('/').filter(Boolean).map((s) => {
    try {
      return decodeURIComponent(s)
    } catch {
      return s
    }
  })
  return { view: segments[0] ?? '', path: segments.slice(1), query: new URLSearchParams(queryPart) }
}

export function href(view: string, path: string[] = [], query?: Record<string, string | undefined>): string {
  const params = new URLSearchParams()
  for (const [name, value] of Object.entries(query ?? {})) if (value) params.set(name, value)
  const search = params.toString()
  return `#/${[view, ...path].map(encodeURIComponent).join('/')}${search ? `?${search}` : ''}`
}

export function navigate(to: string): void {
  if (location.hash !== to) location.hash = to
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash))
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash))
    addEventListener('hashchange', onChange)
    return () => removeEventListener('hashchange', onChange)
  }, [])
  return route
}
