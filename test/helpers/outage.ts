// Spaces going away under a sidecar: a loopback relay in front of the S3 peer that a test cuts
// (the peer itself keeps running), a sidecar that reaches S3 through it, and a client that keeps
// sending a body while the cut happens.
import type { Test } from 'tap'
import { request, type IncomingMessage } from 'node:http'
import { once } from 'node:events'
import { buildServer, spacesEnv } from './server.js'
import { createTestBucket, type TestBucket } from './s3.js'
import { tcpRelay, type TcpRelay } from './tcp-relay.js'
import { patternStream } from './http.js'

export interface Answer {
  status: number
  headers: IncomingMessage['headers']
  body: string
}

/**
 * Sends `head`, then `before` bytes of a body of `total`, then runs `midway` (the outage), then
 * keeps sending until the server answers, and ends with `tail` if it has not. Resolves with the
 * answer.
 */
export async function uploadThroughOutage(
  url: string,
  options: {
    method: string
    headers: Record<string, string | number>
    head?: Buffer
    /** Sent after the body: a form's closing boundary, so that the body is whole however fast the server reads it. */
    tail?: Buffer
    /** The body to send; a generated one of `total` bytes without it. */
    body?: Buffer
    before: number
    total: number
    midway: () => Promise<void>
  },
): Promise<Answer> {
  const req = request(url, { method: options.method, headers: options.headers })
  const answered = new Promise<Answer>((resolve, reject) => {
    req.on('response', async (res) => {
      let body = ''
      for await (const chunk of res) body += chunk
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body })
    })
    req.on('error', reject)
  })
  let done = false
  void answered.finally(() => (done = true)).catch(() => {})
  if (options.head) req.write(options.head)
  let sent = 0
  let cut = false
  const source = options.body ? slices(options.body, 256 * 1024) : patternStream(options.total, 3, 256 * 1024)
  for await (const chunk of source) {
    if (done) break
    if (!req.write(chunk)) await Promise.race([once(req, 'drain'), answered.catch(() => {})])
    sent += (chunk as Buffer).length
    if (!cut && sent >= options.before) {
      cut = true
      // Give the server a moment to send what it has to the store, then cut the store off.
      await new Promise((resolve) => setTimeout(resolve, 500))
      await options.midway()
    }
  }
  if (!done) req.end(options.tail)
  return answered
}

function* slices(data: Buffer, size: number): Generator<Buffer> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size)
}

export async function outageSetup(t: Test, label = 'outage'): Promise<{ bucket: TestBucket; relay: TcpRelay; port: number; server: Awaited<ReturnType<typeof buildServer>> }> {
  const bucket = await createTestBucket(t, label)
  const relay = await tcpRelay(new URL(bucket.connection.endpoint))
  t.teardown(() => relay.down())
  // The sweep runs every second here; orphans left by this process's own failures go at once.
  const server = await buildServer(t, { ...spacesEnv(bucket), SPACES_ENDPOINT: relay.endpoint(), SWEEP_INTERVAL_SECONDS: '1' })
  await server.app.listen({ host: '127.0.0.1', port: 0 })
  return { bucket, relay, port: (server.app.server.address() as { port: number }).port, server }
}

export async function waitUntil(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if (await check()) return true
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  return check()
}

export function assertRetryable(t: Test, answer: Answer): void {
  t.ok(answer.status === 502 || answer.status === 503, `a retryable status (got ${answer.status}: ${answer.body})`)
  t.match(JSON.parse(answer.body), { statusCode: answer.status, code: /^FST_SPACES_STORAGE_(ERROR|UNAVAILABLE)$/, error: String, message: String })
  t.ok(Number(answer.headers['retry-after']) > 0, 'with Retry-After')
}
