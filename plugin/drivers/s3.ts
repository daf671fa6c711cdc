// The S3 driver: DigitalOcean Spaces, Ceph RGW, MinIO or AWS S3.
import { Agent as HttpAgent } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectTaggingCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectTaggingCommand,
  S3Client,
  UploadPartCopyCommand,
  type S3ClientConfig,
} from '@aws-sdk/client-s3'
import type { Readable } from 'node:stream'
import type { SpacesConnection } from '../options.js'
import type {
  ByteRange,
  GetResult,
  IncompleteUpload,
  ListPage,
  ObjectInfo,
  ObjectStore,
  PresignGetInput,
  PresignedRequest,
  PresignPutInput,
  PutInput,
} from './types.js'
import { NotFoundError, StorageError } from '../errors.js'
import { toStoreError } from './s3-errors.js'
import { S3Multipart } from './s3-multipart.js'
import { ObjectReader } from './s3-object-reader.js'
import { PartBuffers } from './part-buffers.js'
import { uploadStream } from './s3-part-uploader.js'
import { S3Presigner } from './s3-presigner.js'

const GIB = 1024 ** 3
const MAX_ATTEMPTS = 3
const CONNECTION_TIMEOUT_MS = 5_000
const REQUEST_TIMEOUT_MS = 120_000

export interface S3StoreOptions {
  connection: SpacesConnection
  /** Bytes per multipart part. Memory per upload is (queueSize + 1) x partSize; one upload's worth is kept for the next. */
  partSize: number
  /** Parts in flight per upload. */
  queueSize: number
  /** Copies larger than this use UploadPartCopy (S3 caps CopyObject at 5 GiB). */
  multipartCopyThreshold?: number
  copyPartSize?: number
  /** Milliseconds to wait for a connection and for a response. */
  connectionTimeout?: number
  requestTimeout?: number
  /** Told of every failed S3 request (after the SDK's retries), e.g. to count them in metrics. */
  onError?: (operation: string, code: string) => void
}

/** Client settings that Spaces needs: see NOTES on checksums. */
export function createS3Client(connection: SpacesConnection, options: Partial<S3StoreOptions> = {}): S3Client {
  const agentOptions = { keepAlive: true, maxSockets: 64 }
  const config: S3ClientConfig = {
    endpoint: connection.endpoint,
    region: connection.region,
    forcePathStyle: connection.forcePathStyle ?? false,
    credentials: { accessKeyId: connection.accessKeyId, secretAccessKey: connection.secretAccessKey },
    // Spaces (and RGW 16) reject the aws-chunked CRC32 uploads the SDK sends by default since 2025.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: MAX_ATTEMPTS,
    requestHandler: {
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
      connectionTimeout: options.connectionTimeout ?? CONNECTION_TIMEOUT_MS,
      requestTimeout: options.requestTimeout ?? REQUEST_TIMEOUT_MS,
    },
  }
  return new S3Client(config)
}

/** The CDN serves `{bucket}.{region}.cdn...` only: sign for it virtual-hosted style. */
function cdnPresigner(connection: SpacesConnection, cdnEndpoint: string): S3Presigner {
  const url = new URL(cdnEndpoint)
  const bucketPrefix = `${connection.bucket}.`
  if (url.hostname.startsWith(bucketPrefix)) url.hostname = url.hostname.slice(bucketPrefix.length)
  return new S3Presigner({ ...connection, endpoint: url.origin, forcePathStyle: false })
}

function encodeCopySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`
}

function isClientError(err: unknown): err is Error {
  const status = (err as { statusCode?: unknown } | null | undefined)?.statusCode
  return typeof status === 'number' && status >= 400 && status < 500
}

export class S3Store implements ObjectStore {
  readonly kind = 's3' as const
  readonly client: S3Client
  readonly bucket: string
  private readonly options: S3StoreOptions
  /** Signs for the bucket's own endpoint: uploads, and the reads this process makes. */
  private readonly presigner: S3Presigner
  /** Signs the URLs handed out for downloads: on the CDN host when there is one. */
  private readonly downloadPresigner: S3Presigner
  private readonly reader: ObjectReader
  readonly multipart: S3Multipart
  /** One upload's part buffers, kept for the next upload. */
  private readonly partBuffers: PartBuffers

  constructor(options: S3StoreOptions) {
    this.options = options
    const connection = options.connection
    this.bucket = connection.bucket
    this.client = createS3Client(connection, options)
    this.presigner = new S3Presigner({ ...connection, forcePathStyle: connection.forcePathStyle ?? false })
    this.multipart = new S3Multipart(this.client, this.bucket, this.presigner, (operation, run) => this.send(operation, run))
    this.downloadPresigner = connection.cdnEndpoint ? cdnPresigner(connection, connection.cdnEndpoint) : this.presigner
    this.partBuffers = new PartBuffers(options.partSize, options.queueSize + 1)
    this.reader = new ObjectReader({
      presigner: this.presigner,
      maxAttempts: MAX_ATTEMPTS,
      connectionTimeout: options.connectionTimeout ?? CONNECTION_TIMEOUT_MS,
      requestTimeout: options.requestTimeout ?? REQUEST_TIMEOUT_MS,
      onError: options.onError,
    })
    const onError = options.onError
    if (onError) {
      // One middleware sees every command, including the part uploader's.
      this.client.middlewareStack.add(
        (next, context) => async (args) => {
          try {
            return await next(args)
          } catch (err) {
            const sdk = err as { Code?: string; code?: string; name?: string }
            onError(context.commandName ?? 'unknown', sdk.Code ?? sdk.code ?? sdk.name ?? 'Unknown')
            throw err
          }
        },
        { step: 'initialize', name: 'fastifySpacesErrorObserver' },
      )
    }
  }

  private async send<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (err) {
      throw toStoreError(operation, err)
    }
  }

  async put({ key, body, contentType, signal }: PutInput): Promise<ObjectInfo> {
    // Destroying the body (rather than cancelling requests here) lets the uploader settle only
    // after it has aborted the multipart upload, so no part outlives a failed upload.
    const aborted = Object.assign(new Error('upload aborted'), { name: 'AbortError' })
    const onAbort = () => body.destroy(aborted)
    if (signal?.aborted) onAbort()
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      await this.send('PutObject', () =>
        uploadStream({
          client: this.client,
          bucket: this.bucket,
          key,
          body,
          contentType,
          buffers: this.partBuffers,
          queueSize: this.options.queueSize,
        }),
      )
      // One HEAD gives the stored size to check, and the ETag: RGW (so Spaces) answers
      // CompleteMultipartUpload with an empty one.
      const stored = await this.head(key)
      if (!stored) throw new StorageError('PutObject: the object is missing right after its upload')
      return stored
    } catch (err) {
      const streamError = (body as Readable & { errored?: Error | null }).errored
      // A refusal the stream raised (the size limit, a coded 4xx) is the answer: refusing stops
      // reading the request, whose close then fires the caller's signal too.
      if (isClientError(streamError)) throw streamError
      // The caller gave up first (its abort is what the body died of): whatever else failed on
      // the way down (a part the abort cut off), that is what happened to this upload. A signal
      // that fired only because a failed store stopped reading the request is not that.
      if (signal?.aborted && streamError === aborted) throw aborted
      // A failure of the stream itself (client gone) carries its own error: keep it. But a stream
      // destroyed with an ABORT_ERR was only stopped because a part failed: then the store's
      // error is the real one (a retryable 502/503).
      const stoppedReading = (streamError as { code?: string } | null | undefined)?.code === 'ABORT_ERR'
      if (streamError && !stoppedReading) throw streamError
      // NoSuchUpload on a part: the multipart upload was aborted under this one (a sweep, an
      // operator). Nothing is missing that the client asked for: the store failed the upload.
      if (err instanceof NotFoundError) throw new StorageError('PutObject: the multipart upload was aborted', { cause: err })
      throw err
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
  }

  async get(key: string, range?: ByteRange): Promise<GetResult> {
    const { headers, body } = await this.reader.get(key, range)
    const header = (name: string) => {
      const value = headers[name]
      return Array.isArray(value) ? value[0] : value
    }
    const contentRange = header('content-range')
    const lastModified = header('last-modified')
    return {
      key,
      body,
      size: Number(contentRange ? contentRange.slice(contentRange.lastIndexOf('/') + 1) : (header('content-length') ?? 0)),
      etag: header('etag') ?? '',
      contentType: header('content-type') ?? 'application/octet-stream',
      lastModified: lastModified ? new Date(lastModified) : new Date(0),
      range,
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }))
      return {
        key,
        size: Number(out.ContentLength ?? 0),
        etag: out.ETag ?? '',
        contentType: out.ContentType ?? 'application/octet-stream',
        lastModified: out.LastModified ?? new Date(0),
      }
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
      if (status === 404) return undefined
      throw toStoreError('HeadObject', err)
    }
  }

  async delete(key: string): Promise<void> {
    await this.send('DeleteObject', () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })))
  }

  async copy(fromKey: string, toKey: string): Promise<void> {
    const source = await this.head(fromKey)
    if (!source) throw toStoreError('CopyObject', Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey' }))
    if (source.size > (this.options.multipartCopyThreshold ?? 5 * GIB)) {
      await this.multipartCopy(fromKey, toKey, source)
      return
    }
    await this.send('CopyObject', () =>
      this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: toKey,
          CopySource: encodeCopySource(this.bucket, fromKey),
          MetadataDirective: 'COPY',
          TaggingDirective: 'COPY',
        }),
      ),
    )
  }

  /** UploadPartCopy, for objects over CopyObject's 5 GiB limit. Tags are copied after completion. */
  private async multipartCopy(fromKey: string, toKey: string, source: ObjectInfo): Promise<void> {
    const partSize = Math.max(this.options.copyPartSize ?? 512 * 1024 ** 2, Math.ceil(source.size / 10_000))
    const { UploadId } = await this.send('CreateMultipartUpload', () =>
      this.client.send(
        new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: toKey, ContentType: source.contentType }),
      ),
    )
    try {
      const parts: Array<{ PartNumber: number; ETag: string }> = []
      for (let start = 0, partNumber = 1; start < source.size; start += partSize, partNumber++) {
        const end = Math.min(start + partSize, source.size) - 1
        const out = await this.send('UploadPartCopy', () =>
          this.client.send(
            new UploadPartCopyCommand({
              Bucket: this.bucket,
              Key: toKey,
              UploadId,
              PartNumber: partNumber,
              CopySource: encodeCopySource(this.bucket, fromKey),
              CopySourceRange: `bytes=${start}-${end}`,
            }),
          ),
        )
        parts.push({ PartNumber: partNumber, ETag: out.CopyPartResult?.ETag ?? '' })
      }
      await this.send('CompleteMultipartUpload', () =>
        this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key: toKey,
            UploadId,
            MultipartUpload: { Parts: parts },
          }),
        ),
      )
    } catch (err) {
      await this.abortIncompleteUpload({ key: toKey, uploadId: UploadId ?? '', initiated: new Date() }).catch(() => {})
      throw err
    }
    const tags = await this.getTags(fromKey)
    if (Object.keys(tags).length > 0) await this.setTags(toKey, tags)
  }

  async setTags(key: string, tags: Record<string, string>): Promise<void> {
    const TagSet = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }))
    await this.send('PutObjectTagging', () =>
      this.client.send(new PutObjectTaggingCommand({ Bucket: this.bucket, Key: key, Tagging: { TagSet } })),
    )
  }

  async getTags(key: string): Promise<Record<string, string>> {
    const out = await this.send('GetObjectTagging', () =>
      this.client.send(new GetObjectTaggingCommand({ Bucket: this.bucket, Key: key })),
    )
    return Object.fromEntries((out.TagSet ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']))
  }

  async list(prefix: string, options: { cursor?: string; limit?: number } = {}): Promise<ListPage> {
    const out = await this.send('ListObjectsV2', () =>
      this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix,
          ContinuationToken: options.cursor,
          MaxKeys: options.limit ?? 1000,
        }),
      ),
    )
    return {
      items: (out.Contents ?? []).map((item) => ({
        key: item.Key ?? '',
        size: Number(item.Size ?? 0),
        etag: item.ETag ?? '',
        contentType: '',
        lastModified: item.LastModified ?? new Date(0),
      })),
      nextCursor: out.IsTruncated ? out.NextContinuationToken : undefined,
    }
  }

  async listIncompleteUploads(prefix?: string): Promise<IncompleteUpload[]> {
    const uploads: IncompleteUpload[] = []
    let keyMarker: string | undefined
    let uploadIdMarker: string | undefined
    do {
      const out = await this.send('ListMultipartUploads', () =>
        this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            Prefix: prefix,
            KeyMarker: keyMarker,
            UploadIdMarker: uploadIdMarker,
          }),
        ),
      )
      for (const upload of out.Uploads ?? []) {
        uploads.push({ key: upload.Key ?? '', uploadId: upload.UploadId ?? '', initiated: upload.Initiated ?? new Date(0) })
      }
      keyMarker = out.IsTruncated ? out.NextKeyMarker : undefined
      uploadIdMarker = out.IsTruncated ? out.NextUploadIdMarker : undefined
    } while (keyMarker)
    return uploads
  }

  async abortIncompleteUpload(upload: IncompleteUpload): Promise<void> {
    await this.send('AbortMultipartUpload', () =>
      this.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: upload.key, UploadId: upload.uploadId }),
      ),
    )
  }

  async presignGet({ key, expiresIn, contentDisposition, contentType }: PresignGetInput): Promise<string> {
    const query: Record<string, string> = {}
    if (contentDisposition) query['response-content-disposition'] = contentDisposition
    if (contentType) query['response-content-type'] = contentType
    return this.downloadPresigner.presign({ method: 'GET', key, expiresIn, query })
  }

  async presignPut({ key, expiresIn, contentType, contentLength }: PresignPutInput): Promise<PresignedRequest> {
    // Type and length are bound into the signature, so the browser cannot send something else.
    const url = this.presigner.presign({
      method: 'PUT',
      key,
      expiresIn,
      headers: { 'content-type': contentType, 'content-length': String(contentLength) },
    })
    return { url, headers: { 'Content-Type': contentType } }
  }

  async ping(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }))
    } catch (err) {
      // HEAD has no body, so a missing bucket arrives as a bare 404 "NotFound": not a missing file.
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
      if (status === 404) throw new StorageError('HeadBucket: NoSuchBucket', { cause: err })
      throw toStoreError('HeadBucket', err)
    }
  }

  async close(): Promise<void> {
    this.client.destroy()
    await this.reader.close()
  }
}
