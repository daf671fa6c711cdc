// `spaces-proxy ledger copy --to postgres://…`: a SQLite ledger moves into an empty PostgreSQL
// one, files, trash and audit chain unchanged, and the copy verifies with the source's head.
import { join } from 'node:path'
import t from 'tap'
import { PostgresLedger } from '../plugin/ledger/postgres.js'
import { SqliteLedger } from '../plugin/ledger/sqlite.js'
import type { FileRecord } from '../plugin/ledger/types.js'
import { event, input, parts } from './ledger-contract.js'
import { runCli } from './helpers/cli.js'
import { freshSchema } from './helpers/pg.js'

t.test('a SQLite ledger copied into PostgreSQL keeps every record and its verifiable chain', async (t) => {
  const path = join(t.testdir(), 'ledger.db')
  const source = SqliteLedger.open({ path })
  const live = await source.reserve(input(parts('live.pdf')))
  const record = await source.commit(live.id, { size: 10, sha256: 'a'.repeat(64), etag: '"e1"' })
  const gone = await source.reserve(input(parts('trashed.pdf')))
  await source.commit(gone.id, { size: 20, sha256: 'b'.repeat(64), etag: '"e2"' })
  await source.markTrashed(input(parts('trashed.pdf')).key, {
    trashId: 'trash-1', trashKey: '.trash/org-1/trash-1', deletedBy: 'user-2', deletedAt: new Date(), purgeAfter: new Date(Date.now() + 86_400_000),
  })
  await source.reserve(input(parts('pending.pdf'), { owner: 'instance-a' }))
  const events = await Promise.all(Array.from({ length: 1200 }, (_, i) => source.appendAudit(event({ requestId: `r-${i}` }))))
  await source.close()

  const { url } = await freshSchema(t, 'copy')
  const env = { LEDGER_PATH: path }
  const run = await runCli(['ledger', 'copy', '--to', url], env)
  t.equal(run.code, 0, run.stdout + run.stderr)
  t.match(run.stdout, /copied 3 file records and 1200 audit events/)
  t.match(run.stdout, new RegExp(`audit chain ok on the copy: 1200 events, head ${events[1199]!.hash}`))

  const copy = await PostgresLedger.open({ connectionString: url })
  t.teardown(() => copy.close())
  t.same(await copy.getLive(record.key).then((row) => row && { ...record, ...pick(row) }), record)
  t.match(await copy.listTrash('org-1', { limit: 10 }), { items: [{ trashId: 'trash-1', size: 20 }] })
  t.match(await copy.getPending(input(parts('pending.pdf')).key), { owner: 'instance-a', state: 'pending' })
  t.same((await copy.queryAudit({}, { limit: 2 })).items, [events[1199], events[1198]], 'events read back exactly')
  const next = await copy.appendAudit(event())
  t.match(next, { seq: 1201, prevHash: events[1199]!.hash }, 'the chain goes on from the copied head')

  const again = await runCli(['ledger', 'copy', '--to', url], env)
  t.equal(again.code, 1, 'a second copy into a used ledger is refused')
  t.match(again.stderr, /not empty/)
  t.equal((await copy.verifyAudit()).events, 1201, 'and changed nothing')
})

function pick(row: FileRecord) {
  const { key, size, sha256, etag, contentType, createdAt, createdBy } = row
  return { key, size, sha256, etag, contentType, createdAt, createdBy }
}
