// Soft deletes: a deleted file is gone from the live layout (404, unlisted) but recoverable byte
// for byte until purged, and every step is in the audit trail with who, what and how it went.
import { test } from 'tap'
import { createHash } from 'node:crypto'
import { buildServer, spacesEnv } from './helpers/server.js'
import { createTestBucket } from './helpers/s3.js'
import { LEDGERS } from './helpers/pg.js'

const KEY = 'org-1/epcr/document/epcr-456/report.pdf'
const ADMIN = { sub: 'medic-admin', org: 'org-1', roles: ['admin'] }
const CLERK = { sub: 'clerk', org: 'org-1', scope: 'epcr:read epcr:write epcr:delete' }

for (const ledger of LEDGERS) test(`delete, restore, purge: byte-identical restores, 409 on a taken key, no trace after purge, all audited (${ledger.name} ledger)`, async (t) => {
  const bucket = await createTestBucket(t, 'trash')
  const { app, auth } = await buildServer(t, { ...spacesEnv(bucket), ...(await ledger.env(t)) })
  const admin = auth(ADMIN)
  const clerk = auth(CLERK)
  const body = Buffer.from('%PDF-1.7 original run report')
  const sha256 = createHash('sha256').update(body).digest('hex')

  t.equal((await app.inject({ method: 'PUT', url: `/v1/files/${KEY}`, headers: clerk, payload: body })).statusCode, 201)
  const del = await app.inject({ method: 'DELETE', url: `/v1/files/${KEY}`, headers: clerk })
  t.equal(del.statusCode, 200, del.body)
  const { trashId } = del.json()
  t.equal((await app.inject({ method: 'GET', url: `/v1/files/${KEY}`, headers: clerk })).statusCode, 404, 'a deleted file answers 404')
  t.equal((await app.inject({ method: 'HEAD', url: `/v1/files/${KEY}`, headers: clerk })).statusCode, 404)
  t.same((await app.inject({ method: 'GET', url: '/v1/files', headers: clerk })).json().items, [], 'and is absent from lists')
  t.equal((await app.inject({ method: 'DELETE', url: `/v1/files/${KEY}`, headers: clerk })).statusCode, 404, 'deleting twice is 404')
  const keys = await bucket.keys()
  t.same(keys, [`.trash/org-1/${trashId}`], 'the bytes moved outside the live layout')
  const trash = await app.inject({ method: 'GET', url: '/v1/trash', headers: clerk })
  t.match(trash.json().items, [{ key: KEY, trashId, sha256, deletedBy: 'clerk' }])

  const restore = await app.inject({ method: 'POST', url: `/v1/trash/${trashId}/restore`, headers: clerk })
  t.equal(restore.statusCode, 200, restore.body)
  t.equal(restore.json().sha256, sha256)
  const back = await app.inject({ method: 'GET', url: `/v1/files/${KEY}`, headers: clerk })
  t.equal(createHash('sha256').update(back.rawPayload).digest('hex'), sha256, 'restored byte for byte')
  t.same(await bucket.keys(), [KEY], 'no trash copy left behind')

  // Delete, upload something new at the key, then try to restore the old one.
  const second = (await app.inject({ method: 'DELETE', url: `/v1/files/${KEY}`, headers: clerk })).json().trashId
  t.equal((await app.inject({ method: 'PUT', url: `/v1/files/${KEY}`, headers: clerk, payload: 'newer' })).statusCode, 201)
  const conflict = await app.inject({ method: 'POST', url: `/v1/trash/${second}/restore`, headers: clerk })
  t.equal(conflict.statusCode, 409)
  t.equal(conflict.json().code, 'FST_SPACES_RESTORE_CONFLICT')
  t.equal((await app.inject({ method: 'GET', url: `/v1/files/${KEY}`, headers: clerk })).body, 'newer', 'the live file is untouched')

  const clerkPurge = await app.inject({ method: 'DELETE', url: `/v1/trash/${second}`, headers: clerk })
  t.equal(clerkPurge.statusCode, 403, 'purge is for admins')
  const purge = await app.inject({ method: 'DELETE', url: `/v1/trash/${second}`, headers: admin })
  t.equal(purge.statusCode, 200, purge.body)
  t.same(await bucket.keys(), [KEY], 'a purge leaves no trace of the object in the bucket')
  t.equal((await app.inject({ method: 'POST', url: `/v1/trash/${second}/restore`, headers: admin })).statusCode, 404, 'purged is gone')
  t.same((await app.inject({ method: 'GET', url: '/v1/trash', headers: admin })).json().items, [])

  const events = (await app.storage.ledger.queryAudit({ key: KEY }, { limit: 100 })).items.reverse()
  const summary = events.map((e) => `${e.action}:${e.actor}:${e.result}:${e.status}`)
  t.same(summary, [
    'upload:clerk:ok:201',
    'soft_delete:clerk:ok:200',
    'download:clerk:error:404',
    'head:clerk:error:404',
    'soft_delete:clerk:error:404',
    'restore:clerk:ok:200',
    'download:clerk:ok:200',
    'soft_delete:clerk:ok:200',
    'upload:clerk:ok:201',
    'restore:clerk:error:409',
    'download:clerk:ok:200',
    'purge:clerk:denied:403',
    'purge:medic-admin:ok:200',
    'restore:medic-admin:error:404',
  ])
  for (const event of events) {
    t.equal(event.org, 'org-1')
    t.ok(event.requestId && event.ts && event.hash && event.prevHash, 'each event carries id, time and chain links')
  }
  const upload = events[0]!
  t.match(upload, { bytes: body.length, sha256, ip: '127.0.0.1' })
  const lists = (await app.storage.ledger.queryAudit({ action: 'list', actor: 'clerk' }, { limit: 10 })).items
  t.equal(lists.length, 2, 'file and trash listings are audited')
  t.same((await app.inject({ method: 'GET', url: '/v1/audit/verify', headers: admin })).json().ok, true)
})

test('the sweep purges trash past TRASH_RETENTION_DAYS and audits it', async (t) => {
  const bucket = await createTestBucket(t, 'trash')
  const { app, auth } = await buildServer(t, spacesEnv(bucket))
  const admin = auth(ADMIN)
  t.equal((await app.inject({ method: 'PUT', url: `/v1/files/${KEY}`, headers: admin, payload: 'x' })).statusCode, 201)
  const { trashId } = (await app.inject({ method: 'DELETE', url: `/v1/files/${KEY}`, headers: admin })).json()
  t.same(await app.storage.purgeExpired({ dryRun: true }), [], 'nothing is expired yet')
  const later = new Date(Date.now() + 31 * 24 * 3600 * 1000)
  const dry = await app.storage.purgeExpired({ now: later, dryRun: true })
  t.same(dry.map((row) => row.trashId), [trashId])
  t.equal((await bucket.keys()).length, 1, 'a dry run removes nothing')
  const purged = await app.storage.purgeExpired({ now: later })
  t.equal(purged.length, 1)
  t.same(await bucket.keys(), [])
  t.match((await app.storage.ledger.queryAudit({ action: 'purge' }, { limit: 5 })).items, [{ actor: 'system', key: KEY, result: 'ok' }])
})
