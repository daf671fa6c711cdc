// ByteSlicer cuts a request body into parts of exact lengths: as streams (parts that go to the
// store as they arrive) and copied into buffers (parts read whole), in any mix, across the
// body's own chunk boundaries, with every byte seen once, in order, by the hash.
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { test } from 'tap'
import { ByteSlicer } from '../plugin/uploads/byte-slicer.js'

/** The bytes in chunks of uneven sizes, as a socket would hand them over. */
function chunked(data: Buffer, sizes: number[]): Readable {
  const chunks: Buffer[] = []
  for (let at = 0, i = 0; at < data.length; i++) {
    const size = sizes[i % sizes.length]!
    chunks.push(data.subarray(at, at + size))
    at += size
  }
  return Readable.from(chunks, { objectMode: false })
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

test('slices taken as streams and copied into buffers, mixed, give back the exact bytes', async (t) => {
  const data = randomBytes(100_003)
  const seen = createHash('sha256')
  const slicer = new ByteSlicer(chunked(data, [4096, 777, 65536, 1]), (chunk) => seen.update(chunk))
  const lengths = [10_000, 30_001, 1, 25_000, 35_001]
  const pieces: Buffer[] = []
  for (const [i, length] of lengths.entries()) {
    if (i % 2 === 0) {
      pieces.push(await collect(slicer.take(length)))
    } else {
      // Copied at an offset into a larger buffer, as a part goes in after a waiting tail.
      const buffer = Buffer.alloc(length + 5, 0xee)
      await slicer.copyInto(buffer, 5, length)
      t.ok(buffer.subarray(0, 5).equals(Buffer.alloc(5, 0xee)), `slice ${i}: the bytes before the offset are left alone`)
      pieces.push(buffer.subarray(5))
    }
  }
  t.same(pieces.map((piece) => piece.length), lengths, 'each slice has its length')
  t.ok(Buffer.concat(pieces).equals(data), 'in order, nothing lost or repeated')
  t.equal(slicer.consumed, data.length, 'every byte counted')
  t.equal(seen.digest('hex'), createHash('sha256').update(data).digest('hex'), 'the hash saw every byte once, in order')
})

test('a body that ends early fails the slice, as a stream and as a copy', async (t) => {
  const streamed = new ByteSlicer(chunked(randomBytes(1000), [300]))
  await t.rejects(collect(streamed.take(1500)), { code: 'FST_SPACES_BAD_REQUEST', statusCode: 400, message: 'the body ended 500 bytes early' })

  const copied = new ByteSlicer(chunked(randomBytes(1000), [300]))
  await copied.copyInto(Buffer.alloc(600), 0, 600)
  await t.rejects(copied.copyInto(Buffer.alloc(600), 0, 600), { code: 'FST_SPACES_BAD_REQUEST', statusCode: 400, message: 'the body ended 200 bytes early' })
})

test('a body that fails fails the copy with its own error', async (t) => {
  const body = new Readable({ read() {} })
  body.push(Buffer.alloc(100))
  const slicer = new ByteSlicer(body)
  const copy = slicer.copyInto(Buffer.alloc(500), 0, 500)
  setImmediate(() => body.destroy(new Error('client gone')))
  await t.rejects(copy, { message: 'client gone' })
})
