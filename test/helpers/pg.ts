// The real PostgreSQL the suite runs against: the throwaway cluster `scripts/pg-peer` starts
// (`npm test` does it), named by TEST_PG_URL. Each test gets its own schema, so tests and several
// copies of the suite can share one cluster.
import { randomBytes } from 'node:crypto'
import pg from 'pg'

export function pgUrl(): string {
  const url = process.env.TEST_PG_URL
  if (!url) throw new Error('TEST_PG_URL is not set: run the suite with `npm test` (it starts scripts/pg-peer), or eval "$(scripts/pg-peer env)"')
  return url
}

/** A URL whose connections work in `schema` (search_path), for any client that takes a libpq URL. */
export function schemaUrl(schema: string, base = pgUrl()): string {
  const url = new URL(base)
  url.searchParams.set('options', `-c search_path=${schema}`)
  return url.toString()
}

/** Runs SQL as the owner role on the base database. */
export async function pgExec(sql: string, params: unknown[] = [], url = pgUrl()): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await client.query(sql, params)
  } finally {
    await client.end()
  }
}

interface Teardown {
  teardown(fn: () => unknown): void
}

/** A fresh, empty schema for one test, dropped afterwards; returns its URL. */
export async function freshSchema(t: Teardown, label = 'ledger'): Promise<{ schema: string; url: string }> {
  const schema = `t_${label.replace(/[^a-z0-9]/g, '_')}_${randomBytes(5).toString('hex')}`
  await pgExec(`CREATE SCHEMA ${schema}`)
  t.teardown(() => pgExec(`DROP SCHEMA ${schema} CASCADE`).catch(() => {}))
  return { schema, url: schemaUrl(schema) }
}

/** Both ledgers, as sidecar environments: for the HTTP flows that must hold on each. */
export const LEDGERS = [
  { name: 'sqlite', env: async (_t: Teardown): Promise<Record<string, string>> => ({}) },
  { name: 'postgres', env: async (t: Teardown): Promise<Record<string, string>> => ({ LEDGER_URL: (await freshSchema(t, 'flow')).url }) },
] as const
