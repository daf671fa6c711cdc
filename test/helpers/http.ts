// Real-socket helpers: large streamed bodies, aborted uploads, memory of a child server.
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { Readable } from 'node:stream'
import { once } from 'node:events'

/** Deterministic pseudo-random bytes, generated as they are read: never held whole in memory. */
export function patternStream(totalBytes: number, seed = 1, chunkSize = 256 * 1024): Readable {
  let sent = 0
  let state = seed
  const block = Buffer.alloc(chunkSize)
  return new Readable({
    read() {
      if (sent >= totalBytes) {
        this.push(null)
        return
      }
      const size = Math.min(chunkSize, totalBytes - sent)
      for (let i = 0; i < size; i += 4) {
        state = (state * 1664525 + 1013904223) >>> 0
        block.writeUInt32LE(state, i)
      }
      sent += size
      this.push(Buffer.from(block.subarray(0, size)))
    },
  })
}

export async function sha256Of(stream: AsyncIterable<Buffer | Uint8Array>): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of stream) {
    hash.update(chunk)
    bytes += chunk.length
  }
  return { sha256: hash.digest('hex'), bytes }
}

export interface SentRequest {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

/**
 * Streams `body` to a real socket and collects the answer. A server may answer (413) and close
 * before the body is sent: the write error that follows is expected, the answer is what counts.
 */
export async function sendStream(
  url: string,
  options: { method: string; headers?: Record<string, string | number>; body: Readable },
): Promise<SentRequest> {
  const req = httpRequest(url, { method: options.method, headers: options.headers })
  const answered = new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    req.on('response', resolve)
    req.on('error', reject)
  })
  options.body.on('error', (err) => req.destroy(err))
  options.body.pipe(req)
  const res = await answered
  options.body.unpipe(req)
  options.body.destroy()
  let body = ''
  for await (const chunk of res) body += chunk
  return { status: res.statusCode ?? 0, headers: res.headers, body }
}

/**
 * Sends `abortAfter` bytes of a body that claims to be larger, then destroys the socket:
 * a client that went away halfway.
 */
export async function sendAndAbort(
  url: string,
  options: {
    method: string
    headers?: Record<string, string | number>
    body: Readable
    abortAfter: number
    /** Runs just before the client vanishes (an outage it vanishes in). */
    beforeAbort?: () => Promise<void>
  },
): Promise<void> {
  const req = httpRequest(url, { method: options.method, headers: options.headers })
  req.on('error', () => {})
  let sent = 0
  for await (const chunk of options.body) {
    if (!req.write(chunk)) await once(req, 'drain')
    sent += (chunk as Buffer).length
    if (sent >= options.abortAfter) break
  }
  // Give the server a moment to start its multipart upload with what it has, then vanish.
  await new Promise((resolve) => setTimeout(resolve, 300))
  await options.beforeAbort?.()
  req.destroy()
}

/** Kilobytes from /proc/PID/status (VmRSS, VmHWM). */
export function procMemoryKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
  if (!match) throw new Error(`no ${field} for ${pid}`)
  return Number(match[1])
}

export interface ChildServer {
  child: ChildProcess
  port: number
  stop(): Promise<void>
}

/** Starts a TS fixture server with tsx (and any extra Node flags) and waits for the port it prints. */
export async function startChildServer(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  nodeFlags: string[] = [],
): Promise<ChildServer> {
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', script, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  let output = ''
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (chunk) => {
      output += chunk
      const match = /^(\d+)\n/m.exec(output)
      if (match) resolve(Number(match[1]))
    })
    child.once('exit', (code) => reject(new Error(`fixture exited with ${code} before listening`)))
  })
  return {
    child,
    port,
    async stop() {
      if (child.exitCode !== null) return
      child.kill('SIGTERM')
      await once(child, 'exit')
    },
  }
}

/** Starts a PUT of a `totalBytes` body that sends `sendBytes` of it, then stalls: an upload cut off by a crash. */
export function stalledUpload(port: number, key: string, token: string, totalBytes: number, sendBytes: number): Promise<void> {
  const req = httpRequest({ host: '127.0.0.1', port, method: 'PUT', path: `/v1/files/${key}`, headers: { authorization: `Bearer ${token}`, 'content-length': totalBytes } })
  req.on('error', () => {})
  const body = patternStream(sendBytes)
  body.pipe(req, { end: false })
  return new Promise<void>((resolve) => body.on('end', resolve))
}
