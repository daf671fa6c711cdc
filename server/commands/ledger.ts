// `ledger copy --to postgres://…`: moves a team from one machine to several. Every row of the
// SQLite ledger (LEDGER_PATH) goes into an empty PostgreSQL one in one transaction, the audit
// chain byte for byte (same seq, ids, timestamps and hashes), then the copy's chain is verified
// and compared with the source's. `ledger migrate`: applies the PostgreSQL schema as the owner
// role, for deployments whose sidecars run as a role that may not.
import type { Database } from 'better-sqlite3'
import type { Pool } from 'pg'
import { loadDriver } from '../../plugin/ledger/driver.js'
import { isPostgresUrl } from '../../plugin/ledger/open.js'
import { PostgresLedger } from '../../plugin/ledger/postgres.js'
import { SqliteLedger } from '../../plugin/ledger/sqlite.js'
import type { Command } from './types.js'
import { cliConfig, parseCommandArgs, usageError } from './context.js'

const copyUsage = [
  'Usage: spaces-proxy ledger copy --to postgres://user:password@host:5432/database',
  '',
  'Copies the SQLite ledger at LEDGER_PATH into an empty PostgreSQL ledger: files, trash, uploads',
  'in flight and the whole audit chain, unchanged. The schema is created when missing. Stop the',
  'sidecar first (a write made during the copy would not be in it). Afterwards the copy\'s chain is',
  'verified; exit 0 when it holds and ends at the source\'s head, 1 otherwise. Then set LEDGER_URL.',
].join('\n')

const migrateUsage = [
  'Usage: spaces-proxy ledger migrate [--url postgres://…]',
  '',
  'Brings the PostgreSQL ledger\'s schema up to date (LEDGER_URL unless --url is given). Run it as',
  'the owner role when the sidecars connect as a runtime role without DDL rights (see README).',
].join('\n')

/** Rows copied per INSERT. */
const CHUNK = 500

type SqliteModule = typeof import('better-sqlite3')
type PgModule = typeof import('pg')

export const ledgerCopyCommand: Command = {
  summary: 'copy the SQLite ledger into an empty PostgreSQL one',
  usage: copyUsage,
  async run(args) {
    const parsed = parseCommandArgs(args, { options: { to: { type: 'string' } } }, copyUsage)
    if (!parsed) return 2
    const to = parsed.values.to
    if (!to || !isPostgresUrl(to)) return usageError('--to must be a PostgreSQL URL (postgres://…)', copyUsage)
    const config = cliConfig()
    // Opening brings an older file's schema up to date, so both sides have the same columns.
    const source = SqliteLedger.open({ path: config.ledgerPath })
    const expected = await source.verifyAudit()
    await source.close()
    if (!expected.ok) {
      process.stdout.write(`the source chain is broken at seq ${expected.brokenAt?.seq}: fix that first (spaces-proxy audit verify)\n`)
      return 1
    }
    const target = await PostgresLedger.open({ connectionString: to })
    await target.close()

    const Sqlite = loadDriver<SqliteModule>('SQLite', 'better-sqlite3', 'better-sqlite3@12')
    const pg = loadDriver<PgModule>('PostgreSQL', 'pg', 'pg@8')
    const db = new Sqlite(config.ledgerPath, { readonly: true })
    const pool = new pg.Pool({ connectionString: to, max: 1 })
    let counts: { objects: number; events: number }
    try {
      counts = await copyRows(db, pool)
    } finally {
      db.close()
      await pool.end()
    }

    const copy = await PostgresLedger.open({ connectionString: to })
    try {
      const result = await copy.verifyAudit()
      process.stdout.write(`copied ${counts.objects} file records and ${counts.events} audit events\n`)
      if (result.ok && result.events === expected.events && result.head === expected.head) {
        process.stdout.write(`audit chain ok on the copy: ${result.events} events, head ${result.head} (the source's)\n`)
        return 0
      }
      process.stdout.write(`audit chain on the copy does NOT match the source: ${JSON.stringify(result)}\n`)
      return 1
    } finally {
      await copy.close()
    }
  },
}

/** One transaction: the target must be empty, and either everything is copied or nothing. */
async function copyRows(db: Database, pool: Pool): Promise<{ objects: number; events: number }> {
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    const { rows } = await client.query('SELECT (SELECT count(*) FROM objects) + (SELECT count(*) FROM audit) AS n')
    if (Number(rows[0].n) > 0) throw new Error('the target ledger is not empty; copy into a new database')
    const copyTable = async (table: string, order: string): Promise<number> => {
      let copied = 0
      let batch: Array<Record<string, unknown>> = []
      const flush = async (): Promise<void> => {
        if (batch.length === 0) return
        const columns = Object.keys(batch[0]!)
        const values: unknown[] = []
        const tuples = batch.map((row) => `(${columns.map((c) => `$${values.push(row[c])}`).join(', ')})`)
        await client.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(', ')}`, values)
        copied += batch.length
        batch = []
      }
      for (const row of db.prepare(`SELECT * FROM ${table} ORDER BY ${order}`).iterate()) {
        batch.push(row as Record<string, unknown>)
        if (batch.length === CHUNK) await flush()
      }
      await flush()
      return copied
    }
    const objects = await copyTable('objects', 'created_at, id')
    const events = await copyTable('audit', 'seq')
    await client.query('COMMIT')
    return { objects, events }
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  } finally {
    client.release()
  }
}

export const ledgerMigrateCommand: Command = {
  summary: 'create or update the PostgreSQL ledger schema',
  usage: migrateUsage,
  async run(args) {
    const parsed = parseCommandArgs(args, { options: { url: { type: 'string' } } }, migrateUsage)
    if (!parsed) return 2
    const url = parsed.values.url ?? cliConfig().ledgerUrl
    if (!url || !isPostgresUrl(url)) return usageError('set LEDGER_URL or give --url postgres://…', migrateUsage)
    const ledger = await PostgresLedger.open({ connectionString: url })
    await ledger.close()
    process.stdout.write('the PostgreSQL ledger schema is up to date\n')
    return 0
  },
}
