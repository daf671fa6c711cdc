// `spaces-proxy audit verify` against a real ledger file, intact and tampered with.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { SqliteLedger } from '../plugin/ledger/sqlite.js'
import type { AuditInput } from '../plugin/ledger/types.js'
import { runCli } from './helpers/cli.js'

function event(n: number): AuditInput {
  return {
    actor: `user-${n}`,
    org: 'org-1',
    roles: ['admin'],
    ip: '127.0.0.1',
    userAgent: 'tap',
    requestId: `req-${n}`,
    action: 'upload',
    key: `org-1/epcr/document/doc-${n}/report.pdf`,
    result: 'ok',
    status: 201,
    errorCode: null,
    bytes: 100 + n,
    sha256: 'a'.repeat(64),
    ttl: null,
  }
}

/** A ledger with three events; returns its path and the chain head. */
async function seed(dir: string): Promise<{ path: string; head: string; ids: string[] }> {
  const path = join(dir, 'ledger.db')
  const ledger = SqliteLedger.open({ path })
  const ids: string[] = []
  for (const n of [1, 2, 3]) ids.push((await ledger.appendAudit(event(n))).id)
  const { head } = await ledger.verifyAudit()
  await ledger.close()
  return { path, head, ids }
}

t.test('an intact chain: exit 0 with the count and head', async (t) => {
  const dir = t.testdir()
  const { path, head } = await seed(dir)
  const run = await runCli(['audit', 'verify'], { LEDGER_PATH: path }, { cwd: dir })
  t.equal(run.code, 0, run.stderr)
  t.equal(run.stdout, `audit chain ok: 3 events, head ${head}\n`)
})

t.test('LEDGER_PATH from .env, relative to the working directory', async (t) => {
  const dir = t.testdir({ '.env': 'LEDGER_PATH=./state/ledger.db\n', state: {} })
  const { head } = await seed(join(dir, 'state'))
  const run = await runCli(['audit', 'verify'], {}, { cwd: dir })
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, `head ${head}`)
})

t.test('an edited event: exit 1 naming it', async (t) => {
  const dir = t.testdir()
  const { path, ids } = await seed(dir)
  // What an attacker with write access to the file can do: drop the guard and edit history.
  const db = new Database(path)
  db.exec('DROP TRIGGER audit_no_update')
  db.prepare('UPDATE audit SET actor = ? WHERE seq = 2').run('someone-else')
  db.close()
  const run = await runCli(['audit', 'verify'], { LEDGER_PATH: path }, { cwd: dir })
  t.equal(run.code, 1)
  t.match(run.stdout, new RegExp(`^audit chain BROKEN at event seq 2 \\(id ${ids[1]}\\): .+\\n$`))
})

t.test('a deleted event: exit 1 at the event after the gap', async (t) => {
  const dir = t.testdir()
  const { path, ids } = await seed(dir)
  const db = new Database(path)
  db.exec('DROP TRIGGER audit_no_delete')
  db.prepare('DELETE FROM audit WHERE seq = 2').run()
  db.close()
  const run = await runCli(['audit', 'verify'], { LEDGER_PATH: path }, { cwd: dir })
  t.equal(run.code, 1)
  t.match(run.stdout, `audit chain BROKEN at event seq 3 (id ${ids[2]})`)
})

t.test('no ledger file: exit 1 without creating one', async (t) => {
  const dir = t.testdir()
  const path = join(dir, 'nowhere', 'ledger.db')
  const run = await runCli(['audit', 'verify'], { LEDGER_PATH: path }, { cwd: dir })
  t.equal(run.code, 1)
  t.match(run.stderr, `no ledger at ${path}`)
  t.notOk(existsSync(path), 'no empty ledger was created')
  const usage = await runCli(['audit', 'verify', 'extra'], { LEDGER_PATH: path }, { cwd: dir })
  t.equal(usage.code, 2, 'a stray argument is a usage error')
})
