// A multipart POST is all or nothing: a 4xx or 5xx leaves no object, no live record and nothing
// in trash (an overwritten file comes back), a 201 stores every file, and each file part has its
// own audit event either way.
import { test, type Test } from 'tap'
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { buildServer, spacesEnv } from './helpers/server.js'
import { createTestBucket } from './helpers/s3.js'
import { formHeaders, multipartBody, type FormPart } from './helpers/multipart.js'
import { assertStored } from './helpers/invariants.js'
import { patternStream, sendAndAbort } from './helpers/http.js'

const FOLDER = 'org-1/epcr/document/run-7'
const ADMIN = { sub: 'medic', org: 'org-1', roles: ['admin'] }
const BOUNDARY = 'atomicboundary'
const file = (filename: string, data: string | Buffer = `contents of ${filename}`): FormPart => ({ filename, contentType: 'application/pdf', data })

async function setup(t: Test, env: Record<string, string> = {}) {
  const bucket = await createTestBucket(t, 'atomic')
  const server = await buildServer(t, { ...spacesEnv(bucket), DATE_PREFIX: 'false', ...env })
  const post = (parts: FormPart[], query = '') =>
    server.app.inject({
      method: 'POST',
      url: `/v1/files/${FOLDER}${query}`,
      headers: { ...server.auth(ADMIN), ...formHeaders(BOUNDARY) },
      payload: multipartBody(BOUNDARY, parts),
    })
  const uploadEvents = async () =>
    (await server.app.storage.ledger.queryAudit({ action: 'upload' }, { limit: 1000 })).items.reverse()
  return { bucket, ...server, post, uploadEvents }
}

test('a second part named ".." is a 400 and the first file is not kept; both parts are audited', async (t) => {
  const { app, bucket, post, uploadEvents } = await setup(t)
  const res = await post([file('chart.pdf'), file('..')])
  t.equal(res.statusCode, 400, res.body)
  t.equal(res.json().code, 'FST_SPACES_INVALID_KEY')
  await assertStored(t, bucket, app.storage.ledger, { live: [], trash: [] }, 'after the 400')
  const events = await uploadEvents()
  t.same(events.map((e) => [e.key, e.result, e.status, e.errorCode]), [
    [`${FOLDER}/chart.pdf`, 'error', 400, 'FST_SPACES_INVALID_KEY'],
    [`${FOLDER}/`, 'error', 400, 'FST_SPACES_INVALID_KEY'],
  ])
  t.equal(events[0]!.sha256, createHash('sha256').update('contents of chart.pdf').digest('hex'), 'the undone file is named with what arrived')
})

test('a duplicate filename is a 409 and neither copy is kept', async (t) => {
  const { app, bucket, post, uploadEvents } = await setup(t)
  const res = await post([file('scan.pdf', 'one'), file('note.pdf'), file('scan.pdf', 'two')])
  t.equal(res.statusCode, 409, res.body)
  t.equal(res.json().code, 'FST_SPACES_DUPLICATE_FILE')
  await assertStored(t, bucket, app.storage.ledger, { live: [], trash: [] }, 'after the 409')
  t.same((await uploadEvents()).map((e) => [e.key, e.status]), [
    [`${FOLDER}/scan.pdf`, 409],
    [`${FOLDER}/note.pdf`, 409],
    [`${FOLDER}/scan.pdf`, 409],
  ])
})

test('101 files are a 413 and none of the first 100 is kept', async (t) => {
  const { app, bucket, post, uploadEvents } = await setup(t)
  const parts = Array.from({ length: 101 }, (_, i) => file(`page-${String(i).padStart(3, '0')}.pdf`))
  const res = await post(parts)
  t.equal(res.statusCode, 413, res.body)
  t.equal(res.json().code, 'FST_SPACES_TOO_MANY_PARTS')
  await assertStored(t, bucket, app.storage.ledger, { live: [], trash: [] }, 'after the 413')
  const events = await uploadEvents()
  t.equal(events.length, 100, 'each of the 100 files received has its event')
  t.ok(events.every((e) => e.result === 'error' && e.status === 413), 'and each says the request failed')
})

test('a failure part-way through an overwrite brings the replaced file back and leaves trash empty', async (t) => {
  const { app, bucket, auth, post } = await setup(t, { MAX_UPLOAD_BYTES: String(64 * 1024) })
  const original = Buffer.from('%PDF original chart')
  const put = await app.inject({ method: 'PUT', url: `/v1/files/${FOLDER}/chart.pdf`, headers: auth(ADMIN), payload: original })
  t.equal(put.statusCode, 201)
  const res = await post([file('chart.pdf', 'replacement'), file('huge.pdf', Buffer.alloc(65 * 1024, 7))], '?overwrite=true')
  t.equal(res.statusCode, 413, res.body)
  t.equal(res.json().code, 'FST_SPACES_TOO_LARGE')
  await assertStored(t, bucket, app.storage.ledger, { live: [`${FOLDER}/chart.pdf`], trash: [] }, 'after the 413')
  const back = await app.inject({ method: 'GET', url: `/v1/files/${FOLDER}/chart.pdf`, headers: auth(ADMIN) })
  t.same(back.rawPayload, original, 'the original bytes are live again')
  t.same((await app.inject({ method: 'GET', url: '/v1/trash', headers: auth(ADMIN) })).json().items, [], 'nothing in trash')
})

test('201 means every file is stored, each with its own event', async (t) => {
  const { app, bucket, post, uploadEvents } = await setup(t)
  const res = await post([file('a.pdf'), { name: 'note', data: 'a plain field is ignored' }, file('b.pdf'), file('c.pdf')])
  t.equal(res.statusCode, 201, res.body)
  const keys = ['a.pdf', 'b.pdf', 'c.pdf'].map((name) => `${FOLDER}/${name}`)
  t.same(res.json().files.map((f: { key: string }) => f.key), keys)
  await assertStored(t, bucket, app.storage.ledger, { live: keys, trash: [] }, 'after the 201')
  t.same((await uploadEvents()).map((e) => [e.key, e.result, e.status]), keys.map((key) => [key, 'ok', 201]))
})

test('a client that goes away during the second file leaves nothing, and both files are audited', async (t) => {
  const { app, bucket, token } = await setup(t)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as { port: number }).port
  const first = multipartBody(BOUNDARY, [file('first.pdf')]).subarray(0, -`--${BOUNDARY}--\r\n`.length)
  const body = Readable.from(
    (async function* () {
      yield first
      yield Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="second.pdf"\r\nContent-Type: application/pdf\r\n\r\n`)
      yield* patternStream(30 * 1024 * 1024)
    })(),
  )
  await sendAndAbort(`http://127.0.0.1:${port}/v1/files/${FOLDER}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token(ADMIN)}`, ...formHeaders(BOUNDARY) },
    body,
    abortAfter: 12 * 1024 * 1024,
  })
  await assertStored(t, bucket, app.storage.ledger, { live: [], trash: [] }, 'after the abort')
  let events: Array<{ key: string | null; result: string }> = []
  for (let i = 0; i < 50 && events.length < 2; i++) {
    events = (await app.storage.ledger.queryAudit({ action: 'upload' }, { limit: 10 })).items
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.same(events.map((e) => [e.key, e.result]).sort(), [
    [`${FOLDER}/first.pdf`, 'error'],
    [`${FOLDER}/second.pdf`, 'error'],
  ])
})
