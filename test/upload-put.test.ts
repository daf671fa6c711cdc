// PUT /files/{key}: a raw body streamed to the bucket, hashed on the way, tagged with its sha256.
import { test } from 'tap'
import { GetObjectCommand, GetObjectTaggingCommand } from '@aws-sdk/client-s3'
import { createHash } from 'node:crypto'
import { buildPluginApp } from './helpers/app.js'
import { createTestBucket } from './helpers/s3.js'

const KEY = 'org-1/epcr/document/epcr-456/report.pdf'

test('PUT stores the exact bytes, returns the record and tags the object with its sha256', async (t) => {
  const bucket = await createTestBucket(t, 'put')
  const app = await buildPluginApp(t, bucket)
  const body = Buffer.from('%PDF-1.7 patient care report\n')
  const res = await app.inject({ method: 'PUT', url: `/files/${KEY}`, payload: body, headers: { 'content-type': 'application/pdf' } })
  t.equal(res.statusCode, 201, res.body)
  const record = res.json()
  const sha256 = createHash('sha256').update(body).digest('hex')
  t.match(record, { key: KEY, size: body.length, sha256, contentType: 'application/pdf', createdBy: 'user-admin' })
  t.match(record.etag, /^".+"$/)
  t.equal(res.headers.location, `/files/${KEY}`)

  const stored = await bucket.client.send(new GetObjectCommand({ Bucket: bucket.name, Key: KEY }))
  t.same(Buffer.from(await stored.Body!.transformToByteArray()), body, 'bucket holds the same bytes')
  t.equal(stored.ContentType, 'application/pdf')
  const tags = await bucket.client.send(new GetObjectTaggingCommand({ Bucket: bucket.name, Key: KEY }))
  t.same(tags.TagSet, [{ Key: 'sha256', Value: sha256 }], 'the bucket alone can verify the file')

  const get = await app.inject({ method: 'GET', url: `/files/${KEY}` })
  t.equal(get.statusCode, 200)
  t.same(get.rawPayload, body)
  t.equal(get.headers.etag, record.etag)
})

test('a second PUT to a live key is 409 unless ?overwrite=true, which moves the old file to trash', async (t) => {
  const bucket = await createTestBucket(t, 'put')
  const app = await buildPluginApp(t, bucket)
  const first = await app.inject({ method: 'PUT', url: `/files/${KEY}`, payload: 'v1' })
  t.equal(first.statusCode, 201)
  const again = await app.inject({ method: 'PUT', url: `/files/${KEY}`, payload: 'v2' })
  t.equal(again.statusCode, 409)
  t.equal(again.json().code, 'FST_SPACES_CONFLICT')

  const overwrite = await app.inject({ method: 'PUT', url: `/files/${KEY}?overwrite=true`, payload: 'v2' })
  t.equal(overwrite.statusCode, 201, overwrite.body)
  const get = await app.inject({ method: 'GET', url: `/files/${KEY}` })
  t.equal(get.body, 'v2')
  const trash = await app.inject({ method: 'GET', url: '/trash' })
  t.equal(trash.json().items.length, 1, 'the old version is in trash')
  t.equal(trash.json().items[0].key, KEY)
  const keys = await bucket.keys()
  t.equal(keys.filter((k) => k.startsWith('.trash/')).length, 1)
})

test('an empty body is a valid zero-byte file', async (t) => {
  const bucket = await createTestBucket(t, 'put')
  const app = await buildPluginApp(t, bucket)
  const res = await app.inject({ method: 'PUT', url: `/files/${KEY}`, payload: '' })
  t.equal(res.statusCode, 201, res.body)
  t.equal(res.json().size, 0)
  const get = await app.inject({ method: 'GET', url: `/files/${KEY}` })
  t.equal(get.statusCode, 200)
  t.equal(get.body, '')
})
