// A file over 5 GiB, more than one presigned PUT can carry, through presigned multipart as a
// browser would send it: parts straight to the bucket, a few in flight, then the sidecar checks,
// assembles, hashes and records it. Slow (a few minutes), so it runs in the serial phase.
//
// Bounded for a loaded 2-core machine: the part bytes cost the test almost nothing to make (a
// buffer stamped with its place, not a generated stream), and the 5 GiB object is removed as soon
// as it has been checked, in one DeleteObjects with its bucket's other keys, so the teardown has
// nothing large left to do. Each phase's time is printed, to show where a slow run spent it.
import { test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { request } from 'node:http'
import { Readable } from 'node:stream'
import { DeleteObjectsCommand } from '@aws-sdk/client-s3'
import { buildServer, spacesEnv } from '../helpers/server.js'
import { createTestBucket } from '../helpers/s3.js'

const MIB = 1024 * 1024
const PART = 256 * MIB
const SIZE = 5 * 1024 * MIB + 3 * MIB
const CHUNK = 4 * MIB
/** Parts in flight at once, as a browser's uploader keeps a few (Uppy: up to 6). */
const IN_FLIGHT = 3
const USER = { sub: 'archivist', org: 'org-1', scope: 'epcr:*' }

/**
 * The bytes of `size` bytes starting at `offset` of the file: one random block, each 4 MiB chunk
 * stamped with its offset, so every chunk differs and a part out of place changes the sha256.
 */
function fileBytes(block: Buffer, offset: number, size: number): Readable {
  return Readable.from(
    (function* () {
      for (let at = offset; at < offset + size; at += CHUNK) {
        const chunk = Buffer.from(block.subarray(0, Math.min(CHUNK, offset + size - at)))
        chunk.writeDoubleLE(at, 0)
        yield chunk
      }
    })(),
  )
}

/** PUTs a body of `size` bytes to a presigned part URL; resolves with the part's ETag. */
function putPart(url: string, size: number, body: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'PUT', headers: { 'content-length': size } }, (res) => {
      res.resume()
      res.on('end', () => (res.statusCode === 200 ? resolve(String(res.headers.etag)) : reject(new Error(`part: ${res.statusCode}`))))
    })
    req.on('error', reject)
    body.pipe(req)
  })
}

test('over 5 GiB through presigned multipart: recorded with its sha256', { timeout: 1_400_000 }, async (t) => {
  const bucket = await createTestBucket(t, 'huge')
  const { app, auth } = await buildServer(t, { ...spacesEnv(bucket), MAX_UPLOAD_BYTES: String(6 * 1024 * MIB) })
  const headers = auth(USER)
  const started = Date.now()
  const phase = (name: string) => t.comment(`${name}: ${((Date.now() - started) / 1000).toFixed(1)} s`)
  const created = await app.inject({
    method: 'POST',
    url: '/v1/uploads/multipart',
    headers,
    payload: { filename: 'archive.tar', type: 'application/x-tar', size: SIZE, metadata: { system: 'epcr', objectType: 'archive', objectId: 'a-1' } },
  })
  t.equal(created.statusCode, 201, created.body)
  const handle = created.json() as { key: string; uploadId: string }

  const block = randomBytes(CHUNK)
  const expected = createHash('sha256')
  for await (const chunk of fileBytes(block, 0, SIZE)) expected.update(chunk)
  phase('the expected sha256')

  const offsets = Array.from({ length: Math.ceil(SIZE / PART) }, (_, i) => i * PART)
  const etags: string[] = []
  let next = 0
  const uploader = async () => {
    for (let i = next++; i < offsets.length; i = next++) {
      const size = Math.min(PART, SIZE - offsets[i]!)
      const signed = await app.inject({ method: 'GET', url: `/v1/uploads/multipart/${handle.uploadId}/${i + 1}?key=${encodeURIComponent(handle.key)}`, headers })
      if (signed.statusCode !== 200) throw new Error(`sign part ${i + 1}: ${signed.body}`)
      etags[i] = await putPart(signed.json().url, size, fileBytes(block, offsets[i]!, size))
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, uploader))
  phase('21 parts sent')
  const parts = etags.map((ETag, i) => ({ PartNumber: i + 1, ETag }))
  t.equal(parts.length, 21, '20 parts of 256 MiB and a 3 MiB last one')

  const done = await app.inject({ method: 'POST', url: `/v1/uploads/multipart/${handle.uploadId}/complete?key=${encodeURIComponent(handle.key)}`, headers, payload: { parts } })
  phase('completed (assembled, read back, hashed, recorded)')
  t.equal(done.statusCode, 201, done.body)
  t.match(done.json(), { key: handle.key, size: SIZE, sha256: expected.digest('hex') }, 'the exact sha256 of all 5 GiB and 3 MiB')
  t.equal((await app.storage.store.head(handle.key))?.size, SIZE)
  t.same(await bucket.incompleteUploads(), [], 'no multipart upload left open')

  const keys = await bucket.keys()
  await bucket.client.send(new DeleteObjectsCommand({ Bucket: bucket.name, Delete: { Objects: keys.map((Key) => ({ Key })) } }))
  t.same(await bucket.keys(), [], 'the 5 GiB object is gone before the teardown')
  phase('removed')
})
