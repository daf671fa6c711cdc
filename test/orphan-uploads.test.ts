// Which incomplete multipart uploads the sweep may abort, against the S3 peer and a real ledger:
// the whole-bucket rule takes old unowned ones and this process's suspects; the suspects-only
// rule (the pass after a failed upload) looks at nothing but the suspects' own keys.
import { test } from 'tap'
import { join } from 'node:path'
import { CreateMultipartUploadCommand } from '@aws-sdk/client-s3'
import { S3Store } from '../plugin/drivers/s3.js'
import { SqliteLedger } from '../plugin/ledger/sqlite.js'
import { findOrphanedUploads } from '../plugin/orphan-uploads.js'
import { createTestBucket } from './helpers/s3.js'
import { tempDir } from './helpers/temp.js'

test('suspects-only finds the suspects at their exact keys; the full rule also finds old orphans', async (t) => {
  const bucket = await createTestBucket(t, 'orphans')
  const store = new S3Store({ connection: bucket.connection, partSize: 5 * 1024 * 1024, queueSize: 2 })
  t.teardown(() => store.close())
  const ledger = SqliteLedger.open({ path: join(tempDir('orphans'), 'ledger.db') })
  t.teardown(() => ledger.close())
  const start = async (key: string) => {
    await bucket.client.send(new CreateMultipartUploadCommand({ Bucket: bucket.name, Key: key }))
  }
  const suspect = 'org-1/epcr/document/e-1/scan.tiff'
  // A key that a listing by the suspect's prefix also returns, and one elsewhere.
  await start(suspect)
  await start(`${suspect}.part2`)
  await start('org-1/fax/inbound/f-1/fax.tiff')
  const keys = (uploads: Array<{ key: string }>) => uploads.map((upload) => upload.key).sort()

  const suspects = new Set([suspect])
  t.same(keys(await findOrphanedUploads(store, ledger, { olderThanSeconds: 3600, suspects, suspectsOnly: true })), [suspect], 'only the suspect')
  t.same(keys(await findOrphanedUploads(store, ledger, { olderThanSeconds: 3600, suspects })), [suspect], 'the others are too young for the full rule')
  const later = new Date(Date.now() + 7200_000)
  t.same(
    keys(await findOrphanedUploads(store, ledger, { olderThanSeconds: 3600, suspects, now: later })),
    keys([{ key: suspect }, { key: `${suspect}.part2` }, { key: 'org-1/fax/inbound/f-1/fax.tiff' }]),
    'once old, every unowned one',
  )
  t.same(keys(await findOrphanedUploads(store, ledger, { olderThanSeconds: 3600, suspects, suspectsOnly: true, now: later })), [suspect], 'suspects-only still only the suspect')

  // Many suspects (an outage that failed many uploads): one listing of the bucket, by the full rule.
  const many = new Set([suspect, ...Array.from({ length: 100 }, (_, i) => `org-1/epcr/document/gone-${i}/scan.tiff`)])
  t.same(keys(await findOrphanedUploads(store, ledger, { olderThanSeconds: 3600, suspects: many, suspectsOnly: true })), [suspect], 'many suspects: still only the suspect while the others are young')
  t.equal((await findOrphanedUploads(store, ledger, { olderThanSeconds: 3600, suspects: many, suspectsOnly: true, now: later })).length, 3, 'many suspects: old orphans too, from the one listing')
})
