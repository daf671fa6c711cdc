// The audit trail: a hash chain the database will not let anyone edit, that shows it when
// someone edits it anyway, and that stays one chain when several connections append.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import Database from 'better-sqlite3'
import t from 'tap'
import { GENESIS_HASH, canonicalEvent, canonicalJson, chainHash, verifyChain } from '../plugin/ledger/audit-chain.js'
import { SEARCH_BATCH } from '../plugin/ledger/sqlite-audit.js'
import { SqliteLedger } from '../plugin/ledger/sqlite.js'
import type { AuditEvent, AuditInput } from '../plugin/ledger/types.js'

function event(over: Partial<AuditInput> = {}): AuditInput {
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

function openAt(t: { teardown(fn: () => void): void }, path: string): SqliteLedger {
  const ledger = SqliteLedger.open({ path })
  t.teardown(() => ledger.close())
  return ledger
}

function sqlite3(path: string, sql: string): void {
  const run = spawnSync('sqlite3', [path, sql], { encoding: 'utf8' })
  if (run.error) throw run.error
  if (run.status !== 0) throw new Error(`sqlite3 failed: ${run.stderr}`)
}

t.test('the chain format is pinned: what is hashed, and how', async (t) => {
  const e = {
    id: 'e1', seq: 1, ts: '2026-01-30T10:00:00.000Z', actor: 'u', org: 'o', roles: ['b', 'a'], ip: null,
    userAgent: null, requestId: null, action: 'sign' as const, key: 'k', result: 'ok' as const, status: 201,
    errorCode: null, bytes: null, sha256: null, ttl: 600,
  }
  const expected =
    '{"action":"sign","actor":"u","bytes":null,"errorCode":null,"id":"e1","ip":null,"key":"k","org":"o",' +
    `"prevHash":"${GENESIS_HASH}","requestId":null,"result":"ok","roles":["b","a"],"seq":1,"sha256":null,` +
    '"status":201,"ts":"2026-01-30T10:00:00.000Z","ttl":600,"userAgent":null}'
  t.equal(canonicalEvent(GENESIS_HASH, e), expected)
  t.equal(canonicalJson({ ...e, prevHash: GENESIS_HASH }), expected, 'the fast path equals the generic form')
  t.equal(chainHash(GENESIS_HASH, e), createHash('sha256').update(expected).digest('hex'))
  t.equal(chainHash(GENESIS_HASH, { ...e, hash: 'ignored' } as never), chainHash(GENESIS_HASH, e), 'hash is not hashed')
  t.not(chainHash('1'.repeat(64), e), chainHash(GENESIS_HASH, e), 'prevHash is hashed')

  t.equal(canonicalJson({ b: 1, a: { d: [1, 'x', null], c: true } }), '{"a":{"c":true,"d":[1,"x",null]},"b":1}')
  t.throws(() => canonicalJson({ a: undefined }), TypeError)
  t.throws(() => canonicalJson(Number.NaN), TypeError)
  t.throws(() => chainHash(GENESIS_HASH, { ...e, ttl: undefined } as never), TypeError)
})

t.test('verifyChain reports the first broken event', async (t) => {
  const events: AuditEvent[] = []
  let prev = GENESIS_HASH
  for (let seq = 1; seq <= 4; seq++) {
    const base = { ...event(), id: `id-${seq}`, seq, ts: '2026-01-30T10:00:00.000Z' }
    const hash = chainHash(prev, base)
    events.push({ ...base, prevHash: prev, hash })
    prev = hash
  }
  t.same(verifyChain([]), { ok: true, events: 0, head: GENESIS_HASH })
  t.same(verifyChain(events), { ok: true, events: 4, head: prev })

  const edited = events.map((e) => (e.seq === 2 ? { ...e, status: 403 } : e))
  t.match(verifyChain(edited), { ok: false, events: 4, brokenAt: { seq: 2, id: 'id-2', reason: /hash does not match/ } })
  const relinked = events.map((e) => (e.seq === 3 ? { ...e, prevHash: GENESIS_HASH } : e))
  t.match(verifyChain(relinked), { ok: false, brokenAt: { seq: 3, reason: /prevHash/ } })
  t.match(verifyChain(events.filter((e) => e.seq !== 2)), { ok: false, events: 3, brokenAt: { seq: 3, reason: /missing/ } })
  t.match(verifyChain([events[1]!, events[0]!]), { ok: false, brokenAt: { seq: 2, id: 'id-2' } })
})

t.test('appends form a hash chain', async (t) => {
  const ledger = openAt(t, join(t.testdir(), 'ledger.db'))
  t.same(await ledger.verifyAudit(), { ok: true, events: 0, head: GENESIS_HASH })

  const first = await ledger.appendAudit(event())
  const second = await ledger.appendAudit(event({ action: 'sign', ttl: 600, roles: [], bytes: null, sha256: null }))
  t.match(first, { seq: 1, prevHash: GENESIS_HASH, roles: ['admin', 'auditor'], status: 200 })
  t.match(first.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  t.match(first.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  t.equal(first.hash, chainHash(GENESIS_HASH, first))
  t.match(second, { seq: 2, prevHash: first.hash, ttl: 600, roles: [] })
  t.same(await ledger.verifyAudit(), { ok: true, events: 2, head: second.hash })
  t.same((await ledger.queryAudit({}, { limit: 10 })).items, [second, first], 'rows read back exactly as returned')
})

t.test('queries filter and page newest first', async (t) => {
  const ledger = openAt(t, join(t.testdir(), 'ledger.db'))
  const actions = ['upload', 'download', 'sign'] as const
  // More than one batch of the search table, and a tail that only the query itself copies.
  const total = SEARCH_BATCH * 2 + 40
  for (let i = 0; i < total; i++) {
    await ledger.appendAudit(event({
      org: i % 2 === 0 ? 'org-1' : 'org-2',
      actor: `user-${i % 5}`,
      action: actions[i % 3]!,
      key: `org-1/epcr/document/e/${i % 7}.pdf`,
    }))
  }

  const seqs: number[] = []
  let cursor: string | undefined
  do {
    const page = await ledger.queryAudit({ orgId: 'org-1' }, { limit: 50, ...(cursor ? { cursor } : {}) })
    t.ok(page.items.length <= 50)
    seqs.push(...page.items.map((e) => e.seq))
    cursor = page.nextCursor
  } while (cursor)
  const expected = Array.from({ length: total }, (_, i) => i + 1).filter((s) => (s - 1) % 2 === 0).reverse()
  t.same(seqs, expected, 'every org-1 event once, newest first')

  const match = async (filter: Parameters<SqliteLedger['queryAudit']>[0], fn: (i: number) => boolean) => {
    const got = (await ledger.queryAudit(filter, { limit: 1000 })).items.map((e) => e.seq)
    const want = Array.from({ length: total }, (_, i) => i).filter(fn).map((i) => i + 1).reverse()
    t.same(got, want, JSON.stringify(filter))
  }
  await match({ actor: 'user-3' }, (i) => i % 5 === 3)
  await match({ action: 'sign' }, (i) => i % 3 === 2)
  await match({ key: 'org-1/epcr/document/e/4.pdf' }, (i) => i % 7 === 4)
  await match({ orgId: 'org-2', actor: 'user-1', action: 'upload' }, (i) => i % 2 === 1 && i % 5 === 1 && i % 3 === 0)
  await match({ orgId: 'org-3' }, () => false)

  const all = (await ledger.queryAudit({}, { limit: 1000 })).items
  const mid = all[300]!.ts
  t.ok((await ledger.queryAudit({ since: mid }, { limit: 1000 })).items.every((e) => e.ts >= mid), 'since is inclusive')
  t.ok((await ledger.queryAudit({ until: mid }, { limit: 1000 })).items.every((e) => e.ts < mid), 'until is exclusive')
  const windowed = await ledger.queryAudit({ since: mid, until: mid }, { limit: 10 })
  t.same(windowed.items, [])
  t.equal((await ledger.queryAudit({ since: '2000-01-01' }, { limit: 1000 })).items.length, total, 'a date-only bound is normalised')
  await t.rejects(ledger.queryAudit({ since: 'yesterday' }, { limit: 10 }), { code: 'FST_SPACES_BAD_REQUEST' })
  await t.rejects(ledger.queryAudit({}, { limit: 10, cursor: 'bm90LWEtc2Vx' }), { code: 'FST_SPACES_BAD_REQUEST' })
  t.equal((await ledger.verifyAudit()).events, total)
})

t.test('the database refuses UPDATE and DELETE on the audit tables', async (t) => {
  const path = join(t.testdir(), 'ledger.db')
  const ledger = openAt(t, path)
  for (let i = 0; i < SEARCH_BATCH; i++) await ledger.appendAudit(event()) // fills audit_search too
  const db = new Database(path)
  t.teardown(() => db.close())
  for (const table of ['audit', 'audit_search']) {
    t.throws(() => db.prepare(`UPDATE ${table} SET action = 'head' WHERE seq = 1`).run(), { message: 'audit log is append-only' })
    t.throws(() => db.prepare(`DELETE FROM ${table} WHERE seq = 2`).run(), { message: 'audit log is append-only' })
    t.throws(() => db.prepare(`DELETE FROM ${table}`).run(), { message: 'audit log is append-only' })
  }
  t.match(await ledger.verifyAudit(), { ok: true, events: SEARCH_BATCH })
})

t.test('an edit made behind the triggers breaks the chain at that event', async (t) => {
  const path = join(t.testdir(), 'ledger.db')
  const ledger = openAt(t, path)
  const events = []
  for (let i = 0; i < 10; i++) events.push(await ledger.appendAudit(event({ requestId: `req-${i}` })))
  const victim = events[4]!
  sqlite3(path, `DROP TRIGGER audit_no_update; UPDATE audit SET result = 'denied', status = 403 WHERE seq = ${victim.seq};`)

  const check = await ledger.verifyAudit()
  t.match(check, { ok: false, events: 10, brokenAt: { seq: victim.seq, id: victim.id, reason: /hash does not match/ } })
  t.equal(check.head, events[9]!.hash)
})

t.test('a row deleted from the middle is detected', async (t) => {
  const path = join(t.testdir(), 'ledger.db')
  const ledger = openAt(t, path)
  const events = []
  for (let i = 0; i < 10; i++) events.push(await ledger.appendAudit(event()))
  sqlite3(path, 'DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 6;')
  t.match(await ledger.verifyAudit(), { ok: false, events: 9, brokenAt: { seq: 7, id: events[6]!.id, reason: /missing/ } })
})

t.test('connections on one file extend one chain', async (t) => {
  const path = join(t.testdir(), 'ledger.db')
  const a = openAt(t, path)
  const b = openAt(t, path)
  // Each connection caches the head; an append by the other must be noticed.
  const seqs: number[] = []
  for (const ledger of [a, b, b, a, a, b]) seqs.push((await ledger.appendAudit(event())).seq)
  t.same(seqs, [1, 2, 3, 4, 5, 6])
  await b.checkWritable() // a write that is not an append still leaves the chain intact
  t.equal((await a.appendAudit(event())).seq, 7)

  // And when they really run at once: four threads, each with its own connection.
  const perWorker = 300
  const counts = await Promise.all(Array.from({ length: 4 }, () => appendInWorker(path, perWorker)))
  t.same(counts, Array(4).fill(perWorker))
  const more = await a.appendAudit(event())
  t.equal(more.seq, 7 + 4 * perWorker + 1)
  t.same(await a.verifyAudit(), { ok: true, events: more.seq, head: more.hash })
})

const APPENDER = `
const { workerData, parentPort } = require('node:worker_threads')
const { api, module, parent, path, count, input } = workerData
import(api).then(({ tsImport }) => tsImport(module, parent)).then(async ({ SqliteLedger }) => {
  const ledger = SqliteLedger.open({ path })
  for (let i = 0; i < count; i++) await ledger.appendAudit(input)
  await ledger.close()
  parentPort.postMessage(count)
})
`

function appendInWorker(path: string, count: number): Promise<number> {
  const worker = new Worker(APPENDER, {
    eval: true,
    workerData: {
      api: import.meta.resolve('tsx/esm/api'),
      module: new URL('../plugin/ledger/sqlite.ts', import.meta.url).href,
      parent: import.meta.url,
      path,
      count,
      input: event({ actor: 'worker' }),
    },
  })
  return new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
}
