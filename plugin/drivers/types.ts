// The object-store contract. The S3 driver (Spaces, any S3 server) and the local-disk driver
// (the sidecar's embedded default) both implement it, and both pass test/driver-contract.ts.
// Drivers deal in validated keys only; they never see a request.
import type { Readable } from 'node:stream'

export interface PutInput {
  key: string
  /** The bytes, streamed. The driver consumes it with backpressure and never buffers it whole. */
  body: Readable
  contentType: string
  /** Aborting stops the upload and removes everything it wrote (parts included). */
  signal?: AbortSignal
}

export interface ObjectInfo {
  key: string
  size: number
  etag: string
  contentType: string
  lastModified: Date
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number
  /** Last byte, inclusive. */
  end: number
}

export interface GetResult extends ObjectInfo {
  body: Readable
  /** Present when a range was asked for. */
  range?: ByteRange
}

export interface ListPage {
  items: ObjectInfo[]
  nextCursor?: string
}

export interface IncompleteUpload {
  key: string
  uploadId: string
  initiated: Date
}

export interface PresignGetInput {
  key: string
  expiresIn: number
  /** Sent back as the response's Content-Disposition. */
  contentDisposition?: string
  contentType?: string
}

export interface PresignPutInput {
  key: string
  expiresIn: number
  contentType: string
  contentLength: number
}

export interface PresignedRequest {
  url: string
  /** Headers the client must send as they are: they are part of the signature. */
  headers: Record<string, string>
}

export interface UploadedPart {
  partNumber: number
  etag: string
  size: number
}

export interface UploadPartInput {
  key: string
  uploadId: string
  partNumber: number
  /**
   * Exactly `contentLength` bytes: streamed (the driver never buffers a part), or a part its
   * caller already holds in memory, sent as one buffer.
   */
  body: Readable | Buffer
  contentLength: number
  signal?: AbortSignal
}

/**
 * S3 multipart uploads as separate steps, for uploads that outlive one request (tus, presigned
 * browser multipart). Parts are invisible until `complete`, which only the sidecar calls.
 */
export interface MultipartOperations {
  /** Starts a multipart upload at `key`; resolves with its upload id. */
  create(input: { key: string; contentType: string }): Promise<string>
  uploadPart(input: UploadPartInput): Promise<{ etag: string }>
  /** The parts stored so far, in part-number order. */
  listParts(input: { key: string; uploadId: string }): Promise<UploadedPart[]>
  /** Assembles the parts into the object at `key`. */
  complete(input: { key: string; uploadId: string; parts: Array<{ partNumber: number; etag: string }> }): Promise<void>
  /** One PutObject of a known length, streamed (a resumable upload's short tail). */
  putSized(input: { key: string; body: Readable; contentLength: number; contentType: string; signal?: AbortSignal }): Promise<void>
  /** A URL a browser PUTs one part to. */
  presignPart(input: { key: string; uploadId: string; partNumber: number; expiresIn: number }): Promise<PresignedRequest>
}

export interface ObjectStore {
  readonly kind: 's3' | 'local'
  /** Resolves with the object as the store now holds it: the caller checks its size against what it sent. */
  put(input: PutInput): Promise<ObjectInfo>
  get(key: string, range?: ByteRange): Promise<GetResult>
  /** Resolves undefined when there is no such object. */
  head(key: string): Promise<ObjectInfo | undefined>
  /** Idempotent: deleting a missing object succeeds. */
  delete(key: string): Promise<void>
  /** Server-side copy; keeps content type and tags. */
  copy(fromKey: string, toKey: string): Promise<void>
  setTags(key: string, tags: Record<string, string>): Promise<void>
  getTags(key: string): Promise<Record<string, string>>
  list(prefix: string, options?: { cursor?: string; limit?: number }): Promise<ListPage>
  listIncompleteUploads(prefix?: string): Promise<IncompleteUpload[]>
  abortIncompleteUpload(upload: IncompleteUpload): Promise<void>
  /** Short-lived URLs straight to the store. Absent where the store has none (local disk). */
  presignGet?(input: PresignGetInput): Promise<string>
  presignPut?(input: PresignPutInput): Promise<PresignedRequest>
  /** Multipart uploads in steps (tus, browser multipart). Absent where the store has none (local disk). */
  readonly multipart?: MultipartOperations
  /** Throws unless the bucket (or directory) is reachable. */
  ping(): Promise<void>
  close(): Promise<void>
}
