// kill -9 of one sidecar in the middle of five uploads, with two others on the same PostgreSQL
// ledger and bucket: they leave its pending uploads alone while its lease lives, settle them once
// it has lapsed (multipart parts aborted, rows failed and audited), and `reconcile` is clean.
import t from 'tap'
import { PostgresLedger } from '../plugin/ledger/postgres.js'
import { runCli } from './helpers/cli.js'
import { startCluster } from './helpers/cluster.js'
import { stalledUpload } from './helpers/http.js'
import { createTestBucket } from './helpers/s3.js'

const MIB = 1024 * 1024
const LEASE_SECONDS = 4

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

t.test('kill -9 of A mid-upload: B and C wait for its lease, then settle; reconcile is clean', async (t) => {
  const bucket = await createTestBucket(t, 'crash3')
  const cluster = await startCluster(t, bucket, ['A', 'B', 'C'], { INSTANCE_LEASE_SECONDS: String(LEASE_SECONDS) })
  const a = cluster.instances.find((i) => i.name === 'A')!
  const token = cluster.token({ sub: 'crash-test', org: 'org-1', roles: ['admin'] })
  const ledger = await PostgresLedger.open({ connectionString: cluster.env.LEDGER_URL! })
  t.teardown(() => ledger.close())

  // 10 MiB sent is more than one 8 MiB part (the default): each has a multipart upload open.
  await Promise.all([0, 1, 2, 3, 4].map((i) => stalledUpload(a.port, `org-1/epcr/document/mid-${i}/scan.tiff`, token, 20 * MIB, 10 * MIB)))
  const pending = async () => ledger.listStalePending(new Date())
  for (let i = 0; i < 50 && (await pending()).length < 5; i++) await sleep(100)
  const owners = new Set((await pending()).map((row) => row.owner))
  t.equal(owners.size, 1, 'all five are owned by A')
  t.ok(await ledger.leaseHolder(`instance:${[...owners][0]}`), 'and A holds its lease')
  for (let i = 0; i < 50 && (await bucket.incompleteUploads()).length < 5; i++) await sleep(100)
  a.child.kill('SIGKILL')
  const killedAt = Date.now()
  t.equal(await a.exited, null, 'killed with SIGKILL')

  // B and C tick every third of the lease; well inside it, A's rows must still be pending.
  await sleep(1500)
  t.ok(Date.now() - killedAt < (LEASE_SECONDS - 1) * 1000)
  t.equal((await pending()).length, 5, 'left alone while A\'s lease lives')
  t.equal((await bucket.incompleteUploads()).length, 5, 'its multipart uploads too')

  // Settling a row is: mark it failed, audit it, then abort its multipart upload.
  const audited = async () => (await ledger.queryAudit({ actor: 'system', action: 'upload' }, { limit: 10 })).items
  for (let i = 0; i < 150; i++) {
    if ((await pending()).length === 0 && (await bucket.incompleteUploads()).length === 0 && (await audited()).length >= 5) break
    await sleep(100)
  }
  t.same(await pending(), [], 'settled once the lease lapsed')
  t.same(await bucket.incompleteUploads(), [], 'their multipart uploads aborted')
  const settled = await audited()
  t.equal(settled.length, 5, 'each settled upload is audited once, by one instance')
  t.ok(settled.every((e) => e.errorCode === 'FST_SPACES_INTERRUPTED'))

  const check = await runCli(['reconcile'], cluster.env)
  t.equal(check.code, 0, `reconcile reports clean: ${check.stdout}${check.stderr}`)
})
