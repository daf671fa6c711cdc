// The fuzz harness: a real sidecar on the S3 server, hostile requests written byte for byte to raw
// sockets, and the invariants every answer and the final state must meet:
// - no 5xx, and no request left hanging without an answer;
// - every error answer is exactly {statusCode, code, error, message} with a code the README lists;
// - what failed left nothing behind: the bucket and the ledger hold exactly what the 2xx answers
//   stored, nothing is pending but what a presign reserved, no multipart upload is open;
// - the audit chain still verifies, and the server logged no error.
import { readFileSync } from 'node:fs'
import { STATUS_CODES } from 'node:http'
import type { Test } from 'tap'
import { buildServer, spacesEnv, type TestServer } from './server.js'
import { createTestBucket, type TestBucket } from './s3.js'
import { rawRequest, type RawResponse } from './raw-http.js'
import { settled } from './invariants.js'

export interface FuzzCase {
  /** What made this request (generator and mutations): printed when it breaks an invariant. */
  label: string
  request: Buffer
  head?: boolean
  /** The HTTP body is deliberately shorter than announced: we half-close, and no answer is fine. */
  truncated?: boolean
}

export interface FuzzTarget {
  server: TestServer
  bucket: TestBucket
  port: number
  /** Keys a 2xx answer said were stored, and keys a presign reserved. */
  stored: Set<string>
  reserved: Set<string>
  /** Paths of the tus uploads a 201 created: the test settles them before the final check. */
  tusUploads: Set<string>
}

const ERROR_KEYS = ['code', 'error', 'message', 'statusCode']
/** Statuses Node has no reason phrase for: tus's checksum extension names 460. */
const REASONS: Record<number, string> = { 460: 'Checksum Mismatch' }

/** The codes the README's Errors table documents. */
export function documentedCodes(): Set<string> {
  const readme = readFileSync('README.md', 'utf8')
  const start = readme.indexOf('\n## Errors\n')
  const table = readme.slice(start, readme.indexOf('\n## ', start + 4))
  return new Set([...table.matchAll(/^\| `(FST_SPACES_[A-Z_]+)` \|/gm)].map((m) => m[1]!))
}

export async function fuzzTarget(t: Test, label: string, env: Record<string, string> = {}): Promise<FuzzTarget> {
  const bucket = await createTestBucket(t, label)
  // info, not debug: thousands of requests would otherwise log tens of thousands of lines.
  const server = await buildServer(t, { ...spacesEnv(bucket), LOG_LEVEL: 'info', MAX_UPLOAD_BYTES: String(256 * 1024), ...env })
  await server.app.listen({ host: '127.0.0.1', port: 0 })
  return { server, bucket, port: (server.app.server.address() as { port: number }).port, stored: new Set(), reserved: new Set(), tusUploads: new Set() }
}

/** What is wrong with an answer, or undefined when it meets the invariants. */
export function problemWith(kase: FuzzCase, answer: RawResponse | undefined, codes: Set<string>): string | undefined {
  if (!answer) return kase.truncated ? undefined : 'no answer'
  if (answer.status >= 500) return `status ${answer.status}`
  if (answer.status < 400 || kase.head) return undefined
  let body: Record<string, unknown>
  try {
    body = JSON.parse(answer.body) as Record<string, unknown>
  } catch {
    return `status ${answer.status} with a body that is not JSON`
  }
  if (Object.keys(body).sort().join() !== ERROR_KEYS.join()) return `error body keys ${Object.keys(body).sort().join()}`
  if (body.statusCode !== answer.status) return `statusCode ${String(body.statusCode)} in a ${answer.status} answer`
  if (body.error !== (STATUS_CODES[answer.status] ?? REASONS[answer.status])) return `error "${String(body.error)}" for ${answer.status}`
  if (typeof body.message !== 'string' || body.message.length === 0) return 'no message'
  if (!codes.has(String(body.code))) return `undocumented code ${String(body.code)}`
  return undefined
}

/** Remembers what a successful answer stored or reserved. */
function noteSuccess(target: FuzzTarget, kase: FuzzCase, answer: RawResponse): void {
  if (answer.status !== 201) return
  const line = kase.request.subarray(0, kase.request.indexOf('\r\n')).toString('latin1')
  if (line.startsWith('POST /v1/uploads/tus ')) {
    target.tusUploads.add(new URL(answer.headers.location!, 'http://x').pathname)
    return
  }
  const body = JSON.parse(answer.body) as { key?: string; url?: string; files?: Array<{ key: string }> }
  if (line.startsWith('POST /v1/uploads ')) target.reserved.add(body.key!)
  else if (line.startsWith('POST /v1/signed-urls ')) return
  else for (const key of body.files?.map((f) => f.key) ?? [body.key!]) target.stored.add(key)
}

function show(request: Buffer): string {
  return JSON.stringify(request.subarray(0, 400).toString('latin1').replace(/Bearer [\w.-]+/g, 'Bearer <token>'))
}

/** Sends every case (`concurrency` at a time) and checks each answer; fails the test with the first problems. */
export async function runFuzz(t: Test, target: FuzzTarget, cases: FuzzCase[], options: { seed: number; concurrency?: number }): Promise<void> {
  const codes = documentedCodes()
  const statuses: Record<string, number> = {}
  const problems: string[] = []
  const slowest: Array<[number, string]> = []
  let next = 0
  const worker = async () => {
    while (next < cases.length) {
      const index = next++
      const kase = cases[index]!
      const startedAt = Date.now()
      const answer = await rawRequest(target.port, kase.request, { end: kase.truncated === true, head: kase.head, timeoutMs: kase.truncated ? 3000 : 15_000 })
      slowest.push([Date.now() - startedAt, `${kase.label} -> ${answer?.status ?? 'none'}`])
      const status = answer ? String(answer.status) : 'none'
      statuses[status] = (statuses[status] ?? 0) + 1
      const problem = problemWith(kase, answer, codes)
      if (problem) problems.push(`case ${index} [${kase.label}]: ${problem}; answer ${JSON.stringify(answer?.body.slice(0, 200))}; request ${show(kase.request)}`)
      else if (answer) noteSuccess(target, kase, answer)
    }
  }
  await Promise.all(Array.from({ length: options.concurrency ?? 6 }, worker))
  t.comment(`${cases.length} requests (seed ${options.seed}), answers by status: ${JSON.stringify(statuses)}`)
  slowest.sort((a, b) => b[0] - a[0])
  t.comment(`slowest: ${slowest.slice(0, 8).map(([ms, what]) => `${what} ${ms} ms`).join('; ')}`)
  t.same(problems.slice(0, 10), [], `every answer meets the invariants (${problems.length} did not; replay with FUZZ_SEED=${options.seed})`)
}

/** The final state: exactly what the 2xx answers stored, nothing half-done, a sound chain, no error logged. */
export async function assertLeftNothing(t: Test, target: FuzzTarget): Promise<void> {
  const { ledger } = target.server.app.storage
  await settled(target.bucket, ledger)
  const rows = await ledger.listStoredKeys()
  const keysIn = (state: string) => rows.filter((r) => r.state === state)
  const live = keysIn('live').map((r) => r.key)
  t.same(live.filter((key) => !target.stored.has(key)), [], 'every live file was stored by a 201')
  t.same([...target.stored].filter((key) => !live.includes(key)), [], 'every file a 201 stored is live')
  const pending = await ledger.listStalePending(new Date(Date.now() + 60_000))
  t.same(pending.map((r) => r.key).filter((key) => !target.reserved.has(key)), [], 'nothing pending but what a presign reserved')
  const trash = keysIn('trashed')
  for (const row of trash) {
    const trashed = await ledger.getById(row.id)
    t.ok(trashed && target.stored.has(trashed.key), 'only overwritten versions of stored files are in trash')
  }
  t.same((await target.bucket.keys()).sort(), [...live, ...trash.map((r) => r.key)].sort(), 'the bucket holds exactly what the ledger records')
  t.same(await target.bucket.incompleteUploads(), [], 'no multipart upload left open')
  t.match(await ledger.verifyAudit(), { ok: true }, 'the audit chain verifies')
  const errors = target.server.logs.filter((line) => /"level":(50|60)/.test(line))
  t.same(errors.slice(0, 3), [], 'the server logged no error')
}
