// `audit verify`: recomputes the audit hash chain from the ledger (LEDGER_URL or LEDGER_PATH), as GET /v1/audit/verify does.
import type { Command } from './types.js'
import { cliConfig, openLedger, parseCommandArgs } from './context.js'

const usage = [
  'Usage: spaces-proxy audit verify',
  '',
  'Recomputes every audit event\'s hash and its link to the one before, from the ledger at',
  'LEDGER_URL or LEDGER_PATH. Exits 0 when the chain holds, 1 when an event was altered, removed or inserted.',
].join('\n')

export const auditVerifyCommand: Command = {
  summary: 'check the audit hash chain',
  usage,
  async run(args) {
    if (!parseCommandArgs(args, { options: {} }, usage)) return 2
    const ledger = await openLedger(cliConfig())
    try {
      const result = await ledger.verifyAudit()
      if (result.ok) {
        process.stdout.write(`audit chain ok: ${result.events} events, head ${result.head}\n`)
        return 0
      }
      const at = result.brokenAt
      process.stdout.write(
        at
          ? `audit chain BROKEN at event seq ${at.seq} (id ${at.id}): ${at.reason}\n`
          : `audit chain BROKEN (${result.events} events checked)\n`,
      )
      return 1
    } finally {
      await ledger.close()
    }
  },
}
