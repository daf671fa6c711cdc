// Safe retries: a PUT or POST sent again because its answer was lost gets the stored file (200),
// never a 409 that a client reads as failure, and never a second copy.
import { test, type Test } from 'tap'
import { createHash } from 'node:crypto'
import { buildServer, spacesEnv } from './helpers/server.js'
import { createTestBucket } from './helpers/s3.js'

const USER = { sub: 'clerk', org: 'org-1', scope: 'billing:*' }
const KEY = 'org-1/billing/invoice/inv-9/invoice.pdf'
const digest = (body: string) => `sha-256=:${createHash('sha256').update(body).digest('base64')}:`

async function setup(t: Test) {
  const bucket = await createTestBucket(t, 'retry')
  const server = await buildServer(t, spacesEnv(bucket))
  return { bucket, ...server, headers: server.auth(USER) }
}

test('PUT repeated with the same Idempotency-Key gets the stored record', async (t) => {
  const { app, headers } = await setup(t)
  const put = (body: string, key: string) =>
    app.inject({ method: 'PUT', url: `/v1/files/${KEY}`, headers: { ...headers, 'content-type': 'application/pdf', 'idempotency-key': key }, payload: body })
  const first = await put('%PDF invoice', 'retry-1')
  t.equal(first.statusCode, 201)
  const again = await put('%PDF invoice', 'retry-1')
  t.equal(again.statusCode, 200, 'not 409')
  t.same(again.json(), first.json(), 'the same record')
  const other = await put('%PDF invoice', 'retry-2')
  t.equal(other.statusCode, 409, 'a new request (another key) to an existing file is still a conflict')
  const elsewhere = await app.inject({ method: 'PUT', url: `/v1/files/${KEY}.copy`, headers: { ...headers, 'idempotency-key': 'retry-1' }, payload: 'x' })
  t.equal(elsewhere.statusCode, 400, 'an Idempotency-Key reused for another file is refused')
  const events = (await app.storage.ledger.queryAudit({ key: KEY }, { limit: 5 })).items.map((e) => `${e.action}:${e.status}`)
  t.same(events, ['upload:409', 'upload:200', 'upload:201'], 'the retry is audited as what it was')
})

test('PUT with a Repr-Digest of the identical stored file gets its record; a body that differs from its digest is refused', async (t) => {
  const { app, bucket, headers } = await setup(t)
  const put = (body: string, reprDigest: string, key = KEY) =>
    app.inject({ method: 'PUT', url: `/v1/files/${key}`, headers: { ...headers, 'content-type': 'application/pdf', 'repr-digest': reprDigest }, payload: body })
  t.equal((await put('%PDF v1', digest('%PDF v1'))).statusCode, 201)
  const same = await put('%PDF v1', digest('%PDF v1'))
  t.equal(same.statusCode, 200, 'the same bytes: the stored record, not 409')
  t.equal(same.json().sha256, createHash('sha256').update('%PDF v1').digest('hex'))
  t.equal((await put('%PDF v2', digest('%PDF v2'))).statusCode, 409, 'other bytes at the key: a conflict')
  const lying = await put('%PDF v3', digest('something else'), `${KEY}.new`)
  t.equal(lying.statusCode, 400, 'a body that does not match its Repr-Digest')
  t.same(await bucket.keys(), [KEY], 'and nothing of it was stored')
  t.equal((await put('x', 'md5=:abc:')).statusCode, 400, 'a Repr-Digest without sha-256')
})

test('a multipart POST repeated with the same Idempotency-Key gets its records', async (t) => {
  const { app, headers } = await setup(t)
  const boundary = 'retryboundary'
  const body = [
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\nContent-Type: application/pdf\r\n\r\nAAA\r\n`,
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="b.pdf"\r\nContent-Type: application/pdf\r\n\r\nBBB\r\n`,
    `--${boundary}--\r\n`,
  ].join('')
  const post = () =>
    app.inject({
      method: 'POST',
      url: '/v1/files/org-1/billing/invoice/inv-9',
      headers: { ...headers, 'content-type': `multipart/form-data; boundary=${boundary}`, 'idempotency-key': 'form-1' },
      payload: body,
    })
  const first = await post()
  t.equal(first.statusCode, 201, first.body)
  const again = await post()
  t.equal(again.statusCode, 200, 'not 409')
  t.same(again.json(), first.json())
})
