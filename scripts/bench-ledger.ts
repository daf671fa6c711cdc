// Ledger throughput on a temporary WAL file: audit appends against plain-INSERT baselines in the
// same run, then reserve+commit cycles, verify and a query page.
//   npx tsx scripts/bench-ledger.ts [events]     (default 50000)
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { applyMigrations } from '../plugin/ledger/migrations.js'
import { SqliteLedger } from '../plugin/ledger/sqlite.js'
import type { AuditInput } from '../plugin/ledger/types.js'

const events = Number(process.argv[2] ?? 50_000)
if (!Number.isSafeInteger(events) || events < 1000) throw new Error('events must be an integer of at least 1000')
const dir = mkdtempSync(join(tmpdir(), 'bench-ledger-'))
let files = 0
const freshPath = (): string => join(dir, `ledger-${files++}.db`)

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

interface Row {
  case: string
  ops: number
  perSecond: number
  p99us?: number
  maxUs?: number
}
const rows: Row[] = []

/** Runs `fn` n times after a warm-up, timing each call. */
async function measure(label: string, n: number, fn: (i: number) => unknown): Promise<void> {
  for (let i = 0; i < Math.min(1000, n / 10); i++) await fn(i)
  const lap = new Float64Array(n)
  const start = process.hrtime.bigint()
  let last = start
  for (let i = 0; i < n; i++) {
    await fn(i)
    const now = process.hrtime.bigint()
    lap[i] = Number(now - last) / 1000
    last = now
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  lap.sort()
  rows.push({
    case: label,
    ops: n,
    perSecond: Math.round(n / seconds),
    p99us: Math.round(lap[Math.floor(n * 0.99)]!),
    maxUs: Math.round(lap[n - 1]!),
  })
}

/** The ledger's own schema and pragmas, written to with one bare INSERT per transaction. */
async function baseline(label: string, n: number, options: { synchronous: string; inlineIndexes?: boolean }): Promise<void> {
  const db = new Database(freshPath())
  db.pragma('journal_mode = WAL')
  db.pragma(`synchronous = ${options.synchronous}`)
  applyMigrations(db)
  if (options.inlineIndexes) {
    for (const column of ['org', 'key', 'actor', 'action', 'ts']) db.exec(`CREATE INDEX audit_${column} ON audit (${column})`)
  }
  const insert = db.prepare(`INSERT INTO audit (seq, id, ts, actor, org, roles, ip, user_agent, request_id, action,
    key, result, status, error_code, bytes, sha256, ttl, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
  const roles = JSON.stringify(input.roles)
  let seq = 0
  const tx = db.transaction(() => {
    seq++
    insert.run(seq, randomUUID(), new Date().toISOString(), input.actor, input.org, roles, input.ip, input.userAgent,
      input.requestId, input.action, input.key, input.result, input.status, input.errorCode, input.bytes, input.sha256,
      input.ttl, input.sha256, input.sha256)
  })
  await measure(label, n, () => tx.immediate())
  db.close()
}

await baseline('baseline: bare INSERT, no hash or chain (NORMAL)', events, { synchronous: 'NORMAL' })
await baseline('baseline: bare INSERT + 5 inline indexes (NORMAL)', events, { synchronous: 'NORMAL', inlineIndexes: true })
await baseline('baseline: bare INSERT (synchronous=FULL)', Math.round(events / 10), { synchronous: 'FULL' })

const ledger = SqliteLedger.open({ path: freshPath() })
await measure('appendAudit (hash chain, NORMAL)', events, () => ledger.appendAudit(input))

const actors = ['user-1', 'user-2', 'user-3']
let uploads = 0
await measure('reserve + commit', Math.round(events / 5), async () => {
  const i = uploads++ // the warm-up calls take keys too
  const filename = `f${i}.pdf`
  const parts = { orgId: 'org-1', system: 'epcr', objectType: 'document', objectId: `epcr-${i % 100}`, filename }
  const key = `org-1/epcr/document/${parts.objectId}/${filename}`
  const { id } = await ledger.reserve({ key, parts, contentType: 'application/pdf', actor: actors[i % 3]!, overwrite: false })
  await ledger.commit(id, { size: 1000, sha256: input.sha256!, etag: '"e"' })
})

const verifyStart = process.hrtime.bigint()
const { events: verified, ok } = await ledger.verifyAudit()
if (!ok) throw new Error('the benchmark chain does not verify')
const verifySeconds = Number(process.hrtime.bigint() - verifyStart) / 1e9
rows.push({ case: 'verifyAudit (events checked)', ops: verified, perSecond: Math.round(verified / verifySeconds) })
await measure('queryAudit page (org filter, limit 50)', 1000, () => ledger.queryAudit({ orgId: 'org-1' }, { limit: 50 }))
await ledger.close()
rmSync(dir, { recursive: true, force: true })

const width = Math.max(...rows.map((r) => r.case.length))
const line = (...cells: string[]): string => `${cells[0]!.padEnd(width)}  ${cells.slice(1).map((c) => c.padStart(10)).join('  ')}`
console.log(`node ${process.version}, better-sqlite3 SQLite ${new Database(':memory:').prepare('select sqlite_version() v').pluck().get()}`)
console.log(line('case', 'ops', 'ops/s', 'p99 µs', 'max µs'))
for (const r of rows) {
  console.log(line(r.case, String(r.ops), r.perSecond.toLocaleString('en'), String(r.p99us ?? ''), String(r.maxUs ?? '')))
}
