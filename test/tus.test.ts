// tus 1.0.0 at /v1/uploads/tus, driven by tus-js-client (a client written by nobody here) against
// the sidecar on the real S3 peer: resumes after cut connections with an exact sha256, follows the
// same key, limit, type, policy and one-winner rules as every other upload, and leaves nothing
// behind when terminated or expired.
import { test, type Test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import * as tus from 'tus-js-client'
import { buildServer, spacesEnv, type TestServer } from './helpers/server.js'
import { createTestBucket, type TestBucket } from './helpers/s3.js'
import { startRelay } from './helpers/relay.js'

const MIB = 1024 * 1024
const USER = { sub: 'medic', org: 'org-1', scope: 'epcr:*' }
const META = { system: 'epcr', objectType: 'video', objectId: 'v-1', contentType: 'video/mp4' }
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')

interface Sidecar extends TestServer {
  bucket: TestBucket
  endpoint: string
  port: number
}

async function sidecar(t: Test, env: Record<string, string> = {}): Promise<Sidecar> {
  const bucket = await createTestBucket(t, 'tus')
  const server = await buildServer(t, { ...spacesEnv(bucket), ...env })
  await server.app.listen({ host: '127.0.0.1', port: 0 })
  const port = (server.app.server.address() as AddressInfo).port
  return { ...server, bucket, port, endpoint: `http://127.0.0.1:${port}/v1/uploads/tus` }
}

function upload(data: Buffer, options: tus.UploadOptions): { done: Promise<tus.Upload>; upload: tus.Upload } {
  let u!: tus.Upload
  const done = new Promise<tus.Upload>((resolve, reject) => {
    u = new tus.Upload(data, { ...options, onSuccess: () => resolve(u), onError: reject })
  })
  u.start()
  return { done, upload: u }
}

const tusHeaders = (server: Sidecar, extra: Record<string, string> = {}) => ({ ...server.auth(USER), 'tus-resumable': '1.0.0', ...extra })
const metadata = (fields: Record<string, string>) =>
  Object.entries(fields).map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`).join(',')

test('tus-js-client uploads in chunks; the cut connection resumes; the sha256 is exact', async (t) => {
  const server = await sidecar(t)
  const relay = await startRelay(server.port)
  t.teardown(() => relay.close())
  const data = randomBytes(23 * MIB + 123)
  let cuts = 0
  const { done } = upload(data, {
    endpoint: `${relay.url}/v1/uploads/tus`,
    headers: server.auth(USER),
    chunkSize: 6 * MIB,
    metadata: { ...META, filename: 'C:\\clips\\scene.mp4' },
    retryDelays: [100, 300, 500, 1000, 1000, 1000],
    onProgress(sent) {
      // Cut the network twice, in the middle of a chunk.
      if ((cuts === 0 && sent > 4 * MIB) || (cuts === 1 && sent > 15 * MIB)) {
        cuts++
        relay.cut()
      }
    },
  })
  const finished = await done
  t.equal(cuts, 2, 'the connection was cut twice')
  const id = finished.url!.split('/').pop()!
  const row = await server.app.storage.ledger.getById(id)
  t.equal(row?.state, 'live')
  t.match(row?.key, /^org-1\/epcr\/video\/v-1\/\d{8}_scene\.mp4$/, 'the usual key: org from the token, date prefix, no directory part')
  t.equal(row?.sha256, sha256(data), 'the recorded sha256 is that of the whole file')
  t.equal(row?.size, data.length)
  t.equal(row?.contentType, 'video/mp4')
  const got = await server.app.inject({ method: 'GET', url: `/v1/files/${row!.key}`, headers: server.auth(USER) })
  t.equal(sha256(got.rawPayload), sha256(data), 'the stored bytes are exact')
  t.same(await server.bucket.keys(), [row!.key], 'no tail or staging object left')
  t.same(await server.bucket.incompleteUploads(), [], 'no multipart upload left open')
  const events = (await server.app.storage.ledger.queryAudit({ key: row!.key }, { limit: 10 })).items
  t.same(events.map((e) => `${e.action}:${e.result}:${e.status}`), ['download:ok:200', 'upload:ok:201'], 'one upload event for the whole upload')
  t.equal(events[1]?.sha256, sha256(data))
})

test('the whole file in one PATCH: parts upload a few at a time, a cut keeps the parts done, the sha256 is exact', async (t) => {
  const server = await sidecar(t)
  const relay = await startRelay(server.port)
  t.teardown(() => relay.close())
  const data = randomBytes(45 * MIB + 77)
  const offsets: number[] = []
  let cut = false
  const { done } = upload(data, {
    endpoint: `${relay.url}/v1/uploads/tus`,
    headers: server.auth(USER),
    // tus-js-client's default chunk size: one PATCH carries the whole file (8 MiB parts, 4 in flight
    // while the next is read).
    metadata: { ...META, filename: 'long-take.mp4' },
    retryDelays: [200, 500, 1000, 1000],
    onProgress(sent) {
      if (!cut && sent > 30 * MIB) {
        cut = true
        relay.cut()
      }
    },
    onAfterResponse(req, res) {
      if (req.getMethod() === 'HEAD') offsets.push(Number(res.getHeader('Upload-Offset')))
    },
  })
  const finished = await done
  t.ok(cut, 'the connection was cut once, mid-PATCH')
  // It may ask more than once: the cut PATCH holds the upload (423) until its parts in flight are in.
  t.ok(offsets.length >= 1, 'the client asked where to resume')
  t.ok(offsets.every((offset) => offset % (8 * MIB) === 0), `always at a part boundary (${offsets.join(', ')})`)
  t.ok(Math.max(...offsets) > 0, 'after the parts that were read before the cut')
  const row = await server.app.storage.ledger.getById(finished.url!.split('/').pop()!)
  t.equal(row?.state, 'live')
  t.equal(row?.sha256, sha256(data), 'the sha256 of the whole file, though bytes past the offset were read before the cut')
  t.equal(row?.size, data.length)
  const got = await server.app.inject({ method: 'GET', url: `/v1/files/${row!.key}`, headers: server.auth(USER) })
  t.equal(sha256(got.rawPayload), sha256(data), 'the stored bytes are exact')
  t.same(await server.bucket.keys(), [row!.key], 'no tail or staging object left')
  t.same(await server.bucket.incompleteUploads(), [], 'no multipart upload left open')
})

test('creation-with-upload, HEAD, offsets, checksum and a zero-length file', async (t) => {
  const server = await sidecar(t)
  const { app } = server
  const first = Buffer.from('hello ')
  const created = await app.inject({
    method: 'POST',
    url: '/v1/uploads/tus',
    headers: tusHeaders(server, { 'upload-length': '11', 'upload-metadata': metadata({ ...META, filename: 'note.txt', contentType: 'text/plain' }), 'content-type': 'application/offset+octet-stream' }),
    payload: first,
  })
  t.equal(created.statusCode, 201, created.body)
  t.equal(created.headers['upload-offset'], '6', 'the first chunk came with the creation')
  t.ok(created.headers['upload-expires'], 'expiration is announced')
  t.equal(created.headers['tus-resumable'], '1.0.0')
  const location = created.headers.location as string
  t.match(location, /^\/v1\/uploads\/tus\/[0-9a-f-]{36}$/)

  const head = await app.inject({ method: 'HEAD', url: location, headers: tusHeaders(server) })
  t.equal(head.statusCode, 200)
  t.equal(head.headers['upload-offset'], '6')
  t.equal(head.headers['upload-length'], '11')
  t.equal(head.headers['cache-control'], 'no-store')

  const patch = (offset: number, body: string, extra: Record<string, string> = {}) =>
    app.inject({ method: 'PATCH', url: location, headers: tusHeaders(server, { 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream', ...extra }), payload: body })
  const stale = await patch(0, 'hello ')
  t.equal(stale.statusCode, 409, 'a PATCH at the wrong offset is refused')
  t.equal(stale.json().code, 'FST_SPACES_OFFSET_MISMATCH')
  const badSum = await patch(6, 'world', { 'upload-checksum': `sha1 ${createHash('sha1').update('WORLD').digest('base64')}` })
  t.equal(badSum.statusCode, 460, 'a body that does not match its checksum is refused')
  t.equal((await app.inject({ method: 'HEAD', url: location, headers: tusHeaders(server) })).headers['upload-offset'], '6', 'and nothing of it was kept')
  const wrongType = await app.inject({ method: 'PATCH', url: location, headers: tusHeaders(server, { 'upload-offset': '6', 'content-type': 'text/plain' }), payload: 'world' })
  t.equal(wrongType.statusCode, 415)
  const last = await patch(6, 'world', { 'upload-checksum': `sha1 ${createHash('sha1').update('world').digest('base64')}` })
  t.equal(last.statusCode, 204, last.body)
  t.equal(last.headers['upload-offset'], '11')
  const key = (await app.storage.ledger.getById(location.split('/').pop()!))!.key
  t.equal((await app.storage.ledger.getLive(key))?.sha256, sha256(Buffer.from('hello world')))
  const headDone = await app.inject({ method: 'HEAD', url: location, headers: tusHeaders(server) })
  t.equal(headDone.headers['upload-offset'], '11', 'a finished upload reads as complete')

  const empty = await app.inject({
    method: 'POST',
    url: '/v1/uploads/tus',
    headers: tusHeaders(server, { 'upload-length': '0', 'upload-metadata': metadata({ ...META, filename: 'empty.txt' }) }),
  })
  t.equal(empty.statusCode, 201, empty.body)
  const emptyRow = await app.storage.ledger.getById((empty.headers.location as string).split('/').pop()!)
  t.equal(emptyRow?.state, 'live', 'a zero-length upload is complete at creation')
  t.equal(emptyRow?.sha256, sha256(Buffer.alloc(0)))
  t.same(await server.bucket.incompleteUploads(), [])

  const options = await app.inject({ method: 'OPTIONS', url: '/v1/uploads/tus', headers: server.auth(USER) })
  t.equal(options.statusCode, 204)
  t.equal(options.headers['tus-version'], '1.0.0')
  t.match(options.headers['tus-extension'], /creation,creation-with-upload,termination,expiration,checksum/)
  t.equal(options.headers['tus-max-size'], String(5 * 1024 ** 3))
})

test('the same user starting an upload twice at once: one holds the key, and no store upload is left behind', async (t) => {
  const server = await sidecar(t)
  const { app } = server
  const create = (i: number) =>
    app.inject({ method: 'POST', url: '/v1/uploads/tus', headers: { ...tusHeaders(server), 'upload-length': '10', 'upload-metadata': metadata({ ...META, objectId: `twice-${i}`, filename: 'a.mp4' }) } })
  // The second POST of a pair replaces the first; at once, it may do so before the first has
  // started its multipart upload in the store.
  const later = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
  const pairs = await Promise.all(Array.from({ length: 12 }, (_, i) => Promise.all([create(i), later(i * 2).then(() => create(i))])))
  const answers = pairs.flat()
  // 409: it lost the key to the newer POST; 423: it found the other one busy starting.
  t.ok(answers.every((res) => [201, 409, 423].includes(res.statusCode)), `201, 409 or 423 only (got ${answers.map((res) => res.statusCode)})`)
  const open: string[] = []
  for (const res of answers.filter((res) => res.statusCode === 201)) {
    const head = await app.inject({ method: 'HEAD', url: res.headers.location as string, headers: tusHeaders(server) })
    if (head.statusCode === 200) open.push(res.headers.location as string)
  }
  t.equal(open.length, pairs.length, 'one upload per key is open')
  t.equal((await server.bucket.incompleteUploads()).length, pairs.length, 'and one multipart upload per key in the store')
  for (const location of open) await app.inject({ method: 'DELETE', url: location, headers: tusHeaders(server) })
  t.same(await server.bucket.incompleteUploads(), [], 'none once they are terminated')
})

test('the rules of every upload: auth, policy, key, limit, type, version, one winner', async (t) => {
  const server = await sidecar(t, { MAX_UPLOAD_BYTES: String(20 * MIB), ALLOWED_CONTENT_TYPES: 'video/*,text/plain' })
  const { app } = server
  const create = (fields: Record<string, string>, headers: Record<string, string> = tusHeaders(server), length = '10') =>
    app.inject({ method: 'POST', url: '/v1/uploads/tus', headers: { ...headers, 'upload-length': length, 'upload-metadata': metadata(fields) } })
  const noToken = await app.inject({ method: 'POST', url: '/v1/uploads/tus', headers: { 'tus-resumable': '1.0.0', 'upload-length': '1' } })
  t.equal(noToken.statusCode, 401)
  t.equal((await create({ ...META, filename: 'a.mp4' }, { ...server.auth({ sub: 'x', org: 'org-1', scope: 'billing:write' }), 'tus-resumable': '1.0.0' })).statusCode, 403, 'no write scope on epcr')
  t.equal((await create({ ...META, filename: '..' })).statusCode, 400, 'a bad filename')
  t.equal((await create({ ...META, system: 'nope', filename: 'a.mp4' })).statusCode, 400, 'an unknown system')
  t.equal((await create({ ...META, filename: 'a.mp4' }, tusHeaders(server), String(21 * MIB))).statusCode, 413, 'over MAX_UPLOAD_BYTES')
  t.equal((await create({ ...META, filename: 'a.exe', contentType: 'application/x-msdownload' })).statusCode, 415)
  const oldVersion = await create({ ...META, filename: 'a.mp4' }, { ...server.auth(USER), 'tus-resumable': '0.2.2' })
  t.equal(oldVersion.statusCode, 412)
  t.equal(oldVersion.headers['tus-version'], '1.0.0')

  const winner = await create({ ...META, filename: 'one.mp4' })
  t.equal(winner.statusCode, 201)
  const loser = await create({ ...META, filename: 'one.mp4' }, { ...server.auth({ ...USER, sub: 'colleague' }), 'tus-resumable': '1.0.0' })
  t.equal(loser.statusCode, 409, 'one upload per key at a time')
  t.equal(loser.json().code, 'FST_SPACES_UPLOAD_IN_PROGRESS')
  const direct = await app.inject({ method: 'PUT', url: `/v1/files/${(await app.storage.ledger.getById((winner.headers.location as string).split('/').pop()!))!.key}`, headers: { ...server.auth(USER), 'content-type': 'video/mp4' }, payload: 'x' })
  t.equal(direct.statusCode, 409, 'a PUT to the key waits too')
  const again = await create({ ...META, filename: 'restart.mp4' })
  const restarted = await create({ ...META, filename: 'restart.mp4' })
  t.equal(restarted.statusCode, 201, 'the same user starting over replaces their own unfinished upload')
  t.equal((await app.inject({ method: 'HEAD', url: again.headers.location as string, headers: tusHeaders(server) })).statusCode, 410, 'which is gone')
  const location = winner.headers.location as string
  const stranger = await app.inject({ method: 'HEAD', url: location, headers: { ...server.auth({ sub: 'other', org: 'org-1', scope: 'epcr:*' }), 'tus-resumable': '1.0.0' } })
  t.equal(stranger.statusCode, 404, "another user's upload looks like none")
  const foreign = await app.inject({ method: 'HEAD', url: location, headers: { ...server.auth({ sub: 'medic', org: 'org-2', roles: ['admin'] }), 'tus-resumable': '1.0.0' } })
  t.equal(foreign.statusCode, 404, "another org's upload looks like none")
  const tooLong = await app.inject({ method: 'PATCH', url: location, headers: tusHeaders(server, { 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' }), payload: 'more than ten bytes' })
  t.equal(tooLong.statusCode, 413, 'a chunk past Upload-Length')
})

test('termination and expiry leave nothing in the bucket and nothing live in the ledger', async (t) => {
  const server = await sidecar(t)
  const { app, bucket } = server
  const started: string[] = []
  for (const name of ['terminated.mp4', 'expired.mp4']) {
    const data = randomBytes(7 * MIB)
    // 5 MiB + 2 MiB: one part in the multipart upload, and a tail waiting in the staging prefix.
    const { upload: u, done } = upload(data, { endpoint: server.endpoint, headers: server.auth(USER), chunkSize: 5 * MIB, metadata: { ...META, filename: name }, retryDelays: [] })
    let url = ''
    await new Promise<void>((resolve, reject) => {
      u.options.onChunkComplete = (_size, accepted) => {
        if (accepted === 5 * MIB) {
          url = u.url!
          u.abort().then(resolve, reject)
        }
      }
      done.catch(reject)
    })
    started.push(url)
  }
  // Append the 2 MiB tail to the second one by hand, so it has parts and a tail when it expires.
  const expiredId = started[1]!.split('/').pop()!
  const tailed = await app.inject({ method: 'PATCH', url: `/v1/uploads/tus/${expiredId}`, headers: tusHeaders(server, { 'upload-offset': String(5 * MIB), 'content-type': 'application/offset+octet-stream' }), payload: randomBytes(1 * MIB) })
  t.equal(tailed.statusCode, 204)
  t.equal((await bucket.incompleteUploads()).length, 2, 'two multipart uploads open')
  t.ok((await bucket.keys()).some((k) => k.startsWith('.uploads/')), 'a tail waits under the staging prefix')

  const terminated = await app.inject({ method: 'DELETE', url: new URL(started[0]!).pathname, headers: tusHeaders(server) })
  t.equal(terminated.statusCode, 204)
  const gone = await app.inject({ method: 'HEAD', url: new URL(started[0]!).pathname, headers: tusHeaders(server) })
  t.equal(gone.statusCode, 410, 'a terminated upload is gone')

  const row = await app.storage.ledger.getById(expiredId)
  const before = await app.storage.recoverPending({ directGraceSeconds: 60, now: new Date(Date.parse(row!.expiresAt!) - 1000) })
  t.same(before, { committed: [], failed: [] }, 'not before it expires')
  const after = await app.storage.recoverPending({ directGraceSeconds: 60, now: new Date(Date.parse(row!.expiresAt!) + 1000) })
  t.same(after.failed, [row!.key])
  t.same(await bucket.keys(), [], 'no object, no tail')
  t.same(await bucket.incompleteUploads(), [], 'no incomplete multipart upload')
  t.same((await app.storage.ledger.listStalePending(new Date(Date.now() + 86_400_000))).map((r) => r.key), [], 'nothing pending')
  t.same((await app.storage.ledger.listLive({ orgId: 'org-1' }, { limit: 10 })).items, [], 'nothing live')
  const events = (await app.storage.ledger.queryAudit({ key: row!.key }, { limit: 5 })).items
  t.same(events.map((e) => `${e.action}:${e.result}:${e.errorCode}`), ['upload:error:FST_SPACES_UPLOAD_EXPIRED'])
  const expiredPatch = await app.inject({ method: 'PATCH', url: `/v1/uploads/tus/${expiredId}`, headers: tusHeaders(server, { 'upload-offset': String(6 * MIB), 'content-type': 'application/offset+octet-stream' }), payload: 'x' })
  t.equal(expiredPatch.statusCode, 410)
})

test('the embedded local-disk store has no multipart uploads: tus and presigned multipart say so', async (t) => {
  const { app, auth } = await buildServer(t)
  const headers = { ...auth(USER), 'tus-resumable': '1.0.0' }
  const created = await app.inject({ method: 'POST', url: '/v1/uploads/tus', headers: { ...headers, 'upload-length': '5', 'upload-metadata': metadata({ ...META, filename: 'local.mp4' }) } })
  t.equal(created.statusCode, 400)
  t.match(created.json(), { code: 'FST_SPACES_BAD_REQUEST', message: /no multipart uploads; resumable uploads need one; use PUT \/files/ })
  const multipart = await app.inject({ method: 'POST', url: '/v1/uploads/multipart', headers: auth(USER), payload: { filename: 'a.pdf', metadata: { system: 'epcr', objectType: 'a', objectId: 'a' } } })
  t.equal(multipart.statusCode, 400)
  t.same(await app.storage.ledger.listStalePending(new Date(Date.now() + 1000)), [], 'no reservation left behind')
})

test('a chunk refused for its checksum after it crossed a part boundary leaves the staged tail intact', async (t) => {
  const server = await sidecar(t)
  const { app } = server
  const data = randomBytes(12 * MIB)
  const created = await app.inject({ method: 'POST', url: '/v1/uploads/tus', headers: tusHeaders(server, { 'upload-length': String(data.length), 'upload-metadata': metadata({ ...META, filename: 'sum.mp4' }) }) })
  const location = created.headers.location as string
  const patch = (from: number, to: number, sum = createHash('sha256').update(data.subarray(from, to)).digest('base64')) =>
    app.inject({ method: 'PATCH', url: location, headers: tusHeaders(server, { 'upload-offset': String(from), 'content-type': 'application/offset+octet-stream', 'upload-checksum': `sha256 ${sum}` }), payload: data.subarray(from, to) })
  t.equal((await patch(0, 3 * MIB)).statusCode, 204, '3 MiB: a staged tail (too short for a part)')
  // 7 MiB more: the tail and 5 MiB fill an 8 MiB part, 2 MiB would be a new tail; the sum is wrong.
  t.equal((await patch(3 * MIB, 10 * MIB, Buffer.alloc(32).toString('base64'))).statusCode, 460)
  t.equal((await patch(3 * MIB, 10 * MIB)).statusCode, 204, 'sent again with the right sum')
  const last = await patch(10 * MIB, 12 * MIB)
  t.equal(last.statusCode, 204)
  const row = await app.storage.ledger.getById(location.split('/').pop()!)
  t.equal(row?.sha256, sha256(data), 'the file is exact: the refused chunk changed nothing it relied on')
  t.same(await server.bucket.keys(), [row!.key], 'no staged tail left')
})
