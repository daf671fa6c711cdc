// PostgreSQL stopped under load, on a cluster of this test's own: every answer is a 201 or a
// coded, retryable 503 (never a 500), no live record lacks its object, and the sidecar recovers
// on its own once the database is back.
import { execFileSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { PostgresLedger } from '../plugin/ledger/postgres.js'
import { createTestBucket } from './helpers/s3.js'
import { buildServer, spacesEnv } from './helpers/server.js'

const ADMIN = { sub: 'medic-admin', org: 'org-1', roles: ['admin'] }
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function pgPeer(dir: string, command: string): string {
  return execFileSync('scripts/pg-peer', [command], { env: { ...process.env, PG_PEER_DIR: dir }, encoding: 'utf8' })
}

t.test('a PostgreSQL outage under load: 503s with a code, nothing half-recorded, recovery on its own', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-spaces-outage-'))
  pgPeer(dir, 'start')
  t.teardown(() => pgPeer(dir, 'stop'))
  const url = /TEST_PG_URL=(\S+)/.exec(pgPeer(dir, 'env'))![1]!
  const bucket = await createTestBucket(t, 'outage')
  const { app, auth } = await buildServer(t, { ...spacesEnv(bucket), LEDGER_URL: url, INSTANCE_LEASE_SECONDS: '2' })
  const headers = auth(ADMIN)

  let n = 0
  const answers: Array<{ status: number; code?: string; retryAfter?: string; key: string }> = []
  async function upload(): Promise<void> {
    const key = `org-1/epcr/document/load/${n++}.pdf`
    const res = await app.inject({ method: 'PUT', url: `/v1/files/${key}`, headers, payload: `report ${key}` })
    answers.push({ status: res.statusCode, code: res.json().code, retryAfter: res.headers['retry-after'] as string, key })
  }
  let loading = true
  const load = Promise.all(Array.from({ length: 8 }, async () => {
    while (loading) await upload()
  }))
  await sleep(1000)
  pgPeer(dir, 'halt')
  await sleep(1500)
  const ready = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 503, '/ready reports the database')
  t.match(ready.json(), { code: 'FST_SPACES_NOT_READY', message: /ledger/ })
  pgPeer(dir, 'start')
  await sleep(1000)
  loading = false
  await load

  t.ok(answers.some((a) => a.status === 201), 'uploads succeeded before the outage')
  const refused = answers.filter((a) => a.status !== 201)
  t.ok(refused.length > 0, 'and were refused during it')
  t.same([...new Set(refused.map((a) => `${a.status} ${a.code} retry-after:${a.retryAfter !== undefined}`))],
    ['503 FST_SPACES_LEDGER_ERROR retry-after:true'], 'every refusal is a coded, retryable 503: no 500')

  // Back on its own: no restart, the pool reconnects.
  let readyAgain = 0
  for (let i = 0; i < 50 && readyAgain !== 200; i++) {
    readyAgain = (await app.inject({ method: 'GET', url: '/ready' })).statusCode
    if (readyAgain !== 200) await sleep(200)
  }
  t.equal(readyAgain, 200, '/ready is green again')
  await upload()
  t.equal(answers[answers.length - 1]!.status, 201, 'and uploads work again')

  const ledger = await PostgresLedger.open({ connectionString: url })
  t.teardown(() => ledger.close())
  // Uploads cut off mid-way are settled by the sweep once their owner's lease is checked.
  for (let i = 0; i < 50 && (await ledger.listStalePending(new Date())).length > 0; i++) await sleep(200)
  t.same(await ledger.listStalePending(new Date()), [], 'no upload is left pending')
  const live = (await ledger.listStoredKeys()).filter((row) => row.state === 'live').map((row) => row.key).sort()
  const objects = (await bucket.keys()).sort()
  t.same(live, objects, 'every live record has its object, and every object its live record')
  for (const answer of answers.filter((a) => a.status === 201)) t.ok(live.includes(answer.key), `${answer.key} answered 201 and is live`)
  t.match(await ledger.verifyAudit(), { ok: true }, 'the chain holds')
})
