// Where uploads that outlive a request keep bytes before they are recorded: under a prefix no live
// key can have (org ids may not start with a dot), so a presigned URL or a half-finished upload can
// never write a recorded file. Completion moves the bytes into place.
import type { ObjectStore } from '../drivers/types.js'
import type { Ledger } from '../ledger/types.js'
export const STAGING_PREFIX = '.uploads/'

/** The object a presigned PUT writes to, before completion copies it to its key. */
export function stagingKeyFor(uploadId: string): string {
  return `${STAGING_PREFIX}${uploadId}/object`
}

/** A resumable upload's bytes past its last full part (shorter than the part minimum). */
export function tailKeyFor(uploadId: string): string {
  return `${STAGING_PREFIX}${uploadId}/tail`
}

export function isStagingKey(key: string): boolean {
  return key.startsWith(STAGING_PREFIX)
}

/** listStalePending(ALL_PENDING) lists every pending upload (timestamps compare as ISO text). */
export const ALL_PENDING = new Date('9999-12-31T23:59:59.999Z')

/** What the staging sweep needs of the storage service. */
interface StagingDeps {
  store: ObjectStore
  ledger: Ledger
}

/**
 * Staged objects no pending upload claims any more: a presigned PUT replayed after its upload was
 * completed or given up, or leftovers of a crash. Only those older than `graceSeconds` (the longest
 * a presigned URL lives) count, so an upload being started right now is never taken for one.
 */
export async function orphanStaging(deps: StagingDeps, now: Date, graceSeconds: number): Promise<string[]> {
  const claimed = new Set<string>()
  for (const row of await deps.ledger.listStalePending(ALL_PENDING)) if (row.stagingKey) claimed.add(row.stagingKey)
  const orphans: string[] = []
  let cursor: string | undefined
  do {
    const page = await deps.store.list(STAGING_PREFIX, { cursor, limit: 1000 })
    for (const item of page.items) {
      const old = now.getTime() - item.lastModified.getTime() >= graceSeconds * 1000
      if (old && !claimed.has(item.key)) orphans.push(item.key)
    }
    cursor = page.nextCursor
  } while (cursor)
  return orphans
}
