// Spaces going away mid-upload: the client gets a retryable 502/503 with Retry-After (not a 500),
// nothing is recorded as stored, and the multipart upload (and any staged object) the outage
// left in the bucket is cleaned away by the sidecar's own sweep once Spaces is back. The outage
// is a loopback relay in front of the S3 peer being cut: the peer itself keeps running.
import { test } from 'tap'
import { assertRetryable, outageSetup as setup, uploadThroughOutage, waitUntil } from './helpers/outage.js'
import { assertStored } from './helpers/invariants.js'
import { patternStream, sendAndAbort } from './helpers/http.js'

const MIB = 1024 * 1024
const ADMIN = { sub: 'uploader', org: 'org-1', roles: ['admin'] }

test('S3 cut off mid-PUT: a retryable 503, nothing recorded, the orphaned multipart upload swept', async (t) => {
  const { bucket, relay, port, server } = await setup(t)
  const key = 'org-1/fax/inbound/outage-1/fax.tiff'
  const answer = await uploadThroughOutage(`http://127.0.0.1:${port}/v1/files/${key}`, {
    method: 'PUT',
    headers: { ...server.auth(ADMIN), 'content-type': 'image/tiff', 'content-length': 40 * MIB },
    before: 16 * MIB,
    total: 40 * MIB,
    midway: () => relay.down(),
  })
  assertRetryable(t, answer)
  t.equal(await server.app.storage.ledger.getLive(key), undefined, 'nothing recorded as stored')
  t.equal((await bucket.incompleteUploads()).length, 1, 'the outage left the multipart upload behind (the abort could not be sent)')
  t.notOk(server.logs.some((line) => line.includes('"level":50') && line.includes('FST_SPACES_INTERNAL')), 'no internal error logged')

  await relay.up()
  t.ok(await waitUntil(async () => (await bucket.incompleteUploads()).length === 0, 20_000), "the sidecar's sweep aborts it once S3 is back")
  await assertStored(t, bucket, server.app.storage.ledger, { live: [], trash: [] }, 'after the outage')
  const events = (await server.app.storage.ledger.queryAudit({ key }, { limit: 5 })).items
  t.match(events, [{ action: 'upload', result: 'error', errorCode: /^FST_SPACES_STORAGE_/ }], 'the failed upload is audited with its code')
})

test('S3 cut off during the second file of a form: 503, and the first file is not kept either', async (t) => {
  const { bucket, relay, port, server } = await setup(t)
  const boundary = 'outageboundary'
  const folder = 'org-1/epcr/document/outage-2'
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="small.pdf"\r\nContent-Type: application/pdf\r\n\r\nsmall file\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="large.pdf"\r\nContent-Type: application/pdf\r\n\r\n`,
  )
  const answer = await uploadThroughOutage(`http://127.0.0.1:${port}/v1/files/${folder}`, {
    method: 'POST',
    headers: { ...server.auth(ADMIN), 'content-type': `multipart/form-data; boundary=${boundary}`, 'transfer-encoding': 'chunked' },
    head,
    tail: Buffer.from(`\r\n--${boundary}--\r\n`),
    before: 16 * MIB,
    total: 40 * MIB,
    midway: () => relay.down(),
  })
  assertRetryable(t, answer)
  t.same((await server.app.storage.ledger.listLive({ orgId: 'org-1' }, { limit: 10 })).items, [], 'no file recorded')
  await relay.up()
  t.ok(
    await waitUntil(async () => (await bucket.incompleteUploads()).length === 0 && (await bucket.keys()).length === 0, 20_000),
    'the sweep removes the staged first file and the second one\'s multipart upload',
  )
  await assertStored(t, bucket, server.app.storage.ledger, { live: [], trash: [] }, 'after the outage')
})

test('a client that gives up while S3 is cut off: nothing recorded, and its multipart upload swept once S3 is back', async (t) => {
  const { bucket, relay, port, server } = await setup(t)
  const key = 'org-1/fax/inbound/outage-3/fax.tiff'
  await sendAndAbort(`http://127.0.0.1:${port}/v1/files/${key}`, {
    method: 'PUT',
    headers: { ...server.auth(ADMIN), 'content-type': 'image/tiff', 'content-length': 40 * MIB },
    body: patternStream(40 * MIB, 5),
    abortAfter: 16 * MIB,
    beforeAbort: () => relay.down(),
  })
  // The failure is the client's, but the abort of the multipart upload needed the store too.
  t.ok(
    await waitUntil(async () => (await server.app.storage.ledger.listStalePending(new Date(Date.now() + 86_400_000))).length === 0, 10_000),
    'the upload is settled as failed',
  )
  t.equal(await server.app.storage.ledger.getLive(key), undefined, 'nothing recorded as stored')
  await relay.up()
  t.ok(await waitUntil(async () => (await bucket.incompleteUploads()).length === 0, 20_000), "the sidecar's sweep aborts the multipart upload once S3 is back")
  await assertStored(t, bucket, server.app.storage.ledger, { live: [], trash: [] }, 'after the outage')
})
