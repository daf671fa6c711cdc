// PostgresLedger: the shared Ledger contract on a real PostgreSQL, then what only a shared
// network database can get wrong: instances migrating at once, the runtime role's privileges, an
// exhausted pool and an unreachable server (503, never a crash).
import t from 'tap'
import { PostgresLedger } from '../plugin/ledger/postgres.js'
import { event, input, ledgerContract, parts } from './ledger-contract.js'
import { freshSchema, pgExec, schemaUrl } from './helpers/pg.js'

async function openAt(t: { teardown(fn: () => unknown): void }, url: string, extra: Partial<Parameters<typeof PostgresLedger.open>[0]> = {}) {
  const ledger = await PostgresLedger.open({ connectionString: url, max: 4, ...extra })
  t.teardown(() => ledger.close())
  return ledger
}

ledgerContract(t, 'postgres', async (t) => {
  const { schema, url } = await freshSchema(t)
  return {
    open: () => openAt(t, url),
    exec: async (sql) => {
      await pgExec(`SET search_path = ${schema}; ${sql}`)
    },
    dropAuditTriggers: 'DROP TRIGGER audit_no_update ON audit; DROP TRIGGER audit_no_truncate ON audit;',
  }
})

t.test('postgres: instances booting together apply each migration once', async (t) => {
  const { schema, url } = await freshSchema(t, 'boot')
  const ledgers = await Promise.all(Array.from({ length: 5 }, () => openAt(t, url)))
  t.equal(ledgers.length, 5)
  const { rows } = await pgExec(`SELECT version FROM ${schema}.schema_migrations ORDER BY version`)
  t.same(rows.map((r) => r.version), [1])
})

t.test('postgres: the runtime role may INSERT and SELECT the audit table, never change it', async (t) => {
  const { schema, url } = await freshSchema(t, 'role')
  const owner = await openAt(t, url)
  await owner.appendAudit(event())
  const role = `spaces_app_${schema}`
  // The GRANTs the README documents.
  await pgExec(`CREATE ROLE ${role} LOGIN;
    GRANT USAGE ON SCHEMA ${schema} TO ${role};
    GRANT SELECT ON ${schema}.schema_migrations TO ${role};
    GRANT SELECT, INSERT, UPDATE ON ${schema}.objects, ${schema}.health TO ${role};
    GRANT SELECT, INSERT, UPDATE, DELETE ON ${schema}.leases TO ${role};
    GRANT SELECT, INSERT ON ${schema}.audit, ${schema}.audit_checkpoints TO ${role};`)
  t.teardown(() => pgExec(`DROP OWNED BY ${role}; DROP ROLE ${role}`).catch(() => {}))
  const base = new URL(url)
  base.username = role
  const runtimeUrl = schemaUrl(schema, base.toString())
  const app = await openAt(t, runtimeUrl, { migrate: false })
  const { id } = await app.reserve(input(parts('role.pdf')))
  await app.commit(id, { size: 1, sha256: 's', etag: 'e' })
  await app.appendAudit(event())
  t.match(await app.verifyAudit(), { ok: true, events: 2 })
  await app.checkWritable()
  for (const sql of ['UPDATE audit SET status = 1', 'DELETE FROM audit', 'TRUNCATE audit', 'ALTER TABLE audit DISABLE TRIGGER ALL']) {
    await t.rejects(pgExec(`SET search_path = ${schema}; ${sql}`, [], base.toString()), { message: /permission denied|must be owner/ }, sql)
  }
})

t.test('postgres: an exhausted pool answers 503, and nothing is left half-done', async (t) => {
  const { url } = await freshSchema(t, 'pool')
  const ledger = await openAt(t, url, { max: 1, connectionTimeoutMillis: 200 })
  const blocker = await pgExec('SELECT 1') // warm the schema; then hold the only connection:
  t.ok(blocker)
  const holding = (ledger as unknown as { pool: import('pg').Pool }).pool.connect()
  const client = await holding
  await t.rejects(ledger.reserve(input(parts('late.pdf'))), { code: 'FST_SPACES_LEDGER_ERROR', statusCode: 503 })
  client.release()
  t.equal(await ledger.getPending(input(parts('late.pdf')).key), undefined, 'the refused reservation holds nothing')
  t.ok(await ledger.reserve(input(parts('late.pdf'))), 'and works once a connection is free')
})

t.test('postgres: an unreachable server is a 503 at open and on every call', async (t) => {
  await t.rejects(
    PostgresLedger.open({ connectionString: 'postgres://nobody@127.0.0.1:1/none', connectionTimeoutMillis: 500 }),
    { code: 'FST_SPACES_LEDGER_ERROR', message: /cannot open the PostgreSQL ledger/ },
  )
})
