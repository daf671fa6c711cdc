// The invariant every fault test ends on: the bucket and the ledger agree, and hold exactly what
// the requests that succeeded stored. Nothing pending, no multipart upload, no stray object.
import type { Test } from 'tap'
import type { Ledger } from '../../plugin/ledger/types.js'
import type { TestBucket } from './s3.js'

export interface StoredState {
  /** Live keys, sorted. */
  live: string[]
  /** Keys of trashed rows (their `.trash/...` object keys), sorted. */
  trash: string[]
}

/** Waits (bounded) until nothing is pending and no multipart upload is open: cleanup may trail a response. */
export async function settled(bucket: TestBucket, ledger: Ledger, ms = 10_000): Promise<void> {
  const until = Date.now() + ms
  while (Date.now() < until) {
    const pending = await ledger.listStalePending(new Date(Date.now() + 60_000))
    if (pending.length === 0 && (await bucket.incompleteUploads()).length === 0) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

export async function assertStored(t: Test, bucket: TestBucket, ledger: Ledger, wanted: StoredState, what = ''): Promise<void> {
  await settled(bucket, ledger)
  const rows = await ledger.listStoredKeys()
  const live = rows.filter((r) => r.state === 'live').map((r) => r.key).sort()
  const trash = rows.filter((r) => r.state === 'trashed').map((r) => r.key).sort()
  const pending = rows.filter((r) => r.state === 'pending').map((r) => r.key)
  t.same(live, [...wanted.live].sort(), `${what}: live records`)
  t.same(trash, [...wanted.trash].sort(), `${what}: trash records`)
  t.same(pending, [], `${what}: nothing pending`)
  t.same((await bucket.keys()).sort(), [...live, ...trash].sort(), `${what}: the bucket holds exactly what the ledger records`)
  t.same(await bucket.incompleteUploads(), [], `${what}: no incomplete multipart upload`)
}
