// SIGTERM to a real sidecar process while uploads stall past SHUTDOWN_TIMEOUT_MS: the stalled
// ones are aborted, and their cleanup (reservation marked failed, multipart upload aborted) and
// their audit events still reach the ledger, which closes last. Exit 0, nothing left behind.
import { test } from 'tap'
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

test('SIGTERM past the deadline: aborted uploads still mark their reservations failed and write their audit', async (t) => {
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
  const server = await startCliServer(env)
  t.teardown(() => server.child.kill('SIGKILL'))
  const auth = { authorization: `Bearer ${token}` }

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
