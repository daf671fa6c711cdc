// The storage service: the object store and the ledger kept in step. Routes, the CLI and host
// apps all go through here, so every path follows the same upload lifecycle and trash rules.
import { randomUUID } from 'node:crypto'
import { pipeline, type Readable } from 'node:stream'
import type { ByteRange, GetResult, ObjectStore } from './drivers/types.js'
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
  TrashNotFoundError,
  UnsupportedTypeError,
} from './errors.js'
import { TRASH_PREFIX, parseKey, type KeyParts } from './keys.js'
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

  checkContentType(contentType: string): void {
    const allowed = this.options.allowedContentTypes
    if (!allowed) return
    const type = contentType.split(';')[0]!.trim().toLowerCase()
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
    return this.uploadStream(input as UploadInput)
  }

  private async uploadStream(input: UploadInput): Promise<FileRecord> {
    const parts = this.parseKey(input.key)
    this.checkContentType(input.contentType)
    const reservation = await this.ledger.reserve({
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
      if (reservation.replaces) replaced = await this.moveToTrash(reservation.replaces, input.actor)
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
      await this.store.setTags(parts.key, { sha256 })
      return await this.ledger.commit(reservation.id, { size: meter.bytes, sha256, etag: info.etag })
    } catch (err) {
      // And the other way round: a failed store releases the caller's stream instead of leaving it paused.
      meter.destroy()
      await this.ledger
        .fail(reservation.id, (err as Error).message ?? 'upload failed')
        .catch((cause) => this.warn(cause, 'marking the upload failed did not work; the sweep will settle it'))
      if (stored) {
        // A commit whose answer was lost (the connection dropped after COMMIT) may have happened:
        // the bytes go only once the ledger says the row is not live. If it cannot say, they stay,
        // and the sweep settles the row from what the store holds.
        const row = await this.ledger.getById(reservation.id).catch(() => undefined)
        if (row?.state === 'live') return toRecord(row)
        if (row !== undefined) await this.store.delete(parts.key).catch((cause) => this.warn(cause, 'cleanup delete failed'))
      }
      if (replaced) {
        await this.restore(replaced.trashId).catch((cause) => this.warn(cause, 'restoring the replaced file failed'))
      }
      throw err
    } finally {
      this.inflight.delete(reservation.id)
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

  async softDelete(key: string, actor: string): Promise<TrashRecord> {
    const row = await this.ledger.getLive(key)
    if (!row) throw new NotFoundError('no live file at this key')
    return this.moveToTrash(row, actor)
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
    let hold
    try {
      hold = await this.ledger.reserve({
        key: row.key,
        parts: row,
        contentType: row.contentType,
        actor: row.createdBy,
        overwrite: false,
        owner: this.instanceId,
      })
    } catch (err) {
      throw new RestoreConflictError({ cause: err })
    }
    this.inflight.add(hold.id)
    try {
      await this.store.copy(row.trashKey!, row.key)
    } finally {
      await this.ledger.fail(hold.id, 'restore hold released')
      this.inflight.delete(hold.id)
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
      const verified = (await this.ledger.getLive(row.key)) ? undefined : await this.verifyStored(row.key)
      if (verified) {
        const record = await this.ledger.commit(row.id, verified)
        await this.systemAudit('upload', row.key, { status: 201, bytes: record.size, sha256: record.sha256 })
        committed.push(row.key)
        continue
      }
      await this.ledger.fail(row.id, 'interrupted: found incomplete after a restart')
      await this.systemAudit('upload', row.key, { status: 500, errorCode: 'FST_SPACES_INTERRUPTED' })
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

