// A client that goes away halfway leaves nothing: no object, no open multipart upload, and no
// ledger row that claims a file.
import { test } from 'tap'
import { Readable } from 'node:stream'
import { buildPluginApp } from './helpers/app.js'
import { createTestBucket } from './helpers/s3.js'
import { patternStream, sendAndAbort } from './helpers/http.js'

const MIB = 1024 * 1024

async function waitFor(check: () => Promise<boolean>, ms = 10_000): Promise<boolean> {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if (await check()) return true
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return check()
}

test('PUT aborted halfway leaves no object, no multipart upload, no live record', async (t) => {
  const bucket = await createTestBucket(t, 'abort')
  const app = await buildPluginApp(t, bucket)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const key = 'org-1/fax/inbound/fax-1/fax.tiff'
  await sendAndAbort(`http://127.0.0.1:${app.server.address() && (app.server.address() as { port: number }).port}/files/${key}`, {
    method: 'PUT',
    headers: { 'content-length': 40 * MIB },
    body: patternStream(40 * MIB),
    abortAfter: 18 * MIB,
  })
  t.ok(await waitFor(async () => (await bucket.incompleteUploads()).length === 0 && await app.storage.ledger.getPending(key) === undefined), 'cleanup finished')
  t.same(await bucket.keys(), [], 'no object in the bucket')
  t.same(await bucket.incompleteUploads(), [], 'no incomplete multipart upload')
  t.equal(await app.storage.ledger.getLive(key), undefined, 'no live record')
  const events = (await app.storage.ledger.queryAudit({ key }, { limit: 10 })).items
  t.equal(events.length, 1, 'the attempt is audited')
  t.match(events[0], { action: 'upload', result: 'error', key })
  const get = await app.inject({ method: 'GET', url: `/files/${key}` })
  t.equal(get.statusCode, 404)
})

test('POST multipart aborted halfway leaves nothing behind', async (t) => {
  const bucket = await createTestBucket(t, 'abort')
  const app = await buildPluginApp(t, bucket)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as { port: number }).port
  const boundary = 'abortboundary'
  const body = Readable.from(
    (async function* () {
      yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="scan.pdf"\r\nContent-Type: application/pdf\r\n\r\n`)
      yield* patternStream(40 * MIB)
    })(),
  )
  await sendAndAbort(`http://127.0.0.1:${port}/files/org-1/billing/claim/claim-9`, {
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    body,
    abortAfter: 18 * MIB,
  })
  t.ok(await waitFor(async () => (await bucket.incompleteUploads()).length === 0), 'multipart upload aborted')
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.same(await bucket.keys(), [], 'no object in the bucket')
  t.same(await bucket.incompleteUploads(), [], 'no incomplete multipart upload')
  const files = await app.inject({ method: 'GET', url: '/files' })
  t.same(files.json().items, [], 'nothing listed')
})
