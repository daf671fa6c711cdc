import type { Command } from './types.js'
import { auditVerifyCommand } from './audit.js'
import { checkCommand } from './check.js'
import { corsApplyCommand, corsShowCommand } from './cors.js'
import { ledgerCopyCommand, ledgerMigrateCommand } from './ledger.js'
import { purgeCommand } from './purge.js'
import { reconcileCommand } from './reconcile.js'
import { serveCommand } from './serve.js'
import { tokenCommand } from './token.js'

export const commands: Record<string, Command> = {
  serve: serveCommand,
  check: checkCommand,
  'cors apply': corsApplyCommand,
  'cors show': corsShowCommand,
  token: tokenCommand,
  purge: purgeCommand,
  reconcile: reconcileCommand,
  'audit verify': auditVerifyCommand,
  'ledger copy': ledgerCopyCommand,
  'ledger migrate': ledgerMigrateCommand,
}
