// Spaces going away under the uploads that outlive a request (tus, presigned PUT, presigned
// multipart): the request that meets the outage gets a retryable 502/503 with Retry-After (never
// a 500), the upload is left where a retry can pick it up (nothing half-recorded), and once Spaces
// is back the retry finishes it with the exact sha256 and nothing left over in the bucket.
import { test, type Test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import { assertRetryable, outageSetup, uploadThroughOutage, waitUntil, type Answer } from './helpers/outage.js'

const MIB = 1024 * 1024
const USER = { sub: 'medic', org: 'org-1', scope: 'epcr:*' }
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')
const metadata = (fields: Record<string, string>) =>
  Object.entries(fields).map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`).join(',')

/** An injected answer, as the outage helpers read answers. */
const answerOf = (res: LightMyRequestResponse): Answer => ({ status: res.statusCode, headers: res.headers as Answer['headers'], body: res.body })

async function setup(t: Test) {
  const setup = await outageSetup(t, 'outage-up')
  const headers = setup.server.auth(USER)
  const inject = (method: 'GET' | 'POST' | 'HEAD' | 'PATCH', url: string, payload?: object, extra: Record<string, string> = {}) =>
    setup.server.app.inject({ method, url: `/v1${url}`, headers: { ...headers, ...extra }, ...(payload ? { payload } : {}) })
  /** Nothing but the live file in the bucket: no staged bytes, no incomplete multipart upload. */
  const onlyFile = async (key: string) =>
    waitUntil(async () => (await setup.bucket.incompleteUploads()).length === 0 && (await setup.bucket.keys()).join() === key, 10_000)
  return { ...setup, headers, inject, onlyFile }
}

test('S3 cut off mid tus PATCH: a retryable 503, the offset is what was stored, and the upload resumes to the exact sha256', async (t) => {
  const { relay, port, server, headers, inject, onlyFile } = await setup(t)
  const data = randomBytes(24 * MIB + 77)
  const tus = { 'tus-resumable': '1.0.0' }
  const created = await inject('POST', '/uploads/tus', undefined, {
    ...tus,
    'upload-length': String(data.length),
    'upload-metadata': metadata({ system: 'epcr', objectType: 'video', objectId: 'o-1', filename: 'clip.mp4', contentType: 'video/mp4' }),
  })
  t.equal(created.statusCode, 201, created.body)
  const path = new URL(created.headers.location as string, 'http://x').pathname

  const answer = await uploadThroughOutage(`http://127.0.0.1:${port}${path}`, {
    method: 'PATCH',
    headers: { ...headers, ...tus, 'content-type': 'application/offset+octet-stream', 'upload-offset': 0, 'content-length': data.length },
    body: data,
    before: 14 * MIB,
    total: data.length,
    midway: () => relay.down(),
  })
  assertRetryable(t, answer)
  t.notOk(server.logs.some((line) => line.includes('FST_SPACES_INTERNAL')), 'no internal error')

  await relay.up()
  const head = await server.app.inject({ method: 'HEAD', url: path, headers: { ...headers, ...tus } })
  const offset = Number(head.headers['upload-offset'])
  t.ok(offset >= 0 && offset < data.length, `HEAD says where to resume (${offset} of ${data.length})`)
  const rest = await server.app.inject({
    method: 'PATCH',
    url: path,
    headers: { ...headers, ...tus, 'content-type': 'application/offset+octet-stream', 'upload-offset': String(offset) },
    payload: data.subarray(offset),
  })
  t.equal(rest.statusCode, 204, rest.body)
  t.equal(rest.headers['upload-offset'], String(data.length))
  const [file] = (await server.app.storage.ledger.listLive({ orgId: 'org-1' }, { limit: 5 })).items
  t.equal(file?.sha256, sha256(data), 'the resumed upload holds exactly the bytes sent')
  t.ok(await onlyFile(file!.key), 'no tail, part or staged object is left over')
  // A PATCH is one step of the upload: the upload is audited once, when it completes.
  const events = (await server.app.storage.ledger.queryAudit({ key: file!.key }, { limit: 10 })).items
  t.equal(events.length, 1, 'the completed upload is audited once')
  t.match(events[0], { action: 'upload', status: 201, sha256: sha256(data) })
})

test('S3 away at a direct upload\'s completion: 503, the reservation kept, and the retry records it', async (t) => {
  const { relay, server, inject, onlyFile } = await setup(t)
  const body = randomBytes(64 * 1024)
  const started = await inject('POST', '/uploads', { system: 'epcr', objectType: 'consent', objectId: 'o-2', filename: 'consent.pdf', contentType: 'application/pdf', size: body.length })
  t.equal(started.statusCode, 201, started.body)
  const { key, url, headers: signed } = started.json()
  t.equal((await fetch(url, { method: 'PUT', headers: signed, body })).status, 200)

  await relay.down()
  const failed = await inject('POST', '/uploads/complete', { key })
  assertRetryable(t, answerOf(failed))
  t.equal(await server.app.storage.ledger.getLive(key), undefined, 'nothing recorded')
  t.equal((await server.app.storage.ledger.getPending(key))?.kind, 'direct', 'the reservation is kept for the retry')

  await relay.up()
  const done = await inject('POST', '/uploads/complete', { key })
  t.equal(done.statusCode, 201, done.body)
  t.equal(done.json().sha256, sha256(body))
  t.ok(await onlyFile(key), 'the staged object is gone')
})

test('S3 away at a presigned multipart completion: 503, the upload kept, and the retry records it', async (t) => {
  const { relay, server, inject, onlyFile } = await setup(t)
  const data = randomBytes(2 * MIB)
  const created = await inject('POST', '/uploads/multipart', { filename: 'scan.tiff', type: 'image/tiff', metadata: { system: 'epcr', objectType: 'scan', objectId: 'o-3' } })
  t.equal(created.statusCode, 201, created.body)
  const handle = created.json() as { key: string; uploadId: string }
  const query = `key=${encodeURIComponent(handle.key)}`
  const signed = await inject('GET', `/uploads/multipart/${handle.uploadId}/1?${query}`)
  const put = await fetch(signed.json().url, { method: 'PUT', body: data })
  t.equal(put.status, 200)
  const parts = [{ PartNumber: 1, ETag: put.headers.get('etag') }]

  await relay.down()
  const failed = await inject('POST', `/uploads/multipart/${handle.uploadId}/complete?${query}`, { parts })
  assertRetryable(t, answerOf(failed))
  const [pending] = (await server.app.storage.ledger.listStalePending(new Date('9999-01-01'))).filter((row) => row.kind === 'multipart')
  t.equal(pending?.state, 'pending', 'the upload is still pending, not failed')

  await relay.up()
  const done = await inject('POST', `/uploads/multipart/${handle.uploadId}/complete?${query}`, { parts })
  t.equal(done.statusCode, 201, done.body)
  t.equal(done.json().sha256, sha256(data))
  t.ok(await onlyFile(pending!.key), 'no incomplete multipart upload is left')
})
