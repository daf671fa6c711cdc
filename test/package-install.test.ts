// The package as a Fastify team meets it: `npm pack`, installed into a fresh strict TypeScript app
// on the oldest fastify 5 minor we support, the README's plugin example type-checked and run
// against the S3 server. One install serves every check, each honest about how it was made:
// first everything with --ignore-scripts (pnpm 10's default), which must type-check and must not
// pull in better-sqlite3 or the sidecar's packages; then better-sqlite3 with its install script
// allowed, for the example as the README writes it, on a SQLite ledger. The first run uses the
// PostgreSQL ledger, whose driver (pg) is plain JavaScript.
import tap, { test, type Test } from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createSigner } from 'fast-jwt'
import { freshSchema } from './helpers/pg.js'
import { createTestBucket, type TestBucket } from './helpers/s3.js'
import { spacesEnv } from './helpers/server.js'
import {
  REPO,
  badEngines,
  emptyApp,
  installedVersion,
  npmInstall,
  packTarball,
  prebuiltMirror,
  sh,
} from './helpers/npm.js'
import { STRICT_TSCONFIG, readmeTypeScript } from './helpers/readme.js'

// Two npm installs and a tsc run: a few minutes on a busy two-core machine, more than the
// suite's default per file.
tap.setTimeout(10 * 60_000)

/** The oldest fastify the peer range admits, and so the one we prove. */
const OLDEST_FASTIFY = '5.0.0'
const SECRET = 'package-test-secret-0123456789-abcdef'
const README_LEDGER = "ledger: { path: './data/ledger.db' },"

/**
 * A ledger to run the README example on: the README's own SQLite file, or another that needs no
 * install script. Each case names the packages it adds and how the example's ledger line reads.
 */
interface LedgerCase {
  name: string
  packages: string[]
  /** Replaces the README's ledger line; undefined keeps it. */
  ledgerLine?: string
  env(t: Test): Promise<Record<string, string>>
}

const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  peerDependencies: Record<string, string>
  overrides: Record<string, string>
}

const sqlite: LedgerCase = { name: 'sqlite', packages: [`better-sqlite3@${pkg.peerDependencies['better-sqlite3']}`], env: async () => ({}) }
const postgres: LedgerCase = {
  name: 'postgres',
  packages: [`pg@${pkg.peerDependencies.pg}`],
  ledgerLine: 'ledger: { url: process.env.LEDGER_URL! },',
  env: async (t) => ({ LEDGER_URL: (await freshSchema(t, 'pkg')).url }),
}

/** The README's example on the given ledger, as a module of the app. */
function exampleFor(ledger: LedgerCase): string {
  const example = pluginExample()
  return ledger.ledgerLine ? example.replace(README_LEDGER, ledger.ledgerLine) : example
}

function pluginExample(): string {
  const example = readmeTypeScript().find((block) => block.includes('app.storage.upload('))
  if (!example?.includes(README_LEDGER)) throw new Error(`the README's plugin example no longer has the line ${README_LEDGER}`)
  return example
}

interface Running {
  url: string
  output(): string
  stop(): Promise<number | null>
}

/** Starts a compiled example; resolves once it listens. */
async function start(dir: string, script: string, env: Record<string, string>): Promise<Running> {
  const child = spawn(process.execPath, [script], { cwd: dir, env: { PATH: process.env.PATH, PORT: '0', ...env } })
  let output = ''
  child.stdout.on('data', (chunk) => (output += chunk))
  child.stderr.on('data', (chunk) => (output += chunk))
  const exited = once(child, 'exit')
  for (let i = 0; i < 200; i++) {
    const listening = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
    if (listening) {
      return {
        url: listening[1]!,
        output: () => output,
        async stop() {
          child.kill('SIGTERM')
          const [code] = await exited
          return code as number | null
        },
      }
    }
    if (child.exitCode !== null) break
    await new Promise((r) => setTimeout(r, 100))
  }
  child.kill('SIGKILL')
  throw new Error(`the example did not start:\n${output}`)
}

const sign = createSigner({ key: SECRET })
const bearer = (claims: object) => ({ authorization: `Bearer ${sign(claims)}` })

/** What the README promises of its example: a host route through the policy and the audit trail. */
async function exerciseExample(t: Test, app: Running, bucket: TestBucket): Promise<void> {
  const key = 'org-123/epcr/document/r-1/report.pdf'
  const post = (claims: object) => fetch(`${app.url}/orgs/org-123/reports/r-1/pdf`, { method: 'POST', headers: bearer(claims) })

  const intruder = await post({ sub: 'mallory', org: 'org-999', roles: ['admin'] })
  t.equal(intruder.status, 403, 'a token of org-999 cannot write into org-123')
  t.equal(((await intruder.json()) as { code: string }).code, 'FST_SPACES_FORBIDDEN')
  t.same(await bucket.keys(), [], 'nothing stored')

  const created = await post({ sub: 'writer', org: 'org-123', scope: 'epcr:write' })
  t.equal(created.status, 201)
  t.match(await created.json(), { key, createdBy: 'writer', contentType: 'application/pdf' })

  const download = await fetch(`${app.url}/storage/files/${key}`, { headers: bearer({ sub: 'admin', org: 'org-123', roles: ['admin'] }) })
  t.equal(await download.text(), '%PDF-1.7\n% report r-1\n%%EOF\n', 'the stored PDF, through the plugin routes')
  // Each org's audit trail holds what its own members did: the denied attempt is org-999's.
  const trail = async (org: string) => {
    const url = `${app.url}/storage/audit?key=${encodeURIComponent(key)}&action=upload`
    const page = (await (await fetch(url, { headers: bearer({ sub: 'auditor', org, roles: ['auditor'] }) })).json()) as {
      items: Array<Record<string, unknown>>
    }
    return page.items.map((e) => [e.actor, e.result, e.status])
  }
  t.same(await trail('org-999'), [['mallory', 'denied', 403]], 'the denied attempt is audited')
  t.same(await trail('org-123'), [['writer', 'ok', 201]], 'the upload is audited')
}

test('packed, installed into a fresh strict TypeScript app on fastify 5.0, the README example runs', async (t) => {
  const bucket = await createTestBucket(t, 'pkg')
  const mirror = await prebuiltMirror()
  t.teardown(() => mirror.close())
  const dir = emptyApp('host', {
    // As the README's Install section advises on Node 20 (see there).
    overrides: pkg.overrides,
    allowScripts: { 'better-sqlite3': true },
  })
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const tarball = await packTarball(dir)

  const files = (await sh('tar', ['-tzf', tarball], { cwd: dir })).stdout.split('\n')
  const maps = files.filter((f) => f.endsWith('.map'))
  t.ok(maps.length > 0, `${maps.length} source and declaration maps`)
  const missingSources = maps.flatMap((map) => {
    const body = JSON.parse((readFileSync(join(REPO, map.replace(/^package\//, '')), 'utf8'))) as { sources: string[] }
    const base = map.slice(0, map.lastIndexOf('/') + 1)
    return body.sources.map((source) => new URL(source, `file:///${base}`).pathname.slice(1)).filter((path) => !files.includes(path))
  })
  t.same(missingSources, [], 'every map points at a file in the tarball')

  // 1. Everything with install scripts blocked.
  const blocked = await npmInstall(dir, [
    tarball,
    `fastify@${OLDEST_FASTIFY}`,
    `@fastify/jwt@${pkg.peerDependencies['@fastify/jwt']}`,
    `typescript@${installedVersion('typescript')}`,
    `@types/node@${installedVersion('@types/node')}`,
    ...postgres.packages,
  ], { ignoreScripts: true })
  t.same(badEngines(blocked), [], 'no EBADENGINE warning')
  t.equal(JSON.parse(readFileSync(join(dir, 'node_modules/fastify/package.json'), 'utf8')).version, OLDEST_FASTIFY, 'one fastify: the host one')
  t.notOk(existsSync(join(dir, 'node_modules/fastify-spaces/node_modules/fastify')), 'no nested fastify')
  for (const name of ['better-sqlite3', '@fastify/cors', '@fastify/swagger', '@fastify/swagger-ui', 'env-schema', 'prom-client']) {
    t.notOk(existsSync(join(dir, 'node_modules', name)), `the plugin does not install ${name}`)
  }

  const sidecar = await sh(process.execPath, ['node_modules/.bin/spaces-proxy', 'serve'], { cwd: dir }).catch((err: Error) => err.message)
  t.match(sidecar, /spaces-proxy needs packages that the plugin alone does not: @fastify\/cors, @fastify\/swagger,/, 'the sidecar names what it lacks')
  t.match(sidecar, /npm install '@fastify\/cors@\^11/, 'and the line to install it')

  mkdirSync(join(dir, 'src'))
  for (const ledger of [sqlite, postgres]) writeFileSync(join(dir, `src/example-${ledger.name}.ts`), exampleFor(ledger))
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(STRICT_TSCONFIG, null, 2))
  const tsc = await sh(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.'], { cwd: dir }).then(
    () => '',
    (err: Error) => err.message,
  )
  t.equal(tsc, '', 'the README example type-checks against the installed package and fastify 5.0')

  // The README example as written asks for SQLite, whose driver is not installed: a coded error
  // that names it, not "Could not locate the bindings file".
  const noDriver = await start(dir, 'dist/example-sqlite.js', { ...spacesEnv(bucket), JWT_SECRET: SECRET }).then(
    async (app) => `started: ${await app.stop()}`,
    (err: Error) => err.message,
  )
  t.match(noDriver, /FST_SPACES_LEDGER_DRIVER_MISSING/, 'without better-sqlite3, { path } fails with a code')
  t.match(noDriver, /npm install better-sqlite3@12/, 'and names what to install')

  const pgBucket = await createTestBucket(t, 'pkg-pg')
  const onPostgres = await start(dir, 'dist/example-postgres.js', { ...spacesEnv(pgBucket), JWT_SECRET: SECRET, ...(await postgres.env(t)) })
  await exerciseExample(t, onPostgres, pgBucket)
  t.equal(await onPostgres.stop(), 0, 'SIGTERM: app.close() and a clean exit (PostgreSQL ledger)')

  // 2. better-sqlite3, with its install script allowed: the example as the README writes it.
  const scripted = await npmInstall(dir, sqlite.packages, { env: mirror.env })
  t.same(badEngines(scripted), [], 'no EBADENGINE warning')
  t.ok(existsSync(join(dir, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node')), "better-sqlite3's install script ran")
  const env = { ...spacesEnv(bucket), JWT_SECRET: SECRET, ...(await sqlite.env(t)) }
  const app = await start(dir, 'dist/example-sqlite.js', env)
  await exerciseExample(t, app, bucket)
  t.equal(await app.stop(), 0, 'SIGTERM: app.close() and a clean exit (SQLite ledger)')
  t.ok(existsSync(join(dir, 'data/ledger.db')), 'the ledger file is where the README says')
  t.notOk(existsSync(join(dir, 'data/ledger.db-wal')), 'and the plugin closed it (SQLite folds the WAL back in on close)')
})
