// The ledger on PostgreSQL (node-postgres), for several instances sharing one database. What
// differs from SQLite is here: the SQL dialect ($n placeholders), the locking (a transaction-level
// advisory lock per key where a check and a write must be one step, one lock per audit batch so
// the chain has one head), and the connections (a Pool; a client checked out per transaction).
// Any database failure (outage, exhausted pool, timeout) is a LedgerError: a retryable 503.
import { randomUUID } from 'node:crypto'
import type { Pool, PoolClient, PoolConfig } from 'pg'
import {
  ConflictError,
  LedgerError,
  RestoreConflictError,
  TrashNotFoundError,
  UploadInProgressError,
} from '../errors.js'
import { GENESIS_HASH, type ChainPoint } from './audit-chain.js'
import {
  AUDIT_COLUMNS,
  ChainVerifier,
  EVENT_COLUMNS,
  GroupCommit,
  auditConditions,
  chainBatch,
  eventValues,
  toEvent,
  type EventRow,
} from './audit-log.js'
import { decodeCursor, isSafeInteger, isString, isStringPair, pageLimit, toPage } from './cursor.js'
import { loadDriver } from './driver.js'
import {
  KEY_LOCK_NAMESPACE,
  LOCK_AUDIT,
  LOCK_NAMESPACE,
  PG_SCHEMA_VERSION,
  applyPgMigrations,
  pgSchemaVersion,
} from './postgres-migrations.js'
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

export interface PostgresLedgerOptions {
  /** `postgres://user:password@host:port/database` (libpq URL; `?sslmode=require` etc. allowed). */
  connectionString: string
  /** Connections in the pool. Default 10 per instance. */
  max?: number
  /** How long a query waits for a free connection before failing with 503. Default 5000 ms. */
  connectionTimeoutMillis?: number
  /** Server-side limit on one statement. Default 30000 ms. */
  statementTimeoutMillis?: number
  /** Apply pending migrations at open (as the owner role). Default true; false only checks. */
  migrate?: boolean
  /** Told about errors of idle pooled connections (a database restart): they are not fatal. */
  onIdleError?: (err: Error) => void
}

type PgModule = typeof import('pg')

/** int8 (counts, sizes, seq) and numeric (sums) as JS numbers: every value we store is below 2^53. */
const NUMBER_TYPES = new Set([20, 1700])

const STATEMENTS = {
  liveByKey: `SELECT ${OBJECT_COLUMNS} FROM objects WHERE key = $1 AND state = 'live'`,
  pendingByKey: `SELECT ${OBJECT_COLUMNS} FROM objects WHERE key = $1 AND state = 'pending'`,
  trashById: `SELECT ${OBJECT_COLUMNS} FROM objects WHERE trash_id = $1`,
  byId: `SELECT ${OBJECT_COLUMNS} FROM objects WHERE id = $1`,
  byIdempotencyKey: `SELECT ${OBJECT_COLUMNS} FROM objects WHERE created_by = $1 AND idempotency_key = $2
    ORDER BY created_at DESC LIMIT 1`,
  insertPending: `INSERT INTO objects (${PENDING_COLUMNS.join(', ')})
    VALUES (${PENDING_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`,
  commit: `UPDATE objects SET state = 'live', size = $1, sha256 = $2, etag = $3, content_type = coalesce($4, content_type),
    created_at = $5, updated_at = $5 WHERE id = $6 AND state = 'pending' RETURNING ${OBJECT_COLUMNS}`,
  fail: `UPDATE objects SET state = 'failed', fail_reason = $1, updated_at = $2 WHERE id = $3 AND state = 'pending'`,
  trash: `UPDATE objects SET state = 'trashed', trash_id = $1, trash_key = $2, deleted_by = $3, deleted_at = $4,
    purge_after = $5, updated_at = $6 WHERE key = $7 AND state = 'live' RETURNING ${OBJECT_COLUMNS}`,
  restore: `UPDATE objects SET state = 'live', trash_id = NULL, trash_key = NULL, deleted_by = NULL, deleted_at = NULL,
    purge_after = NULL, updated_at = $1 WHERE id = $2 RETURNING ${OBJECT_COLUMNS}`,
  purge: `UPDATE objects SET state = 'purged', updated_at = $1 WHERE trash_id = $2 AND state = 'trashed'`,
  expiredTrash: `SELECT ${OBJECT_COLUMNS} FROM objects WHERE state = 'trashed' AND purge_after < $1
    ORDER BY purge_after LIMIT $2`,
  stalePending: `SELECT ${OBJECT_COLUMNS} FROM objects WHERE state = 'pending' AND created_at < $1 ORDER BY created_at`,
  storedKeys: `SELECT CASE WHEN state = 'trashed' THEN trash_key ELSE key END AS key, state, id
    FROM objects WHERE state IN ('pending', 'live', 'trashed') ORDER BY 1`,
  listLive: `SELECT ${OBJECT_COLUMNS} FROM objects WHERE state = 'live' AND key >= $1 AND key < $2 AND key > $3
    AND ($4::text IS NULL OR system = $4) AND ($5::text IS NULL OR object_type = $5)
    AND ($6::text IS NULL OR object_id = $6) ORDER BY key LIMIT $7`,
  listTrash: `SELECT ${OBJECT_COLUMNS} FROM objects WHERE state = 'trashed' AND org_id = $1
    AND (deleted_at, trash_id) < ($2, $3) ORDER BY deleted_at DESC, trash_id DESC LIMIT $4`,
  usageLive: `SELECT system, count(*) AS objects, coalesce(sum(size), 0) AS bytes FROM objects
    WHERE org_id = $1 AND state = 'live' GROUP BY system ORDER BY system`,
  usageTrash: `SELECT count(*) AS objects, coalesce(sum(size), 0) AS bytes FROM objects
    WHERE org_id = $1 AND state = 'trashed'`,
  health: `INSERT INTO health (id, checked_at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`,
  acquireLease: `INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, clock_timestamp() + $3 * interval '1 millisecond')
    ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
    WHERE leases.holder = excluded.holder OR leases.expires_at <= clock_timestamp()`,
  releaseLease: `DELETE FROM leases WHERE name = $1 AND holder = $2`,
  leaseHolder: `SELECT holder FROM leases WHERE name = $1 AND expires_at > clock_timestamp()`,
  keyLock: `SELECT pg_advisory_xact_lock(${KEY_LOCK_NAMESPACE}, hashtext($1))`,
  auditLock: `SELECT pg_advisory_xact_lock(${LOCK_NAMESPACE}, ${LOCK_AUDIT})`,
  auditHead: `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`,
  // One statement for a whole batch: one array per column.
  auditInsert: `INSERT INTO audit (${AUDIT_COLUMNS.join(', ')}) SELECT * FROM unnest(
    $1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
    $10::text[], $11::text[], $12::text[], $13::int[], $14::text[], $15::bigint[], $16::text[], $17::int[],
    $18::text[], $19::text[])`,
  auditAfter: `SELECT ${EVENT_COLUMNS} FROM audit a WHERE a.seq > $1 ORDER BY a.seq LIMIT $2`,
  lastCheckpoint: `SELECT seq, hash FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`,
  saveCheckpoint: `INSERT INTO audit_checkpoints (seq, hash, verified_at) VALUES ($1, $2, $3) ON CONFLICT (seq) DO NOTHING`,
} as const

const UNIQUE_VIOLATION = '23505'

export class PostgresLedger implements Ledger {
  private readonly group: GroupCommit
  private readonly verifier: ChainVerifier
  private closed = false

  /** Connects, applies pending migrations (under an advisory lock) and returns the ledger. */
  static async open(options: PostgresLedgerOptions): Promise<PostgresLedger> {
    const pg = loadDriver<PgModule>('PostgreSQL', 'pg', 'pg@8')
    const config: PoolConfig = {
      connectionString: options.connectionString,
      max: options.max ?? 10,
      connectionTimeoutMillis: options.connectionTimeoutMillis ?? 5000,
      statement_timeout: options.statementTimeoutMillis ?? 30_000,
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          NUMBER_TYPES.has(oid) ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as never,
      },
    }
    const pool = new pg.Pool(config)
    // An idle connection dropped by a database restart must not take the process down: the pool
    // replaces it on the next query.
    pool.on('error', (err) => options.onIdleError?.(err))
    try {
      if (options.migrate === false) {
        const version = await pgSchemaVersion((sql) => pool.query(sql))
        if (version !== PG_SCHEMA_VERSION) {
          throw new Error(`the schema is at version ${version}, this build needs ${PG_SCHEMA_VERSION}; run \`spaces-proxy ledger migrate\` as the owner role`)
        }
      } else {
        await applyPgMigrations(pool)
      }
    } catch (err) {
      await pool.end()
      throw new LedgerError(`cannot open the PostgreSQL ledger: ${(err as Error).message}`, { cause: err })
    }
    return new PostgresLedger(pool)
  }

  private constructor(private readonly pool: Pool) {
    this.group = new GroupCommit((inputs) => this.guard(() => this.appendBatch(inputs)))
    this.verifier = new ChainVerifier({
      readEvents: (afterSeq, limit) =>
        this.guard(async () => (await this.rows<EventRow>(STATEMENTS.auditAfter, [afterSeq, limit])).map(toEvent)),
      lastCheckpoint: () => this.guard(async () => (await this.rows<ChainPoint>(STATEMENTS.lastCheckpoint, []))[0]),
      saveCheckpoint: ({ seq, hash }) =>
        this.guard(async () => {
          await this.pool.query(STATEMENTS.saveCheckpoint, [seq, hash, new Date().toISOString()])
        }),
    })
  }

  async reserve(input: ReserveInput): Promise<Reservation> {
    const id = randomUUID()
    const values = pendingValues(id, input, new Date().toISOString())
    return this.guard(() =>
      this.transaction(async (client) => {
        // The check and the insert are one step for this key, as BEGIN IMMEDIATE makes them in SQLite.
        await client.query(STATEMENTS.keyLock, [input.key])
        if ((await client.query(STATEMENTS.pendingByKey, [input.key])).rows.length > 0) throw new UploadInProgressError()
        const live = (await client.query<StoredRow>(STATEMENTS.liveByKey, [input.key])).rows[0]
        if (live !== undefined && !input.overwrite) throw new ConflictError()
        await client.query(STATEMENTS.insertPending, values)
        return live === undefined ? { id } : { id, replaces: toObjectRow(live) }
      }),
    )
  }

  async commit(id: string, input: CommitInput): Promise<FileRecord> {
    const now = new Date().toISOString()
    return this.guard(async () => {
      let row: StoredRow | undefined
      try {
        row = (await this.rows<StoredRow>(STATEMENTS.commit, [input.size, input.sha256, input.etag, input.contentType ?? null, now, id]))[0]
      } catch (err) {
        if ((err as { code?: string }).code !== UNIQUE_VIOLATION) throw err
        throw new LedgerError(`commit ${id}: a live file still holds its key; move it to trash first`, { cause: err })
      }
      if (row === undefined) throw new LedgerError(`commit ${id}: no pending upload with this id`)
      return toFileRecord(row)
    })
  }

  async fail(id: string, reason: string): Promise<void> {
    await this.guard(() => this.pool.query(STATEMENTS.fail, [reason, new Date().toISOString(), id]))
  }

  async getLive(key: string): Promise<ObjectRow | undefined> {
    return this.one(STATEMENTS.liveByKey, [key])
  }

  async getPending(key: string): Promise<ObjectRow | undefined> {
    return this.one(STATEMENTS.pendingByKey, [key])
  }

  async getById(id: string): Promise<ObjectRow | undefined> {
    return this.one(STATEMENTS.byId, [id])
  }

  async updateUpload(id: string, update: UploadUpdate): Promise<boolean> {
    const { sql, params } = uploadUpdate(id, update, new Date().toISOString(), (n) => `$${n}`)
    return this.guard(async () => (await this.pool.query(sql, params)).rowCount === 1)
  }

  async findByIdempotencyKey(actor: string, idempotencyKey: string): Promise<ObjectRow | undefined> {
    return this.one(STATEMENTS.byIdempotencyKey, [actor, idempotencyKey])
  }

  async listLive(filter: FileFilter, page: PageRequest): Promise<Page<FileRecord>> {
    const limit = pageLimit(page.limit)
    const after = page.cursor === undefined ? '' : decodeCursor(page.cursor, isString)
    const { from, to } = liveRange(filter)
    const rows = await this.guard(() =>
      this.rows<StoredRow>(STATEMENTS.listLive, [
        from, to, after, filter.system ?? null, filter.objectType ?? null, filter.objectId ?? null, limit + 1,
      ]),
    )
    return toPage(rows, limit, toFileRecord, (row) => row.key)
  }

  async markTrashed(key: string, input: TrashInput): Promise<TrashRecord | undefined> {
    const { trashId, trashKey, deletedBy, deletedAt, purgeAfter } = input
    const rows = await this.guard(() =>
      this.rows<StoredRow>(STATEMENTS.trash, [
        trashId, trashKey, deletedBy, deletedAt.toISOString(), purgeAfter.toISOString(), new Date().toISOString(), key,
      ]),
    )
    return rows[0] === undefined ? undefined : toTrashRecord(rows[0])
  }

  async getTrash(trashId: string): Promise<ObjectRow | undefined> {
    return this.one(STATEMENTS.trashById, [trashId])
  }

  async listTrash(orgId: string, page: PageRequest): Promise<Page<TrashRecord>> {
    const limit = pageLimit(page.limit)
    // '~' sorts after every ISO timestamp (byte order), so the first page starts above all rows.
    const [deletedAt, trashId] = page.cursor === undefined ? ['~', ''] : decodeCursor(page.cursor, isStringPair)
    const rows = await this.guard(() => this.rows<StoredRow>(STATEMENTS.listTrash, [orgId, deletedAt, trashId, limit + 1]))
    return toPage(rows, limit, toTrashRecord, (row) => [row.deletedAt, row.trashId])
  }

  async markRestored(trashId: string): Promise<FileRecord> {
    return this.guard(() =>
      this.transaction(async (client) => {
        const trashed = (await client.query<StoredRow>(STATEMENTS.trashById, [trashId])).rows[0]
        if (trashed === undefined || trashed.state !== 'trashed') throw new TrashNotFoundError(trashId)
        await client.query(STATEMENTS.keyLock, [trashed.key])
        const taken =
          (await client.query(STATEMENTS.liveByKey, [trashed.key])).rows.length > 0 ||
          (await client.query(STATEMENTS.pendingByKey, [trashed.key])).rows.length > 0
        if (taken) throw new RestoreConflictError()
        const restored = await client.query<StoredRow>(STATEMENTS.restore, [new Date().toISOString(), trashed.id])
        return toFileRecord(restored.rows[0]!)
      }),
    )
  }

  async markPurged(trashId: string): Promise<void> {
    const result = await this.guard(() => this.pool.query(STATEMENTS.purge, [new Date().toISOString(), trashId]))
    if (result.rowCount === 0) throw new TrashNotFoundError(trashId)
  }

  async listExpiredTrash(now: Date, limit: number): Promise<ObjectRow[]> {
    return (await this.guard(() => this.rows<StoredRow>(STATEMENTS.expiredTrash, [now.toISOString(), limit]))).map(toObjectRow)
  }

  async listStalePending(olderThan: Date): Promise<ObjectRow[]> {
    return (await this.guard(() => this.rows<StoredRow>(STATEMENTS.stalePending, [olderThan.toISOString()]))).map(toObjectRow)
  }

  async listStoredKeys(): Promise<Array<{ key: string; state: ObjectState; id: string }>> {
    return this.guard(() => this.rows(STATEMENTS.storedKeys, []))
  }

  async acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    return this.guard(async () => (await this.pool.query(STATEMENTS.acquireLease, [name, holder, ttlMs])).rowCount === 1)
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.guard(() => this.pool.query(STATEMENTS.releaseLease, [name, holder]))
  }

  async leaseHolder(name: string): Promise<string | undefined> {
    return (await this.guard(() => this.rows<{ holder: string }>(STATEMENTS.leaseHolder, [name])))[0]?.holder
  }

  appendAudit(input: AuditInput): Promise<AuditEvent> {
    return this.group.append(input)
  }

  /** One batch: the chain lock, the head, one INSERT of every event, one commit. */
  private appendBatch(inputs: AuditInput[]): Promise<AuditEvent[]> {
    return this.transaction(async (client) => {
      await client.query(STATEMENTS.auditLock)
      const head = (await client.query<ChainPoint>(STATEMENTS.auditHead)).rows[0]
      const events = chainBatch(head ?? { seq: 0, hash: GENESIS_HASH }, inputs)
      const columns = AUDIT_COLUMNS.map(() => [] as unknown[])
      for (const event of events) eventValues(event).forEach((value, i) => columns[i]!.push(value))
      await client.query(STATEMENTS.auditInsert, columns)
      return events
    })
  }

  async queryAudit(filter: AuditFilter, page: PageRequest): Promise<Page<AuditEvent>> {
    const limit = pageLimit(page.limit)
    const params: unknown[] = []
    const cursor = page.cursor === undefined ? undefined : decodeCursor(page.cursor, isSafeInteger)
    const where = auditConditions(filter, cursor, (name) => `a.${name}`, (value) => {
      params.push(value)
      return `$${params.length}`
    })
    params.push(limit + 1)
    const sql = `SELECT ${EVENT_COLUMNS} FROM audit a ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY a.seq DESC LIMIT $${params.length}`
    const rows = await this.guard(() => this.rows<EventRow>(sql, params))
    return toPage(rows, limit, toEvent, (row) => row.seq)
  }

  verifyAudit(options?: VerifyOptions): Promise<AuditVerification> {
    return this.verifier.verify(options)
  }

  async usage(orgId: string): Promise<Usage> {
    return this.guard(async () => {
      const [live, trash] = await Promise.all([
        this.rows<{ system: string; objects: number; bytes: number }>(STATEMENTS.usageLive, [orgId]),
        this.rows<{ objects: number; bytes: number }>(STATEMENTS.usageTrash, [orgId]),
      ])
      return toUsage(orgId, live, trash[0]!)
    })
  }

  async checkWritable(): Promise<void> {
    await this.guard(() => this.pool.query(STATEMENTS.health, [new Date().toISOString()]))
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.group.drain()
    await this.pool.end()
  }

  /** Runs `fn` in BEGIN ... COMMIT on one pooled connection; any failure rolls the whole of it back. */
  private async transaction<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect()
    let broken: Error | undefined
    // A connection the server drops while it is checked out emits 'error' outside any query; the
    // pool listens only to idle ones. Unheard, that would crash the process.
    const onError = (err: Error): void => void (broken = err)
    client.on('error', onError)
    try {
      await client.query('BEGIN')
      const result = await fn(client)
      await client.query('COMMIT')
      return result
    } catch (err) {
      // A connection that cannot even roll back is dropped rather than handed to the next caller.
      await client.query('ROLLBACK').catch((rollback: Error) => (broken = rollback))
      throw err
    } finally {
      client.off('error', onError)
      client.release(broken)
    }
  }

  private async rows<T>(sql: string, params: unknown[]): Promise<T[]> {
    return (await this.pool.query(sql, params)).rows as T[]
  }

  private async one(sql: string, params: unknown[]): Promise<ObjectRow | undefined> {
    return optionalRow((await this.guard(() => this.rows<StoredRow>(sql, params)))[0])
  }

  /** Database and connection failures become a retryable 503; the ledger's own errors pass. */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      if (isOwnError(err)) throw err
      const { code, message } = err as { code?: string; message?: string }
      if (code === UNIQUE_VIOLATION) throw new UploadInProgressError({ cause: err })
      throw new LedgerError(code ? `${code} ${message}` : (message ?? 'database error'), { cause: err })
    }
  }
}

function isOwnError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code
  return err instanceof TypeError || (typeof code === 'string' && code.startsWith('FST_SPACES_'))
}
