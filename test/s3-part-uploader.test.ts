// The part uploader against the S3 peer: one PutObject for a body that fits a part, parts of the
// right sizes otherwise, never more parts in flight than asked, and a failure anywhere (a part
// refused by the store, the body) leaves no object and no multipart upload behind.
import { Readable } from 'node:stream'
import t from 'tap'
import type { Test } from 'tap'
import type { S3Client } from '@aws-sdk/client-s3'
import { PartBuffers } from '../plugin/drivers/part-buffers.js'
import { S3Store } from '../plugin/drivers/s3.js'
import { createTestBucket } from './helpers/s3.js'
import { MIB, freshPrefix, generatedBody, readAll, rejection, sha256Of } from './driver-contract.js'

const PART = 5 * MIB

interface Sent {
  command: string
  bytes?: number
}

/**
 * Watches (and, when `fail` says so, refuses before it is sent) every request the client makes,
 * and keeps the largest number of UploadPart requests in flight at once.
 */
function watch(client: S3Client, fail?: (command: string, partNumber: number | undefined) => boolean) {
  const sent: Sent[] = []
  let inflight = 0
  const watched = { sent, maxInflight: 0 }
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = context.commandName ?? 'unknown'
      const input = args.input as { PartNumber?: number; Body?: Uint8Array }
      sent.push({ command, bytes: input.Body?.byteLength })
      if (fail?.(command, input.PartNumber)) {
        throw Object.assign(new Error('InternalError'), { name: 'InternalError', $metadata: { httpStatusCode: 500 } })
      }
      if (command !== 'UploadPartCommand') return next(args)
      watched.maxInflight = Math.max(watched.maxInflight, ++inflight)
      try {
        return await next(args)
      } finally {
        inflight--
      }
    },
    { step: 'initialize', name: 'testWatch' },
  )
  return watched
}

async function makeStore(t: Test, queueSize = 2) {
  const bucket = await createTestBucket(t, 'parts')
  const store = new S3Store({ connection: bucket.connection, partSize: PART, queueSize })
  t.teardown(() => store.close())
  return { bucket, store }
}

t.test('a body that fits in one part is one PutObject', async (t) => {
  const { store } = await makeStore(t)
  const watched = watch(store.client)
  const key = `${freshPrefix()}small.pdf`
  const info = await store.put({ key, body: Readable.from([Buffer.from('%PDF-1.7 small')]), contentType: 'application/pdf' })
  t.equal(info.size, 14)
  t.same(watched.sent.map((s) => s.command), ['PutObjectCommand', 'HeadObjectCommand'])
  t.equal((await readAll((await store.get(key)).body)).toString(), '%PDF-1.7 small')

  const empty = `${freshPrefix()}empty.txt`
  t.equal((await store.put({ key: empty, body: Readable.from([]), contentType: 'text/plain' })).size, 0, 'an empty body too')
})

t.test('parts are part-sized, the last one the rest, with no empty part', async (t) => {
  const { bucket, store } = await makeStore(t)
  const watched = watch(store.client)
  for (const size of [2 * PART, 2 * PART + 1]) {
    watched.sent.length = 0
    const key = `${freshPrefix()}${size}.bin`
    const source = generatedBody(size)
    await store.put({ key, body: source.body, contentType: 'application/octet-stream' })
    const parts = watched.sent.filter((s) => s.command === 'UploadPartCommand').map((s) => s.bytes)
    t.same(parts, size === 2 * PART ? [PART, PART] : [PART, PART, 1], `${size} bytes: parts ${parts.join(', ')}`)
    t.same(await sha256Of((await store.get(key)).body), { sha256: source.sha256(), size }, 'stored byte for byte')
  }
  t.same(await bucket.incompleteUploads(), [])
})

t.test('never more parts in flight than queueSize', async (t) => {
  const { store } = await makeStore(t, 2)
  const watched = watch(store.client)
  await store.put({ key: `${freshPrefix()}many.bin`, body: generatedBody(6 * PART).body, contentType: 'application/octet-stream' })
  t.equal(watched.sent.filter((s) => s.command === 'UploadPartCommand').length, 6)
  t.ok(watched.maxInflight <= 2, `at most 2 at once (saw ${watched.maxInflight})`)
  t.ok(watched.maxInflight >= 2, 'and parts do overlap')
})

t.test('a part the store refuses: the upload fails as a storage error and leaves nothing', async (t) => {
  const { bucket, store } = await makeStore(t)
  const watched = watch(store.client, (command, partNumber) => command === 'UploadPartCommand' && partNumber === 2)
  const key = `${freshPrefix()}refused.bin`
  const body = generatedBody(4 * PART).body
  const err = await rejection(store.put({ key, body, contentType: 'application/octet-stream' }))
  t.equal(err.code, 'FST_SPACES_STORAGE_ERROR', err.message)
  t.ok(body.destroyed, "the caller's stream is released")
  t.ok(watched.sent.some((s) => s.command === 'AbortMultipartUploadCommand'), 'the multipart upload is aborted')
  t.same(await bucket.incompleteUploads(), [], 'no multipart upload left')
  t.same(await bucket.keys(), [], 'no object')
})

t.test('a body that fails halfway: its own error, and nothing left', async (t) => {
  const { bucket, store } = await makeStore(t)
  const key = `${freshPrefix()}broken.bin`
  const source = generatedBody(4 * PART, (sent) => {
    if (sent >= 2.5 * PART) throw Object.assign(new Error('client went away'), { code: 'ECONNRESET' })
  })
  const err = await rejection(store.put({ key, body: source.body, contentType: 'application/octet-stream' }))
  t.equal(err.message, 'client went away')
  t.same(await bucket.incompleteUploads(), [], 'no multipart upload left')
  t.same(await bucket.keys(), [], 'no object')
})

t.test('part buffers are reused by the next upload; only as many as one upload needs are kept', async (t) => {
  const { store } = await makeStore(t, 2)
  let allocated = 0
  const allocUnsafeSlow = Buffer.allocUnsafeSlow
  Buffer.allocUnsafeSlow = (size: number) => {
    if (size === PART) allocated++
    return allocUnsafeSlow(size)
  }
  t.teardown(() => {
    Buffer.allocUnsafeSlow = allocUnsafeSlow
  })
  await store.put({ key: `${freshPrefix()}first.bin`, body: generatedBody(4 * PART).body, contentType: 'application/octet-stream' })
  t.equal(allocated, 3, 'the first upload fills 2 parts in flight + 1')
  await store.put({ key: `${freshPrefix()}second.bin`, body: generatedBody(4 * PART).body, contentType: 'application/octet-stream' })
  t.equal(allocated, 3, 'the second one allocates none')

  const buffers = new PartBuffers(16, 2)
  const [a, b, c] = [buffers.take(), buffers.take(), buffers.take()]
  for (const buffer of [a, b, c]) buffers.give(buffer)
  t.equal(buffers.take(), b, 'idle buffers come back, last in first out')
  t.equal(buffers.take(), a)
  t.not(buffers.take(), c, 'beyond what it keeps, a buffer is left to the collector')
})
