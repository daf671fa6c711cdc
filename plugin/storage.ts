// The storage service: the object store and the ledger kept in step. Routes, the CLI and host
// apps all go through here, so every path follows the same upload lifecycle and trash rules.
import { randomUUID } from 'node:crypto'
import { pipeline, type Readable } from 'node:stream'
import type { ByteRange, GetResult, IncompleteUpload, ObjectStore } from './drivers/types.js'
import type { AuditAction, FileRecord, Ledger, ObjectRow, TrashRecord } from './ledger/types.js'
import type { ResolvedOptions } from './options.js'
import {
  BadRequestError,
  ConfigInvalidError,
  ConflictError,
  NotFoundError,
  PayloadTooLargeError,
  RestoreConflictError,
  StorageError,
  StorageUnavailableError,
  TrashNotFoundError,
  UnsupportedTypeError,
  UploadInProgressError,
} from './errors.js'
import { TRASH_PREFIX, parseKey, type KeyParts } from './keys.js'
import { holdProgress, isHold, reserveAfterHolds, type HoldReason } from './key-hold.js'
import { checkMediaType, essence } from './media-type.js'
import { findOrphanedUploads } from './orphan-uploads.js'
import { UploadMeter } from './upload-meter.js'
import type { Access } from './access.js'
import { uploadAsCaller, type CallerUploadInput, type RequestScope } from './caller.js'
import { DirectUploads } from './uploads/direct.js'
import { BrowserMultipart } from './uploads/multipart.js'
import { ResumableUploads } from './uploads/resumable.js'
import { orphanStaging } from './uploads/staging.js'

const DAY_MS = 24 * 60 * 60 * 1000

export interface UploadInput {
  /** A key already checked by parseKey. */
  key: string
  body: Readable
  contentType: string
  actor: string
  overwrite?: boolean
  signal?: AbortSignal
  /** Remembered with the upload, so a retry with the same key finds it (Idempotency-Key). */
  idempotencyKey?: string
  /** The SHA-256 (hex) the client says the body has (Repr-Digest): a body that differs is refused. */
  expectedSha256?: string
}

/**
 * An upload whose bytes are in the store but not yet recorded. `commitStaged` makes it the live
 * file; `discardStaged` removes it and brings back the file it displaced. A multi-file request
 * stages every file before it commits any, so a failure part-way stores nothing.
 */
export interface StagedUpload {
  readonly key: string
  readonly reservationId: string
  readonly size: number
  readonly sha256: string
  readonly etag: string
  /** The live file an overwrite displaced: in trash from now on, unless the upload is discarded. */
  readonly replaced?: TrashRecord
}

export interface StorageLogger {
  warn(obj: object, msg: string): void
  info(obj: object, msg: string): void
}

/** The lease an instance renews while it lives; its pending uploads are left alone until it lapses. */
export const instanceLease = (instanceId: string): string => `instance:${instanceId}`

export class Storage {
  readonly store: ObjectStore
  readonly ledger: Ledger
  readonly options: ResolvedOptions
  /** This instance, as named on the uploads it reserves (`owner`) and on its lease. */
  readonly instanceId: string
  private readonly log: StorageLogger
  /** The plugin's identity and policy, for calls made for a request's caller. */
  private readonly access?: Access
  /** Reservations this process is streaming right now: never "stale", however long they take. */
  private readonly inflight = new Set<string>()
  /** Presigned PUT uploads, completed by a later call. */
  readonly direct: DirectUploads
  /** Presigned S3 multipart uploads (Uppy's multipart mode). */
  readonly multipart: BrowserMultipart
  /** Resumable uploads (tus), on S3 multipart, resumable on any instance. */
  readonly resumable: ResumableUploads
  /**
   * What a failed upload could not undo because the store was unreachable; the next sweep
   * finishes the job. Keys of failed uploads, whose multipart upload may be left open (aborted if
   * no pending row owns it), keys whose staged object could not be deleted, and trash entries an
   * overwrite displaced that could not be put back.
   */
  private readonly leftovers = { uploads: new Set<string>(), objects: new Set<string>(), restores: new Set<string>() }

  constructor(deps: {
    store: ObjectStore
    ledger: Ledger
    options: ResolvedOptions
    log: StorageLogger
    instanceId?: string
    access?: Access
  }) {
    this.store = deps.store
    this.ledger = deps.ledger
    this.options = deps.options
    this.log = deps.log
    this.instanceId = deps.instanceId ?? randomUUID()
    this.access = deps.access
    this.direct = new DirectUploads(this)
    this.multipart = new BrowserMultipart(this)
    this.resumable = new ResumableUploads(this)
  }

  /** Renews this instance's lease: until it lapses, other instances leave its uploads alone. */
  async heartbeat(ttlMs: number): Promise<void> {
    await this.ledger.acquireLease(instanceLease(this.instanceId), this.instanceId, ttlMs)
  }

  /** Gives the lease up at a clean shutdown, so what this instance left pending is settled at once. */
  async releaseInstance(): Promise<void> {
    await this.ledger.releaseLease(instanceLease(this.instanceId), this.instanceId)
  }

  parseKey(key: unknown): KeyParts & { key: string } {
    return parseKey(key, this.options)
  }

  /** A 400 unless `contentType` is a well-formed media type; a 415 unless the options allow it. */
  checkContentType(contentType: string): void {
    checkMediaType(contentType)
    const allowed = this.options.allowedContentTypes
    if (!allowed) return
    const type = essence(contentType)
    const ok = allowed.some((a) => a === type || (a.endsWith('/*') && type.startsWith(a.slice(0, -1))))
    if (!ok) throw new UnsupportedTypeError(type)
  }

  /**
   * Reserve the key, stream the bytes (hashed and size-checked on the way), tag the object with
   * its sha256, then commit. Any failure marks the reservation failed and leaves nothing stored.
   *
   * With `{ request }` the upload is made for that request's caller, as the plugin's own routes
   * make it: the caller is the actor, the policy decides (403 otherwise), and an audit event is
   * written whatever the outcome. Without it, the call acts as the system: no policy, no audit.
   */
  upload(input: UploadInput): Promise<FileRecord>
  upload(input: CallerUploadInput, scope: RequestScope): Promise<FileRecord>
  async upload(input: UploadInput | CallerUploadInput, scope?: RequestScope): Promise<FileRecord> {
    if (scope) {
      if (!this.access) throw new ConfigInvalidError('upload(..., { request }) needs the storage the plugin decorates the app with')
      return uploadAsCaller(this, this.access, scope, input as CallerUploadInput)
    }
    const upload = input as UploadInput
    const [record] = await this.commitAll([await this.stage(upload)], upload.actor)
    return record!
  }

  /**
   * The first half of an upload: reserve the key (an overwrite moves the current file to trash),
   * stream the bytes to the store, check their size (and digest, when the client sent one).
   * Nothing is recorded as stored yet, and the object carries no sha256 tag, so crash recovery
   * takes it for the unfinished upload it is. On failure it cleans up after itself.
   */
  async stage(input: UploadInput): Promise<StagedUpload> {
    const parts = this.parseKey(input.key)
    this.checkContentType(input.contentType)
    const reservation = await reserveAfterHolds(this.ledger, {
      key: parts.key,
      parts,
      contentType: input.contentType,
      actor: input.actor,
      overwrite: input.overwrite ?? false,
      owner: this.instanceId,
      idempotencyKey: input.idempotencyKey,
    })
    let replaced: TrashRecord | undefined
    let stored = false
    const meter = new UploadMeter(this.options.maxUploadBytes)
    this.inflight.add(reservation.id)
    try {
      if (reservation.replaces) replaced = await this.displace(reservation.replaces, input.actor)
      // pipeline() destroys the meter when the body fails (client gone, limit), which fails the put.
      pipeline(input.body, meter, () => {})
      const info = await this.store.put({ key: parts.key, body: meter, contentType: input.contentType, signal: input.signal })
      stored = true
      if (info.size !== meter.bytes) {
        throw new StorageError(`stored size ${info.size} differs from the ${meter.bytes} bytes sent`)
      }
      const sha256 = meter.sha256()
      if (input.expectedSha256 && input.expectedSha256 !== sha256) {
        throw new BadRequestError('the body does not match its Repr-Digest; nothing was stored')
      }
      return { key: parts.key, reservationId: reservation.id, size: meter.bytes, sha256, etag: info.etag, replaced }
    } catch (err) {
      // And the other way round: a failed store releases the caller's stream instead of leaving it paused.
      meter.destroy()
      // Whatever failed, the store's abort of its multipart upload may have failed after it: a
      // client that gives up while the store is unreachable leaves one behind. The sweep looks.
      if (!stored) remember(this.leftovers.uploads, parts.key)
      await this.discardStaged({ key: parts.key, reservationId: reservation.id, stored, replaced }, err)
      throw err
    }
  }

  /**
   * Records staged uploads, all or none. Every object gets its sha256 tag first (a store failure
   * there discards them all); then each is committed. Should the ledger fail between two commits,
   * the ones already committed are withdrawn again, so the caller's error still means "nothing stored".
   */
  async commitAll(staged: readonly StagedUpload[], actor: string): Promise<FileRecord[]> {
    const records: FileRecord[] = []
    try {
      for (const file of staged) await this.store.setTags(file.key, { sha256: file.sha256 })
      for (const file of staged) {
        records.push(await this.commitOne(file))
        this.inflight.delete(file.reservationId)
      }
      return records
    } catch (err) {
      for (const [index, file] of staged.entries()) {
        if (index < records.length) {
          await this.withdrawCommitted(file, actor).catch((cause) => this.warn(cause, 'a committed file of a failed request could not be withdrawn; reconcile will report it'))
        } else {
          await this.discardStaged(file, err)
        }
      }
      throw err
    }
  }

  /**
   * Commits one staged upload. A commit whose answer was lost (the connection dropped after
   * COMMIT) may have happened: the row is asked for before the commit counts as failed.
   */
  private async commitOne(file: StagedUpload): Promise<FileRecord> {
    try {
      return await this.ledger.commit(file.reservationId, { size: file.size, sha256: file.sha256, etag: file.etag })
    } catch (err) {
      const row = await this.ledger.getById(file.reservationId).catch(() => undefined)
      if (row?.state === 'live') return toRecord(row)
      throw err
    }
  }

  /**
   * Undoes a staged upload: the reservation is marked failed, its object removed, and the file it
   * displaced comes back from trash. Best effort: what fails here is logged and left to the sweep.
   */
  async discardStaged(
    staged: { key: string; reservationId: string; stored?: boolean; replaced?: TrashRecord },
    cause: unknown,
  ): Promise<void> {
    try {
      await this.ledger
        .fail(staged.reservationId, (cause as Error)?.message ?? 'upload failed')
        .catch((err) => this.warn(err, 'marking the upload failed did not work; the sweep will settle it'))
      if (staged.stored ?? true) {
        // The bytes go only once the ledger says the row is not live. If it cannot say, they
        // stay, and the sweep settles the row from what the store holds.
        const row = await this.ledger.getById(staged.reservationId).catch(() => undefined)
        if (row !== undefined && row.state !== 'live') {
          await this.store.delete(staged.key).catch((err) => {
            remember(this.leftovers.objects, staged.key)
            this.warn(err, 'cleanup delete failed; the sweep will retry it')
          })
        }
      }
      if (staged.replaced) {
        const { trashId } = staged.replaced
        await this.restore(trashId).catch((err) => {
          remember(this.leftovers.restores, trashId)
          this.warn(err, 'restoring the replaced file failed; the sweep will retry it')
        })
      }
    } finally {
      this.inflight.delete(staged.reservationId)
    }
  }

  /**
   * Takes a file that was committed by a request that then failed back out of the live layout,
   * leaving nothing stored: it goes to trash and is purged at once, and the file it displaced
   * comes back. Only a multi-file request whose ledger failed between two commits needs this.
   */
  async withdrawCommitted(staged: StagedUpload, actor: string): Promise<void> {
    const row = await this.ledger.getLive(staged.key)
    if (row && row.sha256 === staged.sha256) {
      const trashed = await this.moveToTrash(row, actor)
      await this.purge(trashed.trashId)
    }
    if (staged.replaced) await this.restore(staged.replaced.trashId)
  }

  /** An overwrite's first step: the current file goes to trash. Already gone (deleted meanwhile) is fine. */
  private async displace(row: ObjectRow, actor: string): Promise<TrashRecord | undefined> {
    try {
      return await this.moveToTrash(row, actor)
    } catch (err) {
      if (err instanceof NotFoundError) return undefined
      throw err
    }
  }

  /** The live record for a key, or 404. A trashed or failed key is not live. */
  async stat(key: string): Promise<FileRecord> {
    const row = await this.ledger.getLive(key)
    if (!row) throw new NotFoundError('no live file at this key')
    return toRecord(row)
  }

  async open(key: string, range?: ByteRange): Promise<GetResult> {
    await this.stat(key)
    return this.store.get(key, range)
  }

  /**
   * Moves the live file to trash. The key is held meanwhile, so an upload cannot land between
   * the copy and the removal of the original. A key an upload is streaming to answers 409: the
   * file may be on its way to being replaced, and a delete must never take the new one's place.
   */
  async softDelete(key: string, actor: string): Promise<TrashRecord> {
    const parts = this.parseKey(key)
    if (!(await this.ledger.getLive(parts.key))) {
      // Nothing live: a streamed upload may be replacing the file right now (409, retry); a hold
      // is waited out below; a browser or resumable upload that has not finished leaves nothing to delete.
      const pending = await this.ledger.getPending(parts.key)
      if (pending && !isHold(pending) && pending.kind === 'stream') throw new UploadInProgressError()
      if (!pending || !isHold(pending)) throw new NotFoundError('no live file at this key')
    }
    return this.holdingKey(parts, actor, 'delete', async (live) => {
      if (!live) throw new NotFoundError('no live file at this key')
      return this.moveToTrash(live, actor)
    })
  }

  /**
   * Runs `work` while this process holds `key`; `live` is the live row at the time the hold began.
   * A delete holds a key with a live file on it; a restore refuses one (the ledger's 409).
   */
  private async holdingKey<T>(
    parts: KeyParts & { key: string },
    actor: string,
    reason: HoldReason,
    work: (live: ObjectRow | undefined) => Promise<T>,
  ): Promise<T> {
    const hold = await reserveAfterHolds(this.ledger, {
      key: parts.key,
      parts,
      contentType: 'application/octet-stream',
      actor,
      overwrite: reason === 'delete',
      owner: this.instanceId,
      progress: holdProgress(reason),
    })
    this.inflight.add(hold.id)
    try {
      return await work(hold.replaces)
    } finally {
      await this.ledger
        .fail(hold.id, `${reason} hold released`)
        .catch((err) => this.warn(err, 'releasing a key hold failed; the sweep will settle it'))
      this.inflight.delete(hold.id)
    }
  }

  /** Copy to the trash prefix, record it, then delete the original: a live key always means a live file. */
  private async moveToTrash(row: ObjectRow, actor: string): Promise<TrashRecord> {
    const trashId = randomUUID()
    const trashKey = `${TRASH_PREFIX}${row.orgId}/${trashId}`
    await this.store.copy(row.key, trashKey)
    const deletedAt = new Date()
    const purgeAfter = new Date(deletedAt.getTime() + this.options.trashRetentionDays * DAY_MS)
    let trashed: TrashRecord | undefined
    try {
      trashed = await this.ledger.markTrashed(row.key, { trashId, trashKey, deletedBy: actor, deletedAt, purgeAfter })
    } catch (err) {
      // Not recorded (disk full, database gone): the file stays live where it is, and the copy,
      // which no record names, goes.
      await this.store.delete(trashKey).catch((cause) => this.warn(cause, 'unrecorded trash copy not removed'))
      throw err
    }
    if (!trashed) {
      // Someone else deleted it first; drop our copy.
      await this.store.delete(trashKey)
      throw new NotFoundError('no live file at this key')
    }
    await this.store.delete(row.key)
    return trashed
  }

  /** Puts a trashed file back at its key, byte for byte (a server-side copy). */
  async restore(trashId: string): Promise<FileRecord> {
    const row = await this.trashEntry(trashId)
    // Hold the key while copying, so an upload cannot land between the check and the copy.
    try {
      await this.holdingKey(row, row.createdBy, 'restore', () => this.store.copy(row.trashKey!, row.key))
    } catch (err) {
      // The key was taken (a live file, or an upload) before the copy began: the restore's own 409.
      if (err instanceof ConflictError || err instanceof UploadInProgressError) throw new RestoreConflictError({ cause: err })
      throw err
    }
    const record = await this.ledger.markRestored(trashId)
    await this.store.delete(row.trashKey!).catch((cause) => this.warn(cause, 'trash copy not removed'))
    return record
  }

  /** Hard delete: the bytes go now, the ledger keeps that they existed. */
  async purge(trashId: string): Promise<void> {
    const row = await this.trashEntry(trashId)
    await this.store.delete(row.trashKey!)
    await this.ledger.markPurged(trashId)
  }

  /** Purges trash past its retention; returns what it purged (or would, with dryRun). */
  async purgeExpired(
    options: { now?: Date; dryRun?: boolean; actor?: string; onPurged?: (row: ObjectRow) => void } = {},
  ): Promise<ObjectRow[]> {
    const expired = await this.ledger.listExpiredTrash(options.now ?? new Date(), 10_000)
    if (options.dryRun) return expired
    for (const row of expired) {
      await this.purge(row.trashId!)
      await this.systemAudit('purge', row.key, { status: 200, bytes: row.size, sha256: row.sha256, actor: options.actor })
      options.onPurged?.(row)
    }
    return expired
  }

  /** A trash entry that still holds bytes, or 404. */
  async trashEntry(trashId: string): Promise<ObjectRow> {
    const row = await this.ledger.getTrash(trashId)
    if (!row || row.state !== 'trashed' || !row.trashKey) throw new TrashNotFoundError(trashId)
    return row
  }

  /** The size and type rules every upload obeys, whichever way its bytes arrive. */
  checkUpload(input: { size: number; contentType: string }): void {
    if (input.size > this.options.maxUploadBytes) throw new PayloadTooLargeError(this.options.maxUploadBytes)
    this.checkContentType(input.contentType)
  }

  /** When an unfinished resumable or multipart upload that makes progress now expires. */
  uploadExpiry(now = new Date()): Date {
    return new Date(now.getTime() + this.options.uploadExpirySeconds * 1000)
  }

  /** Reads an object back to hash it, for bytes that never passed through our meter. */
  async hashStored(key: string): Promise<string> {
    const meter = new UploadMeter(Number.MAX_SAFE_INTEGER)
    const { body } = await this.store.get(key)
    await new Promise<void>((resolve, reject) => pipeline(body, meter.resume(), (err) => (err ? reject(err) : resolve())))
    return meter.sha256()
  }

  /**
   * Settles uploads left pending by a crash. A streamed upload that no request of this process
   * is running is an orphan; a direct browser upload is given until its URL has expired. If the
   * object is in the store with its sha256 tag, streaming finished, so it is committed; anything
   * else is marked failed and its leftovers (object, multipart parts) removed.
   */
  async recoverPending(options: StaleRule & { now?: Date }): Promise<{ committed: string[]; failed: string[] }> {
    const now = options.now ?? new Date()
    const committed: string[] = []
    const failed: string[] = []
    const alive = new Map<string, boolean>()
    for (const row of await this.ledger.listStalePending(now)) {
      if (!(await this.isAbandoned(row, now, options, alive))) continue
      if (row.kind !== 'stream') {
        const outcome = await this.settleUpload(row)
        if (outcome === 'committed') committed.push(row.key)
        else if (outcome === 'failed') failed.push(row.key)
        continue
      }
      // A hold (delete, restore) never becomes a file, whatever the store holds at its key.
      const verified = isHold(row) || (await this.ledger.getLive(row.key)) ? undefined : await this.verifyStored(row.key)
      if (verified) {
        const record = await this.ledger.commit(row.id, verified)
        await this.systemAudit('upload', row.key, { status: 201, bytes: record.size, sha256: record.sha256 })
        committed.push(row.key)
        continue
      }
      await this.ledger.fail(row.id, 'interrupted: found incomplete after a restart')
      if (!isHold(row)) await this.systemAudit('upload', row.key, { status: 500, errorCode: 'FST_SPACES_INTERRUPTED' })
      failed.push(row.key)
      if (!(await this.ledger.getLive(row.key))) await this.store.delete(row.key)
      for (const upload of await this.store.listIncompleteUploads(row.key)) {
        if (upload.key === row.key) await this.store.abortIncompleteUpload(upload)
      }
    }
    // Staged bytes nothing claims (a presigned PUT replayed after its upload was settled) are never a file.
    for (const key of await orphanStaging(this, now, options.directGraceSeconds)) {
      await this.store.delete(key)
      this.log.info({ staged: 1 }, 'removed a staged object no upload claims')
    }
    return { committed, failed }
  }

  /**
   * Whether nobody is working on a pending upload any more: not streamed by this process, not
   * owned by another instance whose lease lives, not before its own expiry, and old enough by
   * the rule. `alive` caches lease look-ups over one pass.
   */
  async isAbandoned(row: ObjectRow, now: Date, rule: StaleRule, alive = new Map<string, boolean>()): Promise<boolean> {
    if (this.inflight.has(row.id)) return false
    if (row.owner !== null && row.owner !== this.instanceId) {
      let lives = alive.get(row.owner)
      if (lives === undefined) {
        lives = (await this.ledger.leaseHolder(instanceLease(row.owner))) !== undefined
        alive.set(row.owner, lives)
      }
      if (lives) return false
    }
    if (row.expiresAt !== null && Date.parse(row.expiresAt) > now.getTime()) return false
    return isAbandoned(row, now, rule)
  }

  /** Uploads completed by a later call, past their expiry: finished when their bytes are all there, else removed. */
  private async settleUpload(row: ObjectRow): Promise<'committed' | 'failed' | 'busy'> {
    try {
      if (row.kind === 'direct') return await this.direct.settle(row)
      if (row.kind === 'multipart') return await this.multipart.settle(row)
      return await this.resumable.settle(row)
    } catch (err) {
      // The store or ledger failed: leave it for the next sweep.
      this.warn(err, 'settling an expired upload failed; the next sweep tries again')
      return 'busy'
    }
  }

  /** Whether a failed upload of this process left something for the sweep to finish. */
  hasLeftovers(): boolean {
    return this.leftovers.uploads.size + this.leftovers.objects.size + this.leftovers.restores.size > 0
  }

  /**
   * Cleans up after uploads the store was unreachable to undo, and after crashes: aborts
   * incomplete multipart uploads no pending upload owns (those this process left at once, others
   * once older than `olderThanSeconds`), deletes staged objects a failed upload left at keys no
   * live or pending row holds, and puts back files a failed overwrite had moved to trash.
   * `suspectsOnly` looks for multipart uploads only at the keys of this process's failed uploads.
   */
  async removeLeftovers(options: { olderThanSeconds: number; suspectsOnly?: boolean; now?: Date }): Promise<Leftovers> {
    const removed: Leftovers = { aborted: [], deleted: [], restored: [] }
    const suspects = new Set(this.leftovers.uploads)
    for (const upload of await findOrphanedUploads(this.store, this.ledger, { ...options, suspects })) {
      try {
        await this.store.abortIncompleteUpload(upload)
        removed.aborted.push(upload)
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err
      }
    }
    // Every suspect was looked at: one still owned by an upload is that upload's business.
    for (const key of suspects) this.leftovers.uploads.delete(key)
    for (const key of [...this.leftovers.objects]) {
      try {
        // Held, so no upload can land at the key between the look and the delete.
        await this.holdingKey(this.parseKey(key), 'system', 'delete', async (live) => {
          if (!live) {
            await this.store.delete(key)
            removed.deleted.push(key)
          }
        })
      } catch (err) {
        // An upload to the key is running: its own outcome decides what the key holds; look again next time.
        if (err instanceof UploadInProgressError) continue
        throw err
      }
      this.leftovers.objects.delete(key)
    }
    for (const trashId of [...this.leftovers.restores]) {
      try {
        removed.restored.push((await this.restore(trashId)).key)
      } catch (err) {
        // A new file took the key meanwhile, or the entry is gone: it stays in trash, recoverable.
        if (!(err instanceof RestoreConflictError || err instanceof TrashNotFoundError)) throw err
      }
      this.leftovers.restores.delete(trashId)
    }
    return removed
  }

  /** Audit events for work no request asked for (sweeps, recovery, CLI). */
  async systemAudit(
    action: AuditAction,
    key: string,
    extra: { status: number; errorCode?: string; bytes?: number; sha256?: string; actor?: string },
  ): Promise<void> {
    await this.ledger.appendAudit({
      actor: extra.actor ?? 'system',
      org: key.startsWith(TRASH_PREFIX) ? null : (key.split('/')[0] ?? null),
      roles: [],
      ip: null,
      userAgent: null,
      requestId: null,
      action,
      key,
      result: extra.status < 400 ? 'ok' : 'error',
      status: extra.status,
      errorCode: extra.errorCode ?? null,
      bytes: extra.bytes ?? null,
      sha256: extra.sha256 ?? null,
      ttl: null,
    })
  }

  private async verifyStored(key: string) {
    const info = await this.store.head(key)
    if (!info) return undefined
    const { sha256 } = await this.store.getTags(key)
    if (!sha256) return undefined
    return { size: info.size, sha256, etag: info.etag, contentType: info.contentType }
  }

  warnOf(cause: unknown, msg: string): void {
    this.warn(cause, msg)
  }

  private warn(cause: unknown, msg: string): void {
    this.log.warn({ err: cause }, msg)
  }
}

/** What `removeLeftovers` cleaned up. */
export interface Leftovers {
  aborted: IncompleteUpload[]
  deleted: string[]
  /** Keys whose displaced file came back from trash. */
  restored: string[]
}

/** When a pending upload no request of this process is running counts as abandoned. */
export interface StaleRule {
  /**
   * Age after which a streamed upload is abandoned: 0 for the sidecar itself (it knows what it is
   * streaming); another process (the CLI) must allow for the longest request a sidecar may serve.
   */
  staleAfterSeconds?: number
  /** A direct browser upload may still be under way until its presigned URL has expired. */
  directGraceSeconds: number
}

export function isAbandoned(row: ObjectRow, now: Date, rule: StaleRule): boolean {
  const streamed = rule.staleAfterSeconds ?? 0
  // Uploads that outlive a request carry their own expiry (renewed as they make progress); a
  // presigned URL may still be used up to its expiry, plus the grace for clock skew.
  if (row.kind !== 'stream' && row.expiresAt !== null) {
    const graceSeconds = row.kind === 'direct' ? rule.directGraceSeconds : 0
    return now.getTime() >= Date.parse(row.expiresAt) + graceSeconds * 1000
  }
  const ageSeconds = (now.getTime() - Date.parse(row.createdAt)) / 1000
  return ageSeconds >= (row.expectedSize === null ? streamed : Math.max(streamed, rule.directGraceSeconds))
}

export function toRecord(row: FileRecord): FileRecord {
  const { key, size, sha256, etag, contentType, createdAt, createdBy } = row
  return { key, size, sha256, etag, contentType, createdAt, createdBy }
}

/**
 * Leftovers kept for the sweep are bounded: with the sweep turned off nothing empties them. Past
 * the bound, a multipart upload waits for the age rule (`orphanedUploadSeconds`), `reconcile`
 * reports a stray object, and a displaced file stays restorable in trash.
 */
const MAX_LEFTOVERS = 10_000

function remember(set: Set<string>, value: string): void {
  if (set.size < MAX_LEFTOVERS) set.add(value)
}
