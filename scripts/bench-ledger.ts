// Ledger throughput, side by side in one run, every commit durable (SQLite synchronous=FULL,
// PostgreSQL fsync on): audit appends from 1 and from 3 processes on SQLite and on PostgreSQL,
// against bare INSERT baselines on the same schema, then reserve+commit, verify and a query page.
//   npx tsx scripts/bench-ledger.ts [events per process]      (default 60000)
// PostgreSQL: BENCH_PG_URL (or TEST_PG_URL), else a throwaway cluster from scripts/pg-peer.
// Appends are issued as a server issues them: many requests in flight at once (WINDOW per
// process), each awaiting its own event's durability; group commit writes them in batches.
import { execFileSync, fork, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import pg from 'pg'
import { AUDIT_COLUMNS } from '../plugin/ledger/audit-log.js'
import { applyMigrations } from '../plugin/ledger/migrations.js'
import { openLedger, type LedgerLocation } from '../plugin/ledger/open.js'
import type { AuditInput, Ledger } from '../plugin/ledger/types.js'

const WINDOW = 512

const input: AuditInput = {
  actor: 'user-1',
  org: 'org-1',
  roles: ['admin'],
  ip: '203.0.113.7',
  userAgent: 'curl/8.5.0',
  requestId: 'req-1',
  action: 'download',
  key: 'org-1/epcr/document/epcr-456/20260130_report.pdf',
  result: 'ok',
  status: 200,
  errorCode: null,
  bytes: 123_456,
  sha256: 'c'.repeat(64),
  ttl: null,
}

/** Keeps `window` calls in flight until `n` are done. */
async function pump(n: number, window: number, call: (i: number) => Promise<unknown>): Promise<void> {
  let issued = 0
  let done = 0
  await new Promise<void>((resolve, reject) => {
    const next = (): void => {
      while (issued - done < window && issued < n) {
        const i = issued++
        call(i).then(() => (++done === n ? resolve() : next()), reject)
      }
    }
    next()
  })
}

// ---- worker: one process appending to a shared ledger -------------------------------------------
if (process.argv[2] === '--worker') {
  const [, , , kind, where, count] = process.argv
  const location: LedgerLocation = kind === 'sqlite' ? { path: where! } : { url: where!, max: 4 }
  const ledger = await openLedger(location)
  // Warm, as a serving process is: the first append starts whatever the ledger starts lazily.
  await ledger.appendAudit(input)
  process.send!('ready')
  process.once('message', async () => {
    await pump(Number(count), WINDOW, () => ledger.appendAudit(input))
    // Every append is durable once awaited: closing is not part of the run.
    process.send!('done')
    await ledger.close()
    process.disconnect()
  })
} else {
  await main()
}

interface Row {
  case: string
  ops: number
  perSecond: number
  note?: string
}

async function main(): Promise<void> {
  const perProcess = Number(process.argv[2] ?? 60_000)
  if (!Number.isSafeInteger(perProcess) || perProcess < 1000) throw new Error('events must be an integer of at least 1000')
  const dir = mkdtempSync(join(tmpdir(), 'bench-ledger-'))
  let files = 0
  const freshPath = (): string => join(dir, `ledger-${files++}.db`)
  const { url: pgUrl, stop } = postgres()
  const rows: Row[] = []
  /** `fn` may return the seconds its measured part took (the part after its processes are up). */
  const timed = async (label: string, ops: number, fn: () => Promise<unknown>, note?: string): Promise<void> => {
    const start = process.hrtime.bigint()
    const measured = await fn()
    const seconds = typeof measured === 'number' ? measured : Number(process.hrtime.bigint() - start) / 1e9
    rows.push({ case: label, ops, perSecond: Math.round(ops / seconds), note })
  }
  try {
    // Baselines: the audit table's own INSERT, no hash, no chain, no head lookup.
    const sqlite = sqliteBaseline(freshPath())
    await timed('SQLite baseline: bare INSERT, 1 per durable commit', perProcess / 10, async () => sqlite.insert(perProcess / 10, 1))
    await timed('SQLite baseline: bare INSERT, 256 per durable commit', perProcess, async () => sqlite.insert(perProcess, 256))
    sqlite.close()
    const pgBase = await pgBaseline(pgUrl)
    await timed('PostgreSQL baseline: bare INSERT, 1 per commit (16 conns)', perProcess / 10, () => pgBase.single(perProcess / 10))
    await timed('PostgreSQL baseline: bare INSERT, 256 per commit', perProcess, () => pgBase.batched(perProcess, 256))
    await pgBase.close()

    for (const processes of [1, 3]) {
      const path = freshPath()
      await (await openLedger({ path })).close()
      await timed(`SQLite appendAudit, ${processes} process${processes > 1 ? 'es' : ''}`, processes * perProcess,
        () => inProcesses(processes, 'sqlite', path, perProcess))
    }
    for (const processes of [1, 3]) {
      const url = await freshSchema(pgUrl)
      await (await openLedger({ url })).close()
      await timed(`PostgreSQL appendAudit, ${processes} process${processes > 1 ? 'es' : ''}`, processes * perProcess,
        () => inProcesses(processes, 'postgres', url, perProcess))
      if (processes === 3) {
        const ledger = await openLedger({ url })
        const check = await ledger.verifyAudit()
        if (!check.ok || check.events !== 3 * perProcess + 3) throw new Error(`the PostgreSQL chain does not verify: ${JSON.stringify(check)}`)
        await ledger.close()
      }
    }

    const ledger = await openLedger({ path: freshPath() })
    await pump(perProcess, WINDOW, () => ledger.appendAudit(input))
    await timed('SQLite appendAudit awaited one at a time (no grouping)', 2000, async () => {
      for (let i = 0; i < 2000; i++) await ledger.appendAudit(input)
    }, 'one fsync per event')
    await timed('SQLite reserve + commit (32 in flight)', perProcess / 10, () => reserveCommit(ledger, perProcess / 10))
    const events = perProcess + 2000
    await timed('SQLite verifyAudit (events checked)', events, async () => {
      if (!(await ledger.verifyAudit()).ok) throw new Error('the benchmark chain does not verify')
    })
    await timed('SQLite queryAudit page (org filter, limit 50)', 1000, async () => {
      for (let i = 0; i < 1000; i++) await ledger.queryAudit({ orgId: 'org-1' }, { limit: 50 })
    })
    await ledger.close()
  } finally {
    stop()
    rmSync(dir, { recursive: true, force: true })
  }

  const width = Math.max(...rows.map((r) => r.case.length))
  console.log(`node ${process.version}, SQLite ${new Database(':memory:').prepare('select sqlite_version() v').pluck().get()}, ${WINDOW} appends in flight per process, durable commits`)
  console.log(`${'case'.padEnd(width)}  ${'ops'.padStart(8)}  ${'ops/s'.padStart(9)}`)
  for (const r of rows) {
    console.log(`${r.case.padEnd(width)}  ${String(r.ops).padStart(8)}  ${r.perSecond.toLocaleString('en').padStart(9)}${r.note ? `  (${r.note})` : ''}`)
  }
}

/**
 * Forks `n` worker processes, starts them together once all are up, and waits for all; returns
 * the seconds from the start to the last one's end (process start-up is not the ledger's cost).
 */
async function inProcesses(n: number, kind: string, where: string, count: number): Promise<number> {
  const script = fileURLToPath(import.meta.url)
  const workers: ChildProcess[] = Array.from({ length: n }, () =>
    fork(script, ['--worker', kind, where, String(count)], { execArgv: ['--import', 'tsx'], stdio: 'inherit' }),
  )
  const message = (w: ChildProcess, expected: string) =>
    new Promise<void>((resolve, reject) => {
      w.once('message', (m) => (m === expected ? resolve() : reject(new Error(`worker said ${String(m)}`))))
      w.once('exit', (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)))
    })
  await Promise.all(workers.map((w) => message(w, 'ready')))
  const done = Promise.all(workers.map((w) => message(w, 'done')))
  const start = process.hrtime.bigint()
  for (const w of workers) w.send('go')
  await done
  return Number(process.hrtime.bigint() - start) / 1e9
}

function sqliteBaseline(path: string) {
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  applyMigrations(db)
  const insert = db.prepare(`INSERT INTO audit (${AUDIT_COLUMNS.join(', ')}) VALUES (${AUDIT_COLUMNS.map(() => '?').join(', ')})`)
  let seq = 0
  const row = () => [++seq, randomUUID(), new Date().toISOString(), input.actor, input.org, '["admin"]', input.ip, input.userAgent,
    input.requestId, input.action, input.key, input.result, input.status, input.errorCode, input.bytes, input.sha256, input.ttl, 'p', 'h']
  const tx = db.transaction((k: number) => {
    for (let i = 0; i < k; i++) insert.run(...row())
  })
  return {
    insert(n: number, perCommit: number) {
      for (let i = 0; i < n; i += perCommit) tx.immediate(Math.min(perCommit, n - i))
    },
    close: () => db.close(),
  }
}

async function pgBaseline(base: string) {
  const url = await freshSchema(base)
  await (await openLedger({ url })).close()
  const pool = new pg.Pool({ connectionString: url, max: 16 })
  let seq = 0
  const values = () => [++seq, randomUUID(), new Date().toISOString(), input.actor, input.org, '["admin"]', input.ip,
    input.userAgent, input.requestId, input.action, input.key, input.result, input.status, input.errorCode, input.bytes,
    input.sha256, input.ttl, 'p', 'h']
  const one = `INSERT INTO audit (${AUDIT_COLUMNS.join(', ')}) VALUES (${AUDIT_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`
  return {
    single: (n: number) => pump(n, 16, () => pool.query(one, values())),
    async batched(n: number, perCommit: number) {
      for (let i = 0; i < n; i += perCommit) {
        const k = Math.min(perCommit, n - i)
        const params: unknown[] = []
        const tuples = Array.from({ length: k }, () => `(${values().map((v) => `$${params.push(v)}`).join(', ')})`)
        await pool.query(`INSERT INTO audit (${AUDIT_COLUMNS.join(', ')}) VALUES ${tuples.join(', ')}`, params)
      }
    },
    close: () => pool.end(),
  }
}

async function reserveCommit(ledger: Ledger, n: number): Promise<void> {
  await pump(n, 32, async (i) => {
    const filename = `f${i}.pdf`
    const parts = { orgId: 'org-1', system: 'epcr', objectType: 'document', objectId: `epcr-${i % 100}`, filename }
    const key = `org-1/epcr/document/${parts.objectId}/${filename}`
    const { id } = await ledger.reserve({ key, parts, contentType: 'application/pdf', actor: 'user-1', overwrite: false })
    await ledger.commit(id, { size: 1000, sha256: input.sha256!, etag: '"e"' })
  })
}

/** A new schema on the benchmark database, so every case starts empty. */
async function freshSchema(base: string): Promise<string> {
  const schema = `bench_${randomUUID().slice(0, 8)}`
  const client = new pg.Client({ connectionString: base })
  await client.connect()
  await client.query(`CREATE SCHEMA ${schema}`)
  await client.end()
  const url = new URL(base)
  url.searchParams.set('options', `-c search_path=${schema}`)
  return url.toString()
}

function postgres(): { url: string; stop: () => void } {
  const given = process.env.BENCH_PG_URL ?? process.env.TEST_PG_URL
  if (given) return { url: given, stop: () => {} }
  const peer = fileURLToPath(new URL('./pg-peer', import.meta.url))
  // A folder of its own, as scripts/test makes one: pg-peer hands it to the postgres user, who
  // could not reach into this run's private temp folder.
  const dir = mkdtempSync(join(tmpdir(), 'bench-ledger-pg-'))
  const env = { ...process.env, PG_PEER_DIR: dir }
  execFileSync(peer, ['start'], { env, stdio: 'ignore' })
  const url = /TEST_PG_URL=(\S+)/.exec(execFileSync(peer, ['env'], { env, encoding: 'utf8' }))![1]!
  return {
    url,
    stop: () => {
      execFileSync(peer, ['stop'], { env, stdio: 'ignore' })
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
