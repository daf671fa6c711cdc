// What both ledgers share about the audit trail: how an event is built and stored, how filters
// become conditions, group commit (many appends, one transaction, one fsync), and verification
// that walks the chain in chunks from the last checkpoint without holding the event loop.
import { randomUUID } from 'node:crypto'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { BadRequestError } from '../errors.js'
import { ChainWalk, GENESIS, chainHash, type ChainPoint } from './audit-chain.js'
import type { AuditEvent, AuditFilter, AuditInput, AuditVerification, VerifyOptions } from './types.js'

/** Row columns of `audit a` renamed to AuditEvent fields; roles is still JSON text. */
export const EVENT_COLUMNS = `a.seq, a.id, a.ts, a.actor, a.org, a.roles, a.ip, a.user_agent AS "userAgent",
  a.request_id AS "requestId", a.action, a.key, a.result, a.status, a.error_code AS "errorCode", a.bytes, a.sha256,
  a.ttl, a.prev_hash AS "prevHash", a.hash`

/** The stored columns, in eventValues order. */
export const AUDIT_COLUMNS = [
  'seq', 'id', 'ts', 'actor', 'org', 'roles', 'ip', 'user_agent', 'request_id', 'action', 'key', 'result',
  'status', 'error_code', 'bytes', 'sha256', 'ttl', 'prev_hash', 'hash',
] as const

export type EventRow = Omit<AuditEvent, 'roles'> & { roles: string }

/** The event that follows `head`: the ledger adds id, seq, ts and the links. */
export function nextEvent(head: ChainPoint, input: AuditInput, ts: string): AuditEvent {
  // Built once, in its final shape, and hashed in place (the hash covers every field but `hash`):
  // building an unhashed copy and spreading it into the event cost a third of an append's chaining.
  const event: AuditEvent = {
    id: randomUUID(),
    seq: head.seq + 1,
    ts,
    actor: input.actor,
    org: input.org,
    // Copied so a caller mutating its array later cannot make the returned event disagree with the row.
    roles: [...input.roles],
    ip: input.ip,
    userAgent: input.userAgent,
    requestId: input.requestId,
    action: input.action,
    key: input.key,
    result: input.result,
    status: input.status,
    errorCode: input.errorCode,
    bytes: input.bytes,
    sha256: input.sha256,
    ttl: input.ttl,
    prevHash: head.hash,
    hash: '',
  }
  event.hash = chainHash(head.hash, event)
  return event
}

/** Chains a batch onto `head`, in order; one timestamp for the batch (it commits as one). */
export function chainBatch(head: ChainPoint, inputs: readonly AuditInput[]): AuditEvent[] {
  const ts = new Date().toISOString()
  const events: AuditEvent[] = []
  let at = head
  for (const input of inputs) {
    const event = nextEvent(at, input, ts)
    events.push(event)
    at = event
  }
  return events
}

export function eventValues(e: AuditEvent): unknown[] {
  return [
    e.seq, e.id, e.ts, e.actor, e.org, JSON.stringify(e.roles), e.ip, e.userAgent, e.requestId, e.action, e.key,
    e.result, e.status, e.errorCode, e.bytes, e.sha256, e.ttl, e.prevHash, e.hash,
  ]
}

export function toEvent(row: EventRow): AuditEvent {
  return { ...row, roles: JSON.parse(row.roles) as string[] }
}

/**
 * The WHERE conditions of an audit query. `column` names where a filter column lives (an index
 * table in SQLite, the audit table in PostgreSQL); `add` binds a value and returns its placeholder.
 * `since` is inclusive and `until` exclusive, so adjacent windows do not overlap.
 */
export function auditConditions(
  filter: AuditFilter,
  cursorSeq: number | undefined,
  column: (name: 'org' | 'key' | 'actor' | 'action' | 'result' | 'ts' | 'seq') => string,
  add: (value: unknown) => string,
): string[] {
  const where: string[] = []
  const equal = (name: 'org' | 'key' | 'actor' | 'action' | 'result', value: string | undefined): void => {
    if (value !== undefined) where.push(`${column(name)} = ${add(value)}`)
  }
  equal('org', filter.orgId)
  equal('key', filter.key)
  equal('actor', filter.actor)
  equal('action', filter.action)
  equal('result', filter.result)
  if (filter.since !== undefined) where.push(`${column('ts')} >= ${add(isoInstant('since', filter.since))}`)
  if (filter.until !== undefined) where.push(`${column('ts')} < ${add(isoInstant('until', filter.until))}`)
  if (cursorSeq !== undefined) where.push(`${column('seq')} < ${add(cursorSeq)}`)
  return where
}

/** Normalises a time bound to the stored form, so text comparison is time comparison. */
function isoInstant(name: string, value: string): string {
  const time = Date.parse(value)
  if (Number.isNaN(time)) throw new BadRequestError(`${name} must be an ISO-8601 date or time`)
  return new Date(time).toISOString()
}

interface Waiting {
  input: AuditInput
  resolve(event: AuditEvent): void
  reject(err: unknown): void
}

/**
 * Group commit: appends that arrive while a batch is being written (or within one turn of the
 * event loop) are written together by the next one, in one transaction with one fsync. Each
 * caller's promise settles when its batch is durable, or with the batch's error.
 */
export class GroupCommit {
  private queue: Waiting[] = []
  private flushing: Promise<void> | undefined

  constructor(
    private readonly writeBatch: (inputs: AuditInput[]) => Promise<AuditEvent[]>,
    private readonly maxBatch = 2000,
  ) {}

  append(input: AuditInput): Promise<AuditEvent> {
    return new Promise((resolve, reject) => {
      this.queue.push({ input, resolve, reject })
      this.flushing ??= this.flush()
    })
  }

  /** Resolves when everything appended so far is written (or has failed). */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing
  }

  private async flush(): Promise<void> {
    // One turn of the loop gathers what the requests finishing in it append.
    await yieldToLoop()
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch)
        try {
          const events = await this.writeBatch(batch.map((w) => w.input))
          batch.forEach((w, i) => w.resolve(events[i]!))
        } catch (err) {
          for (const w of batch) w.reject(err)
        }
      }
    } finally {
      this.flushing = undefined
    }
  }
}

/** What a ledger gives the verifier: events by seq, and its stored checkpoints. */
export interface ChainStore {
  /** Up to `limit` events with seq > `afterSeq`, in seq order. */
  readEvents(afterSeq: number, limit: number): Promise<AuditEvent[]>
  lastCheckpoint(): Promise<ChainPoint | undefined>
  saveCheckpoint(point: ChainPoint): Promise<void>
}

/** Events hashed between two yields to the event loop: a few milliseconds of CPU. */
const VERIFY_CHUNK = 1000

/**
 * Verifies the stored chain, a chunk at a time, yielding between chunks so other requests keep
 * being served. From the genesis by default; with `fromCheckpoint`, from the last checkpoint (whose
 * event is first re-read and rehashed, so an edit to it is still found). A run that holds records
 * a new checkpoint. Concurrent callers share one walk instead of each starting their own.
 */
export class ChainVerifier {
  private running = new Map<boolean, Promise<AuditVerification>>()

  constructor(private readonly store: ChainStore) {}

  verify(options: VerifyOptions = {}): Promise<AuditVerification> {
    const fromCheckpoint = options.fromCheckpoint === true
    let walk = this.running.get(fromCheckpoint)
    if (!walk) {
      walk = this.walk(fromCheckpoint).finally(() => this.running.delete(fromCheckpoint))
      this.running.set(fromCheckpoint, walk)
    }
    return walk
  }

  private async walk(fromCheckpoint: boolean): Promise<AuditVerification> {
    let start = GENESIS
    if (fromCheckpoint) {
      const checkpoint = await this.store.lastCheckpoint()
      if (checkpoint !== undefined) {
        const [event] = await this.store.readEvents(checkpoint.seq - 1, 1)
        if (!event || event.seq !== checkpoint.seq || event.hash !== checkpoint.hash || chainHash(event.prevHash, event) !== event.hash) {
          return {
            ok: false,
            events: checkpoint.seq,
            head: checkpoint.hash,
            brokenAt: { seq: checkpoint.seq, id: event?.id ?? '', reason: 'the checkpointed event was altered or removed' },
          }
        }
        start = checkpoint
      }
    }
    const walk = new ChainWalk(start)
    for (let after = start.seq; ; ) {
      const events = await this.store.readEvents(after, VERIFY_CHUNK)
      for (const event of events) walk.add(event)
      if (events.length < VERIFY_CHUNK) break
      after = events[events.length - 1]!.seq
      await yieldToLoop()
    }
    const checkpoint = walk.checkpoint
    if (checkpoint) await this.store.saveCheckpoint(checkpoint)
    return walk.result()
  }
}
