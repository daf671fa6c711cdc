// Direct browser uploads: a presigned PUT to a staging key that binds type and length, and a
// completion that only records what actually arrived and then moves it into place. A presigned
// URL never writes a recorded file; a failed or racing completion leaves nothing unrecorded.
import { test, type Test } from 'tap'
import { createHash } from 'node:crypto'
import { PutObjectCommand } from '@aws-sdk/client-s3'
import { buildServer, spacesEnv } from './helpers/server.js'
import { createTestBucket } from './helpers/s3.js'

const USER = { sub: 'nurse', org: 'org-1', scope: 'epcr:*' }
const sha256 = (body: Buffer | string) => createHash('sha256').update(body).digest('hex')

async function setup(t: Test) {
  const bucket = await createTestBucket(t, 'direct')
  const server = await buildServer(t, spacesEnv(bucket))
  const headers = server.auth(USER)
  const ask = async (filename: string, size: number, objectId = 'c-1') =>
    server.app.inject({
      method: 'POST',
      url: '/v1/uploads',
      headers,
      payload: { system: 'epcr', objectType: 'consent', objectId, filename, contentType: 'application/pdf', size },
    })
  const complete = (key: string) => server.app.inject({ method: 'POST', url: '/v1/uploads/complete', headers, payload: { key } })
  return { bucket, ...server, headers, ask, complete }
}

test('presigned PUT, then complete: recorded with its sha256 and audited', async (t) => {
  const { app, bucket, headers, ask, complete } = await setup(t)
  const body = Buffer.from('%PDF-1.7 scanned consent form')
  const presign = await ask('C:\\scans\\consent.pdf', body.length)
  t.equal(presign.statusCode, 201, presign.body)
  const { key, url, method, headers: signedHeaders } = presign.json()
  t.match(key, /^org-1\/epcr\/consent\/c-1\/\d{8}_consent\.pdf$/, 'the directory part of the client name is dropped')
  t.equal(method, 'PUT')
  t.same(signedHeaders, { 'Content-Type': 'application/pdf' })
  t.match(new URL(url).searchParams.get('X-Amz-SignedHeaders'), /content-length/, 'the length is bound by the signature')
  t.notOk(new URL(url).pathname.includes('consent'), 'the URL writes to a staging key, not to the file key')

  const wrongType = await fetch(url, { method: 'PUT', headers: { 'content-type': 'text/html' }, body })
  t.equal(wrongType.status, 403, 'another content type breaks the signature')
  const wrongLength = await fetch(url, { method: 'PUT', headers: signedHeaders, body: Buffer.concat([body, Buffer.from('!')]) })
  t.equal(wrongLength.status, 403, 'another length breaks the signature')

  const busy = await app.inject({ method: 'PUT', url: `/v1/files/${key}`, headers, payload: 'x' })
  t.equal(busy.statusCode, 409, 'the key is held while the browser uploads')

  const put = await fetch(url, { method: 'PUT', headers: signedHeaders, body })
  t.equal(put.status, 200)
  t.notOk((await bucket.keys()).includes(key), 'before completion nothing is at the key')
  const done = await complete(key)
  t.equal(done.statusCode, 201, done.body)
  t.match(done.json(), { key, size: body.length, sha256: sha256(body), contentType: 'application/pdf', createdBy: 'nurse' })
  t.equal((await app.inject({ method: 'GET', url: `/v1/files/${key}`, headers })).body, body.toString())
  t.same(await bucket.keys(), [key], 'the staged object moved into place')
  const again = await complete(key)
  t.equal(again.statusCode, 200, 'a repeated completion (a retry) gets the record again')
  t.same(again.json(), done.json())
  const events = (await app.storage.ledger.queryAudit({ key }, { limit: 10 })).items.map((e) => `${e.action}:${e.result}`)
  t.same(events, ['upload_complete:ok', 'download:ok', 'upload_complete:ok', 'upload:error', 'sign:ok'])
})

test('a presigned URL cannot replace the file once it is recorded (issue 8 #2)', async (t) => {
  const { app, bucket, headers, ask, complete } = await setup(t)
  const { key, url, headers: signed } = (await ask('form.pdf', 5)).json()
  t.equal((await fetch(url, { method: 'PUT', headers: signed, body: 'AAAAA' })).status, 200)
  t.equal((await complete(key)).statusCode, 201)
  const replay = await fetch(url, { method: 'PUT', headers: signed, body: 'BBBBB' })
  t.equal(replay.status, 200, 'the URL still works until it expires, but only on its staging key')
  const got = await app.inject({ method: 'GET', url: `/v1/files/${key}`, headers })
  t.equal(got.body, 'AAAAA', 'the recorded file is unchanged')
  t.equal((await app.storage.ledger.getLive(key))?.sha256, sha256('AAAAA'))
  t.notOk((await bucket.keys()).some((k) => k !== key && !k.startsWith('.uploads/')), 'nothing else in the live layout')
  await app.storage.recoverPending({ directGraceSeconds: 0, now: new Date(Date.now() + 1000) })
  t.same(await bucket.keys(), [key], 'the sweep removes the replayed bytes nothing claims')
})

test('a failed completion keeps the reservation: the URL cannot create an unrecorded file (issue 8 #3)', async (t) => {
  const { app, bucket, headers, ask, complete } = await setup(t)
  const { key, url, headers: signed } = (await ask('late.pdf', 5)).json()
  const early = await complete(key)
  t.equal(early.statusCode, 400, 'completing before the bytes arrive is refused')
  t.equal(early.json().code, 'FST_SPACES_UPLOAD_MISMATCH')
  const other = await app.inject({ method: 'PUT', url: `/v1/files/${key}`, headers, payload: 'x' })
  t.equal(other.statusCode, 409, 'the key is still held for this upload')
  t.equal((await fetch(url, { method: 'PUT', headers: signed, body: 'late!' })).status, 200)
  t.notOk((await bucket.keys()).includes(key), 'the late PUT did not reach the file key')
  const done = await complete(key)
  t.equal(done.statusCode, 201, 'completing once the bytes are there records them')
  t.equal(done.json().sha256, sha256('late!'))
})

test('concurrent completions: one records, the others get the record or a clean 409 (issue 8 #4)', async (t) => {
  const { ask, complete } = await setup(t)
  for (let round = 0; round < 3; round++) {
    const body = `round ${round} body`
    const { key, url, headers: signed } = (await ask(`race-${round}.pdf`, body.length)).json()
    t.equal((await fetch(url, { method: 'PUT', headers: signed, body })).status, 200)
    const answers = await Promise.all(Array.from({ length: 6 }, () => complete(key)))
    const statuses = answers.map((a) => a.statusCode)
    t.equal(statuses.filter((s) => s === 201).length, 1, `round ${round}: one completion records it (${statuses})`)
    t.ok(statuses.every((s) => s === 201 || s === 200 || s === 409), `round ${round}: no 5xx (${statuses})`)
    for (const answer of answers.filter((a) => a.statusCode === 200)) t.equal(answer.json().sha256, sha256(body))
  }
})

test('asking again for the same pending upload gives a fresh URL for the same reservation', async (t) => {
  const { ask, complete } = await setup(t)
  const first = await ask('retry.pdf', 4)
  const second = await ask('retry.pdf', 4)
  t.equal(second.statusCode, 201, 'not 409')
  t.equal(second.json().key, first.json().key)
  const { key, url, headers: signed } = second.json()
  t.equal((await fetch(url, { method: 'PUT', headers: signed, body: 'data' })).status, 200)
  t.equal((await complete(key)).statusCode, 201)
})

test('bytes that arrived intact but were never completed are recorded by the sweep', async (t) => {
  const { app, bucket, ask } = await setup(t)
  const { key, url, headers: signed, expiresAt } = (await ask('forgotten.pdf', 9)).json()
  t.equal((await fetch(url, { method: 'PUT', headers: signed, body: 'forgotten' })).status, 200)
  const { key: emptyKey } = (await ask('never.pdf', 3)).json()
  const rule = { directGraceSeconds: 60 }
  t.same(await app.storage.recoverPending({ ...rule, now: new Date(Date.parse(expiresAt) - 1000) }), { committed: [], failed: [] }, 'not before the URL expires')
  const settled = await app.storage.recoverPending({ ...rule, now: new Date(Date.parse(expiresAt) + 61_000) })
  t.same(settled, { committed: [key], failed: [emptyKey] })
  t.equal((await app.storage.ledger.getLive(key))?.sha256, sha256('forgotten'))
  t.same(await bucket.keys(), [key], 'the staged copy is gone, the empty reservation left nothing')
  const events = (await app.storage.ledger.queryAudit({ key }, { limit: 5 })).items.map((e) => `${e.actor}:${e.action}:${e.result}`)
  t.equal(events[0], 'nurse:upload_complete:ok', 'audited on behalf of the uploader')
})

test('an upload that never happened, or does not match, is refused and removed', async (t) => {
  const { app, bucket, auth, ask, complete } = await setup(t)
  const never = (await ask('never.pdf', 10)).json()
  const missing = await complete(never.key)
  t.equal(missing.statusCode, 400)
  t.equal(missing.json().code, 'FST_SPACES_UPLOAD_MISMATCH')
  t.equal(await app.storage.ledger.getLive(never.key), undefined)

  // Someone with other credentials writes something else at the staging key.
  const swapped = (await ask('swapped.pdf', 10)).json()
  const stagingKey = decodeURIComponent(new URL(swapped.url).pathname.split('/').slice(2).join('/'))
  await bucket.client.send(new PutObjectCommand({ Bucket: bucket.name, Key: stagingKey, Body: '<html>not a pdf</html>', ContentType: 'text/html' }))
  const mismatch = await complete(swapped.key)
  t.equal(mismatch.statusCode, 400)
  t.match(mismatch.json().message, /expected 10 bytes of application\/pdf, found 22 bytes of text\/html/)
  t.same(await bucket.keys(), [], 'the mismatching object is removed')
  t.equal(await app.storage.ledger.getLive(swapped.key), undefined)
  t.ok(await app.storage.ledger.getPending(swapped.key), 'the reservation stays until its URL expires')

  const tooBig = await app.inject({ method: 'POST', url: '/v1/uploads', headers: auth(USER), payload: { system: 'epcr', objectType: 'c', objectId: 'c', filename: 'x.pdf', contentType: 'application/pdf', size: 6 * 1024 ** 3 } })
  t.equal(tooBig.statusCode, 413)
  const crlf = await app.inject({ method: 'POST', url: '/v1/uploads', headers: auth(USER), payload: { system: 'epcr', objectType: 'c', objectId: 'c', filename: 'x.pdf', contentType: 'text/plain\r\nx-amz-acl: public-read', size: 1 } })
  t.equal(crlf.statusCode, 400, 'a content type with CR/LF is refused')
  const otherOrg = await app.inject({ method: 'POST', url: '/v1/uploads', headers: auth({ sub: 'x', org: 'org-2', scope: 'billing:write' }), payload: { system: 'epcr', objectType: 'c', objectId: 'c', filename: 'x.pdf', contentType: 'application/pdf', size: 1 } })
  t.equal(otherOrg.statusCode, 403, 'a scope for another system does not cover this one')
})
