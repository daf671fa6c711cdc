// 200 MiB through PUT and through POST multipart, into a server running in its own process:
// the bytes arrive intact and the server's memory does not grow with the file.
// It runs in the serial phase: memory is measured with no other test competing for the cores.
import { test } from 'tap'
import { GetObjectCommand } from '@aws-sdk/client-s3'
import { writeFileSync } from 'node:fs'
import { Readable } from 'node:stream'
import { createTestBucket } from '../helpers/s3.js'
import { patternStream, procMemoryKb, sendStream, sha256Of, startChildServer } from '../helpers/http.js'

const SIZE = 200 * 1024 * 1024
const MAX_GROWTH_KB = 64 * 1024

/** A multipart/form-data body around a streamed file, built as it is read. */
function multipartBody(boundary: string, filename: string, file: Readable): Readable {
  return Readable.from(
    (async function* () {
      yield Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
      )
      yield* file
      yield Buffer.from(`\r\n--${boundary}--\r\n`)
    })(),
  )
}

test('200 MiB uploads stream through with flat memory and exact bytes', async (t) => {
  const bucket = await createTestBucket(t, 'large')
  const server = await startChildServer('test/fixtures/plugin-server.ts', [bucket.name])
  t.teardown(() => server.stop())
  const base = `http://127.0.0.1:${server.port}`
  const expected = await sha256Of(patternStream(SIZE, 7))

  // Warm up to a steady state (JIT, sockets, and the garbage V8 lets build up before it
  // collects), so the baseline is the server at rest after work, not after boot.
  const warm = await sendStream(`${base}/files/org-1/epcr/document/warm/warm.bin`, { method: 'PUT', body: patternStream(64 * 1024 * 1024, 3) })
  t.equal(warm.status, 201, warm.body)
  const baselineKb = procMemoryKb(server.child.pid!, 'VmRSS')
  const warmPeakKb = procMemoryKb(server.child.pid!, 'VmHWM')
  // Start the peak (VmHWM) over from here, so the warm-up's own peak does not count.
  writeFileSync(`/proc/${server.child.pid}/clear_refs`, '5')

  const put = await sendStream(`${base}/files/org-1/epcr/document/big-put/big.bin`, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: patternStream(SIZE, 7),
  })
  t.equal(put.status, 201, put.body)
  t.equal(JSON.parse(put.body).sha256, expected.sha256, 'PUT: the server hashed the exact bytes')
  t.equal(JSON.parse(put.body).size, SIZE)

  const boundary = 'fastifyspacesboundary'
  const post = await sendStream(`${base}/files/org-1/epcr/document/big-post`, {
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    body: multipartBody(boundary, 'big.bin', patternStream(SIZE, 7)),
  })
  t.equal(post.status, 201, post.body)
  const [record] = JSON.parse(post.body).files
  t.equal(record.sha256, expected.sha256, 'POST: the server hashed the exact bytes')
  t.match(record.key, /^org-1\/epcr\/document\/big-post\/\d{8}_big\.bin$/)

  const peakKb = procMemoryKb(server.child.pid!, 'VmHWM')
  const growthKb = peakKb - baselineKb
  t.comment(`server RSS at rest ${Math.round(baselineKb / 1024)} MiB, peak ${Math.round(peakKb / 1024)} MiB, growth ${Math.round(growthKb / 1024)} MiB for 2 x 200 MiB; peak of the 64 MiB warm-up ${Math.round(warmPeakKb / 1024)} MiB`)
  t.ok(growthKb < MAX_GROWTH_KB, `server memory grew by ${Math.round(growthKb / 1024)} MiB (< 64 MiB)`)

  for (const key of ['org-1/epcr/document/big-put/big.bin', record.key]) {
    const stored = await bucket.client.send(new GetObjectCommand({ Bucket: bucket.name, Key: key }))
    const readBack = await sha256Of(stored.Body as Readable)
    t.same(readBack, expected, `read back from the bucket, ${key} matches`)
  }
  t.same(await bucket.incompleteUploads(), [], 'no multipart upload left open')
})
