// The ledger contract: which files exist (live, pending, trashed), the uploads in flight, and the
// append-only audit trail. Every method is asynchronous, so a network database can implement it as
// well as the embedded SQLite file. The rules that must hold across processes and instances
// (one live file and one upload in flight per key) are enforced by the database, not the caller.
import type { KeyParts } from '../keys.js'

/** What the API returns for a stored file. */
export interface FileRecord {
  key: string
  size: number
  sha256: string
  etag: string
  contentType: string
  createdAt: string
  createdBy: string
}

export type ObjectState = 'pending' | 'live' | 'trashed' | 'failed' | 'purged'

/**
 * How an upload's bytes arrive: streamed through this process, a presigned PUT from a browser,
 * tus (resumable, through any instance), or a presigned S3 multipart upload.
 */
export type UploadKind = 'stream' | 'direct' | 'tus' | 'multipart'

export interface ObjectRow extends FileRecord, KeyParts {
  id: string
  state: ObjectState
  deletedAt: string | null
  deletedBy: string | null
  trashId: string | null
  /** Where the trashed bytes live in the store. */
  trashKey: string | null
  purgeAfter: string | null
  failReason: string | null
  /** Set on pending rows of direct browser uploads: the size the client promised. */
  expectedSize: number | null
  kind: UploadKind
  /** The instance that streams a pending upload; its lease says whether it is still alive. */
  owner: string | null
  /** The store's multipart upload id (tus and presigned multipart uploads). */
  uploadId: string | null
  /** Where the bytes land before completion moves them to `key`, outside the live layout. */
  stagingKey: string | null
  /** When an unfinished upload is given up and cleaned away. */
  expiresAt: string | null
  /** Bytes received so far (resumable uploads). */
  uploadOffset: number | null
  /** What a resumable upload needs to carry on elsewhere (parts, hash state): opaque JSON. */
  progress: string | null
  /** The client's Idempotency-Key for the request that made this row. */
  idempotencyKey: string | null
}

export interface TrashRecord extends FileRecord {
  trashId: string
  deletedAt: string
  deletedBy: string
  purgeAfter: string
}

export interface ReserveInput {
  key: string
  parts: KeyParts
  contentType: string
  actor: string
  /** Allows a new upload while a live file holds the key; that file must then go to trash. */
  overwrite: boolean
  /** For direct browser uploads: the size the client promised, checked on completion. */
  expectedSize?: number
  /** Default 'stream'. */
  kind?: UploadKind
  owner?: string
  uploadId?: string
  stagingKey?: string
  expiresAt?: Date
  idempotencyKey?: string
  /** Resumable uploads start at 0 with their own progress record. */
  uploadOffset?: number
  progress?: string
}

/** A change to a pending upload's progress. */
export interface UploadUpdate {
  /**
   * Applied only while the stored offset still equals this (compare-and-set): two instances
   * resuming one upload cannot both advance it.
   */
  expectedOffset?: number
  uploadOffset?: number
  progress?: string | null
  uploadId?: string | null
  stagingKey?: string | null
  expiresAt?: Date | null
  owner?: string | null
  expectedSize?: number | null
  contentType?: string
}

export interface Reservation {
  /** Identifies the pending row. */
  id: string
  /** The live row this upload replaces (only with overwrite). The caller moves it to trash. */
  replaces?: ObjectRow
}

export interface CommitInput {
  size: number
  sha256: string
  etag: string
  contentType?: string
}

export interface TrashInput {
  trashId: string
  trashKey: string
  deletedBy: string
  deletedAt: Date
  purgeAfter: Date
}

export interface PageRequest {
  limit: number
  cursor?: string
}

export interface Page<T> {
  items: T[]
  nextCursor?: string
}

export interface FileFilter {
  orgId: string
  system?: string
  objectType?: string
  objectId?: string
}

export const AUDIT_ACTIONS = [
  'upload',
  'download',
  'head',
  'list',
  'sign',
  'soft_delete',
  'restore',
  'purge',
  'upload_complete',
  // Reads of the trail itself and of usage are audited too, allowed or denied (HIPAA 164.312(b)).
  'audit_read',
  'audit_verify',
  'usage_read',
] as const

export type AuditAction = (typeof AUDIT_ACTIONS)[number]

export type AuditResult = 'ok' | 'denied' | 'error'

/** What a caller gives; the ledger adds id, seq, ts, prevHash and hash. */
export interface AuditInput {
  actor: string | null
  org: string | null
  roles: string[]
  ip: string | null
  userAgent: string | null
  requestId: string | null
  action: AuditAction
  key: string | null
  result: AuditResult
  status: number
  errorCode: string | null
  bytes: number | null
  sha256: string | null
  /** Seconds a signed URL lives, for `sign`. */
  ttl: number | null
}

export interface AuditEvent extends AuditInput {
  id: string
  seq: number
  /** ISO-8601 UTC with milliseconds. */
  ts: string
  prevHash: string
  hash: string
}

export interface AuditFilter {
  orgId?: string
  key?: string
  actor?: string
  action?: AuditAction
  result?: AuditResult
  since?: string
  until?: string
}

export interface VerifyOptions {
  /**
   * Walk only what was appended since the last verified checkpoint (re-checking the checkpointed
   * event itself). Default false: the whole chain from the genesis.
   */
  fromCheckpoint?: boolean
}

export interface AuditVerification {
  ok: boolean
  events: number
  /** Hash of the last event, or the genesis hash for an empty chain. */
  head: string
  /** The first event whose hash or link does not hold. */
  brokenAt?: { seq: number; id: string; reason: string }
}

export interface Usage {
  orgId: string
  objects: number
  bytes: number
  bySystem: Record<string, { objects: number; bytes: number }>
  trash: { objects: number; bytes: number }
  estimatedMonthlyCostUsd: number
}

export interface Ledger {
  /**
   * Reserves `key` for an upload: a pending row. Throws UploadInProgressError when another upload
   * holds the key, ConflictError when a live file does (unless `overwrite`).
   */
  reserve(input: ReserveInput): Promise<Reservation>
  /** Makes a pending upload the live file. Durable when it resolves. */
  commit(id: string, input: CommitInput): Promise<FileRecord>
  /** Marks a pending upload failed; it then claims nothing. */
  fail(id: string, reason: string): Promise<void>
  getLive(key: string): Promise<ObjectRow | undefined>
  /** The pending (reserved, not yet committed) row for a key. */
  getPending(key: string): Promise<ObjectRow | undefined>
  /** A row by its id, in whatever state it is. */
  getById(id: string): Promise<ObjectRow | undefined>
  /** Updates a pending upload; false when it is no longer pending or its offset moved on. */
  updateUpload(id: string, update: UploadUpdate): Promise<boolean>
  /** The newest row the actor made with this Idempotency-Key, in whatever state it is. */
  findByIdempotencyKey(actor: string, idempotencyKey: string): Promise<ObjectRow | undefined>
  listLive(filter: FileFilter, page: PageRequest): Promise<Page<FileRecord>>
  /** Moves the live row for `key` to trash. Returns undefined when no live row holds it. */
  markTrashed(key: string, input: TrashInput): Promise<TrashRecord | undefined>
  /** The row a trash id names, trashed or already purged. */
  getTrash(trashId: string): Promise<ObjectRow | undefined>
  listTrash(orgId: string, page: PageRequest): Promise<Page<TrashRecord>>
  /** Makes a trashed row live again; throws RestoreConflictError if a live row holds the key. */
  markRestored(trashId: string): Promise<FileRecord>
  markPurged(trashId: string): Promise<void>
  /** Trash rows whose purgeAfter is before `now`. */
  listExpiredTrash(now: Date, limit: number): Promise<ObjectRow[]>
  /** Pending rows created before `olderThan` (left by a crash, or abandoned by their client). */
  listStalePending(olderThan: Date): Promise<ObjectRow[]>
  /** Every key the ledger says is in the store (live, pending and trashed), for reconcile. */
  listStoredKeys(): Promise<Array<{ key: string; state: ObjectState; id: string }>>

  /**
   * Leases: a named claim that lapses unless renewed. Instances hold `instance:{id}` while they
   * live (so others leave their uploads alone), and one instance at a time holds a job's lease.
   * Resolves true when `holder` now holds it (new, renewed, or taken over after it lapsed).
   */
  acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean>
  releaseLease(name: string, holder: string): Promise<void>
  /** Who holds a lease that has not lapsed. */
  leaseHolder(name: string): Promise<string | undefined>

  /**
   * Appends to the hash chain; resolves once the event is durable. Appends made together are
   * committed together (group commit), so callers should not serialise them.
   */
  appendAudit(input: AuditInput): Promise<AuditEvent>
  queryAudit(filter: AuditFilter, page: PageRequest): Promise<Page<AuditEvent>>
  /** Walks the chain in chunks, yielding to the event loop between them; records a checkpoint. */
  verifyAudit(options?: VerifyOptions): Promise<AuditVerification>
  usage(orgId: string): Promise<Usage>
  /** Rejects unless the ledger can write (used by /ready). */
  checkWritable(): Promise<void>
  /** Waits for appends in flight, then closes the connections. */
  close(): Promise<void>
}
