// A raw-socket HTTP/1.1 client: sends exactly the bytes it is given (malformed ones included) and
// parses the first response, so tests see what the server wrote, not what a client library fixed.
import { connect } from 'node:net'

export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: string
  /** The raw bytes, for when the head itself is under test. */
  raw: Buffer
}

export interface RawOptions {
  /** Give up waiting for an answer after this long (default 5 s). */
  timeoutMs?: number
  /**
   * Half-close our side after sending (default false). Node then aborts a request still in
   * flight, so use it only to end a body that is deliberately shorter than it claims.
   */
  end?: boolean
  /** The answer to a HEAD has headers only. */
  head?: boolean
}

/** Parses one response from the start of `data`; undefined while it is incomplete. */
export function parseResponse(data: Buffer, complete: boolean, headOnly = false): RawResponse | undefined {
  const headEnd = data.indexOf('\r\n\r\n')
  if (headEnd === -1) return undefined
  const head = data.subarray(0, headEnd).toString('latin1').split('\r\n')
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '')?.[1] ?? 0)
  const headers: Record<string, string> = {}
  for (const line of head.slice(1)) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  let rest = data.subarray(headEnd + 4)
  if (status === 100) return parseResponse(rest, complete, headOnly)
  let body: Buffer
  if (headOnly) {
    body = Buffer.alloc(0)
  } else if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length'])
    if (rest.length < length) return complete ? { status, headers, body: rest.toString('utf8'), raw: data } : undefined
    body = rest.subarray(0, length)
  } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const chunks: Buffer[] = []
    for (;;) {
      const lineEnd = rest.indexOf('\r\n')
      if (lineEnd === -1) return complete ? { status, headers, body: Buffer.concat(chunks).toString('utf8'), raw: data } : undefined
      const size = parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16)
      if (size === 0) break
      if (rest.length < lineEnd + 2 + size + 2) return complete ? { status, headers, body: Buffer.concat(chunks).toString('utf8'), raw: data } : undefined
      chunks.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size))
      rest = rest.subarray(lineEnd + 2 + size + 2)
    }
    body = Buffer.concat(chunks)
  } else if (status === 204 || status === 304) {
    body = Buffer.alloc(0)
  } else {
    if (!complete) return undefined
    body = rest
  }
  return { status, headers, body: body.toString('utf8'), raw: data }
}

/**
 * Writes `request` to a fresh connection and resolves with the first response, or undefined when
 * the server closed the connection (or went quiet for `timeoutMs`) without answering.
 */
export function rawRequest(port: number, request: Buffer | string, options: RawOptions = {}): Promise<RawResponse | undefined> {
  const { timeoutMs = 5000, end = false, head = false } = options
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    let settled = false
    const finish = (complete: boolean) => {
      if (settled) return
      const parsed = parseResponse(Buffer.concat(chunks), complete, head)
      if (!parsed && !complete) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve(parsed)
    }
    const timer = setTimeout(() => finish(true), timeoutMs)
    socket.on('data', (chunk) => {
      chunks.push(chunk)
      finish(false)
    })
    socket.on('error', () => finish(true))
    socket.on('close', () => finish(true))
    socket.write(request, () => {
      if (end) socket.end()
    })
  })
}
