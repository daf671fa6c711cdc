// The ledger schema as an ordered list of migrations. `PRAGMA user_version` records the last one
// applied. Never edit a released migration: add a new one, so every existing file gets the same
// schema as a new one.
//
// Timestamps are ISO-8601 UTC text with milliseconds: they sort as text in time order, which the
// indexes and cursors rely on. The schema avoids anything newer than SQLite 3.40 (Debian's
// sqlite3 CLI), so an operator can open the file with the system tools.
import type { Database } from 'better-sqlite3'

export interface Migration {
  version: number
  up: string
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    up: `
      CREATE TABLE objects (
        id            TEXT PRIMARY KEY,
        key           TEXT NOT NULL,
        org_id        TEXT NOT NULL,
        system        TEXT NOT NULL,
        object_type   TEXT NOT NULL,
        object_id     TEXT NOT NULL,
        filename      TEXT NOT NULL,
        state         TEXT NOT NULL CHECK (state IN ('pending', 'live', 'trashed', 'failed', 'purged')),
        -- size, sha256 and etag are known only once the upload is committed.
        size          INTEGER,
        sha256        TEXT,
        etag          TEXT,
        content_type  TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        created_by    TEXT NOT NULL,
        deleted_at    TEXT,
        deleted_by    TEXT,
        trash_id      TEXT,
        trash_key     TEXT,
        purge_after   TEXT,
        fail_reason   TEXT,
        -- What a direct browser upload promised, checked when it completes.
        expected_size INTEGER,
        updated_at    TEXT NOT NULL
      );
      -- The database, not the code, guarantees one live file and one upload in flight per key,
      -- whichever process writes.
      CREATE UNIQUE INDEX objects_live_key ON objects (key) WHERE state = 'live';
      CREATE UNIQUE INDEX objects_pending_key ON objects (key) WHERE state = 'pending';
      -- Partial, so rows that never went to trash cost no index write.
      CREATE UNIQUE INDEX objects_trash_id ON objects (trash_id) WHERE trash_id IS NOT NULL;
      -- Listing pages through objects_live_key: a key starts with org/system/objectType/objectId/,
      -- so each filter is a key-prefix range already in key order. This one serves usage().
      CREATE INDEX objects_live_usage ON objects (org_id, system, size) WHERE state = 'live';
      CREATE INDEX objects_trash_org ON objects (org_id, deleted_at DESC, trash_id DESC)
        WHERE state = 'trashed';
      CREATE INDEX objects_trash_expiry ON objects (purge_after) WHERE state = 'trashed';
      CREATE INDEX objects_pending_age ON objects (created_at) WHERE state = 'pending';

      -- seq is the rowid: the chain order, the paging key and the cheapest possible primary key.
      -- No secondary index here: each one adds a page write to every append's commit, and appends
      -- are the hot path. Filtering goes through audit_search instead.
      CREATE TABLE audit (
        seq         INTEGER PRIMARY KEY,
        id          TEXT NOT NULL,
        ts          TEXT NOT NULL,
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
        bytes       INTEGER,
        sha256      TEXT,
        ttl         INTEGER,
        prev_hash   TEXT NOT NULL,
        hash        TEXT NOT NULL
      );
      -- AU-9: the database itself refuses to change history. The hash chain shows it if someone
      -- drops these triggers and edits anyway.
      CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
      CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;

      -- The filter columns of audit, copied in batches (see sqlite-audit.ts) so that one commit
      -- maintains the indexes for hundreds of events. Derived data, but append-only as well: a
      -- deleted row here would hide an event from queries.
      CREATE TABLE audit_search (
        seq    INTEGER PRIMARY KEY,
        org    TEXT,
        key    TEXT,
        actor  TEXT,
        action TEXT NOT NULL,
        ts     TEXT NOT NULL
      );
      -- Each index implicitly ends in seq, so "filter, newest first" is an index walk.
      CREATE INDEX audit_search_org ON audit_search (org);
      CREATE INDEX audit_search_key ON audit_search (key);
      CREATE INDEX audit_search_actor ON audit_search (actor);
      CREATE INDEX audit_search_action ON audit_search (action);
      CREATE INDEX audit_search_ts ON audit_search (ts);
      CREATE TRIGGER audit_search_no_update BEFORE UPDATE ON audit_search
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
      CREATE TRIGGER audit_search_no_delete BEFORE DELETE ON audit_search
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;

      -- checkWritable() writes here: a real write proves the disk and the lock, not just the file.
      CREATE TABLE health (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        checked_at TEXT NOT NULL
      );
    `,
  },
  {
    // Uploads that outlive one request (direct, tus, presigned multipart), retries, and leases
    // that tell which instance still streams an upload when several share the ledger.
    version: 2,
    up: `
      ALTER TABLE objects ADD COLUMN kind TEXT NOT NULL DEFAULT 'stream'
        CHECK (kind IN ('stream', 'direct', 'tus', 'multipart'));
      ALTER TABLE objects ADD COLUMN owner TEXT;
      ALTER TABLE objects ADD COLUMN upload_id TEXT;
      ALTER TABLE objects ADD COLUMN staging_key TEXT;
      ALTER TABLE objects ADD COLUMN expires_at TEXT;
      ALTER TABLE objects ADD COLUMN upload_offset INTEGER;
      ALTER TABLE objects ADD COLUMN progress TEXT;
      ALTER TABLE objects ADD COLUMN idempotency_key TEXT;
      UPDATE objects SET kind = 'direct' WHERE expected_size IS NOT NULL;
      CREATE INDEX objects_idempotency ON objects (created_by, idempotency_key, created_at)
        WHERE idempotency_key IS NOT NULL;

      -- expires_at in epoch milliseconds: compared with the caller's clock, never parsed.
      CREATE TABLE leases (
        name       TEXT PRIMARY KEY,
        holder     TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      );
    `,
  },
  {
    // Verification checkpoints: where the last walk of the chain that held ended, so the next
    // can start there. Append-only too: a rewritten checkpoint could hide an edit behind it.
    version: 3,
    up: `
      CREATE TABLE audit_checkpoints (
        seq         INTEGER PRIMARY KEY,
        hash        TEXT NOT NULL,
        verified_at TEXT NOT NULL
      );
      CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
      CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
    `,
  },
]

/**
 * Brings the schema up to date. The version is read inside an IMMEDIATE transaction, so two
 * processes opening one new file cannot both apply a migration. Returns the version now in place.
 */
export function applyMigrations(db: Database, list: readonly Migration[] = migrations): number {
  const latest = list.reduce((max, m) => Math.max(max, m.version), 0)
  return db
    .transaction(() => {
      const current = db.pragma('user_version', { simple: true }) as number
      if (current > latest) {
        // A newer build wrote this file; writing with an older schema could corrupt its meaning.
        throw new Error(`ledger schema version ${current} is newer than this build supports (${latest})`)
      }
      const pending = list.filter((m) => m.version > current).sort((a, b) => a.version - b.version)
      for (const migration of pending) {
        db.exec(migration.up)
        db.pragma(`user_version = ${migration.version}`)
      }
      return Math.max(current, ...pending.map((m) => m.version))
    })
    .immediate()
}
