// The upload path hashes each byte once: the meter's SHA-256 for the file record, and nothing
// else (the parts go out with an UNSIGNED-PAYLOAD signature). The bytes fed to every hash and HMAC
// node:crypto makes while a 64 MiB PUT, a 64 MiB POST and a 64 MiB tus upload stream through are
// counted, the SDK's included.
import { createRequire } from 'node:module'
import { Readable } from 'node:stream'
import { test } from 'tap'
import { buildPluginApp } from './helpers/app.js'
import { buildServer, spacesEnv } from './helpers/server.js'
import { createTestBucket } from './helpers/s3.js'
import { patternStream, sendStream, sha256Of } from './helpers/http.js'

const MIB = 1024 * 1024
const SIZE = 64 * MIB
/** Canonical requests and strings to sign are a few hundred bytes per S3 request. */
const SIGNING_SLACK = 64 * 1024

// The classes every hasher node:crypto makes belongs to, however a module imported createHash
// (the SDK keeps its own reference to it): counting in their prototypes sees every update.
const crypto = createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto')
const hashed = new Map<string, number>()

/** Counts the bytes fed to every Hash and Hmac (through update(); nothing here pipes into one). */
function countHashedBytes(): () => void {
  const classes = { hash: crypto.Hash.prototype, hmac: crypto.Hmac.prototype }
  const originals = { hash: classes.hash.update, hmac: classes.hmac.update }
  for (const label of ['hash', 'hmac'] as const) {
    const update = originals[label] as (this: unknown, data: unknown, encoding?: unknown) => unknown
    ;(classes[label] as { update: unknown }).update = function (this: unknown, data: unknown, encoding?: unknown) {
      const bytes = typeof data === 'string' ? Buffer.byteLength(data, encoding as BufferEncoding) : (data as Uint8Array).byteLength
      hashed.set(label, (hashed.get(label) ?? 0) + bytes)
      return update.call(this, data, encoding)
    }
  }
  return () => {
    classes.hash.update = originals.hash
    classes.hmac.update = originals.hmac
  }
}

function total(): number {
  return [...hashed.values()].reduce((a, b) => a + b, 0)
}

test('a 64 MiB upload is hashed once, by the meter, through PUT and through POST', async (t) => {
  const bucket = await createTestBucket(t, 'hash-once')
  const app = await buildPluginApp(t, bucket, { maxUploadBytes: 128 * MIB })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const expected = await sha256Of(patternStream(SIZE, 11))
  t.teardown(countHashedBytes())

  hashed.clear()
  const put = await sendStream(`${base}/files/org-1/epcr/document/h-1/put.bin`, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: patternStream(SIZE, 11),
  })
  t.equal(put.status, 201, put.body)
  t.equal(JSON.parse(put.body).sha256, expected.sha256, 'the record carries the SHA-256 of the exact bytes')
  t.comment(`PUT: bytes hashed ${JSON.stringify(Object.fromEntries(hashed))}`)
  t.ok((hashed.get('hmac') ?? 0) > 0, 'the count sees the SDK signing its requests')
  t.ok(total() >= SIZE, 'every byte was hashed')
  t.ok(total() < SIZE + SIGNING_SLACK, `no byte twice: ${total()} bytes hashed for ${SIZE} uploaded`)

  hashed.clear()
  const boundary = 'hashonceboundary'
  const body = Readable.from(
    (async function* () {
      yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="post.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`)
      yield* patternStream(SIZE, 11)
      yield Buffer.from(`\r\n--${boundary}--\r\n`)
    })(),
  )
  const post = await sendStream(`${base}/files/org-1/epcr/document/h-2`, {
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    body,
  })
  t.equal(post.status, 201, post.body)
  t.equal(JSON.parse(post.body).files[0].sha256, expected.sha256)
  t.comment(`POST: bytes hashed ${JSON.stringify(Object.fromEntries(hashed))}`)
  t.ok((hashed.get('hmac') ?? 0) > 0, 'the count sees the SDK signing its requests')
  t.ok(total() >= SIZE, 'every byte was hashed')
  t.ok(total() < SIZE + SIGNING_SLACK, `no byte twice: ${total()} bytes hashed for ${SIZE} uploaded`)
  t.same(await bucket.incompleteUploads(), [], 'no multipart upload left open')
})

test('a 64 MiB tus upload is hashed once, by the instance that receives it', async (t) => {
  const bucket = await createTestBucket(t, 'hash-once-tus')
  const server = await buildServer(t, spacesEnv(bucket))
  await server.app.listen({ host: '127.0.0.1', port: 0 })
  const endpoint = `http://127.0.0.1:${(server.app.server.address() as { port: number }).port}/v1/uploads/tus`
  const expected = await sha256Of(patternStream(SIZE, 12))
  const meta = { system: 'epcr', objectType: 'video', objectId: 'h-3', filename: 'tus.bin', contentType: 'application/octet-stream' }
  const headers = { ...server.auth({ sub: 'medic', org: 'org-1', scope: 'epcr:*' }), 'tus-resumable': '1.0.0' }
  const created = await fetch(endpoint, {
    method: 'POST',
    headers: {
      ...headers,
      'upload-length': String(SIZE),
      'upload-metadata': Object.entries(meta).map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`).join(','),
    },
  })
  t.equal(created.status, 201)
  const location = new URL(created.headers.get('location')!, endpoint).href
  t.teardown(countHashedBytes())

  hashed.clear()
  const patched = await sendStream(location, {
    method: 'PATCH',
    headers: { ...headers, 'upload-offset': '0', 'content-type': 'application/offset+octet-stream', 'content-length': SIZE },
    body: patternStream(SIZE, 12),
  })
  t.equal(patched.status, 204, patched.body)
  const row = await server.app.storage.ledger.getById(location.split('/').pop()!)
  t.equal(row?.sha256, expected.sha256, 'the record carries the SHA-256 of the exact bytes')
  t.comment(`tus: bytes hashed ${JSON.stringify(Object.fromEntries(hashed))}`)
  t.ok(total() >= SIZE, 'every byte was hashed')
  t.ok(total() < SIZE + SIGNING_SLACK, `no byte twice: ${total()} bytes hashed for ${SIZE} uploaded`)
  t.same(await bucket.incompleteUploads(), [], 'no multipart upload left open')
})
