// Opens a ledger from where it lives: a SQLite file path or a PostgreSQL URL. Only the driver of
// the kind asked for is loaded.
import { PostgresLedger, type PostgresLedgerOptions } from './postgres.js'
import { SqliteLedger } from './sqlite.js'
import type { Ledger } from './types.js'

export type LedgerLocation = { path: string } | ({ url: string } & Omit<PostgresLedgerOptions, 'connectionString'>)

export function isPostgresUrl(value: string): boolean {
  return /^postgres(ql)?:\/\//i.test(value)
}

export async function openLedger(location: LedgerLocation): Promise<Ledger> {
  if ('url' in location) {
    const { url, ...options } = location
    return PostgresLedger.open({ ...options, connectionString: url })
  }
  return SqliteLedger.open({ path: location.path })
}
