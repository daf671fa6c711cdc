// Uploads over maxUploadBytes get 413 and leave nothing in the bucket, whether the size is
// declared up front, discovered mid-stream (chunked), or inside a multipart form.
import { test } from 'tap'
import { Readable } from 'node:stream'
import { buildPluginApp } from './helpers/app.js'
import { createTestBucket } from './helpers/s3.js'
import { patternStream, sendStream } from './helpers/http.js'

const MIB = 1024 * 1024
const LIMIT = 12 * MIB

test('oversize uploads are 413 and leave nothing', async (t) => {
  const bucket = await createTestBucket(t, 'limit')
  const app = await buildPluginApp(t, bucket, { maxUploadBytes: LIMIT })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`

  const declared = await sendStream(`${base}/files/org-1/epcr/document/d1/declared.bin`, {
    method: 'PUT',
    headers: { 'content-length': LIMIT + 1 },
    body: patternStream(LIMIT + 1),
  }).catch((err) => ({ status: 0, body: String(err) }))
  t.equal(declared.status, 413, 'a declared Content-Length over the limit')
  if (declared.status === 413) t.equal(JSON.parse(declared.body).code, 'FST_SPACES_TOO_LARGE')

  // Chunked: no Content-Length, so the limit is found while streaming (after two parts went up).
  const chunked = await sendStream(`${base}/files/org-1/epcr/document/d2/chunked.bin`, {
    method: 'PUT',
    headers: { 'transfer-encoding': 'chunked' },
    body: patternStream(LIMIT + 3 * MIB),
  }).catch((err) => ({ status: 0, body: String(err) }))
  t.equal(chunked.status, 413, 'a chunked body that grows over the limit')

  const boundary = 'limitboundary'
  const form = await sendStream(`${base}/files/org-1/epcr/document/d3`, {
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    body: Readable.from(
      (async function* () {
        yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n\r\n`)
        yield* patternStream(LIMIT + 3 * MIB)
        yield Buffer.from(`\r\n--${boundary}--\r\n`)
      })(),
    ),
  }).catch((err) => ({ status: 0, body: String(err) }))
  t.equal(form.status, 413, 'a multipart file over the limit')
  if (form.status === 413) t.equal(JSON.parse(form.body).code, 'FST_SPACES_TOO_LARGE')

  await new Promise((resolve) => setTimeout(resolve, 500))
  t.same(await bucket.keys(), [], 'nothing stored')
  t.same(await bucket.incompleteUploads(), [], 'no multipart upload left open')
  const listed = await app.inject({ method: 'GET', url: '/files' })
  t.same(listed.json().items, [], 'no record')

  const atLimit = await sendStream(`${base}/files/org-1/epcr/document/d4/exact.bin`, { method: 'PUT', body: patternStream(LIMIT) })
  t.equal(atLimit.status, 201, 'exactly the limit is fine')
})
