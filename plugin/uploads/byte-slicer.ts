// Cuts one incoming stream into consecutive slices of exact lengths, each a stream of its own, so
// a request body can feed several S3 parts (each needs its length up front) without buffering.
import { Readable } from 'node:stream'
import { BadRequestError } from '../errors.js'

export class ByteSlicer {
  private readonly source: AsyncIterator<Buffer>
  private leftover: Buffer | undefined
  /** Bytes handed out so far. */
  consumed = 0

  constructor(
    body: Readable,
    /** Sees every byte handed out, in order (hashing). */
    private readonly onBytes: (chunk: Buffer) => void = () => {},
  ) {
    this.source = body[Symbol.asyncIterator]()
  }

  /** The next `length` bytes as a stream; it fails if the source ends first. */
  take(length: number): Readable {
    const self = this
    async function* slice() {
      let left = length
      while (left > 0) {
        let chunk = self.leftover
        self.leftover = undefined
        if (!chunk) {
          const next = await self.source.next()
          if (next.done) throw new BadRequestError(`the body ended ${left} bytes early`)
          chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value)
        }
        if (chunk.length > left) {
          self.leftover = chunk.subarray(left)
          chunk = chunk.subarray(0, left)
        }
        left -= chunk.length
        self.consumed += chunk.length
        self.onBytes(chunk)
        yield chunk
      }
    }
    return Readable.from(slice(), { objectMode: false })
  }
}
