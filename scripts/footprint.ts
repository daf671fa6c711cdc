// What installing fastify-spaces costs a user, in packages and disk, for each way of using it,
// beside the 0.1.0 package (every dependency regular) measured in the same run. Each case is
// `npm install` into an empty directory: the packed tarball of this checkout plus what that use
// needs, peers at the ranges package.json gives. On Node 20 each app carries the overrides the
// README gives for it (as this repository does), which keep npm's EBADENGINE warnings away.
// Usage: npm run footprint [-- --baseline REV]
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { SIDECAR_PACKAGES } from '../server/requirements.js'
import {
  REPO,
  badEngines,
  emptyApp,
  footprint,
  npmInstall,
  packTarball,
  prebuiltMirror,
  sh,
} from '../test/helpers/npm.js'

/** The last commit with 0.1.0's dependency list: fastify and the sidecar's packages all regular. */
const BASELINE = '23e6d5c889903aabade8798baa319cef89f980fa'

const { values } = parseArgs({ options: { baseline: { type: 'string', default: BASELINE } } })
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  peerDependencies: Record<string, string>
  overrides: Record<string, string>
}
const onNode20 = Number(process.versions.node.split('.')[0]) < 22
const peer = (name: string) => `${name}@${pkg.peerDependencies[name]}`

async function baselineSpecs(): Promise<string[]> {
  const { stdout } = await sh('git', ['show', `${values.baseline}:package.json`], { cwd: REPO })
  const old = JSON.parse(stdout) as { dependencies: Record<string, string> }
  // 0.1.0's tarball added its own few files; its dependencies are the footprint.
  return Object.entries(old.dependencies).map(([name, range]) => `${name}@${range}`)
}

const MIB = 1024 * 1024
const scratch = emptyApp('footprint-pack')
const tarball = await packTarball(scratch)
const mirror = await prebuiltMirror()
const cases: Array<{ name: string; specs: string[] }> = [
  { name: 'baseline: 0.1.0 + @fastify/jwt (the old plugin example)', specs: [...(await baselineSpecs()), peer('@fastify/jwt')] },
  { name: 'plugin, your own Ledger', specs: [tarball, peer('fastify')] },
  { name: 'plugin + SQLite ledger + @fastify/jwt (the README example)', specs: [tarball, peer('fastify'), peer('better-sqlite3'), peer('@fastify/jwt')] },
  { name: 'sidecar (spaces-proxy, SQLite ledger)', specs: [tarball, ...SIDECAR_PACKAGES.map(peer), peer('better-sqlite3')] },
]

const rows: string[] = []
let baseline: { packages: number; bytes: number } | undefined
try {
  for (const { name, specs } of cases) {
    const dir = emptyApp('footprint', onNode20 ? { overrides: pkg.overrides } : {})
    const output = await npmInstall(dir, specs, { env: mirror.env })
    const { packages, bytes } = footprint(dir)
    baseline ??= { packages, bytes }
    const versus = rows.length === 0 ? '' : `${((bytes / baseline.bytes) * 100).toFixed(0)}% of baseline`
    const warnings = badEngines(output)
    rows.push(
      `| ${name} | ${packages} | ${(bytes / MIB).toFixed(0)} MiB | ${versus} | ${warnings.length ? warnings.join(', ') : 'none'} |`,
    )
    process.stderr.write(`measured: ${name}\n`)
    rmSync(dir, { recursive: true, force: true })
  }
} finally {
  await mirror.close()
  rmSync(scratch, { recursive: true, force: true })
}
const npmVersion = (await sh('npm', ['--version'], { cwd: REPO })).stdout.trim()
console.log(`Node ${process.version}, npm ${npmVersion}${onNode20 ? `, overrides ${JSON.stringify(pkg.overrides)}` : ''}\n`)
console.log('| install | packages | disk | vs baseline | EBADENGINE warnings |')
console.log('|---|---|---|---|---|')
for (const row of rows) console.log(row)
