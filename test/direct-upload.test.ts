// Direct browser uploads: a presigned PUT that binds type and length, and a completion that only
// records what actually arrived. Uploads that never happened or do not match are refused and removed.
import { test } from 'tap'
import { createHash } from 'node:crypto'
import { PutObjectCommand } from '@aws-sdk/client-s3'
import { buildServer, spacesEnv } from './helpers/server.js'
import { createTestBucket } from './helpers/s3.js'

const USER = { sub: 'nurse', org: 'org-1', scope: 'epcr:*' }

test('presigned PUT, then complete: recorded with its sha256 and audited', async (t) => {
  const bucket = await createTestBucket(t, 'direct')
  const { app, auth } = await buildServer(t, spacesEnv(bucket))
  const headers = auth(USER)
  const body = Buffer.from('%PDF-1.7 scanned consent form')
  const presign = await app.inject({
    method: 'POST',
    url: '/v1/uploads',
    headers,
    payload: { system: 'epcr', objectType: 'consent', objectId: 'c-1', filename: 'C:\\scans\\consent.pdf', contentType: 'application/pdf', size: body.length },
  })
  t.equal(presign.statusCode, 201, presign.body)
  const { key, url, method, headers: signedHeaders } = presign.json()
  t.match(key, /^org-1\/epcr\/consent\/c-1\/\d{8}_consent\.pdf$/, 'the directory part of the client name is dropped')
  t.equal(method, 'PUT')
  t.same(signedHeaders, { 'Content-Type': 'application/pdf' })
  t.match(new URL(url).searchParams.get('X-Amz-SignedHeaders'), /content-length/, 'the length is bound by the signature')

  const wrongType = await fetch(url, { method: 'PUT', headers: { 'content-type': 'text/html' }, body })
  t.equal(wrongType.status, 403, 'another content type breaks the signature')
  const wrongLength = await fetch(url, { method: 'PUT', headers: signedHeaders, body: Buffer.concat([body, Buffer.from('!')]) })
  t.equal(wrongLength.status, 403, 'another length breaks the signature')

  const busy = await app.inject({ method: 'PUT', url: `/v1/files/${key}`, headers, payload: 'x' })
  t.equal(busy.statusCode, 409, 'the key is held while the browser uploads')

  const put = await fetch(url, { method: 'PUT', headers: signedHeaders, body })
  t.equal(put.status, 200)
  const done = await app.inject({ method: 'POST', url: '/v1/uploads/complete', headers, payload: { key } })
  t.equal(done.statusCode, 201, done.body)
  t.match(done.json(), { key, size: body.length, sha256: createHash('sha256').update(body).digest('hex'), contentType: 'application/pdf', createdBy: 'nurse' })
  t.equal((await app.inject({ method: 'GET', url: `/v1/files/${key}`, headers })).body, body.toString())
  const again = await app.inject({ method: 'POST', url: '/v1/uploads/complete', headers, payload: { key } })
  t.equal(again.statusCode, 400, 'completing twice is refused')
  const events = (await app.storage.ledger.queryAudit({ key }, { limit: 10 })).items.map((e) => `${e.action}:${e.result}`)
  t.same(events, ['upload_complete:error', 'download:ok', 'upload_complete:ok', 'upload:error', 'sign:ok'])
})

test('an upload that never happened, or does not match, is refused and removed', async (t) => {
  const bucket = await createTestBucket(t, 'direct')
  const { app, auth } = await buildServer(t, spacesEnv(bucket))
  const headers = auth(USER)
  const ask = async (filename: string, size: number) =>
    (await app.inject({ method: 'POST', url: '/v1/uploads', headers, payload: { system: 'epcr', objectType: 'consent', objectId: 'c-2', filename, contentType: 'application/pdf', size } })).json()

  const never = await ask('never.pdf', 10)
  const missing = await app.inject({ method: 'POST', url: '/v1/uploads/complete', headers, payload: { key: never.key } })
  t.equal(missing.statusCode, 400)
  t.equal(missing.json().code, 'FST_SPACES_UPLOAD_MISMATCH')
  t.equal(await app.storage.ledger.getLive(never.key), undefined)

  // Someone with other credentials writes something else at the key.
  const swapped = await ask('swapped.pdf', 10)
  await bucket.client.send(new PutObjectCommand({ Bucket: bucket.name, Key: swapped.key, Body: '<html>not a pdf</html>', ContentType: 'text/html' }))
  const mismatch = await app.inject({ method: 'POST', url: '/v1/uploads/complete', headers, payload: { key: swapped.key } })
  t.equal(mismatch.statusCode, 400)
  t.match(mismatch.json().message, /expected 10 bytes of application\/pdf, found 22 bytes of text\/html/)
  t.same(await bucket.keys(), [], 'the mismatching object is removed')
  t.equal(await app.storage.ledger.getLive(swapped.key), undefined)

  const tooBig = await app.inject({ method: 'POST', url: '/v1/uploads', headers, payload: { system: 'epcr', objectType: 'c', objectId: 'c', filename: 'x.pdf', contentType: 'application/pdf', size: 6 * 1024 ** 3 } })
  t.equal(tooBig.statusCode, 413)
  const otherOrg = await app.inject({ method: 'POST', url: '/v1/uploads', headers: auth({ sub: 'x', org: 'org-2', scope: 'billing:write' }), payload: { system: 'epcr', objectType: 'c', objectId: 'c', filename: 'x.pdf', contentType: 'application/pdf', size: 1 } })
  t.equal(otherOrg.statusCode, 403, 'a scope for another system does not cover this one')
})
