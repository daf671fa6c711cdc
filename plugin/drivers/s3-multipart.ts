// S3 multipart uploads as separate steps, for uploads that span many requests and instances:
// tus (the sidecar uploads each part as the bytes arrive) and presigned browser multipart
// (the browser PUTs parts to presigned URLs). Only the sidecar ever completes an upload.
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3'
import type { Readable } from 'node:stream'
import type { MultipartOperations, PresignedRequest, UploadedPart, UploadPartInput } from './types.js'
import { StorageError } from '../errors.js'
import { unsignedPayload } from './s3-part-uploader.js'
import type { S3Presigner } from './s3-presigner.js'

/** How the store runs one S3 call: its metrics, and its failures mapped to coded errors. */
export type Send = <T>(operation: string, run: () => Promise<T>) => Promise<T>

export class S3Multipart implements MultipartOperations {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    /** Signs part URLs without the SDK's command stack (one SHA-256 and one HMAC each). */
    private readonly presigner: S3Presigner,
    private readonly send: Send,
  ) {}

  async create({ key, contentType }: { key: string; contentType: string }): Promise<string> {
    const out = await this.send('CreateMultipartUpload', () =>
      this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ContentType: contentType })),
    )
    if (!out.UploadId) throw new StorageError('CreateMultipartUpload: no upload id')
    return out.UploadId
  }

  async uploadPart({ key, uploadId, partNumber, body, contentLength, signal }: UploadPartInput): Promise<{ etag: string }> {
    const command = new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: contentLength })
    // A part in memory goes out as one buffer, signed UNSIGNED-PAYLOAD (as the PUT path's parts
    // are) so the SDK does not hash it a second time.
    const out = Buffer.isBuffer(body)
      ? await this.send('UploadPart', () => this.client.send(unsignedPayload(command), { abortSignal: signal }))
      : await this.streamed('UploadPart', body, signal, () => this.client.send(command, { abortSignal: signal }))
    return { etag: out.ETag ?? '' }
  }

  async putSized({ key, body, contentLength, contentType, signal }: { key: string; body: Readable; contentLength: number; contentType: string; signal?: AbortSignal }): Promise<void> {
    const command = new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentLength: contentLength, ContentType: contentType })
    await this.streamed('PutObject', body, signal, () => this.client.send(command, { abortSignal: signal }))
  }

  /** Sends a request whose body streams from `body`; the client going away stops it. */
  private async streamed<T>(operation: string, body: Readable, signal: AbortSignal | undefined, run: () => Promise<T>): Promise<T> {
    const onAbort = () => body.destroy(Object.assign(new Error('upload aborted'), { name: 'AbortError' }))
    // The error is read back from body.errored below; the SDK may have stopped listening already.
    body.on('error', () => {})
    if (signal?.aborted) onAbort()
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      return await this.send(operation, run)
    } catch (err) {
      // A failure of the stream itself (client gone, short body) carries its own error: keep it.
      throw (body as { errored?: Error | null }).errored ?? err
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
  }

  async listParts({ key, uploadId }: { key: string; uploadId: string }): Promise<UploadedPart[]> {
    const parts: UploadedPart[] = []
    let marker: string | undefined
    do {
      const out = await this.send('ListParts', () =>
        this.client.send(new ListPartsCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumberMarker: marker })),
      )
      for (const part of out.Parts ?? []) {
        parts.push({ partNumber: part.PartNumber ?? 0, etag: part.ETag ?? '', size: Number(part.Size ?? 0) })
      }
      marker = out.IsTruncated ? out.NextPartNumberMarker : undefined
    } while (marker)
    return parts.sort((a, b) => a.partNumber - b.partNumber)
  }

  async complete({ key, uploadId, parts }: { key: string; uploadId: string; parts: Array<{ partNumber: number; etag: string }> }): Promise<void> {
    await this.send('CompleteMultipartUpload', () =>
      this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
        }),
      ),
    )
  }

  async presignPart({ key, uploadId, partNumber, expiresIn }: { key: string; uploadId: string; partNumber: number; expiresIn: number }): Promise<PresignedRequest> {
    const query = { partNumber: String(partNumber), uploadId }
    return { url: this.presigner.presign({ method: 'PUT', key, expiresIn, query }), headers: {} }
  }
}
