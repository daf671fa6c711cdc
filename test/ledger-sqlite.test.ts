// SqliteLedger: the shared Ledger contract on a real WAL file, then what only SQLite can get
// wrong: connections in other threads racing for the write lock, the file's pragmas and schema
// version, and a damaged file.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import Database from 'better-sqlite3'
import t from 'tap'
import { SqliteLedger } from '../plugin/ledger/sqlite.js'
import type { ReserveInput } from '../plugin/ledger/types.js'
import { event, input, ledgerContract, parts } from './ledger-contract.js'

function sqlite3(path: string, sql: string): Promise<void> {
  const run = spawnSync('sqlite3', [path, sql], { encoding: 'utf8' })
  if (run.error) return Promise.reject(run.error)
  if (run.status !== 0) return Promise.reject(new Error(`sqlite3 failed: ${run.stderr}`))
  return Promise.resolve()
}

interface Scope {
  testdir(): string
  teardown(fn: () => unknown): void
}

function open(t: Scope, path = join(t.testdir(), 'ledger.db')): SqliteLedger {
  const ledger = SqliteLedger.open({ path })
  t.teardown(() => ledger.close())
  return ledger
}

ledgerContract(t, 'sqlite', async (t) => {
  const path = join(t.testdir(), 'ledger.db')
  return {
    open: async () => open(t, path),
    exec: (sql) => sqlite3(path, sql),
    dropAuditTriggers: 'DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;',
  }
})

t.test('sqlite: 20 threads, each with its own connection, reserve one key at once: exactly one wins', async (t) => {
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
  const overwrites = await race(racers, { ...fresh, overwrite: true })
  t.equal(overwrites.filter((r) => r.ok).length, 1, 'one overwrite wins')
})

t.test('sqlite: threads appending at once extend one chain', async (t) => {
  const path = join(t.testdir(), 'ledger.db')
  const ledger = open(t, path)
  await ledger.appendAudit(event())
  const counts = await Promise.all(Array.from({ length: 4 }, () => appendInWorker(path, 300)))
  t.same(counts, Array(4).fill(300))
  const last = await ledger.appendAudit(event())
  t.equal(last.seq, 1 + 4 * 300 + 1)
  t.same(await ledger.verifyAudit(), { ok: true, events: last.seq, head: last.hash })
})

t.test('sqlite: reopening an existing file keeps its data, schema and durable settings', async (t) => {
  const path = join(t.testdir(), 'nested', 'dir', 'ledger.db')
  const first = SqliteLedger.open({ path })
  const { id } = await first.reserve(input(parts('keep.pdf')))
  await first.commit(id, { size: 1, sha256: 's', etag: 'e' })
  await first.appendAudit(event())
  await first.close()
  await first.close() // closing twice is harmless

  const again = open(t, path)
  t.ok(await again.getLive('org-1/epcr/document/epcr-456/keep.pdf'))
  t.match(await again.verifyAudit(), { ok: true, events: 1 })
  const db = new Database(path, { readonly: true })
  t.teardown(() => db.close())
  t.equal(db.pragma('user_version', { simple: true }), 3)
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal')
  // synchronous is per connection: read it from the ledger's own.
  t.equal((again as unknown as { db: Database.Database }).db.pragma('synchronous', { simple: true }), 2, 'synchronous=FULL')
})

t.test('sqlite: a file from a newer schema is refused', async (t) => {
  const path = join(t.testdir(), 'ledger.db')
  await open(t, path).close()
  const db = new Database(path)
  db.pragma('user_version = 99')
  db.close()
  t.throws(() => SqliteLedger.open({ path }), { code: 'FST_SPACES_LEDGER_ERROR', message: /newer than this build/ })
})

t.test('sqlite: checkWritable proves a write, and says so when it cannot', async (t) => {
  const path = join(t.testdir(), 'ledger.db')
  const ledger = open(t, path)
  await ledger.checkWritable()
  const memory = SqliteLedger.open({ path: ':memory:' })
  await memory.checkWritable()
  await memory.close()
  const db = new Database(path)
  db.exec('DROP TABLE health')
  db.close()
  await t.rejects(ledger.checkWritable(), { code: 'FST_SPACES_LEDGER_ERROR', statusCode: 503, cause: { code: 'SQLITE_ERROR' } })
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

const APPENDER = `
const { workerData, parentPort } = require('node:worker_threads')
const { api, module, parent, path, count, input } = workerData
import(api).then(({ tsImport }) => tsImport(module, parent)).then(async ({ SqliteLedger }) => {
  const ledger = SqliteLedger.open({ path })
  await Promise.all(Array.from({ length: count }, () => ledger.appendAudit(input)))
  await ledger.close()
  parentPort.postMessage(count)
})
`

function workerData(extra: Record<string, unknown>) {
  return {
    // The workers load the TypeScript source through tsx, as the tests do.
    api: import.meta.resolve('tsx/esm/api'),
    module: new URL('../plugin/ledger/sqlite.ts', import.meta.url).href,
    parent: import.meta.url,
    ...extra,
  }
}

async function startRacers(n: number, path: string): Promise<Worker[]> {
  const workers = Array.from({ length: n }, () => new Worker(RACER, { eval: true, workerData: workerData({ path }) }))
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

function appendInWorker(path: string, count: number): Promise<number> {
  const worker = new Worker(APPENDER, { eval: true, workerData: workerData({ path, count, input: event({ actor: 'worker' }) }) })
  return nextMessage(worker) as Promise<number>
}

function nextMessage(worker: Worker): Promise<unknown> {
  return new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
}
