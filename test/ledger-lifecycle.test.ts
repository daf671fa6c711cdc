// SqliteLedger's file lifecycle on a real WAL file: reserve, commit, fail, trash, restore, purge,
// paging, usage, and that the rules hold between connections, not only inside one.
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import Database from 'better-sqlite3'
import t from 'tap'
import type { KeyParts } from '../plugin/keys.js'
import { SqliteLedger } from '../plugin/ledger/sqlite.js'
import type { ReserveInput } from '../plugin/ledger/types.js'

const GiB = 1024 ** 3

function parts(filename: string, over: Partial<KeyParts> = {}): KeyParts {
  return { orgId: 'org-1', system: 'epcr', objectType: 'document', objectId: 'epcr-456', filename, ...over }
}

function input(p: KeyParts, extra: Partial<ReserveInput> = {}): ReserveInput {
  const key = `${p.orgId}/${p.system}/${p.objectType}/${p.objectId}/${p.filename}`
  return { key, parts: p, contentType: 'application/pdf', actor: 'user-1', overwrite: false, ...extra }
}

interface Scope {
  testdir(): string
  teardown(fn: () => void): void
}

function open(t: Scope, path = join(t.testdir(), 'ledger.db')): SqliteLedger {
  const ledger = SqliteLedger.open({ path })
  t.teardown(() => ledger.close())
  return ledger
}

/** Stores a live file in one step. */
async function store(ledger: SqliteLedger, p: KeyParts, size = 100) {
  const { id } = await ledger.reserve(input(p))
  return await ledger.commit(id, { size, sha256: 'a'.repeat(64), etag: `"etag-${p.filename}"` })
}

function trashInput(trashId: string, purgeAfter = new Date(Date.now() + 30 * 86_400_000)) {
  return { trashId, trashKey: `.trash/org-1/${trashId}`, deletedBy: 'user-2', deletedAt: new Date(), purgeAfter }
}

t.test('reserve, commit and fail', async (t) => {
  const ledger = open(t)
  const p = parts('report.pdf')
  const { id, replaces } = await ledger.reserve(input(p, { expectedSize: 42 }))
  t.equal(replaces, undefined)
  t.match(await ledger.getPending(input(p).key), { id, state: 'pending', expectedSize: 42, size: 0, ...p })
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
  await ledger.fail(other.id, 'again') // not pending any more: a no-op
  t.ok((await ledger.reserve(input(parts('other.pdf')))).id, 'the key is free again')
  await t.rejects(ledger.reserve({ ...input(p), key: 'org-2/epcr/document/epcr-456/report.pdf' }), TypeError,
    'a key that is not its parts is refused')
})

t.test('one key: the first reservation wins, later ones get 409 with their reason', async (t) => {
  const ledger = open(t)
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

t.test('20 connections reserve one key at once: exactly one wins', async (t) => {
  const path = join(t.testdir(), 'ledger.db')
  const ledger = open(t, path) // creates the schema before the race
  const racers = await startRacers(20, path)
  t.teardown(() => Promise.all(racers.map((w) => w.terminate())))
  const fresh = input(parts('race.pdf'))

  const first = await race(racers, fresh)
  const winners = first.filter((r) => r.ok)
  t.equal(winners.length, 1)
  t.same(first.filter((r) => !r.ok).map((r) => `${r.statusCode} ${r.code}`), Array(19).fill('409 FST_SPACES_UPLOAD_IN_PROGRESS'))

  await ledger.commit(winners[0]!.id!, { size: 1, sha256: 's', etag: 'e' })
  const conflicts = await race(racers, fresh)
  t.same(conflicts.map((r) => r.code), Array(20).fill('FST_SPACES_CONFLICT'), 'a live file turns every plain upload away')
  const overwrites = await race(racers, { ...fresh, overwrite: true })
  t.equal(overwrites.filter((r) => r.ok).length, 1, 'one overwrite wins')
  t.same(overwrites.filter((r) => !r.ok).map((r) => r.code), Array(19).fill('FST_SPACES_UPLOAD_IN_PROGRESS'))
})

interface RaceResult {
  ok: boolean
  id?: string
  code?: string
  statusCode?: number
}

// Each worker holds its own connection. Per round it counts itself in at a barrier, waits for the
// start signal, then reserves: the calls really race for the write lock.
const RACER = `
const { workerData, parentPort } = require('node:worker_threads')
const { api, module, parent, path } = workerData
import(api).then(({ tsImport }) => tsImport(module, parent)).then(({ SqliteLedger }) => {
  const ledger = SqliteLedger.open({ path })
  parentPort.on('message', async ({ input, barrier }) => {
    const gate = new Int32Array(barrier)
    Atomics.add(gate, 0, 1)
    Atomics.wait(gate, 1, 0)
    try {
      parentPort.postMessage({ ok: true, id: (await ledger.reserve(input)).id })
    } catch (err) {
      parentPort.postMessage({ ok: false, code: err.code, statusCode: err.statusCode })
    }
  })
  parentPort.postMessage('ready')
})
`

async function startRacers(n: number, path: string): Promise<Worker[]> {
  const workerData = {
    // The workers load the TypeScript source through tsx, as the tests do.
    api: import.meta.resolve('tsx/esm/api'),
    module: new URL('../plugin/ledger/sqlite.ts', import.meta.url).href,
    parent: import.meta.url,
    path,
  }
  const workers = Array.from({ length: n }, () => new Worker(RACER, { eval: true, workerData }))
  await Promise.all(workers.map((w) => nextMessage(w)))
  return workers
}

async function race(workers: Worker[], reserve: ReserveInput): Promise<RaceResult[]> {
  const barrier = new SharedArrayBuffer(8)
  const gate = new Int32Array(barrier)
  const results = workers.map((w) => nextMessage(w) as Promise<RaceResult>)
  for (const w of workers) w.postMessage({ input: reserve, barrier })
  while (Atomics.load(gate, 0) < workers.length) await new Promise((r) => setTimeout(r, 2))
  Atomics.store(gate, 1, 1)
  Atomics.notify(gate, 1)
  return Promise.all(results)
}

function nextMessage(worker: Worker): Promise<unknown> {
  return new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
}

t.test('trash, restore, restore conflict and purge', async (t) => {
  const ledger = open(t)
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

  // A new file took the key meanwhile: restoring would overwrite it.
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

  // t3 (size 20) is still in trash; expire it and purge it.
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

t.test('listLive pages in key order, per org, system, objectType and objectId', async (t) => {
  const ledger = open(t)
  const names = Array.from({ length: 25 }, (_, i) => `f${String(i).padStart(2, '0')}.pdf`)
  for (const name of [...names].reverse()) await store(ledger, parts(name))
  await store(ledger, parts('x.pdf', { objectId: 'epcr-457' }))
  await store(ledger, parts('y.pdf', { system: 'billing', objectId: 'epcr-456' }))
  await store(ledger, parts('z.pdf', { orgId: 'org-10' }), 1) // 'org-1' is a prefix of 'org-10': must not leak
  await store(ledger, parts('w.pdf', { objectType: 'document-2' }))
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
  t.same(seen, names, 'every file once, in key order')
  t.equal(pages, 3)
  t.notOk((await ledger.listLive(filter, { limit: 25 })).nextCursor, 'no cursor when the page holds the rest')

  const all = (await ledger.listLive({ orgId: 'org-1' }, { limit: 100 })).items.map((r) => r.key)
  t.equal(all.length, 28)
  t.same(all, [...all].sort())
  t.notOk(all.some((k) => k.startsWith('org-10/')))
  t.same((await ledger.listLive({ orgId: 'org-1', system: 'billing' }, { limit: 10 })).items.map((r) => r.key),
    ['org-1/billing/document/epcr-456/y.pdf'])
  t.same((await ledger.listLive({ orgId: 'org-1', objectId: 'epcr-457' }, { limit: 10 })).items.map((r) => r.key),
    ['org-1/epcr/document/epcr-457/x.pdf'], 'a filter that skips a level still applies')
  t.equal((await ledger.listLive({ orgId: 'org-1', system: 'epcr', objectType: 'document' }, { limit: 100 })).items.length, 26,
    'objectType "document" is not a prefix match of "document-2"')
  await t.rejects(ledger.listLive(filter, { limit: 10, cursor: '!!not-a-cursor' }), { code: 'FST_SPACES_BAD_REQUEST', statusCode: 400 })
})

t.test('listTrash pages newest first', async (t) => {
  const ledger = open(t)
  const base = Date.parse('2026-01-30T10:00:00.000Z')
  for (let i = 0; i < 7; i++) {
    const p = parts(`t${i}.pdf`)
    await store(ledger, p)
    // Two entries share each timestamp, so the trash id breaks the tie.
    const deletedAt = new Date(base + Math.floor(i / 2) * 1000)
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

t.test('usage counts live and trashed bytes per org and prices them', async (t) => {
  const ledger = open(t)
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
    estimatedMonthlyCostUsd: 5, // 225 GiB live + 25 GiB in trash = 250 GiB
  })
  t.equal((await ledger.usage('org-2')).estimatedMonthlyCostUsd, 0.02, '1 GiB is 1/250 of $5')
  await store(ledger, parts('odd.pdf', { orgId: 'org-3' }), 1e9)
  t.equal((await ledger.usage('org-3')).estimatedMonthlyCostUsd, 0.0186, 'rounded to 4 decimals (0.018626...)')
  t.same(await ledger.usage('org-none'), {
    orgId: 'org-none', objects: 0, bytes: 0, bySystem: {}, trash: { objects: 0, bytes: 0 }, estimatedMonthlyCostUsd: 0,
  })
})

t.test('stale pending uploads are found by age', async (t) => {
  const ledger = open(t)
  const { id } = await ledger.reserve(input(parts('crash.pdf')))
  await store(ledger, parts('done.pdf'))
  t.same(await ledger.listStalePending(new Date(Date.now() - 60_000)), [])
  t.same((await ledger.listStalePending(new Date(Date.now() + 1000))).map((r) => r.id), [id])
})

t.test('reopening an existing file keeps its data and schema', async (t) => {
  const path = join(t.testdir(), 'nested', 'dir', 'ledger.db')
  const first = SqliteLedger.open({ path })
  await store(first, parts('keep.pdf'))
  await first.appendAudit({
    actor: 'u', org: 'org-1', roles: [], ip: null, userAgent: null, requestId: null, action: 'upload',
    key: null, result: 'ok', status: 201, errorCode: null, bytes: null, sha256: null, ttl: null,
  })
  await first.close()
  await first.close() // closing twice is harmless

  const again = open(t, path)
  t.ok(await again.getLive('org-1/epcr/document/epcr-456/keep.pdf'))
  t.match(await again.verifyAudit(), { ok: true, events: 1 })
  await again.checkWritable()

  const db = new Database(path, { readonly: true })
  t.teardown(() => db.close())
  t.equal(db.pragma('user_version', { simple: true }), 2)
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal')
})

t.test('a file from a newer schema is refused', async (t) => {
  const path = join(t.testdir(), 'ledger.db')
  await open(t, path).close()
  const db = new Database(path)
  db.pragma('user_version = 99')
  db.close()
  t.throws(() => SqliteLedger.open({ path }), { code: 'FST_SPACES_LEDGER_ERROR', message: /newer than this build/ })
})

t.test('checkWritable proves a write, and says so when it cannot', async (t) => {
  const path = join(t.testdir(), 'ledger.db')
  const ledger = open(t, path)
  await ledger.checkWritable()
  const memory = SqliteLedger.open({ path: ':memory:' })
  await memory.checkWritable()
  await memory.close()
  // Another connection breaks the table it writes to, as a damaged file would.
  const db = new Database(path)
  db.exec('DROP TABLE health')
  db.close()
  await t.rejects(ledger.checkWritable(), { code: 'FST_SPACES_LEDGER_ERROR', statusCode: 503, cause: { code: 'SQLITE_ERROR' } })
})
