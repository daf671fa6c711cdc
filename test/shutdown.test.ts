// SIGTERM during three uploads: the two that finish within the deadline are recorded, the one
// that does not is aborted and leaves no object and no multipart upload, and the exit code is 0.
import { test } from 'tap'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request, type IncomingMessage } from 'node:http'
import { once } from 'node:events'
import { createSigner } from 'fast-jwt'
import { SqliteLedger } from '../plugin/ledger/sqlite.js'
import { createTestBucket } from './helpers/s3.js'
import { spacesEnv, JWT_SECRET } from './helpers/server.js'
import { startCliServer } from './helpers/cli.js'
import { patternStream } from './helpers/http.js'

const MIB = 1024 * 1024
const DEADLINE_MS = 4000

/** An upload whose body is sent in two halves; `finish()` sends the rest. */
async function twoPartUpload(port: number, key: string, token: string, totalBytes: number, firstBytes: number) {
  const req = request({ host: '127.0.0.1', port, method: 'PUT', path: `/v1/files/${key}`, headers: { authorization: `Bearer ${token}`, 'content-length': totalBytes } })
  const response = new Promise<number>((resolve) => {
    req.on('response', (res: IncomingMessage) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', () => resolve(0))
  })
  for await (const chunk of patternStream(firstBytes, 1)) if (!req.write(chunk)) await once(req, 'drain')
  return {
    response,
    async finish() {
      for await (const chunk of patternStream(totalBytes - firstBytes, 2)) if (!req.write(chunk)) await once(req, 'drain')
      req.end()
    },
  }
}

test('SIGTERM: finished uploads are recorded, the stalled one is aborted cleanly, exit 0', async (t) => {
  const bucket = await createTestBucket(t, 'term')
  const dir = mkdtempSync(join(tmpdir(), 'fastify-spaces-term-'))
  const env = { ...spacesEnv(bucket), JWT_SECRET, LEDGER_PATH: join(dir, 'ledger.db'), SHUTDOWN_TIMEOUT_MS: String(DEADLINE_MS), SWEEP_INTERVAL_SECONDS: '0' }
  const token = createSigner({ key: JWT_SECRET, expiresIn: 600_000 })({ sub: 'shift', org: 'org-1', roles: ['admin'] })
  const server = await startCliServer(env)
  t.teardown(() => server.child.kill('SIGKILL'))

  const finishing = await Promise.all(
    [0, 1].map((i) => twoPartUpload(server.port, `org-1/fax/outbound/f-${i}/fax.pdf`, token, 20 * MIB, 12 * MIB)),
  )
  const stalled = await twoPartUpload(server.port, 'org-1/fax/outbound/stalled/fax.pdf', token, 40 * MIB, 12 * MIB)
  await new Promise((resolve) => setTimeout(resolve, 800))

  const signalledAt = Date.now()
  server.child.kill('SIGTERM')
  await new Promise((resolve) => setTimeout(resolve, 300))
  const refused = await fetch(`http://127.0.0.1:${server.port}/health`).then((r) => r.status, () => 0)
  t.ok(refused === 503 || refused === 0, `no new requests while stopping (got ${refused})`)
  await Promise.all(finishing.map((upload) => upload.finish()))
  t.same(await Promise.all(finishing.map((upload) => upload.response)), [201, 201], 'uploads in flight finish')

  const code = await server.exited
  const tookMs = Date.now() - signalledAt
  t.equal(code, 0, 'exits 0')
  t.ok(tookMs < DEADLINE_MS + 5000, `stopped ${tookMs} ms after SIGTERM (deadline ${DEADLINE_MS} ms)`)
  t.equal(await stalled.response, 0, 'the stalled upload was cut off')

  const ledger = SqliteLedger.open({ path: env.LEDGER_PATH })
  t.teardown(() => ledger.close())
  t.same(
    (await ledger.listStoredKeys()).filter((row) => row.state === 'live').map((row) => row.key).sort(),
    ['org-1/fax/outbound/f-0/fax.pdf', 'org-1/fax/outbound/f-1/fax.pdf'],
  )
  t.same(await ledger.listStalePending(new Date()), [], 'nothing left pending')
  t.same((await bucket.keys()).sort(), ['org-1/fax/outbound/f-0/fax.pdf', 'org-1/fax/outbound/f-1/fax.pdf'], 'no object for the aborted one')
  t.same(await bucket.incompleteUploads(), [], 'and no multipart upload')
  t.match(server.output(), /shutdown deadline reached: aborting requests still in flight/)
})
