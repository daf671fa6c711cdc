// The Ledger contract, one suite for every backend (as @tus/s3-store's stores share theirs): the
// upload lifecycle, trash, paging, usage, leases, and the audit chain with its guarantees across
// connections. Each backend's test file runs it with a factory, then adds what only it can get wrong.
import type { Test } from 'tap'
import { GENESIS_HASH, chainHash } from '../plugin/ledger/audit-chain.js'
import type { KeyParts } from '../plugin/keys.js'
import type { AuditInput, Ledger, ReserveInput } from '../plugin/ledger/types.js'

export interface LedgerHarness {
  /** Opens another connection (another instance) on the same ledger; closed at teardown. */
  open(): Promise<Ledger>
  /** Runs SQL as the database owner, behind the ledger's back. */
  exec(sql: string): Promise<void>
  /** SQL that removes the append-only triggers of `audit`. */
  dropAuditTriggers: string
}

export type LedgerFactory = (t: Test) => Promise<LedgerHarness>

const GiB = 1024 ** 3

export function parts(filename: string, over: Partial<KeyParts> = {}): KeyParts {
  return { orgId: 'org-1', system: 'epcr', objectType: 'document', objectId: 'epcr-456', filename, ...over }
}

export function input(p: KeyParts, extra: Partial<ReserveInput> = {}): ReserveInput {
  const key = `${p.orgId}/${p.system}/${p.objectType}/${p.objectId}/${p.filename}`
  return { key, parts: p, contentType: 'application/pdf', actor: 'user-1', overwrite: false, ...extra }
}

export function event(over: Partial<AuditInput> = {}): AuditInput {
  return {
    actor: 'user-1',
    org: 'org-1',
    roles: ['admin', 'auditor'],
    ip: '203.0.113.7',
    userAgent: 'curl/8.5.0',
    requestId: 'req-1',
    action: 'download',
    key: 'org-1/epcr/document/epcr-456/20260130_report.pdf',
    result: 'ok',
    status: 200,
    errorCode: null,
    bytes: 1234,
    sha256: 'c'.repeat(64),
    ttl: null,
    ...over,
  }
}

/** Stores a live file in one step. */
async function store(ledger: Ledger, p: KeyParts, size = 100) {
  const { id } = await ledger.reserve(input(p))
  return await ledger.commit(id, { size, sha256: 'a'.repeat(64), etag: `"etag-${p.filename}"` })
}

function trashInput(trashId: string, purgeAfter = new Date(Date.now() + 30 * 86_400_000)) {
  return { trashId, trashKey: `.trash/org-1/${trashId}`, deletedBy: 'user-2', deletedAt: new Date(), purgeAfter }
}

export function ledgerContract(t: Test, name: string, factory: LedgerFactory): void {
  t.test(`${name}: reserve, commit and fail`, async (t) => {
    const ledger = await (await factory(t)).open()
    const p = parts('report.pdf')
    const { id, replaces } = await ledger.reserve(input(p, { expectedSize: 42 }))
    t.equal(replaces, undefined)
    t.match(await ledger.getPending(input(p).key), { id, state: 'pending', expectedSize: 42, size: 0, kind: 'direct', ...p })
    t.equal(await ledger.getLive(input(p).key), undefined, 'a pending upload is not a live file')

    const record = await ledger.commit(id, { size: 42, sha256: 'b'.repeat(64), etag: '"e1"', contentType: 'text/plain' })
    t.match(record, { key: input(p).key, size: 42, sha256: 'b'.repeat(64), etag: '"e1"', contentType: 'text/plain', createdBy: 'user-1' })
    t.match(record.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    t.same(Object.keys(record).sort(), ['contentType', 'createdAt', 'createdBy', 'etag', 'key', 'sha256', 'size'])
    t.match(await ledger.getLive(input(p).key), { id, state: 'live', size: 42 })
    t.equal(await ledger.getPending(input(p).key), undefined)
    await t.rejects(ledger.commit(id, { size: 1, sha256: 'x', etag: 'x' }), { code: 'FST_SPACES_LEDGER_ERROR' },
      'a committed upload cannot be committed again')

    const other = await ledger.reserve(input(parts('other.pdf')))
    await ledger.fail(other.id, 'client went away')
    t.equal(await ledger.getPending(input(parts('other.pdf')).key), undefined, 'a failed upload claims nothing')
    t.match(await ledger.getById(other.id), { state: 'failed', failReason: 'client went away' })
    await ledger.fail(other.id, 'again') // not pending any more: a no-op
    t.ok((await ledger.reserve(input(parts('other.pdf')))).id, 'the key is free again')
    await t.rejects(ledger.reserve({ ...input(p), key: 'org-2/epcr/document/epcr-456/report.pdf' }), TypeError,
      'a key that is not its parts is refused')
  })

  t.test(`${name}: one key: the first reservation wins, later ones get 409 with their reason`, async (t) => {
    const ledger = await (await factory(t)).open()
    const p = parts('a.pdf')
    const first = await ledger.reserve(input(p))
    await t.rejects(ledger.reserve(input(p)), { code: 'FST_SPACES_UPLOAD_IN_PROGRESS', statusCode: 409 })
    await t.rejects(ledger.reserve(input(p, { overwrite: true })), { code: 'FST_SPACES_UPLOAD_IN_PROGRESS' })
    await ledger.commit(first.id, { size: 1, sha256: 's', etag: 'e' })
    await t.rejects(ledger.reserve(input(p)), { code: 'FST_SPACES_CONFLICT', statusCode: 409 })

    const { id, replaces } = await ledger.reserve(input(p, { overwrite: true }))
    t.match(replaces, { id: first.id, state: 'live', key: input(p).key, size: 1 })
    await t.rejects(ledger.commit(id, { size: 2, sha256: 's', etag: 'e' }), { code: 'FST_SPACES_LEDGER_ERROR' },
      'the replaced file must go to trash before the new one is committed')
    t.match(await ledger.markTrashed(input(p).key, trashInput('trash-1')), { trashId: 'trash-1', size: 1 })
    t.match(await ledger.commit(id, { size: 2, sha256: 's', etag: 'e' }), { size: 2 })
  })

  t.test(`${name}: 20 instances reserve one key at once: exactly one wins`, async (t) => {
    const harness = await factory(t)
    const ledgers = await Promise.all(Array.from({ length: 20 }, () => harness.open()))
    const fresh = input(parts('race.pdf'))
    const settle = (p: Promise<{ id: string }>) =>
      p.then((r) => ({ ok: true, id: r.id, code: '' }), (err: { code: string }) => ({ ok: false, id: '', code: err.code }))
    const first = await Promise.all(ledgers.map((l) => settle(l.reserve(fresh))))
    t.equal(first.filter((r) => r.ok).length, 1)
    t.same(first.filter((r) => !r.ok).map((r) => r.code), Array(19).fill('FST_SPACES_UPLOAD_IN_PROGRESS'))
    await ledgers[0]!.commit(first.find((r) => r.ok)!.id, { size: 1, sha256: 's', etag: 'e' })
    const conflicts = await Promise.all(ledgers.map((l) => settle(l.reserve(fresh))))
    t.same(conflicts.map((r) => r.code), Array(20).fill('FST_SPACES_CONFLICT'), 'a live file turns every plain upload away')
    const overwrites = await Promise.all(ledgers.map((l) => settle(l.reserve({ ...fresh, overwrite: true }))))
    t.equal(overwrites.filter((r) => r.ok).length, 1, 'one overwrite wins')
  })

  t.test(`${name}: uploads that outlive a request: update with compare-and-set, idempotency keys`, async (t) => {
    const ledger = await (await factory(t)).open()
    const expiresAt = new Date(Date.now() + 3_600_000)
    const { id } = await ledger.reserve(input(parts('resumable.bin'), {
      kind: 'tus', owner: 'instance-a', uploadId: 'u-1', stagingKey: '.staging/u-1', expiresAt, uploadOffset: 0,
      progress: '{"parts":[]}', idempotencyKey: 'idem-1', expectedSize: 10,
    }))
    t.match(await ledger.getById(id), {
      kind: 'tus', owner: 'instance-a', uploadId: 'u-1', stagingKey: '.staging/u-1', expiresAt: expiresAt.toISOString(),
      uploadOffset: 0, progress: '{"parts":[]}', idempotencyKey: 'idem-1',
    })
    t.equal(await ledger.updateUpload(id, { expectedOffset: 0, uploadOffset: 5, progress: '{"parts":[1]}' }), true)
    t.equal(await ledger.updateUpload(id, { expectedOffset: 0, uploadOffset: 7 }), false, 'a stale offset loses')
    t.equal(await ledger.updateUpload(id, { owner: 'instance-b', expiresAt: null }), true)
    t.match(await ledger.getById(id), { uploadOffset: 5, progress: '{"parts":[1]}', owner: 'instance-b', expiresAt: null })
    t.match(await ledger.findByIdempotencyKey('user-1', 'idem-1'), { id })
    t.equal(await ledger.findByIdempotencyKey('user-2', 'idem-1'), undefined, 'keys are per actor')
    await ledger.commit(id, { size: 10, sha256: 's', etag: 'e' })
    t.equal(await ledger.updateUpload(id, { uploadOffset: 10 }), false, 'a committed upload takes no more updates')
  })

  t.test(`${name}: leases: one holder until it lapses or is released`, async (t) => {
    const harness = await factory(t)
    const [a, b] = [await harness.open(), await harness.open()]
    t.equal(await a.acquireLease('job:purge', 'A', 60_000), true)
    t.equal(await b.acquireLease('job:purge', 'B', 60_000), false, 'held by another')
    t.equal(await b.leaseHolder('job:purge'), 'A')
    t.equal(await a.acquireLease('job:purge', 'A', 60_000), true, 'the holder renews')
    await b.releaseLease('job:purge', 'B') // not B's: a no-op
    t.equal(await b.leaseHolder('job:purge'), 'A')
    await a.releaseLease('job:purge', 'A')
    t.equal(await b.leaseHolder('job:purge'), undefined)
    t.equal(await b.acquireLease('job:purge', 'B', 50), true)
    await new Promise((resolve) => setTimeout(resolve, 120))
    t.equal(await a.leaseHolder('job:purge'), undefined, 'a lapsed lease has no holder')
    t.equal(await a.acquireLease('job:purge', 'A', 60_000), true, 'and can be taken over')
  })

  t.test(`${name}: trash, restore, restore conflict and purge`, async (t) => {
    const ledger = await (await factory(t)).open()
    const p = parts('scan.pdf')
    const key = input(p).key
    await store(ledger, p, 10)
    t.equal(await ledger.markTrashed('org-1/epcr/document/epcr-456/none.pdf', trashInput('t0')), undefined)

    const purgeAfter = new Date(Date.now() + 86_400_000)
    const trashed = (await ledger.markTrashed(key, trashInput('t1', purgeAfter)))!
    t.match(trashed, { key, trashId: 't1', deletedBy: 'user-2', purgeAfter: purgeAfter.toISOString(), size: 10 })
    t.equal(await ledger.getLive(key), undefined)
    t.match(await ledger.getTrash('t1'), { state: 'trashed', trashKey: '.trash/org-1/t1' })
    t.equal(await ledger.markTrashed(key, trashInput('t2')), undefined, 'a second delete finds nothing live')

    await store(ledger, p, 20)
    await t.rejects(ledger.markRestored('t1'), { code: 'FST_SPACES_RESTORE_CONFLICT', statusCode: 409 })
    await ledger.markTrashed(key, trashInput('t3'))
    const pending = await ledger.reserve(input(p))
    await t.rejects(ledger.markRestored('t1'), { code: 'FST_SPACES_RESTORE_CONFLICT' }, 'an upload in flight also blocks it')
    await ledger.fail(pending.id, 'test')

    t.match(await ledger.markRestored('t1'), { key, size: 10 })
    t.match(await ledger.getLive(key), { state: 'live', trashId: null, trashKey: null, deletedAt: null, purgeAfter: null })
    t.equal(await ledger.getTrash('t1'), undefined)
    await t.rejects(ledger.markRestored('t1'), { code: 'FST_SPACES_TRASH_NOT_FOUND', statusCode: 404 })
    await t.rejects(ledger.markRestored('nope'), { code: 'FST_SPACES_TRASH_NOT_FOUND' })

    t.same(await ledger.listExpiredTrash(new Date(), 10), [], 'nothing has expired yet')
    const later = new Date(Date.now() + 31 * 86_400_000)
    t.same((await ledger.listExpiredTrash(later, 10)).map((r) => r.trashId), ['t3'])
    t.same(
      (await ledger.listStoredKeys()).map(({ key, state }) => `${state} ${key}`).sort(),
      [`live ${key}`, 'trashed .trash/org-1/t3'],
      'trashed bytes are found under their trash key; failed uploads are not stored',
    )
    await ledger.markPurged('t3')
    t.equal((await ledger.getTrash('t3'))?.state, 'purged', 'a purged entry is still known, as purged')
    t.same(await ledger.listExpiredTrash(later, 10), [])
    await t.rejects(ledger.markPurged('t3'), { code: 'FST_SPACES_TRASH_NOT_FOUND' })
    t.same((await ledger.listStoredKeys()).map((r) => r.state), ['live'])
  })

  t.test(`${name}: listLive pages in key order, per org, system, objectType and objectId`, async (t) => {
    const ledger = await (await factory(t)).open()
    const names = Array.from({ length: 25 }, (_, i) => `f${String(i).padStart(2, '0')}.pdf`)
    for (const name of [...names].reverse()) await store(ledger, parts(name))
    await store(ledger, parts('x.pdf', { objectId: 'epcr-457' }))
    await store(ledger, parts('y.pdf', { system: 'billing', objectId: 'epcr-456' }))
    await store(ledger, parts('z.pdf', { orgId: 'org-10' }), 1) // 'org-1' is a prefix of 'org-10': must not leak
    await store(ledger, parts('w.pdf', { objectType: 'document-2' }))
    await store(ledger, parts('Ärzte.pdf')) // byte order, whatever the database's collation
    await ledger.reserve(input(parts('pending.pdf'))) // not live: never listed

    const filter = { orgId: 'org-1', system: 'epcr', objectType: 'document', objectId: 'epcr-456' }
    const seen: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const page = await ledger.listLive(filter, { limit: 10, ...(cursor ? { cursor } : {}) })
      t.ok(page.items.length <= 10)
      seen.push(...page.items.map((r) => r.key.split('/').pop()!))
      cursor = page.nextCursor
      pages++
    } while (cursor)
    t.same(seen, [...names, 'Ärzte.pdf'], 'every file once, in byte order')
    t.equal(pages, 3)

    const all = (await ledger.listLive({ orgId: 'org-1' }, { limit: 100 })).items.map((r) => r.key)
    t.equal(all.length, 29)
    t.notOk(all.some((k) => k.startsWith('org-10/')))
    t.same((await ledger.listLive({ orgId: 'org-1', system: 'billing' }, { limit: 10 })).items.map((r) => r.key),
      ['org-1/billing/document/epcr-456/y.pdf'])
    t.same((await ledger.listLive({ orgId: 'org-1', objectId: 'epcr-457' }, { limit: 10 })).items.map((r) => r.key),
      ['org-1/epcr/document/epcr-457/x.pdf'], 'a filter that skips a level still applies')
    t.equal((await ledger.listLive({ orgId: 'org-1', system: 'epcr', objectType: 'document' }, { limit: 100 })).items.length, 27,
      'objectType "document" is not a prefix match of "document-2"')
    await t.rejects(ledger.listLive(filter, { limit: 10, cursor: '!!not-a-cursor' }), { code: 'FST_SPACES_BAD_REQUEST', statusCode: 400 })
  })

  t.test(`${name}: listTrash pages newest first`, async (t) => {
    const ledger = await (await factory(t)).open()
    const base = Date.parse('2026-01-30T10:00:00.000Z')
    for (let i = 0; i < 7; i++) {
      const p = parts(`t${i}.pdf`)
      await store(ledger, p)
      const deletedAt = new Date(base + Math.floor(i / 2) * 1000) // two share each timestamp
      await ledger.markTrashed(input(p).key, { ...trashInput(`trash-${i}`), deletedAt })
    }
    await store(ledger, parts('other-org.pdf', { orgId: 'org-2' }))
    await ledger.markTrashed('org-2/epcr/document/epcr-456/other-org.pdf', trashInput('trash-org-2'))

    const ids: string[] = []
    let cursor: string | undefined
    do {
      const page = await ledger.listTrash('org-1', { limit: 3, ...(cursor ? { cursor } : {}) })
      ids.push(...page.items.map((r) => r.trashId))
      cursor = page.nextCursor
    } while (cursor)
    t.same(ids, ['trash-6', 'trash-5', 'trash-4', 'trash-3', 'trash-2', 'trash-1', 'trash-0'])
    t.match(await ledger.listTrash('org-2', { limit: 3 }), { items: [{ trashId: 'trash-org-2', deletedBy: 'user-2' }] })
  })

  t.test(`${name}: usage counts live and trashed bytes per org and prices them`, async (t) => {
    const ledger = await (await factory(t)).open()
    await store(ledger, parts('a.pdf'), 100 * GiB)
    await store(ledger, parts('b.pdf'), 50 * GiB)
    await store(ledger, parts('c.pdf', { system: 'billing' }), 75 * GiB)
    await store(ledger, parts('d.pdf'), 25 * GiB)
    await ledger.markTrashed(input(parts('d.pdf')).key, trashInput('td'))
    await store(ledger, parts('e.pdf', { orgId: 'org-2' }), GiB)
    await store(ledger, parts('gone.pdf'), GiB)
    await ledger.markTrashed(input(parts('gone.pdf')).key, trashInput('tg'))
    await ledger.markPurged('tg')
    await ledger.reserve(input(parts('pending.pdf')))

    t.same(await ledger.usage('org-1'), {
      orgId: 'org-1',
      objects: 3,
      bytes: 225 * GiB,
      bySystem: { billing: { objects: 1, bytes: 75 * GiB }, epcr: { objects: 2, bytes: 150 * GiB } },
      trash: { objects: 1, bytes: 25 * GiB },
      estimatedMonthlyCostUsd: 5,
    })
    t.equal((await ledger.usage('org-2')).estimatedMonthlyCostUsd, 0.02, '1 GiB is 1/250 of $5')
    t.same(await ledger.usage('org-none'), {
      orgId: 'org-none', objects: 0, bytes: 0, bySystem: {}, trash: { objects: 0, bytes: 0 }, estimatedMonthlyCostUsd: 0,
    })
  })

  t.test(`${name}: stale pending uploads are found by age`, async (t) => {
    const ledger = await (await factory(t)).open()
    const { id } = await ledger.reserve(input(parts('crash.pdf')))
    await store(ledger, parts('done.pdf'))
    t.same(await ledger.listStalePending(new Date(Date.now() - 60_000)), [])
    t.same((await ledger.listStalePending(new Date(Date.now() + 1000))).map((r) => r.id), [id])
    await ledger.checkWritable()
  })

  t.test(`${name}: appends form a hash chain, and read back exactly`, async (t) => {
    const ledger = await (await factory(t)).open()
    t.same(await ledger.verifyAudit(), { ok: true, events: 0, head: GENESIS_HASH })
    const first = await ledger.appendAudit(event())
    const second = await ledger.appendAudit(event({ action: 'sign', ttl: 600, roles: [], bytes: null, sha256: null }))
    t.match(first, { seq: 1, prevHash: GENESIS_HASH, roles: ['admin', 'auditor'], status: 200 })
    t.match(first.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    t.equal(first.hash, chainHash(GENESIS_HASH, first))
    t.match(second, { seq: 2, prevHash: first.hash, ttl: 600, roles: [] })
    t.same(await ledger.verifyAudit(), { ok: true, events: 2, head: second.hash })
    t.same((await ledger.queryAudit({}, { limit: 10 })).items, [second, first], 'rows read back exactly as returned')
  })

  t.test(`${name}: appends made together commit together, in one chain`, async (t) => {
    const ledger = await (await factory(t)).open()
    const events = await Promise.all(Array.from({ length: 500 }, (_, i) => ledger.appendAudit(event({ requestId: `r-${i}` }))))
    t.same(events.map((e) => e.seq), Array.from({ length: 500 }, (_, i) => i + 1), 'in the order they were appended')
    t.same(events.map((e) => e.requestId), Array.from({ length: 500 }, (_, i) => `r-${i}`))
    t.match(await ledger.verifyAudit(), { ok: true, events: 500, head: events[499]!.hash })
  })

  t.test(`${name}: queries filter and page newest first`, async (t) => {
    const ledger = await (await factory(t)).open()
    const actions = ['upload', 'download', 'sign'] as const
    const total = 600
    const inputs = Array.from({ length: total }, (_, i) => event({
      org: i % 2 === 0 ? 'org-1' : 'org-2',
      actor: `user-${i % 5}`,
      action: actions[i % 3]!,
      key: `org-1/epcr/document/e/${i % 7}.pdf`,
      result: i % 11 === 0 ? 'denied' : 'ok',
    }))
    // In groups, as requests append them.
    for (let i = 0; i < total; i += 50) await Promise.all(inputs.slice(i, i + 50).map((e) => ledger.appendAudit(e)))

    const seqs: number[] = []
    let cursor: string | undefined
    do {
      const page = await ledger.queryAudit({ orgId: 'org-1' }, { limit: 50, ...(cursor ? { cursor } : {}) })
      seqs.push(...page.items.map((e) => e.seq))
      cursor = page.nextCursor
    } while (cursor)
    t.same(seqs, Array.from({ length: total }, (_, i) => i + 1).filter((s) => (s - 1) % 2 === 0).reverse())

    const match = async (filter: Parameters<Ledger['queryAudit']>[0], fn: (i: number) => boolean) => {
      const got = (await ledger.queryAudit(filter, { limit: 1000 })).items.map((e) => e.seq)
      t.same(got, Array.from({ length: total }, (_, i) => i).filter(fn).map((i) => i + 1).reverse(), JSON.stringify(filter))
    }
    await match({ actor: 'user-3' }, (i) => i % 5 === 3)
    await match({ action: 'sign' }, (i) => i % 3 === 2)
    await match({ key: 'org-1/epcr/document/e/4.pdf' }, (i) => i % 7 === 4)
    await match({ result: 'denied', orgId: 'org-2' }, (i) => i % 11 === 0 && i % 2 === 1)
    await match({ orgId: 'org-2', actor: 'user-1', action: 'upload' }, (i) => i % 2 === 1 && i % 5 === 1 && i % 3 === 0)
    await match({ orgId: 'org-3' }, () => false)
    t.equal((await ledger.queryAudit({ since: '2000-01-01' }, { limit: 1000 })).items.length, total, 'a date-only bound is normalised')
    t.same((await ledger.queryAudit({ until: '2000-01-01' }, { limit: 1000 })).items, [])
    await t.rejects(ledger.queryAudit({ since: 'yesterday' }, { limit: 10 }), { code: 'FST_SPACES_BAD_REQUEST' })
    await t.rejects(ledger.queryAudit({}, { limit: 10, cursor: 'bm90LWEtc2Vx' }), { code: 'FST_SPACES_BAD_REQUEST' })
  })

  t.test(`${name}: the database refuses UPDATE and DELETE on the audit table`, async (t) => {
    const harness = await factory(t)
    const ledger = await harness.open()
    await Promise.all(Array.from({ length: 300 }, () => ledger.appendAudit(event())))
    for (const sql of [`UPDATE audit SET action = 'head' WHERE seq = 1`, 'DELETE FROM audit WHERE seq = 2', 'DELETE FROM audit']) {
      await t.rejects(harness.exec(sql), { message: /append-only/ }, sql)
    }
    t.match(await ledger.verifyAudit(), { ok: true, events: 300 })
  })

  t.test(`${name}: an edit made behind the triggers breaks the chain at that event, and is named`, async (t) => {
    const harness = await factory(t)
    const ledger = await harness.open()
    const events = []
    for (let i = 0; i < 10; i++) events.push(await ledger.appendAudit(event({ requestId: `req-${i}` })))
    t.match(await ledger.verifyAudit(), { ok: true }, 'a checkpoint now covers every event')
    const victim = events[4]!
    await harness.exec(`${harness.dropAuditTriggers} UPDATE audit SET result = 'denied', status = 403 WHERE seq = ${victim.seq};`)
    const check = await ledger.verifyAudit()
    t.match(check, { ok: false, events: 10, brokenAt: { seq: victim.seq, id: victim.id, reason: /hash does not match/ } })
    t.equal(check.head, events[9]!.hash)
  })

  t.test(`${name}: a row deleted from the middle is detected`, async (t) => {
    const harness = await factory(t)
    const ledger = await harness.open()
    const events = []
    for (let i = 0; i < 10; i++) events.push(await ledger.appendAudit(event()))
    await harness.exec(`${harness.dropAuditTriggers} DELETE FROM audit WHERE seq = 6;`)
    t.match(await ledger.verifyAudit(), { ok: false, events: 9, brokenAt: { seq: 7, id: events[6]!.id, reason: /missing/ } })
  })

  t.test(`${name}: verification from a checkpoint walks only what is new, and still sees its own event changed`, async (t) => {
    const harness = await factory(t)
    const ledger = await harness.open()
    await Promise.all(Array.from({ length: 2500 }, () => ledger.appendAudit(event())))
    const full = await ledger.verifyAudit()
    t.match(full, { ok: true, events: 2500 })
    const more = await Promise.all(Array.from({ length: 10 }, () => ledger.appendAudit(event())))
    t.same(await ledger.verifyAudit({ fromCheckpoint: true }), { ok: true, events: 2510, head: more[9]!.hash })
    const together = await Promise.all([ledger.verifyAudit({ fromCheckpoint: true }), ledger.verifyAudit({ fromCheckpoint: true })])
    t.same(together[0], together[1], 'concurrent callers share one walk')
    await harness.exec(`${harness.dropAuditTriggers} UPDATE audit SET status = 500 WHERE seq = 2510;`)
    t.match(await ledger.verifyAudit({ fromCheckpoint: true }), { ok: false, brokenAt: { seq: 2510, reason: /checkpointed event/ } })
    t.match(await ledger.verifyAudit(), { ok: false, brokenAt: { seq: 2510 } })
  })

  t.test(`${name}: instances on one ledger extend one chain, appending at once`, async (t) => {
    const harness = await factory(t)
    const instances = await Promise.all(Array.from({ length: 4 }, () => harness.open()))
    const seqs: number[] = []
    for (const ledger of [instances[0]!, instances[1]!, instances[1]!, instances[0]!]) seqs.push((await ledger.appendAudit(event())).seq)
    t.same(seqs, [1, 2, 3, 4])
    await instances[1]!.checkWritable() // a write that is not an append still leaves the chain intact
    const perInstance = 250
    await Promise.all(instances.map((ledger, n) =>
      Promise.all(Array.from({ length: perInstance }, () => ledger.appendAudit(event({ actor: `instance-${n}` })))),
    ))
    const last = await instances[2]!.appendAudit(event())
    t.equal(last.seq, 4 + 4 * perInstance + 1)
    t.same(await instances[3]!.verifyAudit(), { ok: true, events: last.seq, head: last.hash })
  })
}
