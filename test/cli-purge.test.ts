// `spaces-proxy purge [--dry-run]` on the embedded local-disk store: trash past its retention
// goes, younger trash and live files stay, and every purge is audited under the CLI's name.
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import Database from 'better-sqlite3'
import t from 'tap'
import { TRASH_PREFIX } from '../plugin/keys.js'
import { SqliteLedger } from '../plugin/ledger/sqlite.js'
import { openStorage, progress } from '../server/commands/context.js'
import { loadConfig } from '../server/config.js'
import { runCli } from './helpers/cli.js'

const DAY = 24 * 60 * 60 * 1000

t.test('purges trash past retention, and only that', async (t) => {
  const cwd = t.testdir()
  const env = { DATA_DIR: join(cwd, 'data'), LEDGER_PATH: join(cwd, 'data', 'ledger.db') }
  await SqliteLedger.open({ path: env.LEDGER_PATH }).close()
  const deps = await openStorage(loadConfig(env))
  t.teardown(() => deps.close())
  const { storage, store, ledger } = deps
  const put = (key: string, text: string) =>
    storage.upload({ key, body: Readable.from([Buffer.from(text)]), contentType: 'application/pdf', actor: 'tester' })

  await put('org-1/epcr/document/d-1/live.pdf', 'still here')
  await put('org-1/epcr/document/d-2/recent.pdf', 'deleted today')
  const recent = await storage.softDelete('org-1/epcr/document/d-2/recent.pdf', 'tester')
  // Trash deleted 40 days ago, its 30 days of retention over: moved the way Storage does it.
  const expired: Array<{ trashId: string; trashKey: string; key: string }> = []
  for (const [n, text] of [[3, 'old one'], [4, 'older two!']] as const) {
    const key = `org-1/epcr/document/d-${n}/Jane Doe ${n}.pdf`
    await put(key, text)
    const trashId = randomUUID()
    const trashKey = `${TRASH_PREFIX}org-1/${trashId}`
    await store.copy(key, trashKey)
    const deletedAt = new Date(Date.now() - 40 * DAY)
    await ledger.markTrashed(key, { trashId, trashKey, deletedBy: 'tester', deletedAt, purgeAfter: new Date(deletedAt.getTime() + 30 * DAY) })
    await store.delete(key)
    expired.push({ trashId, trashKey, key })
  }

  const dry = await runCli(['purge', '--dry-run'], env, { cwd })
  t.equal(dry.code, 0, dry.stderr)
  for (const e of expired) t.match(dry.stdout, new RegExp(`${e.trashId} +\\d+ +${e.key}\\n`), 'lists trash id, size and key')
  t.notMatch(dry.stdout, recent.trashId)
  t.match(dry.stdout, 'would purge 2 files (17 bytes)')
  for (const e of expired) t.ok(await store.head(e.trashKey), 'a dry run deletes nothing')

  const run = await runCli(['purge'], env, { cwd })
  const db = new Database(env.LEDGER_PATH, { readonly: true })
  t.teardown(() => db.close())
  t.equal(run.code, 0, run.stderr)
  t.equal(run.stdout, 'purged 2 files (17 bytes)\n')
  t.equal(run.stderr.includes('\r'), false, 'no progress line when stderr is not a terminal')
  for (const e of expired) {
    t.equal(await store.head(e.trashKey), undefined, 'the bytes are gone')
    const row = db.prepare('SELECT state FROM objects WHERE trash_id = ?').get(e.trashId)
    t.same(row, { state: 'purged' }, 'the ledger keeps that it existed')
  }
  const young = db.prepare('SELECT state, trash_key AS trashKey FROM objects WHERE trash_id = ?').get(recent.trashId) as { state: string; trashKey: string }
  t.equal(young.state, 'trashed')
  t.ok(await store.head(young.trashKey), 'younger trash stays')
  t.ok(await store.head('org-1/epcr/document/d-1/live.pdf'), 'live files stay')

  const events = (await ledger.queryAudit({ action: 'purge' }, { limit: 10 })).items
  t.equal(events.length, 2)
  t.match(events, [{ actor: 'spaces-proxy purge', result: 'ok', status: 200 }, { actor: 'spaces-proxy purge' }])
  t.same(events.map((e) => e.key).sort(), expired.map((e) => e.key).sort())
  t.equal((await ledger.verifyAudit()).ok, true)

  const again = await runCli(['purge'], env, { cwd })
  t.equal(again.stdout, 'purged 0 files (0 bytes)\n', 'nothing left to purge')
})

t.test('progress is a rewritten line on a terminal only', async (t) => {
  const written: string[] = []
  const tty = { isTTY: true, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream
  const line = progress(tty)
  line.update('purged 1/2')
  line.update('purged 2/2')
  line.done()
  t.same(written, ['\r\x1b[2K purged 1/2', '\r\x1b[2K purged 2/2', '\r\x1b[2K'])
  const pipe = { isTTY: false, write: () => t.fail('wrote to a pipe') } as unknown as NodeJS.WriteStream
  progress(pipe).update('x')
})

t.test('usage', async (t) => {
  const cwd = t.testdir()
  const bad = await runCli(['purge', '--all'], {}, { cwd })
  t.equal(bad.code, 2)
  t.match(bad.stderr, "Unknown option '--all'")
  const missing = await runCli(['purge'], { LEDGER_PATH: join(cwd, 'none.db') }, { cwd })
  t.equal(missing.code, 1)
  t.match(missing.stderr, 'no ledger at')
})
