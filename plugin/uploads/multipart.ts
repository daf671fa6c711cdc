// Presigned S3 multipart for direct browser uploads of any size up to the limit, in the shape
// Uppy's @uppy/aws-s3 multipart mode expects (create, sign part, list parts, complete, abort).
// The browser PUTs parts straight to the bucket; parts stay invisible until the sidecar completes
// the upload, after which no part URL can write anything (the upload id is gone). Completion checks
// the parts' total against the limit and the declared size before it assembles them.
import type { FileRecord, ObjectRow } from '../ledger/types.js'
import type { KeyParts } from '../keys.js'
import type { MultipartOperations, PresignedRequest, UploadedPart } from '../drivers/types.js'
import type { Storage } from '../storage.js'
import { BadRequestError, NotFoundError, PayloadTooLargeError, UploadInProgressError, UploadMismatchError } from '../errors.js'
import { WAITING, claimCompletion, outcomeOf, releaseCompletion, toRecord } from './claim.js'
import type { Completion } from './direct.js'
import { multipartOf, reserveWithMultipart } from './store-upload.js'

export const MAX_PARTS = 10_000
export const MIN_PART_BYTES = 5 * 1024 * 1024

export interface MultipartStart {
  parts: KeyParts & { key: string }
  contentType: string
  /** The file's size when the client tells it (Uppy does not by default): checked on completion. */
  size?: number
  actor: string
}

/** What Uppy's S3 multipart plugin keeps per upload and sends back with every call. */
export interface MultipartHandle {
  key: string
  uploadId: string
}

const S3_REFUSALS = new Set(['EntityTooSmall', 'InvalidPart', 'InvalidPartOrder', 'NoSuchUpload'])

export class BrowserMultipart {
  constructor(private readonly storage: Storage) {}

  private operations(): MultipartOperations {
    return multipartOf(this.storage, 'use PUT /files')
  }

  async create(input: MultipartStart): Promise<MultipartHandle> {
    const operations = this.operations()
    this.storage.checkUpload({ size: input.size ?? 0, contentType: input.contentType })
    const id = await reserveWithMultipart(this.storage, operations, {
      key: input.parts.key,
      parts: input.parts,
      contentType: input.contentType,
      actor: input.actor,
      overwrite: false,
      kind: 'multipart',
      expectedSize: input.size,
      expiresAt: this.storage.uploadExpiry(),
      uploadOffset: WAITING,
    })
    return { key: input.parts.key, uploadId: id }
  }

  /** The pending upload a handle names, started by this actor; 404 otherwise. */
  async pending(handle: MultipartHandle, actor: string): Promise<ObjectRow & { uploadId: string }> {
    const row = await this.storage.ledger.getById(handle.uploadId)
    if (!row || row.key !== handle.key || row.kind !== 'multipart' || row.createdBy !== actor || !row.uploadId) {
      throw new NotFoundError('no multipart upload with this id and key')
    }
    if (row.state !== 'pending') throw new NotFoundError('this multipart upload has finished or was aborted')
    return row as ObjectRow & { uploadId: string }
  }

  async signPart(handle: MultipartHandle, actor: string, partNumber: number, expiresIn: number): Promise<PresignedRequest> {
    const row = await this.pending(handle, actor)
    const lastPart = row.expectedSize === null ? MAX_PARTS : Math.max(1, Math.ceil(row.expectedSize / MIN_PART_BYTES))
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > Math.min(lastPart, MAX_PARTS)) {
      throw new BadRequestError(`partNumber must be an integer from 1 to ${Math.min(lastPart, MAX_PARTS)}`)
    }
    if (row.uploadOffset !== WAITING) throw new UploadInProgressError()
    return this.operations().presignPart({ key: row.key, uploadId: row.uploadId, partNumber, expiresIn })
  }

  async listParts(handle: MultipartHandle, actor: string): Promise<UploadedPart[]> {
    const row = await this.pending(handle, actor)
    return this.operations().listParts({ key: row.key, uploadId: row.uploadId })
  }

  /**
   * Assembles the parts the store holds (they must be the ones the client names), after checking
   * their total; then hashes and records the file. One winner, as for direct uploads.
   */
  async complete(handle: MultipartHandle, actor: string, named: Array<{ partNumber: number; etag: string }>): Promise<Completion> {
    const { ledger } = this.storage
    const row = await ledger.getById(handle.uploadId)
    if (row?.state === 'live' && row.key === handle.key && row.createdBy === actor) return { record: toRecord(row), existing: true }
    const pending = await this.pending(handle, actor)
    if (!(await claimCompletion(ledger, pending.id))) return { record: await outcomeOf(ledger, pending.id), existing: true }
    try {
      return { record: await this.finish(pending, named), existing: false }
    } catch (err) {
      await releaseCompletion(ledger, pending.id).catch(() => {})
      throw err
    }
  }

  private async finish(row: ObjectRow & { uploadId: string }, named?: Array<{ partNumber: number; etag: string }>): Promise<FileRecord> {
    const operations = this.operations()
    const { store, ledger } = this.storage
    const stored = await operations.listParts({ key: row.key, uploadId: row.uploadId })
    if (named && !sameParts(named, stored)) {
      throw new UploadMismatchError('the parts named are not the parts the store holds; list the parts and try again')
    }
    if (stored.length === 0) throw new UploadMismatchError('no part was uploaded')
    const size = stored.reduce((sum, part) => sum + part.size, 0)
    if (size > this.storage.options.maxUploadBytes) throw new PayloadTooLargeError(this.storage.options.maxUploadBytes)
    if (row.expectedSize !== null && size !== row.expectedSize) {
      throw new UploadMismatchError(`expected ${row.expectedSize} bytes, the parts hold ${size}`)
    }
    try {
      await operations.complete({ key: row.key, uploadId: row.uploadId, parts: stored })
    } catch (err) {
      const code = ((err as { cause?: { name?: string; Code?: string } }).cause ?? {}) as { name?: string; Code?: string }
      if (S3_REFUSALS.has(code.Code ?? code.name ?? '')) {
        throw new UploadMismatchError(`the store refused the parts (${code.Code ?? code.name}): each part but the last needs 5 MiB or more`)
      }
      throw err
    }
    // From here the object is at its key (still held by our reservation): record it or remove it.
    try {
      const info = await store.head(row.key)
      if (!info || info.size !== size) throw new UploadMismatchError('the assembled object does not have the parts\' size')
      const sha256 = await this.storage.hashStored(row.key)
      await store.setTags(row.key, { sha256 })
      return await ledger.commit(row.id, { size, sha256, etag: info.etag })
    } catch (err) {
      await store.delete(row.key).catch(() => {})
      await ledger.fail(row.id, `multipart completion failed: ${(err as Error).message}`).catch(() => {})
      throw err
    }
  }

  /** Aborts the store's upload and releases the key. */
  async abort(handle: MultipartHandle, actor: string): Promise<void> {
    const row = await this.pending(handle, actor)
    await this.discard(row, 'aborted by the client')
  }

  /** Removes an unfinished upload's parts and marks it failed. */
  async discard(row: ObjectRow, reason: string): Promise<void> {
    if (row.uploadId) {
      await this.storage.store.abortIncompleteUpload({ key: row.key, uploadId: row.uploadId, initiated: new Date() }).catch((err) => {
        // Already gone (completed or aborted): nothing left to remove.
        if (!(err instanceof NotFoundError)) throw err
      })
    }
    await this.storage.ledger.fail(row.id, reason)
  }

  /**
   * The sweep's rule once an upload has expired: parts that add up to the size the client declared
   * are completed and recorded (the bytes all arrived); anything else is removed.
   */
  async settle(row: ObjectRow): Promise<'committed' | 'failed'> {
    if (row.expectedSize !== null && row.uploadId && (await claimCompletion(this.storage.ledger, row.id))) {
      try {
        const record = await this.finish(row as ObjectRow & { uploadId: string })
        await this.storage.systemAudit('upload_complete', row.key, { status: 201, bytes: record.size, sha256: record.sha256, actor: row.createdBy })
        return 'committed'
      } catch {
        // Not all there: removed below.
      }
    }
    await this.discard(row, 'multipart upload expired')
    await this.storage.systemAudit('upload_complete', row.key, { status: 410, errorCode: 'FST_SPACES_UPLOAD_EXPIRED', actor: row.createdBy })
    return 'failed'
  }
}

function sameParts(named: Array<{ partNumber: number; etag: string }>, stored: UploadedPart[]): boolean {
  const unquote = (etag: string) => etag.replaceAll('"', '')
  if (named.length !== stored.length) return false
  const sorted = [...named].sort((a, b) => a.partNumber - b.partNumber)
  return sorted.every((part, i) => part.partNumber === stored[i]!.partNumber && unquote(part.etag) === unquote(stored[i]!.etag))
}
