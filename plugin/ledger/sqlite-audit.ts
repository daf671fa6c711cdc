// The audit half of SqliteLedger: appends to the hash chain in groups, queries and verifies it.
// Every file operation appends one event, so append is the ledger's hot path.
import type { Database, Statement } from 'better-sqlite3'
import { GENESIS_HASH, type ChainPoint } from './audit-chain.js'
import {
  AUDIT_COLUMNS,
  ChainVerifier,
  EVENT_COLUMNS,
  GroupCommit,
  auditConditions,
  chainBatch,
  eventValues,
  toEvent,
  type EventRow,
} from './audit-log.js'
import { decodeCursor, isSafeInteger, pageLimit, toPage } from './cursor.js'
import type { AuditEvent, AuditFilter, AuditInput, AuditVerification, Page, PageRequest, VerifyOptions } from './types.js'

/**
 * Appends copy their filter columns into audit_search once per this many events. A commit costs
 * a page write per index it touches, so five indexes per small batch would cut the append rate;
 * per 256 events they cost a few microseconds each. Queries copy the rest first, so they never
 * miss an event.
 */
export const SEARCH_BATCH = 256

export class AuditLog {
  private readonly insert: Statement
  private readonly selectHead: Statement
  private readonly selectAfter: Statement
  private readonly copyToSearch: Statement
  private readonly lastCheckpoint: Statement
  private readonly saveCheckpoint: Statement
  private readonly queries = new Map<string, Statement>()
  private readonly appendTx: (inputs: AuditInput[]) => AuditEvent[]
  private readonly group: GroupCommit
  private readonly verifier: ChainVerifier

  constructor(
    private readonly db: Database,
    guard: <T>(fn: () => T) => T,
  ) {
    this.insert = db.prepare(`INSERT INTO audit (${AUDIT_COLUMNS.join(', ')}) VALUES (${AUDIT_COLUMNS.map(() => '?').join(', ')})`)
    this.selectHead = db.prepare('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1')
    this.selectAfter = db.prepare(`SELECT ${EVENT_COLUMNS} FROM audit a WHERE a.seq > ? ORDER BY a.seq LIMIT ?`)
    this.copyToSearch = db.prepare(`INSERT INTO audit_search (seq, org, key, actor, action, ts)
      SELECT seq, org, key, actor, action, ts FROM audit
      WHERE seq > (SELECT coalesce(max(seq), 0) FROM audit_search) ORDER BY seq`)
    this.lastCheckpoint = db.prepare('SELECT seq, hash FROM audit_checkpoints ORDER BY seq DESC LIMIT 1')
    this.saveCheckpoint = db.prepare('INSERT OR IGNORE INTO audit_checkpoints (seq, hash, verified_at) VALUES (?, ?, ?)')
    const tx = db.transaction((inputs: AuditInput[]) => this.appendLocked(inputs))
    this.appendTx = (inputs) => tx.immediate(inputs)
    this.group = new GroupCommit(async (inputs) => guard(() => this.appendTx(inputs)))
    this.verifier = new ChainVerifier({
      readEvents: async (afterSeq, limit) => guard(() => (this.selectAfter.all(afterSeq, limit) as EventRow[]).map(toEvent)),
      lastCheckpoint: async () => guard(() => this.lastCheckpoint.get() as ChainPoint | undefined),
      saveCheckpoint: async ({ seq, hash }) => {
        guard(() => this.saveCheckpoint.run(seq, hash, new Date().toISOString()))
      },
    })
  }

  append(input: AuditInput): Promise<AuditEvent> {
    return this.group.append(input)
  }

  drain(): Promise<void> {
    return this.group.drain()
  }

  /**
   * Runs inside BEGIN IMMEDIATE: no other connection can append until we commit, so the head read
   * here is the head, whichever process wrote it.
   */
  private appendLocked(inputs: AuditInput[]): AuditEvent[] {
    const row = this.selectHead.get() as ChainPoint | undefined
    const events = chainBatch(row ?? { seq: 0, hash: GENESIS_HASH }, inputs)
    for (const event of events) this.insert.run(...eventValues(event))
    const first = events[0]!.seq
    const last = events[events.length - 1]!.seq
    if (Math.floor(last / SEARCH_BATCH) > Math.floor((first - 1) / SEARCH_BATCH)) this.copyToSearch.run()
    return events
  }

  /** Newest first. */
  query(filter: AuditFilter, page: PageRequest): Page<AuditEvent> {
    const limit = pageLimit(page.limit)
    const params: unknown[] = []
    const cursor = page.cursor === undefined ? undefined : decodeCursor(page.cursor, isSafeInteger)
    // result is not in audit_search: a filter on the joined row, after an indexed narrowing.
    const where = auditConditions(filter, cursor, (name) => (name === 'result' ? `a.${name}` : `s.${name}`), (value) => {
      params.push(value)
      return '?'
    })
    const sql = `SELECT ${EVENT_COLUMNS} FROM audit_search s JOIN audit a ON a.seq = s.seq
      ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY s.seq DESC LIMIT ?`
    const select = this.statement(sql)
    // A write transaction, to bring audit_search up to date first; it also pins one snapshot.
    const rows = this.db
      .transaction(() => {
        this.copyToSearch.run()
        return select.all(...params, limit + 1) as EventRow[]
      })
      .immediate()
    return toPage(rows, limit, toEvent, (row) => row.seq)
  }

  verify(options?: VerifyOptions): Promise<AuditVerification> {
    return this.verifier.verify(options)
  }

  // One statement per filter combination (at most 2^8), prepared on first use.
  private statement(sql: string): Statement {
    let statement = this.queries.get(sql)
    if (statement === undefined) {
      statement = this.db.prepare(sql)
      this.queries.set(sql, statement)
    }
    return statement
  }
}
