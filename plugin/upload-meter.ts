// A pass-through stream that counts and hashes an upload while it flows to the store, and fails
// it the moment it crosses the size limit, so an oversize body is never read to its end.
import { createHash, type Hash } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'
import { PayloadTooLargeError } from './errors.js'

export class UploadMeter extends Transform {
  bytes = 0
  private readonly hash: Hash = createHash('sha256')
  private readonly limit: number

  constructor(limit: number) {
    super()
    this.limit = limit
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length
    if (this.bytes > this.limit) {
      callback(new PayloadTooLargeError(this.limit))
      return
    }
    this.hash.update(chunk)
    callback(null, chunk)
  }

  /** The hex SHA-256 of everything that passed; call once, after the stream ended. */
  sha256(): string {
    return this.hash.digest('hex')
  }
}
