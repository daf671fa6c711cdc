// The audit hash chain itself, with no database: what is hashed and how, and how a walk names
// the first broken event.
import { createHash } from 'node:crypto'
import t from 'tap'
import { ChainWalk, GENESIS_HASH, canonicalEvent, canonicalJson, chainHash, verifyChain } from '../plugin/ledger/audit-chain.js'
import type { AuditEvent } from '../plugin/ledger/types.js'
import { event } from './ledger-contract.js'

/** A valid chain of n events. */
function chain(n: number): AuditEvent[] {
  const events: AuditEvent[] = []
  let prev = GENESIS_HASH
  for (let seq = 1; seq <= n; seq++) {
    const base = { ...event(), id: `id-${seq}`, seq, ts: '2026-01-30T10:00:00.000Z' }
    const hash = chainHash(prev, base)
    events.push({ ...base, prevHash: prev, hash })
    prev = hash
  }
  return events
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
  const events = chain(4)
  const prev = events[3]!.hash
  t.same(verifyChain([]), { ok: true, events: 0, head: GENESIS_HASH })
  t.same(verifyChain(events), { ok: true, events: 4, head: prev })

  const edited = events.map((e) => (e.seq === 2 ? { ...e, status: 403 } : e))
  t.match(verifyChain(edited), { ok: false, events: 4, brokenAt: { seq: 2, id: 'id-2', reason: /hash does not match/ } })
  const relinked = events.map((e) => (e.seq === 3 ? { ...e, prevHash: GENESIS_HASH } : e))
  t.match(verifyChain(relinked), { ok: false, brokenAt: { seq: 3, reason: /prevHash/ } })
  t.match(verifyChain(events.filter((e) => e.seq !== 2)), { ok: false, events: 3, brokenAt: { seq: 3, reason: /missing/ } })
  t.match(verifyChain([events[1]!, events[0]!]), { ok: false, brokenAt: { seq: 2, id: 'id-2' } })
})

t.test('a walk from a checkpoint goes on where the last one ended', async (t) => {
  const events = chain(6)
  const prev = events[5]!.hash
  const first = new ChainWalk()
  for (const e of events.slice(0, 3)) first.add(e)
  t.same(first.checkpoint, { seq: 3, hash: events[2]!.hash })
  const rest = new ChainWalk(first.checkpoint)
  for (const e of events.slice(3)) rest.add(e)
  t.same(rest.result(), { ok: true, events: 6, head: prev })
  const broken = new ChainWalk(first.checkpoint)
  for (const e of events.slice(4)) broken.add(e)
  t.match(broken.result(), { ok: false, brokenAt: { seq: 5, reason: /missing/ } })
  t.equal(broken.checkpoint, undefined, 'a broken walk leaves no checkpoint')
})
