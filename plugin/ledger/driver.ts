// Database drivers load only when a ledger of their kind is opened, so a host app that uses the
// PostgreSQL ledger needs no native SQLite build, and the other way round. A missing one is a
// coded error that says what to install.
import { createRequire } from 'node:module'
import { LedgerDriverMissingError } from '../errors.js'

const require = createRequire(import.meta.url)

export function loadDriver<T>(ledger: string, name: string, install: string): T {
  try {
    return require(name) as T
  } catch (err) {
    if ((err as { code?: string }).code === 'MODULE_NOT_FOUND' && String((err as Error).message).includes(`'${name}'`)) {
      throw new LedgerDriverMissingError(ledger, install, { cause: err })
    }
    throw err
  }
}
