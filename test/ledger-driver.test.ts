// Database drivers load only when a ledger of their kind is opened: a host app on PostgreSQL
// needs no native SQLite build. A missing driver is a coded error that says what to install.
import { execFileSync } from 'node:child_process'
import t from 'tap'
import { loadDriver } from '../plugin/ledger/driver.js'

t.test('importing the plugin loads neither database driver', async (t) => {
  const script = `
    import { createRequire } from 'node:module'
    await import(${JSON.stringify(new URL('../plugin/index.ts', import.meta.url).href)})
    const loaded = Object.keys(createRequire(import.meta.url).cache)
    console.log(JSON.stringify({ sqlite: loaded.some((p) => p.includes('/better-sqlite3/')), pg: loaded.some((p) => /\\/node_modules\\/pg\\//.test(p)) }))
  `
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' })
  t.same(JSON.parse(out.trim().split('\n').pop()!), { sqlite: false, pg: false })
})

t.test('a driver that is not installed: FST_SPACES_LEDGER_DRIVER_MISSING, naming the package', async (t) => {
  t.throws(() => loadDriver('SQLite', 'better-sqlite3-not-installed', 'better-sqlite3-not-installed@12'), {
    code: 'FST_SPACES_LEDGER_DRIVER_MISSING',
    message: 'The SQLite ledger needs a package that is not installed: run `npm install better-sqlite3-not-installed@12`',
  })
  t.ok(loadDriver('SQLite', 'better-sqlite3', 'better-sqlite3@12'), 'an installed one loads')
})
