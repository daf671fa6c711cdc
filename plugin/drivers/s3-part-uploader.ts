// Streams a body of unknown length into one S3 object: a single PutObject when it fits in one
// part, a multipart upload otherwise. It replaces lib-storage's Upload, which a profile showed
// spending its time in ways an upload proxy does not need:
// - Parts are filled by copying incoming chunks into a few part-sized buffers (parts in flight +
//   the one filling), reused for the whole upload and then by the next one (PartBuffers), instead
//   of concatenating a fresh buffer per part: memory is fixed, with no garbage for V8 to catch up on.
// - Parts are sent with an UNSIGNED-PAYLOAD SigV4 signature, so the SDK does not hash every byte
//   with SHA-256 a second time: the upload meter already hashes the stream once for the file
//   record. On Spaces (HTTPS only) TLS authenticates every byte in transit, which is what the
//   payload hash would add; the stored size is checked against the bytes sent, and the object
//   carries the meter's sha256 as a tag.
// Any failure (a part, the body, the abort signal) stops the reading, cancels the parts in
// flight, waits for them, then aborts the multipart upload, so no part outlives a failed upload.
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3'
import type { Readable } from 'node:stream'
import type { PartBuffers } from './part-buffers.js'

export interface StreamUploadInput {
  client: S3Client
  bucket: string
  key: string
  body: Readable
  contentType: string
  /** Part-sized buffers (at least 5 MiB: S3's minimum for every part but the last) to fill. */
  buffers: PartBuffers
  /** Parts in flight at once. Memory is (queueSize + 1) x part size. */
  queueSize: number
}

interface PayloadCommand {
  middlewareStack: { add(middleware: unknown, options: { step: 'build'; name: string }): void }
}

/** Signs the command's payload as UNSIGNED-PAYLOAD: the SDK then never reads it to hash it. */
export function unsignedPayload<C extends PayloadCommand>(command: C): C {
  command.middlewareStack.add(
    (next: (args: { request: { headers: Record<string, string> } }) => unknown) =>
      (args: { request: { headers: Record<string, string> } }) => {
        args.request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD'
        return next(args)
      },
    { step: 'build', name: 'fastifySpacesUnsignedPayload' },
  )
  return command
}

/** Resolves once the object is stored; rejects after removing every part it sent. */
export function uploadStream(input: StreamUploadInput): Promise<void> {
  return new PartUploader(input).run()
}

class PartUploader {
  private readonly input: StreamUploadInput
  /** Every buffer this upload took (at most queueSize + 1), and those no part is using now. */
  private readonly taken: Buffer[] = []
  private readonly free: Buffer[] = []
  private filling: Buffer | undefined
  private filled = 0
  private uploadId: string | undefined
  private readonly parts: CompletedPart[] = []
  private readonly inflight = new Set<Promise<void>>()
  /** Cancels the requests in flight once anything has failed. */
  private readonly cancel = new AbortController()
  private failure: { error: unknown } | undefined

  constructor(input: StreamUploadInput) {
    this.input = input
  }

  async run(): Promise<void> {
    const { body, buffers } = this.input
    const partSize = buffers.partSize
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        let offset = 0
        while (offset < chunk.length) {
          this.filling ??= await this.takeBuffer()
          const copied = chunk.copy(this.filling, this.filled, offset)
          this.filled += copied
          offset += copied
          if (this.filled === partSize) await this.sendPart()
        }
      }
      if (this.uploadId === undefined) return await this.putWhole()
      if (this.filled > 0) await this.sendPart()
      while (this.inflight.size > 0) await Promise.race(this.inflight)
      this.throwIfFailed()
      await this.complete()
    } catch (err) {
      const error = this.failure?.error ?? err
      await this.cleanUp()
      throw error
    } finally {
      // Every request that used them has settled by now (complete, or cleanUp waited for them).
      for (const buffer of this.taken) buffers.give(buffer)
    }
  }

  /** A buffer for the next part: a free one, a new one while under the limit, or the next one freed. */
  private async takeBuffer(): Promise<Buffer> {
    for (;;) {
      this.throwIfFailed()
      const buffer = this.free.pop()
      if (buffer) return buffer
      // queueSize buffers in flight and one filling.
      if (this.taken.length <= this.input.queueSize) {
        const fresh = this.input.buffers.take()
        this.taken.push(fresh)
        return fresh
      }
      await Promise.race(this.inflight)
    }
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error
  }

  /** Starts the filled buffer's upload once fewer than queueSize parts are in flight. */
  private async sendPart(): Promise<void> {
    const { client, bucket, key, contentType, queueSize } = this.input
    while (this.inflight.size >= queueSize) await Promise.race(this.inflight)
    this.throwIfFailed()
    // Not cancellable: an upload that S3 created but we never heard of could not be aborted.
    this.uploadId ??= (
      await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: contentType }))
    ).UploadId
    const buffer = this.filling!
    const length = this.filled
    const partNumber = this.parts.length + 1
    this.parts.push({ PartNumber: partNumber })
    this.filling = undefined
    this.filled = 0
    const command = new UploadPartCommand({
      Bucket: bucket,
      Key: key,
      UploadId: this.uploadId,
      PartNumber: partNumber,
      Body: buffer.subarray(0, length),
      ContentLength: length,
    })
    const sent: Promise<void> = client
      .send(unsignedPayload(command), { abortSignal: this.cancel.signal })
      .then(
        (out) => {
          this.parts[partNumber - 1]!.ETag = out.ETag
        },
        (error: unknown) => this.fail(error),
      )
      .finally(() => {
        this.inflight.delete(sent)
        this.free.push(buffer)
      })
    this.inflight.add(sent)
  }

  private fail(error: unknown): void {
    this.failure ??= { error }
    this.cancel.abort()
    // Stop reading now rather than at the next chunk: the caller's stream is released at once.
    // Without an error of its own: the failure is the store's, and run() throws that one.
    this.input.body.destroy()
  }

  private async putWhole(): Promise<void> {
    const { client, bucket, key, contentType } = this.input
    const body = this.filling ? this.filling.subarray(0, this.filled) : Buffer.alloc(0)
    await client.send(
      unsignedPayload(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType, ContentLength: body.length }),
      ),
    )
  }

  private async complete(): Promise<void> {
    const { client, bucket, key } = this.input
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId: this.uploadId,
        MultipartUpload: { Parts: this.parts },
      }),
    )
  }

  /** Cancels what is in flight, waits for it to settle, then aborts the multipart upload. */
  private async cleanUp(): Promise<void> {
    this.cancel.abort()
    await Promise.allSettled(this.inflight)
    if (this.uploadId === undefined) return
    const { client, bucket, key } = this.input
    await client
      .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: this.uploadId }))
      .catch(() => {
        // Nothing more to do here: `reconcile --fix` and the bucket's lifecycle rule clear it.
      })
  }
}
