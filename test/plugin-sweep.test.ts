// The plugin runs its own upkeep: it holds and renews its instance lease, settles uploads left by
// an instance whose lease lapsed (never those of a live one), closes the ledger it opened last,
// and does none of it with `sweep: false`.
import { join } from 'node:path'
import Fastify from 'fastify'
import t from 'tap'
import { LocalDiskStore } from '../plugin/drivers/local.js'
import { spaces } from '../plugin/index.js'
import { SqliteLedger } from '../plugin/ledger/sqlite.js'
import { input, parts } from './ledger-contract.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

t.test('the sweep: lease heartbeat, recovery of a dead instance\'s uploads only, ledger closed last', async (t) => {
  const dir = t.testdir() // once: each call makes the folder afresh
  const path = join(dir, 'ledger.db')
  const other = SqliteLedger.open({ path })
  t.teardown(() => other.close())
  // Two instances that left pending uploads: one still alive (its lease renewed), one dead.
  await other.acquireLease('instance:alive', 'alive', 60_000)
  const alive = await other.reserve(input(parts('alive.pdf'), { owner: 'alive' }))
  const dead = await other.reserve(input(parts('dead.pdf'), { owner: 'dead' }))

  const app = Fastify()
  await app.register(spaces, {
    store: new LocalDiskStore({ root: join(dir, 'data') }),
    ledger: { path },
    routes: false,
    instanceId: 'this-one',
    sweep: { leaseSeconds: 0.3 },
  })
  await app.ready()
  t.equal(await other.leaseHolder('instance:this-one'), 'this-one', 'the instance holds its lease')
  await sleep(600)
  t.equal(await other.leaseHolder('instance:this-one'), 'this-one', 'and renews it')
  t.match(await other.getById(dead.id), { state: 'failed' }, 'the dead instance\'s upload is settled')
  t.match(await other.getById(alive.id), { state: 'pending' }, 'the live instance\'s is left alone')
  t.equal((await other.queryAudit({ actor: 'system' }, { limit: 10 })).items.length, 1, 'and the settling is audited')

  await app.close()
  t.equal(await other.leaseHolder('instance:this-one'), undefined, 'a clean close gives the lease up')
  t.notOk((app.storage.ledger as unknown as { db: { open: boolean } }).db.open, 'the ledger it opened is closed')
})

t.test('sweep: false: no lease, no recovery; a ledger passed in stays open', async (t) => {
  const dir = t.testdir() // once: each call makes the folder afresh
  const path = join(dir, 'ledger.db')
  const ledger = SqliteLedger.open({ path })
  t.teardown(() => ledger.close())
  const dead = await ledger.reserve(input(parts('dead.pdf'), { owner: 'dead' }))
  const app = Fastify()
  await app.register(spaces, { store: new LocalDiskStore({ root: join(dir, 'data') }), ledger, routes: false, sweep: false })
  await app.ready()
  await sleep(100)
  t.equal(await ledger.leaseHolder(`instance:${app.storage.instanceId}`), undefined)
  t.match(await ledger.getById(dead.id), { state: 'pending' })
  await app.close()
  t.ok(await ledger.getById(dead.id), 'the caller\'s ledger is still open')
  await t.rejects(
    (async () => {
      const bad = Fastify()
      await bad.register(spaces, { store: new LocalDiskStore({ root: dir }), ledger, sweep: { leaseSeconds: 0 } })
      await bad.ready()
    })(),
    { code: 'FST_SPACES_CONFIG_INVALID', message: /sweep.leaseSeconds/ },
  )
})
