// kill -9 in the middle of five uploads, then a restart: no record claims a file that is not in
// the bucket, and `spaces-proxy reconcile --fix` ends clean.
import { test } from 'tap'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HeadObjectCommand } from '@aws-sdk/client-s3'
import { SqliteLedger } from '../plugin/ledger/sqlite.js'
import { createTestBucket } from './helpers/s3.js'
import { spacesEnv, JWT_SECRET } from './helpers/server.js'
import { runCli, startCliServer } from './helpers/cli.js'
import { stalledUpload } from './helpers/http.js'
import { createSigner } from 'fast-jwt'

const MIB = 1024 * 1024

test('kill -9 mid-upload, restart, reconcile --fix: clean', async (t) => {
  const bucket = await createTestBucket(t, 'crash')
  const dir = mkdtempSync(join(tmpdir(), 'fastify-spaces-crash-'))
  const env = { ...spacesEnv(bucket), JWT_SECRET, LEDGER_PATH: join(dir, 'ledger.db'), LOG_LEVEL: 'info', SWEEP_INTERVAL_SECONDS: '0', INSTANCE_LEASE_SECONDS: '1' }
  const token = createSigner({ key: JWT_SECRET, expiresIn: 600_000 })({ sub: 'crash-test', org: 'org-1', roles: ['admin'] })

  const first = await startCliServer(env)
  t.teardown(() => first.child.kill('SIGKILL'))
  // Two uploads finish; three are mid-stream (past their first parts) when the process dies.
  const done = await Promise.all(
    [0, 1].map(async (i) => {
      const res = await fetch(`http://127.0.0.1:${first.port}/v1/files/org-1/epcr/document/done-${i}/report.pdf`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}` },
        body: Buffer.alloc(1024 * (i + 1), 7),
      })
      return res.status
    }),
  )
  t.same(done, [201, 201])
  await Promise.all([0, 1, 2].map((i) => stalledUpload(first.port, `org-1/epcr/document/mid-${i}/scan.tiff`, token, 40 * MIB, 16 * MIB)))
  await new Promise((resolve) => setTimeout(resolve, 1500))
  t.ok((await bucket.incompleteUploads()).length >= 1, 'multipart uploads were under way at the kill')
  first.child.kill('SIGKILL')
  t.equal(await first.exited, null, 'killed with SIGKILL')

  const before = SqliteLedger.open({ path: env.LEDGER_PATH })
  t.equal((await before.listStalePending(new Date())).length, 3, 'the crash left three pending rows')
  await before.close()

  const second = await startCliServer(env)
  t.teardown(() => second.child.kill('SIGKILL'))
  t.equal((await fetch(`http://127.0.0.1:${second.port}/ready`)).status, 200)
  // The dead instance's lease lapses within a second; the next heartbeat then settles its rows.
  const watch = SqliteLedger.open({ path: env.LEDGER_PATH })
  for (let i = 0; i < 100 && (await watch.listStalePending(new Date())).length > 0; i++) await new Promise((r) => setTimeout(r, 100))
  await watch.close()
  second.child.kill('SIGTERM')
  t.equal(await second.exited, 0)

  const ledger = SqliteLedger.open({ path: env.LEDGER_PATH })
  t.teardown(() => ledger.close())
  t.same(await ledger.listStalePending(new Date()), [], 'the restart settled every pending row')
  const live = (await ledger.listStoredKeys()).filter((row) => row.state === 'live')
  t.equal(live.length, 2, 'the two finished uploads are live')
  for (const row of live) {
    const head = await bucket.client.send(new HeadObjectCommand({ Bucket: bucket.name, Key: row.key }))
    t.ok(head.ContentLength, `${row.key} is in the bucket`)
  }
  const failed = (await ledger.queryAudit({ action: 'upload', actor: 'system' }, { limit: 10 })).items
  t.equal(failed.length, 3, 'each settled upload is audited')

  const fix = await runCli(['reconcile', '--fix'], env)
  t.equal(fix.code, 0, fix.stdout + fix.stderr)
  const check = await runCli(['reconcile'], env)
  t.equal(check.code, 0, `reconcile reports clean: ${check.stdout}`)
  t.same(await bucket.incompleteUploads(), [], 'no multipart upload left')
  t.same((await bucket.keys()).sort(), live.map((row) => row.key).sort(), 'the bucket holds exactly the live files')
})
