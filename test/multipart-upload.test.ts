// Presigned S3 multipart for browser uploads, through the Companion-shaped routes Uppy's
// @uppy/aws-s3 uses: parts go straight to the bucket, the sidecar checks their total, assembles,
// hashes and records them. Aborted or expired uploads leave nothing behind.
import { test, type Test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { buildServer, spacesEnv } from './helpers/server.js'
import { createTestBucket } from './helpers/s3.js'

const MIB = 1024 * 1024
const USER = { sub: 'medic', org: 'org-1', scope: 'epcr:*' }
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')

async function setup(t: Test, env: Record<string, string> = {}) {
  const bucket = await createTestBucket(t, 'mpu')
  const server = await buildServer(t, { ...spacesEnv(bucket), ...env })
  const headers = server.auth(USER)
  const api = async (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) =>
    server.app.inject({ method, url: `/v1${url}`, headers, ...(payload ? { payload } : {}) })
  return { bucket, ...server, headers, api }
}

/** PUTs one part to its presigned URL, as a browser does; returns its ETag. */
async function putPart(api: Awaited<ReturnType<typeof setup>>['api'], handle: { key: string; uploadId: string }, partNumber: number, data: Buffer) {
  const signed = await api('GET', `/uploads/multipart/${handle.uploadId}/${partNumber}?key=${encodeURIComponent(handle.key)}`)
  if (signed.statusCode !== 200) throw new Error(signed.body)
  const res = await fetch(signed.json().url, { method: 'PUT', body: data })
  if (res.status !== 200) throw new Error(`part ${partNumber}: ${res.status} ${await res.text()}`)
  return res.headers.get('etag')!
}

test('create, sign parts, list, complete: recorded with its sha256, and a retried completion gets the record', async (t) => {
  const { app, bucket, api } = await setup(t)
  const data = randomBytes(11 * MIB + 17)
  const created = await api('POST', '/uploads/multipart', { filename: 'x1-scan.tiff', type: 'image/tiff', metadata: { system: 'epcr', objectType: 'scan', objectId: 's-1', name: 'scan.tiff' } })
  t.equal(created.statusCode, 201, created.body)
  const handle = created.json()
  t.match(handle.key, /^org-1\/epcr\/scan\/s-1\/\d{8}_scan\.tiff$/, "metadata.name names the file (Uppy's key has a random prefix)")
  const etags = []
  for (const [i, slice] of [data.subarray(0, 5 * MIB), data.subarray(5 * MIB, 10 * MIB), data.subarray(10 * MIB)].entries()) {
    etags.push(await putPart(api, handle, i + 1, slice))
  }
  const listed = await api('GET', `/uploads/multipart/${handle.uploadId}?key=${encodeURIComponent(handle.key)}`)
  t.same(listed.json().map((p: { PartNumber: number; Size: number }) => [p.PartNumber, p.Size]), [[1, 5 * MIB], [2, 5 * MIB], [3, MIB + 17]])
  t.notOk((await bucket.keys()).includes(handle.key), 'nothing at the key before completion')
  const parts = etags.map((ETag, i) => ({ PartNumber: i + 1, ETag }))
  const done = await api('POST', `/uploads/multipart/${handle.uploadId}/complete?key=${encodeURIComponent(handle.key)}`, { parts })
  t.equal(done.statusCode, 201, done.body)
  t.match(done.json(), { key: handle.key, size: data.length, sha256: sha256(data), contentType: 'image/tiff', location: /\/v1\/files\/org-1\/epcr\/scan\/s-1\// })
  const again = await api('POST', `/uploads/multipart/${handle.uploadId}/complete?key=${encodeURIComponent(handle.key)}`, { parts })
  t.equal(again.statusCode, 200, 'a retried completion gets the record')
  t.same(await bucket.incompleteUploads(), [])
  const stale = await api('GET', `/uploads/multipart/${handle.uploadId}/4?key=${encodeURIComponent(handle.key)}`)
  t.equal(stale.statusCode, 404, 'no part URLs for a finished upload')
  t.equal((await app.storage.ledger.getLive(handle.key))?.sha256, sha256(data))
})

test('completion checks the parts: too small, too many bytes, not the declared size, or other parts', async (t) => {
  const { bucket, api } = await setup(t, { MAX_UPLOAD_BYTES: String(8 * MIB) })
  const start = async (name: string, size?: number) =>
    (await api('POST', '/uploads/multipart', { filename: name, type: 'application/pdf', size, metadata: { system: 'epcr', objectType: 'scan', objectId: 's-2' } })).json()
  const complete = (handle: { key: string; uploadId: string }, parts: object[]) =>
    api('POST', `/uploads/multipart/${handle.uploadId}/complete?key=${encodeURIComponent(handle.key)}`, { parts })

  const small = await start('small.pdf')
  const smallParts = [{ PartNumber: 1, ETag: await putPart(api, small, 1, randomBytes(1024)) }, { PartNumber: 2, ETag: await putPart(api, small, 2, randomBytes(1024)) }]
  const tooSmall = await complete(small, smallParts)
  t.equal(tooSmall.statusCode, 400, 'a part under 5 MiB that is not the last')
  t.equal(tooSmall.json().code, 'FST_SPACES_UPLOAD_MISMATCH')

  const big = await start('big.pdf')
  const bigParts = [{ PartNumber: 1, ETag: await putPart(api, big, 1, randomBytes(5 * MIB)) }, { PartNumber: 2, ETag: await putPart(api, big, 2, randomBytes(4 * MIB)) }]
  t.equal((await complete(big, bigParts)).statusCode, 413, 'the parts add up to more than MAX_UPLOAD_BYTES')
  t.equal((await api('POST', '/uploads/multipart', { filename: 'x.pdf', type: 'application/pdf', size: 9 * MIB, metadata: { system: 'epcr', objectType: 'scan', objectId: 's-2' } })).statusCode, 413, 'a declared size over the limit is refused up front')

  const declared = await start('declared.pdf', 3000)
  const declaredParts = [{ PartNumber: 1, ETag: await putPart(api, declared, 1, randomBytes(2000)) }]
  const short = await complete(declared, declaredParts)
  t.equal(short.statusCode, 400, 'not the declared size')
  const lie = await complete(declared, [{ PartNumber: 1, ETag: '"0123456789abcdef0123456789abcdef"' }])
  t.equal(lie.statusCode, 400, 'the client names parts the store does not hold')
  t.equal((await api('GET', `/uploads/multipart/${declared.uploadId}/3?key=${encodeURIComponent(declared.key)}`)).statusCode, 400, 'no part number past what the declared size needs')

  for (const handle of [small, big, declared]) {
    const aborted = await api('DELETE', `/uploads/multipart/${handle.uploadId}?key=${encodeURIComponent(handle.key)}`)
    t.equal(aborted.statusCode, 200)
  }
  t.same(await bucket.incompleteUploads(), [], 'aborted: no incomplete multipart upload')
  t.same(await bucket.keys(), [], 'and no object')
})

test('an aborted or expired upload leaves nothing in the bucket and nothing live in the ledger', async (t) => {
  const { app, bucket, api } = await setup(t)
  const start = async (name: string) => (await api('POST', '/uploads/multipart', { filename: name, type: 'video/mp4', metadata: { system: 'epcr', objectType: 'v', objectId: 'v-1' } })).json()
  const aborted = await start('aborted.mp4')
  await putPart(api, aborted, 1, randomBytes(5 * MIB))
  t.equal((await api('DELETE', `/uploads/multipart/${aborted.uploadId}?key=${encodeURIComponent(aborted.key)}`)).statusCode, 200)
  const expired = await start('expired.mp4')
  await putPart(api, expired, 1, randomBytes(MIB))
  const row = await app.storage.ledger.getById(expired.uploadId)
  const settled = await app.storage.recoverPending({ directGraceSeconds: 60, now: new Date(Date.parse(row!.expiresAt!) + 1000) })
  t.same(settled, { committed: [], failed: [expired.key] })
  t.same(await bucket.incompleteUploads(), [], 'no incomplete multipart upload')
  t.same(await bucket.keys(), [], 'no object')
  t.same((await app.storage.ledger.listLive({ orgId: 'org-1' }, { limit: 10 })).items, [])
  t.same((await app.storage.ledger.listStalePending(new Date(Date.now() + 2 * 86_400_000))).length, 0, 'nothing pending')
})

test('a session endpoint stands for the caller without a bearer token, and only for its target', async (t) => {
  const { app, headers } = await setup(t)
  const session = await app.inject({ method: 'POST', url: '/v1/uploads/multipart/sessions', headers, payload: { system: 'epcr', objectType: 'scan', objectId: 's-3' } })
  t.equal(session.statusCode, 201, session.body)
  const endpoint = new URL(session.json().companionEndpoint)
  t.match(endpoint.pathname, /^\/v1\/uploads\/multipart\/session\/[\w-]+\.[\w-]+$/)
  const created = await app.inject({ method: 'POST', url: `${endpoint.pathname}/s3/multipart`, payload: { filename: 'k-scan.pdf', type: 'application/pdf', metadata: { name: 'scan.pdf', system: 'billing' } } })
  t.equal(created.statusCode, 201, created.body)
  t.match(created.json().key, /^org-1\/epcr\/scan\/s-3\/\d{8}_scan\.pdf$/, "the session's target wins over the metadata")
  const tampered = await app.inject({ method: 'POST', url: `${endpoint.pathname}x/s3/multipart`, payload: { filename: 'a.pdf' } })
  t.equal(tampered.statusCode, 403)
  const denied = await app.inject({ method: 'POST', url: '/v1/uploads/multipart/sessions', headers: (await setup(t)).auth({ sub: 'x', org: 'org-1', scope: 'billing:write' }), payload: { system: 'epcr', objectType: 'scan', objectId: 's-3' } })
  t.equal(denied.statusCode, 403, 'no session for a target the caller may not write')
})

test("bodies are strict: what Uppy sends is accepted, anything else is a 400 that names it (bearer and session alike)", async (t) => {
  const { app, api, headers } = await setup(t)
  // Exactly what @uppy/aws-s3 sends to a Companion endpoint: file.meta carries Uppy's own name,
  // type and relativePath beside the app's fields.
  const uppyMeta = { system: 'epcr', objectType: 'scan', objectId: 's-4', name: 'scan.pdf', type: 'application/pdf', relativePath: null }
  const created = await api('POST', '/uploads/multipart', { filename: 'r-scan.pdf', type: 'application/pdf', metadata: uppyMeta })
  t.equal(created.statusCode, 201, created.body)
  const foreign = await api('POST', '/uploads/multipart', { filename: 'a.pdf', bucket: 'other', metadata: { ...uppyMeta, caption: 'chest x-ray' } })
  t.equal(foreign.statusCode, 400)
  t.match(foreign.json(), { code: 'FST_SPACES_BAD_REQUEST', message: /unknown properties: "bucket", "metadata\.caption"/ })
  const handle = created.json()
  const query = `?key=${encodeURIComponent(handle.key)}`
  const extraPart = await api('POST', `/uploads/multipart/${handle.uploadId}/complete${query}`, { parts: [{ PartNumber: 1, ETag: '"x"', Size: 5 }] })
  t.match(extraPart.json(), { statusCode: 400, message: /unknown properties: "parts\[0\]\.Size"/ })

  const session = await app.inject({ method: 'POST', url: '/v1/uploads/multipart/sessions', headers, payload: { system: 'epcr', objectType: 'scan', objectId: 's-4' } })
  const endpoint = new URL(session.json().companionEndpoint).pathname
  const viaSession = await app.inject({ method: 'POST', url: `${endpoint}/s3/multipart`, payload: { filename: 's-scan.pdf', type: 'application/pdf', metadata: { name: 'scan2.pdf', type: 'application/pdf', relativePath: 'folder/scan2.pdf' } } })
  t.equal(viaSession.statusCode, 201, viaSession.body)
  t.match(viaSession.json().key, /\/\d{8}_scan2\.pdf$/, 'relativePath is accepted and not kept: keys have no folders')
  const sessionForeign = await app.inject({ method: 'POST', url: `${endpoint}/s3/multipart`, payload: { filename: 'b.pdf', metadata: { name: 'b.pdf', patient: 'Jane Doe' } } })
  t.match(sessionForeign.json(), { statusCode: 400, code: 'FST_SPACES_BAD_REQUEST', message: /unknown properties: "metadata\.patient"/ })
  const sessionHandle = viaSession.json()
  const sessionExtra = await app.inject({
    method: 'POST',
    url: `${endpoint}/s3/multipart/${sessionHandle.uploadId}/complete?key=${encodeURIComponent(sessionHandle.key)}`,
    payload: { parts: [], bucket: 'x' },
  })
  t.match(sessionExtra.json(), { statusCode: 400, message: /unknown properties: "bucket"/ })
  for (const h of [handle, sessionHandle]) await api('DELETE', `/uploads/multipart/${h.uploadId}?key=${encodeURIComponent(h.key)}`)
})
