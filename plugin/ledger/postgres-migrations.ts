// The PostgreSQL ledger's schema, as an ordered list of migrations recorded in schema_migrations.
// Instances booting together take one advisory lock, so exactly one applies each migration. A
// database already up to date is only read: the runtime role (INSERT and SELECT on the audit
// tables, no DDL) can start against it; migrations run as the owner role.
//
// It mirrors the SQLite schema column for column. Timestamps are ISO-8601 UTC text with
// milliseconds, as there, so both ledgers sort, page and hash identically; every column that is
// compared or ordered is COLLATE "C" (byte order), whatever the database's default collation.
import type { Pool } from 'pg'

export interface PgMigration {
  version: number
  up: string
}

/** Advisory lock keys: (namespace, id) pairs, so they cannot collide with an application's own. */
export const LOCK_NAMESPACE = 0x5350 // "SP"
export const LOCK_MIGRATE = 1
export const LOCK_AUDIT = 2
/** Per-key locks use the second namespace, keyed by hashtext(key). */
export const KEY_LOCK_NAMESPACE = 0x5351

export const pgMigrations: readonly PgMigration[] = [
  {
    version: 1,
    up: `
      CREATE TABLE objects (
        id              TEXT PRIMARY KEY,
        key             TEXT COLLATE "C" NOT NULL,
        org_id          TEXT COLLATE "C" NOT NULL,
        system          TEXT COLLATE "C" NOT NULL,
        object_type     TEXT COLLATE "C" NOT NULL,
        object_id       TEXT COLLATE "C" NOT NULL,
        filename        TEXT NOT NULL,
        state           TEXT NOT NULL CHECK (state IN ('pending', 'live', 'trashed', 'failed', 'purged')),
        size            BIGINT,
        sha256          TEXT,
        etag            TEXT,
        content_type    TEXT NOT NULL,
        created_at      TEXT COLLATE "C" NOT NULL,
        created_by      TEXT NOT NULL,
        deleted_at      TEXT COLLATE "C",
        deleted_by      TEXT,
        trash_id        TEXT COLLATE "C",
        trash_key       TEXT COLLATE "C",
        purge_after     TEXT COLLATE "C",
        fail_reason     TEXT,
        expected_size   BIGINT,
        updated_at      TEXT NOT NULL,
        kind            TEXT NOT NULL DEFAULT 'stream' CHECK (kind IN ('stream', 'direct', 'tus', 'multipart')),
        owner           TEXT,
        upload_id       TEXT,
        staging_key     TEXT,
        expires_at      TEXT COLLATE "C",
        upload_offset   BIGINT,
        progress        TEXT,
        idempotency_key TEXT
      );
      -- The database, not the code, guarantees one live file and one upload in flight per key,
      -- whichever instance writes.
      CREATE UNIQUE INDEX objects_live_key ON objects (key) WHERE state = 'live';
      CREATE UNIQUE INDEX objects_pending_key ON objects (key) WHERE state = 'pending';
      CREATE UNIQUE INDEX objects_trash_id ON objects (trash_id) WHERE trash_id IS NOT NULL;
      CREATE INDEX objects_live_usage ON objects (org_id, system, size) WHERE state = 'live';
      CREATE INDEX objects_trash_org ON objects (org_id, deleted_at DESC, trash_id DESC) WHERE state = 'trashed';
      CREATE INDEX objects_trash_expiry ON objects (purge_after) WHERE state = 'trashed';
      CREATE INDEX objects_pending_age ON objects (created_at) WHERE state = 'pending';
      CREATE INDEX objects_idempotency ON objects (created_by, idempotency_key, created_at)
        WHERE idempotency_key IS NOT NULL;

      -- seq is the chain order and the paging key. Appends come in groups (one transaction per
      -- batch), so the filter indexes live on the table itself.
      CREATE TABLE audit (
        seq         BIGINT PRIMARY KEY,
        id          TEXT NOT NULL,
        ts          TEXT COLLATE "C" NOT NULL,
        actor       TEXT,
        org         TEXT,
        roles       TEXT NOT NULL,
        ip          TEXT,
        user_agent  TEXT,
        request_id  TEXT,
        action      TEXT NOT NULL,
        key         TEXT,
        result      TEXT NOT NULL,
        status      INTEGER NOT NULL,
        error_code  TEXT,
        bytes       BIGINT,
        sha256      TEXT,
        ttl         INTEGER,
        prev_hash   TEXT NOT NULL,
        hash        TEXT NOT NULL
      );
      CREATE INDEX audit_org ON audit (org, seq);
      CREATE INDEX audit_key ON audit (key, seq);
      CREATE INDEX audit_actor ON audit (actor, seq);
      CREATE INDEX audit_action ON audit (action, seq);
      CREATE INDEX audit_ts ON audit (ts);

      CREATE TABLE audit_checkpoints (
        seq         BIGINT PRIMARY KEY,
        hash        TEXT NOT NULL,
        verified_at TEXT NOT NULL
      );

      -- AU-9: the database itself refuses to change history, TRUNCATE included. The hash chain
      -- shows it if someone with the owner role drops these triggers and edits anyway; the
      -- runtime role cannot even try (README: INSERT and SELECT only).
      CREATE FUNCTION spaces_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'audit log is append-only'; END $$;
      CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit
        FOR EACH ROW EXECUTE FUNCTION spaces_audit_append_only();
      CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
        FOR EACH STATEMENT EXECUTE FUNCTION spaces_audit_append_only();
      CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE OR DELETE ON audit_checkpoints
        FOR EACH ROW EXECUTE FUNCTION spaces_audit_append_only();
      CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
        FOR EACH STATEMENT EXECUTE FUNCTION spaces_audit_append_only();

      -- Leases run on the database's clock, so instances with skewed clocks still agree.
      CREATE TABLE leases (
        name       TEXT PRIMARY KEY,
        holder     TEXT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
      );

      CREATE TABLE health (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        checked_at TEXT NOT NULL
      );
    `,
  },
]

type Query = (sql: string) => Promise<{ rows: Array<Record<string, unknown>> }>

/** The last migration applied, 0 for an empty database. */
export async function pgSchemaVersion(query: Query): Promise<number> {
  const exists = await query(`SELECT to_regclass('schema_migrations') IS NOT NULL AS present`)
  if (!exists.rows[0]!.present) return 0
  const { rows } = await query('SELECT coalesce(max(version), 0) AS version FROM schema_migrations')
  return Number(rows[0]!.version)
}

export const PG_SCHEMA_VERSION = pgMigrations.reduce((max, m) => Math.max(max, m.version), 0)

/**
 * Brings the schema up to date and returns the version in place. Reads first; only when behind
 * does it take the migration lock (session-level, on one connection), read again, and apply each
 * pending migration in its own transaction.
 */
export async function applyPgMigrations(pool: Pool, list: readonly PgMigration[] = pgMigrations): Promise<number> {
  const latest = list.reduce((max, m) => Math.max(max, m.version), 0)
  const found = await pgSchemaVersion((sql) => pool.query(sql))
  if (found > latest) {
    // A newer build wrote this schema; writing with an older one could corrupt its meaning.
    throw new Error(`ledger schema version ${found} is newer than this build supports (${latest})`)
  }
  if (found === latest) return found

  const client = await pool.connect()
  const ignore = (): void => {} // a dropped connection fails the query in flight; that is enough
  client.on('error', ignore)
  try {
    await client.query('SELECT pg_advisory_lock($1, $2)', [LOCK_NAMESPACE, LOCK_MIGRATE])
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`)
      const now = await pgSchemaVersion((sql) => client.query(sql))
      for (const migration of [...list].sort((a, b) => a.version - b.version)) {
        if (migration.version <= now) continue
        await client.query('BEGIN')
        try {
          await client.query(migration.up)
          await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [migration.version])
          await client.query('COMMIT')
        } catch (err) {
          await client.query('ROLLBACK')
          throw err
        }
      }
      return latest
    } finally {
      await client.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_NAMESPACE, LOCK_MIGRATE])
    }
  } finally {
    client.off('error', ignore)
    client.release()
  }
}
