// A file over 5 GiB, more than one presigned PUT can carry, through presigned multipart as a
// browser would send it: parts straight to the bucket, then the sidecar checks, assembles, hashes
// and records it. Slow (minutes), so it runs in the serial phase.
import { test } from 'tap'
import { createHash } from 'node:crypto'
import { request } from 'node:http'
import { buildServer, spacesEnv } from '../helpers/server.js'
import { createTestBucket } from '../helpers/s3.js'
import { patternStream } from '../helpers/http.js'

const MIB = 1024 * 1024
const PART = 256 * MIB
const SIZE = 5 * 1024 * MIB + 3 * MIB
const USER = { sub: 'archivist', org: 'org-1', scope: 'epcr:*' }

/** PUTs `size` pattern bytes to a presigned part URL, streamed; resolves with the part's ETag. */
function putPart(url: string, size: number, seed: number, hash: ReturnType<typeof createHash>): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'PUT', headers: { 'content-length': size } }, (res) => {
      res.resume()
      res.on('end', () => (res.statusCode === 200 ? resolve(String(res.headers.etag)) : reject(new Error(`part: ${res.statusCode}`))))
    })
    req.on('error', reject)
    const body = patternStream(size, seed, 4 * MIB)
    body.on('data', (chunk: Buffer) => hash.update(chunk))
    body.pipe(req)
  })
}

test('over 5 GiB through presigned multipart: recorded with its sha256', { timeout: 1_400_000 }, async (t) => {
  const bucket = await createTestBucket(t, 'huge')
  const { app, auth } = await buildServer(t, { ...spacesEnv(bucket), MAX_UPLOAD_BYTES: String(6 * 1024 * MIB) })
  const headers = auth(USER)
  const created = await app.inject({
    method: 'POST',
    url: '/v1/uploads/multipart',
    headers,
    payload: { filename: 'archive.tar', type: 'application/x-tar', size: SIZE, metadata: { system: 'epcr', objectType: 'archive', objectId: 'a-1' } },
  })
  t.equal(created.statusCode, 201, created.body)
  const handle = created.json() as { key: string; uploadId: string }
  const hash = createHash('sha256')
  const parts = []
  for (let partNumber = 1, sent = 0; sent < SIZE; partNumber++) {
    const size = Math.min(PART, SIZE - sent)
    const signed = await app.inject({ method: 'GET', url: `/v1/uploads/multipart/${handle.uploadId}/${partNumber}?key=${encodeURIComponent(handle.key)}`, headers })
    t.equal(signed.statusCode, 200)
    parts.push({ PartNumber: partNumber, ETag: await putPart(signed.json().url, size, partNumber, hash) })
    sent += size
  }
  t.equal(parts.length, 21, '20 parts of 256 MiB and a 3 MiB last one')
  const done = await app.inject({ method: 'POST', url: `/v1/uploads/multipart/${handle.uploadId}/complete?key=${encodeURIComponent(handle.key)}`, headers, payload: { parts } })
  t.equal(done.statusCode, 201, done.body)
  t.match(done.json(), { key: handle.key, size: SIZE, sha256: hash.digest('hex') }, 'the exact sha256 of all 5 GiB and 3 MiB')
  t.equal((await app.storage.store.head(handle.key))?.size, SIZE)
  t.same(await bucket.incompleteUploads(), [], 'no multipart upload left open')
})
