// Short holds on a key, taken through the ledger's one-pending-row-per-key rule: a delete or a
// restore holds the key while it moves bytes, so no upload can land in the middle (and have its
// fresh object removed by the delete, or overwritten by the restore's copy). A hold is a pending
// row marked as such in its `progress`, so uploads recognise it (in any process sharing the
// ledger), wait for it to clear instead of failing, and crash recovery never commits it.
import { setTimeout as sleep } from 'node:timers/promises'
import { UploadInProgressError } from './errors.js'
import type { Ledger, ObjectRow, Reservation, ReserveInput } from './ledger/types.js'

export type HoldReason = 'delete' | 'restore'

/** How long an upload, delete or restore waits for another's hold on its key before it gives up (409). */
export const HOLD_WAIT_MS = 10_000
const POLL_MS = 20

export function holdProgress(reason: HoldReason): string {
  return JSON.stringify({ hold: reason })
}

/** Whether a pending row is a hold rather than an upload. */
export function isHold(row: Pick<ObjectRow, 'progress'>): boolean {
  if (!row.progress?.startsWith('{"hold":')) return false
  try {
    return typeof (JSON.parse(row.progress) as { hold?: unknown }).hold === 'string'
  } catch {
    return false
  }
}

/**
 * Reserves like `ledger.reserve`, but when a hold (not an upload) has the key, waits for it to
 * clear and tries again, up to HOLD_WAIT_MS. An upload in flight still answers 409 at once.
 */
export async function reserveAfterHolds(ledger: Ledger, input: ReserveInput): Promise<Reservation> {
  const giveUpAt = Date.now() + HOLD_WAIT_MS
  for (;;) {
    try {
      return await ledger.reserve(input)
    } catch (err) {
      if (!(err instanceof UploadInProgressError) || Date.now() > giveUpAt) throw err
      const holder = await ledger.getPending(input.key)
      // Gone already (try again now), or an upload that may run for an hour (refuse now).
      if (holder && !isHold(holder)) throw err
      if (holder) await sleep(POLL_MS)
    }
  }
}
