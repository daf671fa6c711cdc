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

/** Everything a resumable upload stages lives under this prefix. */
export function stagingDirFor(uploadId: string): string {
  return `${STAGING_PREFIX}${uploadId}/`
}

/**
 * A resumable upload's bytes past its last full part (shorter than the part minimum), named by the
 * offset they start at: a new tail never overwrites the one the ledger still counts on.
 */
export function tailKeyFor(uploadId: string, start: number): string {
  return `${stagingDirFor(uploadId)}tail-${start}`
}

/** The staging directory a staged key belongs to: `.uploads/{id}/`. */
function stagingDirOf(key: string): string {
  return key.split('/').slice(0, 2).join('/') + '/'
}

/** Whether a pending upload claims `key`: it is its staged object, or under its staging directory. */
export function claimedStaging(pendingStagingKeys: Iterable<string>): (key: string) => boolean {
  const dirs = new Set([...pendingStagingKeys].map(stagingDirOf))
  return (key) => dirs.has(stagingDirOf(key))
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
  const pending = await deps.ledger.listStalePending(ALL_PENDING)
  const claimed = claimedStaging(pending.flatMap((row) => (row.stagingKey ? [row.stagingKey] : [])))
  const orphans: string[] = []
  let cursor: string | undefined
  do {
    const page = await deps.store.list(STAGING_PREFIX, { cursor, limit: 1000 })
    for (const item of page.items) {
      const old = now.getTime() - item.lastModified.getTime() >= graceSeconds * 1000
      if (old && !claimed(item.key)) orphans.push(item.key)
    }
    cursor = page.nextCursor
  } while (cursor)
  return orphans
}
