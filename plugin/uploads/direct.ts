// Direct browser uploads: a presigned PUT to a staging key outside the live layout, then a
// completion that checks what arrived (size, type), hashes it, moves it to its key and records it.
// A presigned URL can therefore never write a recorded file, and a failed completion frees
// nothing: the reservation stays until its URL has expired, and the sweep settles it.
import { randomUUID } from 'node:crypto'
import type { FileRecord, ObjectRow } from '../ledger/types.js'
import type { KeyParts } from '../keys.js'
import type { PresignedRequest } from '../drivers/types.js'
import type { Storage } from '../storage.js'
import { BadRequestError, UploadInProgressError, UploadMismatchError } from '../errors.js'
import { COMPLETING, WAITING, claimCompletion, outcomeOf, releaseCompletion, toRecord } from './claim.js'
import { stagingKeyFor } from './staging.js'

export interface DirectUploadStart {
  parts: KeyParts & { key: string }
  contentType: string
  size: number
  actor: string
  /** Seconds the presigned URL lives. */
  expiresIn: number
}

export interface Completion {
  record: FileRecord
  /** True when an earlier completion had already recorded it (a retry). */
  existing: boolean
}

export class DirectUploads {
  constructor(private readonly storage: Storage) {}

  /**
   * Reserves the key (or, asked again by the same actor, reuses the reservation) and signs a PUT to
   * its staging key that binds type and length.
   */
  async start(input: DirectUploadStart): Promise<PresignedRequest & { expiresAt: Date }> {
    const { store, ledger } = this.storage
    if (!store.presignPut) throw new BadRequestError('this store takes uploads through PUT /files only')
    this.storage.checkUpload({ size: input.size, contentType: input.contentType })
    const expiresAt = new Date(Date.now() + input.expiresIn * 1000)
    const stagingKey = (await this.reuse(input, expiresAt)) ?? (await this.reserve(input, expiresAt))
    const signed = await store.presignPut({ key: stagingKey, expiresIn: input.expiresIn, contentType: input.contentType, contentLength: input.size })
    return { ...signed, expiresAt }
  }

  /** The same actor asking again for the same pending key gets the same reservation, renewed. */
  private async reuse(input: DirectUploadStart, expiresAt: Date): Promise<string | undefined> {
    const pending = await this.storage.ledger.getPending(input.parts.key)
    if (!pending || pending.kind !== 'direct' || pending.createdBy !== input.actor || !pending.stagingKey) return undefined
    const renewed = await this.storage.ledger.updateUpload(pending.id, {
      expectedOffset: WAITING,
      expectedSize: input.size,
      contentType: input.contentType,
      expiresAt,
    })
    if (!renewed) throw new UploadInProgressError()
    return pending.stagingKey
  }

  private async reserve(input: DirectUploadStart, expiresAt: Date): Promise<string> {
    const stagingKey = stagingKeyFor(randomUUID())
    await this.storage.ledger.reserve({
      key: input.parts.key,
      parts: input.parts,
      contentType: input.contentType,
      actor: input.actor,
      overwrite: false,
      kind: 'direct',
      expectedSize: input.size,
      stagingKey,
      expiresAt,
      uploadOffset: WAITING,
    })
    return stagingKey
  }

  /**
   * Records what the browser uploaded. Concurrent completions of one upload: the first does the
   * work, the others get its record (or a clean 409). A completion repeated after success gets the
   * record again.
   */
  async complete(input: { key: string; actor: string }): Promise<Completion> {
    const { ledger } = this.storage
    const pending = await ledger.getPending(input.key)
    if (!pending || pending.kind !== 'direct') return { record: await this.completedBefore(input), existing: true }
    if (pending.createdBy !== input.actor) throw new UploadInProgressError()
    if (!(await claimCompletion(ledger, pending.id))) return { record: await outcomeOf(ledger, pending.id), existing: true }
    try {
      return { record: await this.finish(pending), existing: false }
    } catch (err) {
      await releaseCompletion(ledger, pending.id).catch(() => {})
      throw err
    }
  }

  /** A retry of a completion that already succeeded. */
  private async completedBefore(input: { key: string; actor: string }): Promise<FileRecord> {
    const live = await this.storage.ledger.getLive(input.key)
    if (live && live.kind === 'direct' && live.createdBy === input.actor) return toRecord(live)
    throw new UploadMismatchError('no direct upload was started for this key, or it has expired')
  }

  /**
   * Checks the staged object against the reservation, hashes it, moves it to its key, records it.
   * A mismatch removes the staged object and keeps the reservation (the URL may be used again).
   */
  async finish(row: ObjectRow): Promise<FileRecord> {
    const { store, ledger } = this.storage
    const stagingKey = row.stagingKey!
    const info = await store.head(stagingKey)
    if (!info) throw new UploadMismatchError('nothing was uploaded to this key')
    if (info.size !== row.expectedSize || info.contentType !== row.contentType) {
      await store.delete(stagingKey)
      throw new UploadMismatchError(
        `expected ${row.expectedSize} bytes of ${row.contentType}, found ${info.size} bytes of ${info.contentType}`,
      )
    }
    const sha256 = await this.storage.hashStored(stagingKey)
    await store.setTags(stagingKey, { sha256 })
    // The copy keeps type and tags; the key is still held by our reservation, so nothing else is there.
    await store.copy(stagingKey, row.key)
    let record: FileRecord
    try {
      const stored = await store.head(row.key)
      if (!stored || stored.size !== info.size) throw new UploadMismatchError('the object did not arrive at its key')
      record = await ledger.commit(row.id, { size: stored.size, sha256, etag: stored.etag })
    } catch (err) {
      await store.delete(row.key).catch(() => {})
      throw err
    }
    await store.delete(stagingKey).catch((cause) => this.storage.warnOf(cause, 'staged upload not removed'))
    return record
  }

  /**
   * The sweep's rule for a direct upload whose URL has expired: bytes that arrived intact are
   * recorded (nobody completed them, but they are what was asked); anything else is removed.
   */
  async settle(row: ObjectRow): Promise<'committed' | 'failed'> {
    const { ledger, store } = this.storage
    // A completion that died mid-way left the claim: the sweep may take it over.
    const claimed = row.uploadOffset === COMPLETING || (await claimCompletion(ledger, row.id))
    if (!claimed) return 'failed'
    try {
      const record = await this.finish(row)
      await this.storage.systemAudit('upload_complete', row.key, { status: 201, bytes: record.size, sha256: record.sha256, actor: row.createdBy })
      return 'committed'
    } catch (err) {
      await ledger.fail(row.id, `direct upload expired: ${(err as Error).message}`)
      await store.delete(row.stagingKey!).catch(() => {})
      await this.storage.systemAudit('upload_complete', row.key, { status: 410, errorCode: 'FST_SPACES_UPLOAD_EXPIRED', actor: row.createdBy })
      return 'failed'
    }
  }
}
