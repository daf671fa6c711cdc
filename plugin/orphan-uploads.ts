// Which incomplete multipart uploads in the store nobody will finish. An upload belongs to a
// pending row that names its key, its staging key or its upload id; any other one is an orphan
// once it is older than the longest request could run (a crash, a killed process), or at once
// when this process saw its own upload to that key fail while the store was unreachable.
import type { IncompleteUpload, ObjectStore } from './drivers/types.js'
import type { Ledger } from './ledger/types.js'

export interface OrphanRule {
  /** Older than this, an unowned upload cannot still be running in any request. */
  olderThanSeconds: number
  /** Keys whose upload failed here: their unowned uploads are orphans whatever their age. */
  suspects?: ReadonlySet<string>
  /**
   * Look only at the suspects' keys: a listing per key instead of one of the whole bucket, which
   * holds every resumable upload in progress. Old orphans elsewhere wait for a full pass. Past
   * PER_KEY_LISTINGS suspects (an outage that failed many uploads) one listing of the bucket is
   * fewer requests, so that is what is done.
   */
  suspectsOnly?: boolean
  now?: Date
}

const PER_KEY_LISTINGS = 100

export async function findOrphanedUploads(store: ObjectStore, ledger: Ledger, rule: OrphanRule): Promise<IncompleteUpload[]> {
  const now = rule.now ?? new Date()
  const suspects = rule.suspects ?? new Set<string>()
  const perKey = rule.suspectsOnly === true && suspects.size <= PER_KEY_LISTINGS
  // Listed before the ledger is read: an upload starts after its pending row exists, so every
  // upload in this listing that is still running has its row in the read below.
  const uploads = perKey ? await listAt(store, suspects) : await store.listIncompleteUploads()
  if (uploads.length === 0) return []
  const ownedKeys = new Set<string>()
  const ownedIds = new Set<string>()
  for (const row of await ledger.listStalePending(new Date(now.getTime() + 60_000))) {
    ownedKeys.add(row.key)
    if (row.stagingKey) ownedKeys.add(row.stagingKey)
    if (row.uploadId) ownedIds.add(row.uploadId)
  }
  const cutoff = now.getTime() - rule.olderThanSeconds * 1000
  return uploads.filter(
    (upload) =>
      !ownedKeys.has(upload.key) &&
      !ownedIds.has(upload.uploadId) &&
      (upload.initiated.getTime() < cutoff || suspects.has(upload.key)),
  )
}

/** The incomplete uploads at exactly these keys (a listing by prefix also finds longer keys). */
async function listAt(store: ObjectStore, keys: ReadonlySet<string>): Promise<IncompleteUpload[]> {
  const uploads: IncompleteUpload[] = []
  for (const key of keys) {
    for (const upload of await store.listIncompleteUploads(key)) if (upload.key === key) uploads.push(upload)
  }
  return uploads
}
