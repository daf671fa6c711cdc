// The ledger on SQLite (better-sqlite3): one file, WAL, shared safely by the sidecar and the CLI.
// Every state change that must be exclusive runs in a BEGIN IMMEDIATE transaction, and the
// partial unique indexes back that up, so the rules hold across processes, not just in this one.
import { randomUUID } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import type { Database as DatabaseHandle, Statement } from 'better-sqlite3'
import {
  ConflictError,
  LedgerError,
  RestoreConflictError,
  TrashNotFoundError,
  UploadInProgressError,
} from '../errors.js'
import { decodeCursor, isString, isStringPair, pageLimit, toPage } from './cursor.js'
import { applyMigrations } from './migrations.js'
import { AuditLog } from './sqlite-audit.js'
import type {
  AuditEvent,
  AuditFilter,
  AuditInput,
  AuditVerification,
  CommitInput,
  FileFilter,
  FileRecord,
  Ledger,
  ObjectRow,
  ObjectState,
  Page,
  PageRequest,
  Reservation,
  ReserveInput,
  TrashInput,
  TrashRecord,
  Usage,
} from './types.js'

export interface SqliteLedgerOptions {
  /** The database file; its directory is created if missing. ':memory:' for tests. */
  path: string
}

/** Spaces pricing: $5 per 250 GiB-month, charged pro rata here. */
const USD_PER_BYTE_MONTH = 5 / (250 * 1024 ** 3)

/** Row columns renamed to ObjectRow fields. */
const OBJECT_COLUMNS = `id, key, org_id AS orgId, system, object_type AS objectType, object_id AS objectId,
  filename, state, size, sha256, etag, content_type AS contentType, created_at AS createdAt,
  created_by AS createdBy, deleted_at AS deletedAt, deleted_by AS deletedBy, trash_id AS trashId,
  trash_key AS trashKey, purge_after AS purgeAfter, fail_reason AS failReason, expected_size AS expectedSize`

/** As stored: size, sha256 and etag stay NULL until an upload is committed. */
type StoredRow = Omit<ObjectRow, 'size' | 'sha256' | 'etag'> & {
  size: number | null
  sha256: string | null
  etag: string | null
}

/** Every statement the object half uses, prepared once at open. */
function prepareStatements(db: DatabaseHandle) {
  const select = (where: string): Statement => db.prepare(`SELECT ${OBJECT_COLUMNS} FROM objects WHERE ${where}`)
  return {
    liveByKey: select(`key = ? AND state = 'live'`),
    pendingByKey: select(`key = ? AND state = 'pending'`),
    trashById: select(`trash_id = ?`),
    insertPending: db.prepare(`INSERT INTO objects (id, key, org_id, system, object_type, object_id, filename,
      state, expected_size, content_type, created_at, created_by, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)`),
    // created_at moves to the commit: a record's createdAt is when the file became available.
    commit: db.prepare(`UPDATE objects SET state = 'live', size = ?, sha256 = ?, etag = ?,
      content_type = coalesce(?, content_type), created_at = ?, updated_at = ?
      WHERE id = ? AND state = 'pending' RETURNING ${OBJECT_COLUMNS}`),
    fail: db.prepare(`UPDATE objects SET state = 'failed', fail_reason = ?, updated_at = ?
      WHERE id = ? AND state = 'pending'`),
    trash: db.prepare(`UPDATE objects SET state = 'trashed', trash_id = ?, trash_key = ?, deleted_by = ?,
      deleted_at = ?, purge_after = ?, updated_at = ? WHERE key = ? AND state = 'live' RETURNING ${OBJECT_COLUMNS}`),
    // The trash fields are cleared so the row reads as the live file it is again.
    restore: db.prepare(`UPDATE objects SET state = 'live', trash_id = NULL, trash_key = NULL, deleted_by = NULL,
      deleted_at = NULL, purge_after = NULL, updated_at = ? WHERE id = ? RETURNING ${OBJECT_COLUMNS}`),
    purge: db.prepare(`UPDATE objects SET state = 'purged', updated_at = ? WHERE trash_id = ? AND state = 'trashed'`),
    expiredTrash: select(`state = 'trashed' AND purge_after < ? ORDER BY purge_after LIMIT ?`),
    stalePending: select(`state = 'pending' AND created_at < ? ORDER BY created_at`),
    storedKeys: db.prepare(`SELECT CASE WHEN state = 'trashed' THEN trash_key ELSE key END AS key, state, id
      FROM objects WHERE state IN ('pending', 'live', 'trashed') ORDER BY 1`),
    // The key range walks objects_live_key in key order; the equalities keep the result exact.
    listLive: select(`state = 'live' AND key >= @from AND key < @to AND key > @after
      AND (@system IS NULL OR system = @system) AND (@objectType IS NULL OR object_type = @objectType)
      AND (@objectId IS NULL OR object_id = @objectId) ORDER BY key LIMIT @limit`),
    listTrash: select(`state = 'trashed' AND org_id = ? AND (deleted_at, trash_id) < (?, ?)
      ORDER BY deleted_at DESC, trash_id DESC LIMIT ?`),
    usageLive: db.prepare(`SELECT system, count(*) AS objects, coalesce(sum(size), 0) AS bytes FROM objects
      WHERE org_id = ? AND state = 'live' GROUP BY system ORDER BY system`),
    usageTrash: db.prepare(`SELECT count(*) AS objects, coalesce(sum(size), 0) AS bytes FROM objects
      WHERE org_id = ? AND state = 'trashed'`),
    health: db.prepare(`INSERT INTO health (id, checked_at) VALUES (1, ?)
      ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`),
  }
}

type Statements = ReturnType<typeof prepareStatements>

export class SqliteLedger implements Ledger {
  private readonly audit: AuditLog
  private readonly stmt: Statements
  private readonly reserveTx: (input: ReserveInput) => Reservation
  private readonly restoreTx: (trashId: string) => FileRecord

  static open(options: SqliteLedgerOptions): SqliteLedger {
    try {
      if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true })
      const db = new Database(options.path, { timeout: 5000 })
      try {
        return new SqliteLedger(db)
      } catch (err) {
        db.close()
        throw err
      }
    } catch (err) {
      throw new LedgerError(`cannot open ${options.path}: ${(err as Error).message}`, { cause: err })
    }
  }

  private constructor(private readonly db: DatabaseHandle) {
    db.pragma('busy_timeout = 5000')
    db.pragma('journal_mode = WAL')
    // NORMAL in WAL mode: a commit survives a process crash; only an OS crash or power cut can
    // lose the last transactions, and never corrupts the file.
    db.pragma('synchronous = NORMAL')
    db.pragma('foreign_keys = ON')
    applyMigrations(db)

    this.stmt = prepareStatements(db)
    this.audit = new AuditLog(db)
    const reserve = db.transaction((input: ReserveInput) => this.reserveLocked(input))
    this.reserveTx = (input) => reserve.immediate(input)
    const restore = db.transaction((trashId: string) => this.restoreLocked(trashId))
    this.restoreTx = (trashId) => restore.immediate(trashId)
  }

  reserve(input: ReserveInput): Reservation {
    return this.guard(() => this.reserveTx(input))
  }

  private reserveLocked(input: ReserveInput): Reservation {
    const { key, parts } = input
    // listLive finds files by key prefix, so a key must be exactly its parts joined.
    if (key !== `${parts.orgId}/${parts.system}/${parts.objectType}/${parts.objectId}/${parts.filename}`) {
      throw new TypeError('reserve: key does not match its parts')
    }
    if (this.stmt.pendingByKey.get(key) !== undefined) throw new UploadInProgressError()
    const live = this.stmt.liveByKey.get(key) as StoredRow | undefined
    if (live !== undefined && !input.overwrite) throw new ConflictError()
    const id = randomUUID()
    const now = new Date().toISOString()
    this.stmt.insertPending.run(id, key, parts.orgId, parts.system, parts.objectType, parts.objectId,
      parts.filename, input.expectedSize ?? null, input.contentType, now, input.actor, now)
    return live === undefined ? { id } : { id, replaces: toObjectRow(live) }
  }

  commit(id: string, input: CommitInput): FileRecord {
    return this.guard(() => {
      const now = new Date().toISOString()
      let row: StoredRow | undefined
      try {
        row = this.stmt.commit.get(input.size, input.sha256, input.etag, input.contentType ?? null, now, now, id) as
          StoredRow | undefined
      } catch (err) {
        if ((err as { code?: string }).code !== 'SQLITE_CONSTRAINT_UNIQUE') throw err
        throw new LedgerError(`commit ${id}: a live file still holds its key; move it to trash first`, { cause: err })
      }
      if (row === undefined) throw new LedgerError(`commit ${id}: no pending upload with this id`)
      return toFileRecord(row)
    })
  }

  fail(id: string, reason: string): void {
    this.guard(() => this.stmt.fail.run(reason, new Date().toISOString(), id))
  }

  getLive(key: string): ObjectRow | undefined {
    return this.guard(() => optionalRow(this.stmt.liveByKey.get(key)))
  }

  getPending(key: string): ObjectRow | undefined {
    return this.guard(() => optionalRow(this.stmt.pendingByKey.get(key)))
  }

  listLive(filter: FileFilter, page: PageRequest): Page<FileRecord> {
    return this.guard(() => {
      const limit = pageLimit(page.limit)
      // The longest run of given segments from the org down is a key prefix; '0' follows '/' in
      // byte order, so [prefix, prefix with its last '/' as '0') holds exactly the keys under it.
      const segments = [filter.orgId, filter.system, filter.objectType, filter.objectId]
      const run = segments.findIndex((s) => s === undefined)
      const prefix = `${segments.slice(0, run === -1 ? 4 : run).join('/')}/`
      const after = page.cursor === undefined ? '' : decodeCursor(page.cursor, isString)
      const rows = this.stmt.listLive.all({
        from: prefix,
        to: `${prefix.slice(0, -1)}0`,
        after,
        system: filter.system ?? null,
        objectType: filter.objectType ?? null,
        objectId: filter.objectId ?? null,
        limit: limit + 1,
      }) as StoredRow[]
      return toPage(rows, limit, toFileRecord, (row) => row.key)
    })
  }

  markTrashed(key: string, input: TrashInput): TrashRecord | undefined {
    return this.guard(() => {
      const row = this.stmt.trash.get(input.trashId, input.trashKey, input.deletedBy, input.deletedAt.toISOString(),
        input.purgeAfter.toISOString(), new Date().toISOString(), key) as StoredRow | undefined
      return row === undefined ? undefined : toTrashRecord(row)
    })
  }

  getTrash(trashId: string): ObjectRow | undefined {
    return this.guard(() => optionalRow(this.stmt.trashById.get(trashId)))
  }

  listTrash(orgId: string, page: PageRequest): Page<TrashRecord> {
    return this.guard(() => {
      const limit = pageLimit(page.limit)
      // '~' sorts after every ISO timestamp, so the first page starts above all rows.
      const [deletedAt, trashId] = page.cursor === undefined ? ['~', ''] : decodeCursor(page.cursor, isStringPair)
      const rows = this.stmt.listTrash.all(orgId, deletedAt, trashId, limit + 1) as StoredRow[]
      return toPage(rows, limit, toTrashRecord, (row) => [row.deletedAt, row.trashId])
    })
  }

  markRestored(trashId: string): FileRecord {
    return this.guard(() => this.restoreTx(trashId))
  }

  private restoreLocked(trashId: string): FileRecord {
    const trashed = this.stmt.trashById.get(trashId) as StoredRow | undefined
    if (trashed === undefined) throw new TrashNotFoundError(trashId)
    if (this.stmt.liveByKey.get(trashed.key) !== undefined || this.stmt.pendingByKey.get(trashed.key) !== undefined) {
      throw new RestoreConflictError()
    }
    return toFileRecord(this.stmt.restore.get(new Date().toISOString(), trashed.id) as StoredRow)
  }

  markPurged(trashId: string): void {
    this.guard(() => {
      if (this.stmt.purge.run(new Date().toISOString(), trashId).changes === 0) throw new TrashNotFoundError(trashId)
    })
  }

  listExpiredTrash(now: Date, limit: number): ObjectRow[] {
    return this.guard(() => (this.stmt.expiredTrash.all(now.toISOString(), limit) as StoredRow[]).map(toObjectRow))
  }

  listStalePending(olderThan: Date): ObjectRow[] {
    return this.guard(() => (this.stmt.stalePending.all(olderThan.toISOString()) as StoredRow[]).map(toObjectRow))
  }

  listStoredKeys(): Array<{ key: string; state: ObjectState; id: string }> {
    return this.guard(() => this.stmt.storedKeys.all() as Array<{ key: string; state: ObjectState; id: string }>)
  }

  appendAudit(input: AuditInput): AuditEvent {
    return this.guard(() => this.audit.append(input))
  }

  queryAudit(filter: AuditFilter, page: PageRequest): Page<AuditEvent> {
    return this.guard(() => this.audit.query(filter, page))
  }

  verifyAudit(): AuditVerification {
    return this.guard(() => this.audit.verify())
  }

  usage(orgId: string): Usage {
    return this.guard(() => {
      const bySystem: Usage['bySystem'] = {}
      let objects = 0
      let bytes = 0
      for (const row of this.stmt.usageLive.all(orgId) as Array<{ system: string; objects: number; bytes: number }>) {
        bySystem[row.system] = { objects: row.objects, bytes: row.bytes }
        objects += row.objects
        bytes += row.bytes
      }
      const trash = this.stmt.usageTrash.get(orgId) as { objects: number; bytes: number }
      // Trashed bytes are still stored, so they are still billed.
      const cost = Math.round((bytes + trash.bytes) * USD_PER_BYTE_MONTH * 1e4) / 1e4
      return { orgId, objects, bytes, bySystem, trash, estimatedMonthlyCostUsd: cost }
    })
  }

  checkWritable(): void {
    // A single statement is its own transaction: it must take the write lock and write the WAL.
    this.guard(() => this.stmt.health.run(new Date().toISOString()))
  }

  close(): void {
    if (!this.db.open) return
    try {
      // Advisory (refreshes planner statistics); a busy file must not stop the close.
      this.db.pragma('optimize')
    } catch {}
    this.db.close()
  }

  /** SQLite failures (busy, disk full, I/O) become a retryable 503; the ledger's own errors pass. */
  private guard<T>(fn: () => T): T {
    try {
      return fn()
    } catch (err) {
      if (err instanceof Database.SqliteError) throw new LedgerError(err.code, { cause: err })
      throw err
    }
  }
}

function toObjectRow(row: StoredRow): ObjectRow {
  // A pending row has no size, hash or etag yet; the interface wants values, so they read as empty.
  return { ...row, size: row.size ?? 0, sha256: row.sha256 ?? '', etag: row.etag ?? '' }
}

function optionalRow(row: unknown): ObjectRow | undefined {
  return row === undefined ? undefined : toObjectRow(row as StoredRow)
}

function toFileRecord(row: StoredRow): FileRecord {
  return {
    key: row.key,
    size: row.size ?? 0,
    sha256: row.sha256 ?? '',
    etag: row.etag ?? '',
    contentType: row.contentType,
    createdAt: row.createdAt,
    createdBy: row.createdBy,
  }
}

function toTrashRecord(row: StoredRow): TrashRecord {
  return {
    ...toFileRecord(row),
    trashId: row.trashId ?? '',
    deletedAt: row.deletedAt ?? '',
    deletedBy: row.deletedBy ?? '',
    purgeAfter: row.purgeAfter ?? '',
  }
}
