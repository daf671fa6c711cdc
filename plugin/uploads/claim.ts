// One winner per completion. Uploads completed by a separate call (direct, presigned multipart)
// keep uploadOffset at WAITING until a completion claims the row with the ledger's compare-and-set;
// any other completion of the same upload then waits for the winner's outcome.
import { setTimeout as sleep } from 'node:timers/promises'
import type { FileRecord, Ledger, ObjectRow } from '../ledger/types.js'
import { UploadInProgressError } from '../errors.js'

/** Bytes the client is still sending (or has sent); nobody is completing the upload. */
export const WAITING = 0
/** A completion holds the row. Negative, so it can never be mistaken for a byte count. */
export const COMPLETING = -1

/** True when this caller now completes the upload; false when another completion holds it. */
export async function claimCompletion(ledger: Ledger, id: string): Promise<boolean> {
  return ledger.updateUpload(id, { expectedOffset: WAITING, uploadOffset: COMPLETING })
}

/** Gives the row back after a failed completion, so the client can fix its upload and try again. */
export async function releaseCompletion(ledger: Ledger, id: string): Promise<void> {
  await ledger.updateUpload(id, { expectedOffset: COMPLETING, uploadOffset: WAITING })
}

/**
 * Waits (bounded) for the completion another request holds: its record once it is live, or a clean
 * 409 when it failed or is still running.
 */
export async function outcomeOf(ledger: Ledger, id: string, timeoutMs = 10_000): Promise<FileRecord> {
  const deadline = Date.now() + timeoutMs
  for (let delay = 25; ; delay = Math.min(delay * 2, 500)) {
    const row: ObjectRow | undefined = await ledger.getById(id)
    if (row?.state === 'live') return toRecord(row)
    if (row?.state !== 'pending' || row.uploadOffset !== COMPLETING || Date.now() > deadline) {
      throw new UploadInProgressError()
    }
    await sleep(delay)
  }
}

export function toRecord(row: FileRecord): FileRecord {
  const { key, size, sha256, etag, contentType, createdAt, createdBy } = row
  return { key, size, sha256, etag, contentType, createdAt, createdBy }
}
