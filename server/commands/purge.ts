// `purge [--dry-run]`: hard-deletes trash past its retention, as the sidecar's sweeper does, but
// now and with an operator's name on the audit events.
import type { ObjectRow } from '../../plugin/ledger/types.js'
import type { Storage } from '../../plugin/storage.js'
import { PURGE_JOB, withJobLease } from '../../plugin/sweep.js'
import type { Command } from './types.js'
import { cliConfig, formatBytes, openStorage, parseCommandArgs, progress } from './context.js'

const ACTOR = 'spaces-proxy purge'
// purgeExpired works in batches of this size; a full batch means there may be more.
const BATCH = 10_000

const usage = [
  'Usage: spaces-proxy purge [--dry-run]',
  '',
  'Hard-deletes soft-deleted files whose retention (TRASH_RETENTION_DAYS) has passed. Each purge is',
  'audited with actor "spaces-proxy purge". The ledger keeps that the files existed.',
  '',
  '  --dry-run  list what would be purged (trash id, size, key) and change nothing',
  '',
  'Keys hold filenames, which may name patients: the list is for this terminal, not for logs.',
].join('\n')

function total(rows: readonly ObjectRow[]): number {
  return rows.reduce((sum, row) => sum + row.size, 0)
}

export const purgeCommand: Command = {
  summary: 'hard-delete trash past its retention',
  usage,
  async run(args) {
    const parsed = parseCommandArgs(args, { options: { 'dry-run': { type: 'boolean', default: false } } }, usage)
    if (!parsed) return 2
    const { storage, close } = await openStorage(cliConfig())
    try {
      if (parsed.values['dry-run']) {
        const rows = await storage.purgeExpired({ dryRun: true })
        for (const row of rows) process.stdout.write(`${row.trashId}  ${String(row.size).padStart(12)}  ${row.key}\n`)
        const more = rows.length === BATCH ? ` (the first ${BATCH}; more may follow)` : ''
        process.stdout.write(`would purge ${rows.length} files (${formatBytes(total(rows))})${more}\n`)
        return 0
      }
      // One purge at a time across the sidecars sharing this ledger and this command.
      let code = 1
      const ran = await withJobLease(storage, PURGE_JOB, 60_000, async () => void (code = await purgeAll(storage)))
      if (!ran) process.stderr.write('spaces-proxy purge: a sidecar is purging right now; try again in a minute\n')
      return code
    } finally {
      await close()
    }
  },
}

async function purgeAll(storage: Storage): Promise<number> {
  const line = progress()
  let purged = 0
  let bytes = 0
  try {
    for (;;) {
      // Counted up front only for the progress line; purgeExpired lists again itself.
      const expected = purged + (await storage.purgeExpired({ dryRun: true })).length
      const rows = await storage.purgeExpired({
        actor: ACTOR,
        onPurged(row) {
          purged++
          bytes += row.size
          line.update(`purged ${purged}/${Math.max(expected, purged)}`)
        },
      })
      if (rows.length < BATCH) break
    }
  } catch (err) {
    line.done()
    process.stdout.write(`purged ${purged} files (${formatBytes(bytes)}) before failing\n`)
    process.stderr.write(`spaces-proxy purge: ${(err as Error).message}\n`)
    return 1
  }
  line.done()
  process.stdout.write(`purged ${purged} files (${formatBytes(bytes)})\n`)
  return 0
}
