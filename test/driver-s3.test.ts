// The S3 driver against a real S3 server (the RGW peer or TEST_S3_*): the shared contract, then
// what only S3 has (client settings, multipart copy, presigning, error mapping).
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import t from 'tap'
import type { Test } from 'tap'
import { S3Store, type S3StoreOptions } from '../plugin/drivers/s3.js'
import { createTestBucket, testConnection } from './helpers/s3.js'
import {
  BIG,
  MIB,
  driverContract,
  freshPrefix,
  generatedBody,
  readAll,
  rejection,
  sha256Of,
} from './driver-contract.js'

function makeS3(t: Test, connection: S3StoreOptions['connection'], extra: Partial<S3StoreOptions> = {}): S3Store {
  const store = new S3Store({ connection, partSize: 5 * MIB, queueSize: 2, ...extra })
  t.teardown(() => store.close())
  return store
}

driverContract(t, 's3', async (t) => {
  const bucket = await createTestBucket(t, 'contract')
  return { store: makeS3(t, bucket.connection), incomplete: () => bucket.incompleteUploads() }
})

t.test('s3: the client sends checksums only when required (Spaces and RGW reject aws-chunked)', async (t) => {
  const store = makeS3(t, testConnection('fs-unused'))
  t.equal(await store.client.config.requestChecksumCalculation(), 'WHEN_REQUIRED')
  t.equal(await store.client.config.responseChecksumValidation(), 'WHEN_REQUIRED')
})

t.test('s3: copies over the threshold go through UploadPartCopy', async (t) => {
  const bucket = await createTestBucket(t, 'mpcopy')
  const store = makeS3(t, bucket.connection, { multipartCopyThreshold: 6 * MIB, copyPartSize: 5 * MIB })
  const prefix = freshPrefix()
  const from = `${prefix}big "source" ü.bin`
  const to = `.trash/org-1/${randomBytes(16).toString('hex')}`
  const source = generatedBody(BIG)
  await store.put({ key: from, body: source.body, contentType: 'application/pdf' })
  await store.setTags(from, { sha256: 'abc', deletedBy: 'user-1' })
  await store.copy(from, to)
  const got = await store.get(to)
  t.same(await sha256Of(got.body), { sha256: source.sha256(), size: BIG }, 'bytes identical')
  t.equal(got.contentType, 'application/pdf', 'content type kept')
  t.same(await store.getTags(to), { sha256: 'abc', deletedBy: 'user-1' }, 'tags copied')
  t.match((await store.head(to))?.etag, /-3"$/, 'a three-part multipart object (12 MiB in 5 MiB parts)')
  t.same(await bucket.incompleteUploads(), [], 'no multipart upload left open')
})

t.test('s3: a presigned GET fetched with plain fetch returns the bytes', async (t) => {
  const bucket = await createTestBucket(t, 'presign')
  const store = makeS3(t, bucket.connection)
  const key = `${freshPrefix()}Bericht "final" + 100% ü.txt`
  const bytes = randomBytes(2048)
  await store.put({ key, body: Readable.from([bytes]), contentType: 'application/octet-stream' })
  const url = await store.presignGet({
    key,
    expiresIn: 60,
    contentDisposition: 'attachment; filename="report.txt"',
    contentType: 'text/plain',
  })
  t.match(url, /X-Amz-Signature=/, 'a SigV4 query-signed URL')
  const response = await fetch(url)
  t.equal(response.status, 200)
  t.same(Buffer.from(await response.arrayBuffer()), bytes, 'bytes identical')
  t.equal(response.headers.get('content-disposition'), 'attachment; filename="report.txt"', 'disposition sent back')
  t.equal(response.headers.get('content-type'), 'text/plain', 'content type overridden')
  const tampered = new URL(url)
  tampered.searchParams.set('X-Amz-Expires', '3600')
  t.equal((await fetch(tampered)).status, 403, 'a tampered URL is refused')
})

t.test('s3: an unreachable endpoint is FST_SPACES_STORAGE_UNAVAILABLE (503)', async (t) => {
  const store = makeS3(t, { ...testConnection('fs-unreachable'), endpoint: 'http://127.0.0.1:1' })
  const key = `${freshPrefix()}x.txt`
  const attempts: Array<[string, () => Promise<unknown>]> = [
    ['ping', () => store.ping()],
    ['get', () => store.get(key)],
    ['head', () => store.head(key)],
    ['list', () => store.list('org-1/')],
    ['put', () => store.put({ key, body: Readable.from([Buffer.from('x')]), contentType: 'text/plain' })],
  ]
  for (const [operation, run] of attempts) {
    const err = await rejection(run())
    t.equal(err.code, 'FST_SPACES_STORAGE_UNAVAILABLE', `${operation}: code`)
    t.equal(err.statusCode, 503, `${operation}: status`)
    t.notMatch(err.message, /127\.0\.0\.1|X-Amz/, `${operation}: the message names no URL`)
  }
})

t.test('s3: a missing bucket is FST_SPACES_STORAGE_ERROR, not a missing file', async (t) => {
  const store = makeS3(t, testConnection(`fs-missing-${randomBytes(6).toString('hex')}`))
  const key = `${freshPrefix()}x.txt`
  const attempts: Array<[string, () => Promise<unknown>]> = [
    ['ping', () => store.ping()],
    ['get', () => store.get(key)],
    ['list', () => store.list('org-1/')],
    ['put', () => store.put({ key, body: Readable.from([Buffer.from('x')]), contentType: 'text/plain' })],
  ]
  for (const [operation, run] of attempts) {
    const err = await rejection(run())
    t.equal(err.code, 'FST_SPACES_STORAGE_ERROR', `${operation}: code`)
    t.equal(err.statusCode, 502, `${operation}: status`)
  }
})

t.test('s3: the bucket holds only what the store put', async (t) => {
  const bucket = await createTestBucket(t, 'layout')
  const store = makeS3(t, bucket.connection)
  const key = `${freshPrefix()}report.pdf`
  await store.put({ key, body: Readable.from([Buffer.from('%PDF')]), contentType: 'application/pdf' })
  t.same(await bucket.keys(), [key], 'one object, at exactly the key')
  t.equal((await readAll((await store.get(key)).body)).toString(), '%PDF')
})

t.test('s3: multipart in steps: parts streamed at their length, listed, completed; a sized put; a presigned part', async (t) => {
  const bucket = await createTestBucket(t, 'steps')
  const store = makeS3(t, bucket.connection)
  const key = `${freshPrefix()}steps.bin`
  const uploadId = await store.multipart.create({ key, contentType: 'video/mp4' })
  const first = generatedBody(5 * MIB)
  const one = await store.multipart.uploadPart({ key, uploadId, partNumber: 1, body: first.body, contentLength: 5 * MIB })
  const last = randomBytes(1000)
  const signed = await store.multipart.presignPart({ key, uploadId, partNumber: 2, expiresIn: 300 })
  const put = await fetch(signed.url, { method: 'PUT', body: last })
  t.equal(put.status, 200, 'a part PUT to its presigned URL')
  const parts = await store.multipart.listParts({ key, uploadId })
  t.same(parts.map((p) => [p.partNumber, p.size]), [[1, 5 * MIB], [2, 1000]])
  t.equal(parts[0]!.etag, one.etag)
  await store.multipart.complete({ key, uploadId, parts })
  const head = await store.head(key)
  t.match(head, { size: 5 * MIB + 1000, contentType: 'video/mp4' })

  const short = Readable.from([Buffer.from('abc')])
  const failed = await rejection(store.multipart.uploadPart({ key: `${key}.2`, uploadId: 'none', partNumber: 1, body: short, contentLength: 3 }))
  t.ok(failed.code, `an unknown upload id is a coded error (${failed.code})`)
  await store.multipart.putSized({ key: `${key}.tail`, body: Readable.from([Buffer.from('tail!')]), contentLength: 5, contentType: 'application/octet-stream' })
  t.equal((await readAll((await store.get(`${key}.tail`)).body)).toString(), 'tail!')
  t.same(await bucket.incompleteUploads(), [])
})
