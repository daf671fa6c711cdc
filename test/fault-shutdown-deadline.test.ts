// SIGTERM to a real sidecar process while uploads stall past SHUTDOWN_TIMEOUT_MS: the stalled
// ones are aborted, and their cleanup (reservation marked failed, multipart upload aborted) and
// their audit events still reach the ledger, which closes last. Exit 0, nothing left behind.
// A resumable (tus) upload cut off the same way keeps what it had recorded, and resumes on the
// next process to the exact sha256.
import { test, type Test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'node:http'
import { once } from 'node:events'
import { createSigner } from 'fast-jwt'
import { SqliteLedger } from '../plugin/ledger/sqlite.js'
import { createTestBucket } from './helpers/s3.js'
import { spacesEnv, JWT_SECRET } from './helpers/server.js'
import { startCliServer } from './helpers/cli.js'
import { patternStream } from './helpers/http.js'

const MIB = 1024 * 1024
const DEADLINE_MS = 1500
const BOUNDARY = 'shutdownboundary'

/** Starts an upload that sends `first` bytes and then stalls; resolves once they are written. */
async function stalledUpload(port: number, path: string, headers: Record<string, string | number>, head: Buffer, first: number) {
  const req = request({ host: '127.0.0.1', port, method: headers['content-length'] ? 'PUT' : 'POST', path, headers })
  req.on('error', () => {})
  req.on('response', (res) => res.resume())
  req.write(head)
  for await (const chunk of patternStream(first, 5)) if (!req.write(chunk)) await once(req, 'drain')
  return req
}

/** A bucket, a ledger file and the sidecar settings both of a test's processes share. */
async function sidecarEnv(t: Test) {
  const bucket = await createTestBucket(t, 'sigterm')
  const dir = mkdtempSync(join(tmpdir(), 'fastify-spaces-sigterm-'))
  const env = {
    ...spacesEnv(bucket),
    JWT_SECRET,
    LEDGER_PATH: join(dir, 'ledger.db'),
    SHUTDOWN_TIMEOUT_MS: String(DEADLINE_MS),
    SWEEP_INTERVAL_SECONDS: '0',
    DATE_PREFIX: 'false',
  }
  const token = createSigner({ key: JWT_SECRET, expiresIn: 600_000 })({ sub: 'night-shift', org: 'org-1', roles: ['admin'] })
  const start = async () => {
    const server = await startCliServer(env)
    t.teardown(() => server.child.kill('SIGKILL'))
    return server
  }
  return { bucket, env, start, auth: { authorization: `Bearer ${token}` } }
}

/** SIGTERM, then the checks every shutdown past its deadline must pass. */
async function terminate(t: Test, server: Awaited<ReturnType<typeof startCliServer>>, stalled: Array<{ destroy(): void }>) {
  const signalledAt = Date.now()
  server.child.kill('SIGTERM')
  const code = await server.exited
  const tookMs = Date.now() - signalledAt
  for (const req of stalled) req.destroy()
  t.equal(code, 0, 'exits 0')
  t.ok(tookMs < DEADLINE_MS + 15_000, `stopped ${tookMs} ms after SIGTERM (deadline ${DEADLINE_MS} ms)`)
  const output = server.output()
  t.match(output, /shutdown deadline reached: aborting requests still in flight/)
  t.notMatch(output, /database connection is not open/, 'nothing hit a closed ledger')
  t.notMatch(output, /audit event could not be written|marking the upload failed did not work/)
  t.notMatch(output, /"level":50[^\n]*FST_SPACES_INTERNAL/, 'no aborted upload is logged as an internal error')
}

test('SIGTERM past the deadline: aborted uploads still mark their reservations failed and write their audit', async (t) => {
  const { bucket, env, start, auth } = await sidecarEnv(t)
  const server = await start()

  const stalled = await Promise.all([
    ...[1, 2, 3].map((i) =>
      stalledUpload(server.port, `/v1/files/org-1/fax/inbound/stall-${i}/fax.tiff`, { ...auth, 'content-length': 40 * MIB }, Buffer.alloc(0), 12 * MIB),
    ),
    stalledUpload(
      server.port,
      '/v1/files/org-1/epcr/document/stall-form',
      { ...auth, 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'transfer-encoding': 'chunked' },
      Buffer.from(
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="first.pdf"\r\nContent-Type: application/pdf\r\n\r\nfirst file\r\n` +
          `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="second.pdf"\r\nContent-Type: application/pdf\r\n\r\n`,
      ),
      12 * MIB,
    ),
  ])
  // Let the sidecar start its multipart uploads with what it has.
  await new Promise((resolve) => setTimeout(resolve, 1000))

  await terminate(t, server, stalled)

  const ledger = SqliteLedger.open({ path: env.LEDGER_PATH })
  t.teardown(() => ledger.close())
  t.same(await ledger.listStalePending(new Date(Date.now() + 60_000)), [], 'every reservation was settled (failed), none left pending')
  t.same((await ledger.listStoredKeys()).filter((row) => row.state === 'live'), [], 'nothing recorded as stored')
  const events = (await ledger.queryAudit({ action: 'upload' }, { limit: 20 })).items
  t.same(
    events.map((e) => e.key).sort(),
    [
      'org-1/epcr/document/stall-form/first.pdf',
      'org-1/epcr/document/stall-form/second.pdf',
      'org-1/fax/inbound/stall-1/fax.tiff',
      'org-1/fax/inbound/stall-2/fax.tiff',
      'org-1/fax/inbound/stall-3/fax.tiff',
    ],
    'every aborted upload, and each file of the aborted form, has its audit event',
  )
  t.ok(events.every((e) => e.result === 'error'), 'each says it failed')
  t.match(await ledger.verifyAudit(), { ok: true, events: 5 }, 'and the chain holds')
  t.same(await bucket.keys(), [], 'no object left')
  t.same(await bucket.incompleteUploads(), [], 'no multipart upload left')
})

test('SIGTERM past the deadline during a tus PATCH: the upload keeps what it recorded and resumes on the next process', async (t) => {
  const { bucket, start, auth } = await sidecarEnv(t)
  const tus = { ...auth, 'tus-resumable': '1.0.0' }
  const data = randomBytes(30 * MIB + 5)
  const meta = { system: 'epcr', objectType: 'video', objectId: 'stall-tus', filename: 'clip.mp4', contentType: 'video/mp4' }
  let server = await start()
  const created = await fetch(`http://127.0.0.1:${server.port}/v1/uploads/tus`, {
    method: 'POST',
    headers: {
      ...tus,
      'upload-length': String(data.length),
      'upload-metadata': Object.entries(meta).map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`).join(','),
    },
  })
  t.equal(created.status, 201)
  const path = new URL(created.headers.get('location')!, 'http://x').pathname
  // A first chunk of 6 MiB sets the part size; the second, the rest of the file, stalls after 12 MiB.
  const first = await fetch(`http://127.0.0.1:${server.port}${path}`, {
    method: 'PATCH',
    headers: { ...tus, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' },
    body: data.subarray(0, 6 * MIB),
  })
  t.equal(first.status, 204)
  const req = request({
    host: '127.0.0.1',
    port: server.port,
    method: 'PATCH',
    path,
    headers: { ...tus, 'content-type': 'application/offset+octet-stream', 'upload-offset': 6 * MIB, 'content-length': data.length - 6 * MIB },
  })
  req.on('error', () => {})
  req.on('response', (res) => res.resume())
  for (let at = 6 * MIB; at < 18 * MIB; at += 256 * 1024) if (!req.write(data.subarray(at, at + 256 * 1024))) await once(req, 'drain')
  await new Promise((resolve) => setTimeout(resolve, 1000))
  await terminate(t, server, [req])

  server = await start()
  const url = `http://127.0.0.1:${server.port}${path}`
  const head = await fetch(url, { method: 'HEAD', headers: tus })
  t.equal(head.status, 200, 'the upload is still there after the restart')
  const offset = Number(head.headers.get('upload-offset'))
  t.ok(offset >= 6 * MIB && offset <= 18 * MIB, `it holds the parts it recorded before the shutdown (${offset} bytes)`)
  const rest = await fetch(url, {
    method: 'PATCH',
    headers: { ...tus, 'content-type': 'application/offset+octet-stream', 'upload-offset': String(offset) },
    body: data.subarray(offset),
  })
  t.equal(rest.status, 204, 'the rest is appended where it left off')
  const key = `org-1/epcr/video/stall-tus/clip.mp4`
  const file = await fetch(`http://127.0.0.1:${server.port}/v1/files/${key}`, { headers: auth })
  t.equal(file.status, 200)
  t.equal(createHash('sha256').update(Buffer.from(await file.arrayBuffer())).digest('hex'), createHash('sha256').update(data).digest('hex'), 'exactly the bytes sent')
  t.same(await bucket.incompleteUploads(), [], 'no multipart upload left')
  t.same(await bucket.keys(), [key], 'nothing but the file')
})
