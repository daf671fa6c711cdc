// GET /v1/audit/verify on a long chain: it never holds the event loop (the walk yields between
// chunks, so /health keeps answering), and asking again costs only what was appended since.
import { setImmediate as nextTurn } from 'node:timers/promises'
import t from 'tap'
import { event } from './ledger-contract.js'
import { buildServer } from './helpers/server.js'

const AUDITOR = { sub: 'auditor-1', org: 'org-1', roles: ['auditor'] }
const EVENTS = 60_000

t.test('verifying 60,000 events: /health keeps answering, a second call starts from the checkpoint', async (t) => {
  const { app, auth } = await buildServer(t)
  const ledger = app.storage.ledger
  for (let i = 0; i < EVENTS; i += 5000) await Promise.all(Array.from({ length: 5000 }, () => ledger.appendAudit(event())))

  // Structural: count the event-loop turns other work gets while one verification runs.
  let turns = 0
  let verifying = true
  const ticker = (async () => {
    while (verifying) {
      turns++
      await nextTurn()
    }
  })()
  let slowest = 0
  let healthy = 0
  const pings = (async () => {
    while (verifying) {
      // A macrotask between pings: inject alone can answer in microtasks and starve the loop.
      await nextTurn()
      const started = process.hrtime.bigint()
      if ((await app.inject({ method: 'GET', url: '/health' })).statusCode === 200) healthy++
      slowest = Math.max(slowest, Number(process.hrtime.bigint() - started) / 1e6)
    }
  })()
  const first = await app.inject({ method: 'GET', url: '/v1/audit/verify', headers: auth(AUDITOR) })
  verifying = false
  await Promise.all([ticker, pings])
  t.equal(first.statusCode, 200)
  t.match(first.json(), { ok: true, events: EVENTS })
  t.ok(healthy > 0, `/health answered ${healthy} times during the walk`)
  t.ok(turns >= EVENTS / 1000, `the walk yielded between chunks (${turns} turns for ${EVENTS / 1000} chunks)`)
  // Loose: a chunk of 1,000 events is a few milliseconds of hashing, even on a busy machine.
  t.ok(slowest < 1000, `/health answered within ${slowest.toFixed(0)} ms during the walk`)

  await Promise.all(Array.from({ length: 10 }, () => ledger.appendAudit(event())))
  const started = process.hrtime.bigint()
  const second = await app.inject({ method: 'GET', url: '/v1/audit/verify', headers: auth(AUDITOR) })
  const secondMs = Number(process.hrtime.bigint() - started) / 1e6
  // The first verification is itself an audited read: one event more.
  t.match(second.json(), { ok: true, events: EVENTS + 11 })
  t.ok(secondMs < 200, `asking again walks only what is new (${secondMs.toFixed(1)} ms)`)
})
