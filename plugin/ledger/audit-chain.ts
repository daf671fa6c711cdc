// The audit hash chain, kept pure so that the ledger, the `audit verify` CLI and any offline
// checker compute exactly the same thing.
//
// What is hashed: for every event, `hash = SHA-256(canonicalJson(fields))`, lower-case hex, where
// `fields` holds exactly the keys in HASHED_FIELDS (every AuditEvent field except `hash`, and
// including `prevHash`, which links the event to the one before it). canonicalJson writes object
// keys sorted by UTF-16 code units, no whitespace, strings and finite numbers as JSON.stringify
// writes them, arrays in their own order (so `roles` keeps the order it was given in). For the
// values an event holds (strings, integers, null, string arrays) this is RFC 8785 (JCS) output.
// The first event's prevHash is GENESIS_HASH.
import { hash } from 'node:crypto'
import type { AuditEvent, AuditVerification } from './types.js'

export const GENESIS_HASH = '0'.repeat(64)

export type HashedEvent = Omit<AuditEvent, 'hash'>

/** Every field that goes into an event's hash, sorted: the order canonicalJson writes them in. */
export const HASHED_FIELDS = [
  'action',
  'actor',
  'bytes',
  'errorCode',
  'id',
  'ip',
  'key',
  'org',
  'prevHash',
  'requestId',
  'result',
  'roles',
  'seq',
  'sha256',
  'status',
  'ts',
  'ttl',
  'userAgent',
] as const satisfies ReadonlyArray<keyof HashedEvent>

// Compile-time check that the list is complete: adding a field to AuditEvent without hashing it
// would leave that field unprotected.
type Missing = Exclude<keyof HashedEvent, (typeof HASHED_FIELDS)[number]>
const complete: Missing extends never ? true : Missing = true
void complete

/** Deterministic JSON: sorted object keys, no whitespace; rejects values JSON cannot round-trip. */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null'
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value)
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${value} has no JSON form`)
      return JSON.stringify(value)
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
      const record = value as Record<string, unknown>
      const members: string[] = []
      for (const key of Object.keys(record).sort()) {
        const member = record[key]
        // undefined has no JSON form; dropping it silently would let two different events hash alike.
        if (member === undefined) throw new TypeError(`canonicalJson: "${key}" is undefined`)
        members.push(`${JSON.stringify(key)}:${canonicalJson(member)}`)
      }
      return `{${members.join(',')}}`
    }
    default:
      throw new TypeError(`canonicalJson: a ${typeof value} has no JSON form`)
  }
}

// The keys, already quoted, so the hot path (one hash per append) skips the sort and the quoting.
const QUOTED_FIELDS = HASHED_FIELDS.map((field) => `${JSON.stringify(field)}:`)

/**
 * The canonical JSON of the hashed fields of `event` with `prevHash` set to the given value.
 * Extra properties (`hash`, or anything a caller added) are ignored; a missing field is an error.
 * Equal to canonicalJson(pick(event, HASHED_FIELDS)).
 */
export function canonicalEvent(prevHash: string, event: Omit<HashedEvent, 'prevHash'>): string {
  const source = event as unknown as Record<string, unknown>
  let out = '{'
  for (let i = 0; i < HASHED_FIELDS.length; i++) {
    const field = HASHED_FIELDS[i] as string
    const value = field === 'prevHash' ? prevHash : source[field]
    if (value === undefined) throw new TypeError(`audit event has no "${field}"`)
    out += (i === 0 ? '' : ',') + QUOTED_FIELDS[i] + canonicalJson(value)
  }
  return out + '}'
}

/** SHA-256 hex of the event's canonical JSON, with `prevHash` linking it to its predecessor. */
export function chainHash(prevHash: string, event: Omit<HashedEvent, 'prevHash'>): string {
  // The one-shot hash: half the cost of createHash() on the append path.
  return hash('sha256', canonicalEvent(prevHash, event), 'hex')
}

/** Where a walk of the chain starts: the genesis, or an event already checked (a checkpoint). */
export interface ChainPoint {
  seq: number
  hash: string
}

export const GENESIS: ChainPoint = { seq: 0, hash: GENESIS_HASH }

/**
 * Checks events fed in seq order, one at a time, so a long chain can be walked in chunks: seq runs
 * on from the start point without gaps, each prevHash is the hash before it, and each hash is what
 * chainHash recomputes. Keeps the first event where any of these fails.
 */
export class ChainWalk {
  private count: number
  private head: string
  private brokenAt: AuditVerification['brokenAt']

  constructor(private readonly start: ChainPoint = GENESIS) {
    this.count = start.seq
    this.head = start.hash
  }

  add(event: AuditEvent): void {
    this.count++
    if (this.brokenAt === undefined) {
      const reason = checkLink(event, this.count, this.head)
      if (reason !== undefined) this.brokenAt = { seq: event.seq, id: event.id, reason }
    }
    this.head = event.hash
  }

  /** The last event walked, when everything so far held: where the next walk may start. */
  get checkpoint(): ChainPoint | undefined {
    return this.brokenAt === undefined && this.count > this.start.seq ? { seq: this.count, hash: this.head } : undefined
  }

  result(): AuditVerification {
    const { count: events, head, brokenAt } = this
    return brokenAt === undefined ? { ok: true, events, head } : { ok: false, events, head, brokenAt }
  }
}

/**
 * Checks events given in seq order from the genesis. Note what a chain alone cannot show: removing
 * events from the end leaves a valid, shorter chain, so compare `events`/`head` with a copy kept
 * elsewhere.
 */
export function verifyChain(events: Iterable<AuditEvent>): AuditVerification {
  const walk = new ChainWalk()
  for (const event of events) walk.add(event)
  return walk.result()
}

function checkLink(event: AuditEvent, expectedSeq: number, expectedPrev: string): string | undefined {
  if (event.seq !== expectedSeq) {
    return `seq ${event.seq} follows seq ${expectedSeq - 1}: ${event.seq > expectedSeq ? 'events are missing' : 'seq is out of order'}`
  }
  if (event.prevHash !== expectedPrev) return 'prevHash does not match the previous event\'s hash'
  let recomputed: string
  try {
    recomputed = chainHash(event.prevHash, event)
  } catch (err) {
    return `event cannot be hashed: ${(err as Error).message}`
  }
  if (recomputed !== event.hash) return 'hash does not match the event\'s contents'
  return undefined
}
