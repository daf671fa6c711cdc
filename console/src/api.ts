// The HTTP API, as the signed-in user. Every failure becomes an ApiError carrying the server's
// own status, code and message, so a screen can say exactly why something was refused.

export interface ApiErrorBody {
  statusCode: number
  code: string
  error?: string
  message: string
}

export class ApiError extends Error {
  readonly status: number
  readonly code: string
  constructor(body: ApiErrorBody) {
    super(body.message)
    this.name = 'ApiError'
    this.status = body.statusCode
    this.code = body.code
  }
}

/** Turns a response body (maybe not JSON, maybe empty) into the API's error shape. */
export function errorFromBody(status: number, body: unknown): ApiError {
  const b = body as Partial<ApiErrorBody> | undefined
  if (b && typeof b.code === 'string' && typeof b.message === 'string') {
    return new ApiError({ statusCode: b.statusCode ?? status, code: b.code, message: b.message })
  }
  return new ApiError({ statusCode: status, code: `HTTP_${status}`, message: `The server answered ${status}` })
}

// The API's shapes are the ledger's own types (type-only: nothing of the server is bundled).
export type { AuditEvent, AuditVerification as Verification, FileRecord, Page, TrashRecord, Usage } from '../../plugin/ledger/types.js'

export interface SignedUrl {
  url: string
  expiresAt: string
  expiresIn: number
}

export type Query = Record<string, string | number | undefined>

export interface Api {
  get<T>(path: string, query?: Query): Promise<T>
  send<T>(method: 'POST' | 'DELETE', path: string, body?: unknown): Promise<T>
  /** The URL of a path under the API, for clients that make their own requests (uploads). */
  url(path: string, query?: Query): string
  readonly token: string
}

/** Encodes each segment of an object key for a URL path. */
export function keyPath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/')
}

export function createApi(base: string, token: string, onUnauthorized: (error: ApiError) => void): Api {
  function url(path: string, query: Query = {}): string {
    const params = new URLSearchParams()
    for (const [name, value] of Object.entries(query)) if (value !== undefined && value !== '') params.set(name, String(value))
    const search = params.toString()
    return `${base}${path}${search ? `?${search}` : ''}`
  }

  async function request<T>(method: string, path: string, query?: Query, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' }
    if (body !== undefined) headers['content-type'] = 'application/json'
    let response: Response
    try {
      response = await fetch(url(path, query), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    } catch {
      throw new ApiError({ statusCode: 0, code: 'NETWORK', message: 'The server could not be reached; check your connection and retry.' })
    }
    const text = await response.text()
    let parsed: unknown
    try {
      parsed = text ? JSON.parse(text) : undefined
    } catch {
      parsed = undefined
    }
    if (!response.ok) {
      const error = errorFromBody(response.status, parsed)
      if (response.status === 401) onUnauthorized(error)
      throw error
    }
    return parsed as T
  }

  return {
    token,
    url,
    get: (path, query) => request('GET', path, query),
    send: (method, path, body) => request(method, path, undefined, body),
  }
}

/**
 * A signed URL made for this page. Proxy-mode URLs point at this server; they are used by path,
 * so a TLS-terminating proxy in front (which the server may see as plain http) cannot turn them
 * into mixed content.
 */
export async function signedUrl(api: Api, key: string, disposition: 'inline' | 'attachment'): Promise<SignedUrl> {
  const signed = await api.send<SignedUrl>('POST', '/signed-urls', { key, mode: 'proxy', disposition })
  const parsed = new URL(signed.url, location.href)
  return { ...signed, url: `${parsed.pathname}${parsed.search}` }
}
