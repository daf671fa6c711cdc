// The ledger contract: which files exist (live, pending, trashed) and the append-only audit trail.
// SqliteLedger implements it; a server-grade database can implement the same interface later.
// Calls are synchronous on purpose: SQLite answers in microseconds, and a synchronous reserve is
// what makes "exactly one of N concurrent uploads wins" hold inside one process.
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
  since?: string
  until?: string
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
  reserve(input: ReserveInput): Reservation
  commit(id: string, input: CommitInput): FileRecord
  /** Marks a pending upload failed; it then claims nothing. */
  fail(id: string, reason: string): void
  getLive(key: string): ObjectRow | undefined
  /** The pending (reserved, not yet committed) row for a key. */
  getPending(key: string): ObjectRow | undefined
  listLive(filter: FileFilter, page: PageRequest): Page<FileRecord>
  /** Moves the live row for `key` to trash. Returns undefined when no live row holds it. */
  markTrashed(key: string, input: TrashInput): TrashRecord | undefined
  /** The row a trash id names, trashed or already purged. */
  getTrash(trashId: string): ObjectRow | undefined
  listTrash(orgId: string, page: PageRequest): Page<TrashRecord>
  /** Makes a trashed row live again; throws RestoreConflictError if a live row holds the key. */
  markRestored(trashId: string): FileRecord
  markPurged(trashId: string): void
  /** Trash rows whose purgeAfter is before `now`. */
  listExpiredTrash(now: Date, limit: number): ObjectRow[]
  /** Pending rows created before `olderThan` (left by a crash). */
  listStalePending(olderThan: Date): ObjectRow[]
  /** Every key the ledger says is in the store (live, pending and trashed), for reconcile. */
  listStoredKeys(): Array<{ key: string; state: ObjectState; id: string }>

  appendAudit(input: AuditInput): AuditEvent
  queryAudit(filter: AuditFilter, page: PageRequest): Page<AuditEvent>
  verifyAudit(): AuditVerification
  usage(orgId: string): Usage
  /** Throws unless the ledger can write (used by /ready). */
  checkWritable(): void
  close(): void
}
