// The ledger on SQLite (better-sqlite3): one file, WAL, shared safely by the sidecar and the CLI.
// better-sqlite3 is synchronous and answers in microseconds, so it sits under the async Ledger
// contract as it is: each method runs to completion before it resolves, which also keeps "one
// winner per key" exact inside a process. Every write runs in an explicit BEGIN IMMEDIATE
// transaction: its COMMIT is a statement of its own, so a failed commit (disk full, I/O error)
// throws instead of being lost, as it is when an autocommit UPDATE ... RETURNING has already
// handed back its row. The partial unique indexes back the rules up across processes.
import { randomUUID } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type BetterSqlite3 from 'better-sqlite3'
import type { Database as DatabaseHandle, Statement } from 'better-sqlite3'
import {
  ConflictError,
  LedgerError,
  RestoreConflictError,
  TrashNotFoundError,
  UploadInProgressError,
} from '../errors.js'
import { decodeCursor, isString, isStringPair, pageLimit, toPage } from './cursor.js'
import { loadDriver } from './driver.js'
import { applyMigrations } from './migrations.js'
import {
  OBJECT_COLUMNS,
  PENDING_COLUMNS,
  liveRange,
  optionalRow,
  pendingValues,
  toFileRecord,
  toObjectRow,
  toTrashRecord,
  toUsage,
  uploadUpdate,
  type StoredRow,
} from './rows.js'
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
  UploadUpdate,
  Usage,
  VerifyOptions,
} from './types.js'

type Driver = typeof BetterSqlite3

/** better-sqlite3, loaded the first time a SQLite ledger is opened. */
function driver(): Driver {
  return loadDriver<Driver>('SQLite', 'better-sqlite3', 'better-sqlite3@12')
}

export interface SqliteLedgerOptions {
  /** The database file; its directory is created if missing. ':memory:' for tests. */
  path: string
}

/** Every statement the object half uses, prepared once at open. */
function prepareStatements(db: DatabaseHandle) {
  const select = (where: string): Statement => db.prepare(`SELECT ${OBJECT_COLUMNS} FROM objects WHERE ${where}`)
  return {
    liveByKey: select(`key = ? AND state = 'live'`),
    pendingByKey: select(`key = ? AND state = 'pending'`),
    trashById: select(`trash_id = ?`),
    byId: select(`id = ?`),
    byIdempotencyKey: select(`created_by = ? AND idempotency_key = ? ORDER BY created_at DESC LIMIT 1`),
    insertPending: db.prepare(`INSERT INTO objects (${PENDING_COLUMNS.join(', ')})
      VALUES (${PENDING_COLUMNS.map(() => '?').join(', ')})`),
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
    // Taken when free, lapsed, or already ours; otherwise the upsert's WHERE leaves it alone.
    acquireLease: db.prepare(`INSERT INTO leases (name, holder, expires_at) VALUES (@name, @holder, @expiresAt)
      ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
      WHERE leases.holder = excluded.holder OR leases.expires_at <= @now`),
    releaseLease: db.prepare(`DELETE FROM leases WHERE name = ? AND holder = ?`),
    leaseHolder: db.prepare(`SELECT holder FROM leases WHERE name = ? AND expires_at > ?`),
  }
}

type Statements = ReturnType<typeof prepareStatements>

export class SqliteLedger implements Ledger {
  private readonly audit: AuditLog
  private readonly stmt: Statements
  private readonly reserveTx: (input: ReserveInput) => Reservation
  private readonly restoreTx: (trashId: string) => FileRecord
  /** Runs `fn` in BEGIN IMMEDIATE ... COMMIT: the commit's failure is the caller's failure. */
  private readonly writeTx: <T>(fn: () => T) => T

  static open(options: SqliteLedgerOptions): SqliteLedger {
    try {
      if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true })
      const Database = driver()
      const db = new Database(options.path, { timeout: 5000 })
      try {
        return new SqliteLedger(db)
      } catch (err) {
        db.close()
        throw err
      }
    } catch (err) {
      if ((err as { code?: string }).code === 'FST_SPACES_LEDGER_DRIVER_MISSING') throw err
      throw new LedgerError(`cannot open ${options.path}: ${(err as Error).message}`, { cause: err })
    }
  }

  private constructor(private readonly db: DatabaseHandle) {
    db.pragma('busy_timeout = 5000')
    db.pragma('journal_mode = WAL')
    // FULL: every commit is fsynced before it returns, so a record or an audit event that was
    // answered for survives a power cut too. Group commit keeps that affordable for audit events.
    db.pragma('synchronous = FULL')
    db.pragma('foreign_keys = ON')
    applyMigrations(db)

    this.stmt = prepareStatements(db)
    this.audit = new AuditLog(db, (fn) => this.guard(fn))
    const reserve = db.transaction((input: ReserveInput) => this.reserveLocked(input))
    this.reserveTx = (input) => reserve.immediate(input)
    const restore = db.transaction((trashId: string) => this.restoreLocked(trashId))
    this.restoreTx = (trashId) => restore.immediate(trashId)
    const write = db.transaction((fn: () => unknown) => fn())
    this.writeTx = <T>(fn: () => T) => write.immediate(fn) as T
  }

  async reserve(input: ReserveInput): Promise<Reservation> {
    return this.guard(() => this.reserveTx(input))
  }

  private reserveLocked(input: ReserveInput): Reservation {
    const id = randomUUID()
    const values = pendingValues(id, input, new Date().toISOString())
    if (this.stmt.pendingByKey.get(input.key) !== undefined) throw new UploadInProgressError()
    const live = this.stmt.liveByKey.get(input.key) as StoredRow | undefined
    if (live !== undefined && !input.overwrite) throw new ConflictError()
    this.stmt.insertPending.run(...values)
    return live === undefined ? { id } : { id, replaces: toObjectRow(live) }
  }

  async commit(id: string, input: CommitInput): Promise<FileRecord> {
    return this.guard(() => {
      const now = new Date().toISOString()
      let row: StoredRow | undefined
      try {
        row = this.writeTx(
          () =>
            this.stmt.commit.get(input.size, input.sha256, input.etag, input.contentType ?? null, now, now, id) as
              StoredRow | undefined,
        )
      } catch (err) {
        if ((err as { code?: string }).code !== 'SQLITE_CONSTRAINT_UNIQUE') throw err
        throw new LedgerError(`commit ${id}: a live file still holds its key; move it to trash first`, { cause: err })
      }
      if (row === undefined) throw new LedgerError(`commit ${id}: no pending upload with this id`)
      return toFileRecord(row)
    })
  }

  async fail(id: string, reason: string): Promise<void> {
    this.guard(() => this.writeTx(() => this.stmt.fail.run(reason, new Date().toISOString(), id)))
  }

  async getLive(key: string): Promise<ObjectRow | undefined> {
    return this.guard(() => optionalRow(this.stmt.liveByKey.get(key)))
  }

  async getPending(key: string): Promise<ObjectRow | undefined> {
    return this.guard(() => optionalRow(this.stmt.pendingByKey.get(key)))
  }

  async getById(id: string): Promise<ObjectRow | undefined> {
    return this.guard(() => optionalRow(this.stmt.byId.get(id)))
  }

  async updateUpload(id: string, update: UploadUpdate): Promise<boolean> {
    return this.guard(() => {
      const { sql, params } = uploadUpdate(id, update, new Date().toISOString(), () => '?')
      const statement = this.prepared(sql)
      return this.writeTx(() => statement.run(...params).changes) === 1
    })
  }

  async findByIdempotencyKey(actor: string, idempotencyKey: string): Promise<ObjectRow | undefined> {
    return this.guard(() => optionalRow(this.stmt.byIdempotencyKey.get(actor, idempotencyKey)))
  }

  async listLive(filter: FileFilter, page: PageRequest): Promise<Page<FileRecord>> {
    return this.guard(() => {
      const limit = pageLimit(page.limit)
      const after = page.cursor === undefined ? '' : decodeCursor(page.cursor, isString)
      const rows = this.stmt.listLive.all({
        ...liveRange(filter),
        after,
        system: filter.system ?? null,
        objectType: filter.objectType ?? null,
        objectId: filter.objectId ?? null,
        limit: limit + 1,
      }) as StoredRow[]
      return toPage(rows, limit, toFileRecord, (row) => row.key)
    })
  }

  async markTrashed(key: string, input: TrashInput): Promise<TrashRecord | undefined> {
    return this.guard(() => {
      const row = this.writeTx(
        () =>
          this.stmt.trash.get(input.trashId, input.trashKey, input.deletedBy, input.deletedAt.toISOString(),
            input.purgeAfter.toISOString(), new Date().toISOString(), key) as StoredRow | undefined,
      )
      return row === undefined ? undefined : toTrashRecord(row)
    })
  }

  async getTrash(trashId: string): Promise<ObjectRow | undefined> {
    return this.guard(() => optionalRow(this.stmt.trashById.get(trashId)))
  }

  async listTrash(orgId: string, page: PageRequest): Promise<Page<TrashRecord>> {
    return this.guard(() => {
      const limit = pageLimit(page.limit)
      // '~' sorts after every ISO timestamp, so the first page starts above all rows.
      const [deletedAt, trashId] = page.cursor === undefined ? ['~', ''] : decodeCursor(page.cursor, isStringPair)
      const rows = this.stmt.listTrash.all(orgId, deletedAt, trashId, limit + 1) as StoredRow[]
      return toPage(rows, limit, toTrashRecord, (row) => [row.deletedAt, row.trashId])
    })
  }

  async markRestored(trashId: string): Promise<FileRecord> {
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

  async markPurged(trashId: string): Promise<void> {
    this.guard(() => {
      const changes = this.writeTx(() => this.stmt.purge.run(new Date().toISOString(), trashId).changes)
      if (changes === 0) throw new TrashNotFoundError(trashId)
    })
  }

  async listExpiredTrash(now: Date, limit: number): Promise<ObjectRow[]> {
    return this.guard(() => (this.stmt.expiredTrash.all(now.toISOString(), limit) as StoredRow[]).map(toObjectRow))
  }

  async listStalePending(olderThan: Date): Promise<ObjectRow[]> {
    return this.guard(() => (this.stmt.stalePending.all(olderThan.toISOString()) as StoredRow[]).map(toObjectRow))
  }

  async listStoredKeys(): Promise<Array<{ key: string; state: ObjectState; id: string }>> {
    return this.guard(() => this.stmt.storedKeys.all() as Array<{ key: string; state: ObjectState; id: string }>)
  }

  async acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    return this.guard(() => {
      const now = Date.now()
      const changes = this.writeTx(
        () => this.stmt.acquireLease.run({ name, holder, expiresAt: now + ttlMs, now }).changes,
      )
      return changes === 1
    })
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    this.guard(() => this.writeTx(() => this.stmt.releaseLease.run(name, holder)))
  }

  async leaseHolder(name: string): Promise<string | undefined> {
    return this.guard(() => (this.stmt.leaseHolder.get(name, Date.now()) as { holder: string } | undefined)?.holder)
  }

  async appendAudit(input: AuditInput): Promise<AuditEvent> {
    return this.audit.append(input)
  }

  async queryAudit(filter: AuditFilter, page: PageRequest): Promise<Page<AuditEvent>> {
    return this.guard(() => this.audit.query(filter, page))
  }

  async verifyAudit(options?: VerifyOptions): Promise<AuditVerification> {
    return this.audit.verify(options)
  }

  async usage(orgId: string): Promise<Usage> {
    return this.guard(() =>
      toUsage(
        orgId,
        this.stmt.usageLive.all(orgId) as Array<{ system: string; objects: number; bytes: number }>,
        this.stmt.usageTrash.get(orgId) as { objects: number; bytes: number },
      ),
    )
  }

  async checkWritable(): Promise<void> {
    // A real write in its own transaction: it must take the write lock, write and commit.
    this.guard(() => this.writeTx(() => this.stmt.health.run(new Date().toISOString())))
  }

  async close(): Promise<void> {
    if (!this.db.open) return
    await this.audit.drain()
    try {
      // Advisory (refreshes planner statistics); a busy file must not stop the close.
      this.db.pragma('optimize')
    } catch {}
    this.db.close()
  }

  // updateUpload builds its SET list from the fields given: a handful of shapes, prepared once each.
  private readonly statements = new Map<string, Statement>()
  private prepared(sql: string): Statement {
    let statement = this.statements.get(sql)
    if (statement === undefined) {
      statement = this.db.prepare(sql)
      this.statements.set(sql, statement)
    }
    return statement
  }

  /** SQLite failures (busy, disk full, I/O) become a retryable 503; the ledger's own errors pass. */
  private guard<T>(fn: () => T): T {
    try {
      return fn()
    } catch (err) {
      if (err instanceof driver().SqliteError) throw new LedgerError(err.code, { cause: err })
      throw err
    }
  }
}
