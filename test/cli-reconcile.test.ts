// `spaces-proxy reconcile`: real drift between a real ledger file and a real bucket, made the way
// it happens (hands in the bucket, a crash mid-upload), found by the CLI and settled by --fix.
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { CreateMultipartUploadCommand, DeleteObjectCommand, PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3'
import t from 'tap'
import { SqliteLedger } from '../plugin/ledger/sqlite.js'
import { openStorage } from '../server/commands/context.js'
import { problemCount, reconcile } from '../server/commands/reconcile.js'
import { loadConfig } from '../server/config.js'
import { runCli } from './helpers/cli.js'
import { createTestBucket } from './helpers/s3.js'
import { spacesEnv } from './helpers/server.js'

const P = 'org-1/epcr/document/d-'
const KEYS = {
  live: `${P}1/good.pdf`,
  trashed: `${P}2/old.pdf`,
  orphan: `${P}3/orphan Jane Doe.pdf`,
  lost: `${P}4/lost.pdf`,
  crashed: `${P}5/crashed.pdf`,
  finished: `${P}6/finished.pdf`,
  direct: `${P}7/browser.pdf`,
  resumable: `${P}9/resumable.mp4`,
  stray: `${P}9/stray.pdf`,
}

t.test('reports drift, --fix settles what is safe, the rest stays reported', async (t) => {
  const bucket = await createTestBucket(t, 'reconcile')
  const cwd = t.testdir()
  const env: Record<string, string> = { ...spacesEnv(bucket), LEDGER_PATH: join(cwd, 'ledger.db') }
  await SqliteLedger.open({ path: env.LEDGER_PATH! }).close()
  const deps = await openStorage(loadConfig(env))
  t.teardown(() => deps.close())
  const { storage, ledger } = deps
  const put = (key: string, text: string) => storage.upload({ key, body: Readable.from([Buffer.from(text)]), contentType: 'application/pdf', actor: 'tester' })
  const reserve = (key: string) => ledger.reserve({ key, parts: storage.parseKey(key), contentType: 'application/pdf', actor: 'tester', overwrite: false })
  const Bucket = bucket.name

  // In step: a live file and a trashed one.
  await put(KEYS.live, 'good')
  await put(KEYS.trashed, 'old')
  await storage.softDelete(KEYS.trashed, 'tester')
  // Drift by hand: an object nobody recorded, and a recorded object deleted behind the ledger's back.
  await bucket.client.send(new PutObjectCommand({ Bucket, Key: KEYS.orphan, Body: 'orphan' }))
  await put(KEYS.lost, 'lost')
  await bucket.client.send(new DeleteObjectCommand({ Bucket, Key: KEYS.lost }))
  // A crash mid-stream: a pending row and its multipart upload with one part.
  reserve(KEYS.crashed)
  const { UploadId } = await bucket.client.send(new CreateMultipartUploadCommand({ Bucket, Key: KEYS.crashed }))
  await bucket.client.send(new UploadPartCommand({ Bucket, Key: KEYS.crashed, UploadId, PartNumber: 1, Body: Buffer.alloc(5 * 1024 * 1024) }))
  // A crash after the bytes and their sha256 tag were stored, before the commit.
  reserve(KEYS.finished)
  const sha256 = createHash('sha256').update('finished').digest('hex')
  await bucket.client.send(new PutObjectCommand({ Bucket, Key: KEYS.finished, Body: 'finished', ContentType: 'application/pdf', Tagging: `sha256=${sha256}` }))
  // A browser upload whose presigned URL has not expired yet, and a multipart upload nobody owns.
  await storage.direct.start({ parts: storage.parseKey(KEYS.direct), contentType: 'application/pdf', size: 10, actor: 'tester', expiresIn: 600 })
  // A resumable (tus) upload under way: its multipart upload belongs to it until it expires.
  await storage.resumable.create({ parts: storage.parseKey(KEYS.resumable), contentType: 'video/mp4', length: 10, actor: 'tester' })
  await bucket.client.send(new CreateMultipartUploadCommand({ Bucket, Key: KEYS.stray }))
  // check's probe objects are not the ledger's business.
  await bucket.client.send(new PutObjectCommand({ Bucket, Key: '.probe/left-behind', Body: 'x' }))

  t.test('default: young uploads may still be running, so only the drift counts', async (t) => {
    const run = await runCli(['reconcile'], env, { cwd })
    t.equal(run.code, 1)
    t.match(run.stdout, `✗ 1 object(s) with no ledger record:\n    ${KEYS.orphan}  (6 bytes)`)
    t.match(run.stdout, `✗ 1 record(s) with no object:\n    ${KEYS.lost}  (live, id `)
    t.match(run.stdout, '• 4 pending upload(s) that may still be running (left alone)')
    t.match(run.stdout, '• 3 multipart upload(s) that may still be running (left alone)')
    t.notMatch(run.stdout, 'stale pending')
    t.notMatch(run.stdout, '.probe/')
    t.match(run.stdout, '2 problem(s) remain')
  })

  t.test('--stale-after 0: abandoned uploads are problems too', async (t) => {
    const run = await runCli(['reconcile', '--stale-after', '0'], env, { cwd })
    t.equal(run.code, 1)
    t.match(run.stdout, /✗ 2 stale pending upload\(s\):\n.*crashed\.pdf {2}\(streamed.*\n.*finished\.pdf/)
    t.match(run.stdout, /✗ 2 incomplete multipart upload\(s\):/)
    t.match(run.stdout, `    ${KEYS.stray}  (upload `)
    t.match(run.stdout, `• 2 pending upload(s) that may still be running (left alone):\n    ${KEYS.direct}  (direct`)
    t.match(run.stdout, `    ${KEYS.resumable}  (resumable (tus), started `)
    t.match(run.stdout, '• 1 multipart upload(s) that may still be running (left alone)')
    t.match(run.stdout, '6 problem(s) remain')
  })

  t.test('--fix settles the uploads, and reports what a person must decide', async (t) => {
    const run = await runCli(['reconcile', '--fix', '--stale-after', '0'], env, { cwd })
    t.equal(run.code, 1, 'the orphan and the lost object remain')
    t.match(run.stdout, 'fixed: 1 pending upload(s) committed, 1 marked failed, 1 multipart upload(s) aborted')
    const after = run.stdout.slice(run.stdout.indexOf('after fixing:'))
    t.match(after, KEYS.orphan)
    t.match(after, KEYS.lost)
    t.notMatch(after, 'stale pending')
    t.notMatch(after, 'incomplete multipart')
    t.match(after, '2 problem(s) remain')

    t.same((await bucket.incompleteUploads()).map((u) => u.key), [KEYS.resumable], "no multipart upload is left but the running resumable upload's")
    t.equal(await ledger.getPending(KEYS.crashed), undefined)
    t.equal(await ledger.getLive(KEYS.crashed), undefined, 'the interrupted upload was marked failed')
    t.match(await ledger.getLive(KEYS.finished), { size: 8, sha256 }, 'the finished one was committed')
    t.ok(await ledger.getPending(KEYS.direct), 'the browser upload still has its reservation')
    t.ok(await ledger.getPending(KEYS.resumable), 'the resumable upload is left to run until it expires')
    t.ok(await deps.store.head(KEYS.orphan), 'reconcile never deletes an unrecorded object')
  })

  t.test('reconcile(): the typed report, clean once a person has dealt with the rest', async (t) => {
    await bucket.client.send(new DeleteObjectCommand({ Bucket, Key: KEYS.orphan }))
    await bucket.client.send(new PutObjectCommand({ Bucket, Key: KEYS.lost, Body: 'lost' }))
    const report = await reconcile(deps, { staleAfterSeconds: 0, directGraceSeconds: 960 })
    t.equal(report.clean, true)
    t.equal(problemCount(report.after), 0)
    t.match(report.before, { objects: 4, unrecorded: [], missing: [], stalePending: [], incompleteUploads: [] })
    t.match(report.before.activePending, [{ key: KEYS.direct, direct: true, kind: 'direct' }, { key: KEYS.resumable, direct: false, kind: 'tus' }])
    t.equal(report.fixed, undefined)

    const run = await runCli(['reconcile'], env, { cwd })
    t.equal(run.code, 0, run.stdout)
    t.match(run.stdout, 'ledger and bucket agree')
  })
})

t.test('usage errors', async (t) => {
  const cwd = t.testdir()
  const bad = await runCli(['reconcile', '--stale-after', 'soon'], {}, { cwd })
  t.equal(bad.code, 2)
  t.match(bad.stderr, '--stale-after must be')
  const unknown = await runCli(['reconcile', '--force'], {}, { cwd })
  t.equal(unknown.code, 2)
  const help = await runCli(['reconcile', '--help'], {}, { cwd })
  t.equal(help.code, 0)
  t.match(help.stdout, 'Usage: spaces-proxy reconcile [--fix]')
})
