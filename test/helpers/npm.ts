// The package as users get it: packed with `npm pack`, installed with npm into an empty app.
// Installs come from npm's cache where it has the packages (--prefer-offline). better-sqlite3's
// install script downloads a prebuilt binding from GitHub; with no network here it would compile
// SQLite for minutes, so a loopback server plays GitHub's part with the binding this checkout
// built at `npm ci` (prebuild-install's documented mirror setting). The script still runs.
import { execFile, execFileSync } from 'node:child_process'
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
export const REPO = resolve(import.meta.dirname, '../..')

export interface CommandOutput {
  stdout: string
  stderr: string
}

/** Runs a command, failing with its output when it fails. */
export async function sh(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number }): Promise<CommandOutput> {
  try {
    return await run(command, args, { cwd: options.cwd, env: options.env ?? process.env, timeout: options.timeout ?? 300_000, maxBuffer: 64 * 1024 * 1024 })
  } catch (err) {
    const { stdout, stderr } = err as CommandOutput
    throw new Error(`${command} ${args.join(' ')} failed in ${options.cwd}:\n${stdout}\n${stderr}`, { cause: err })
  }
}

/** `npm pack` of this checkout, as built (npm test builds first): the tarball's path. */
export async function packTarball(into: string): Promise<string> {
  if (!existsSync(join(REPO, 'dist/plugin/index.js'))) throw new Error('build first: npx tsc -p tsconfig.json')
  const { stdout } = await sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', into], { cwd: REPO })
  const [packed] = JSON.parse(stdout) as Array<{ filename: string }>
  return join(into, packed!.filename)
}

/** The version this checkout has installed, to install the same one elsewhere. */
export function installedVersion(name: string): string {
  return (JSON.parse(readFileSync(join(REPO, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
}

/** An empty ESM app with a package.json, in a temp directory. */
export function emptyApp(label: string, extra: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), `fastify-spaces-${label}-`))
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `${label}-app`, private: true, type: 'module', ...extra }, null, 2))
  return dir
}

/**
 * This checkout's node_modules as `dir`'s, entry by entry, so code there resolves what the repo
 * has installed; with `self`, this checkout itself as 'fastify-spaces' (resolved through its
 * package.json exports, as an install would).
 */
export function linkRepoModules(dir: string, options: { self?: boolean } = {}): void {
  mkdirSync(join(dir, 'node_modules'))
  for (const entry of readdirSync(join(REPO, 'node_modules'))) {
    if (!entry.startsWith('.')) symlinkSync(join(REPO, 'node_modules', entry), join(dir, 'node_modules', entry))
  }
  if (options.self) symlinkSync(REPO, join(dir, 'node_modules', 'fastify-spaces'))
}

export interface InstallOptions {
  ignoreScripts?: boolean
  env?: NodeJS.ProcessEnv
}

/** `npm install` into `dir`; returns npm's output (warnings go to stderr). */
export async function npmInstall(dir: string, specs: string[], options: InstallOptions = {}): Promise<CommandOutput> {
  const args = ['install', '--prefer-offline', '--no-audit', '--no-fund', ...(options.ignoreScripts ? ['--ignore-scripts'] : []), ...specs]
  return sh('npm', args, { cwd: dir, env: { ...process.env, ...options.env }, timeout: 600_000 })
}

/** The EBADENGINE warnings in npm's output, by package@version. */
export function badEngines(output: CommandOutput): string[] {
  return [...`${output.stdout}\n${output.stderr}`.matchAll(/EBADENGINE\s+package: '([^']+)'/g)].map((m) => m[1]!)
}

/** Packages and bytes under an app's node_modules, as npm recorded the tree it installed. */
export function footprint(dir: string): { packages: number; bytes: number; names: string[] } {
  const lock = JSON.parse(readFileSync(join(dir, 'node_modules/.package-lock.json'), 'utf8')) as {
    packages: Record<string, { link?: boolean }>
  }
  const names = Object.entries(lock.packages).filter(([path, info]) => path.startsWith('node_modules/') && !info.link).map(([path]) => path)
  return { packages: names.length, bytes: diskBytes(join(dir, 'node_modules')), names }
}

/** What the files take on disk, as `du` tells a user; apparent sizes would undercount. */
function diskBytes(path: string): number {
  return Number(execFileSync('du', ['-sk', path], { encoding: 'utf8' }).split('\t')[0]) * 1024
}

export interface PrebuiltMirror {
  /** Environment for npm so that better-sqlite3's install script fetches from the mirror. */
  env: NodeJS.ProcessEnv
  close(): Promise<void>
}

/**
 * Serves this checkout's better-sqlite3 binding where prebuild-install looks for it:
 * {host}/v{version}/better-sqlite3-v{version}-node-v{abi}-{platform}-{arch}.tar.gz
 */
export async function prebuiltMirror(): Promise<PrebuiltMirror> {
  const root = join(REPO, 'node_modules/better-sqlite3')
  const binding = join(root, 'build/Release/better_sqlite3.node')
  if (!statSync(binding).isFile()) throw new Error(`no compiled better-sqlite3 at ${binding}`)
  const dir = mkdtempSync(join(tmpdir(), 'fastify-spaces-prebuilt-'))
  const tarball = join(dir, 'binding.tar.gz')
  await sh('tar', ['-czf', tarball, '-C', root, 'build/Release/better_sqlite3.node'], { cwd: dir })
  const version = installedVersion('better-sqlite3')
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`
  const server = createServer((request, response) => {
    if (request.url !== `/v${version}/${name}`) return void response.writeHead(404).end()
    response.writeHead(200, { 'content-type': 'application/gzip' })
    createReadStream(tarball).pipe(response)
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const { port } = server.address() as AddressInfo
  return {
    env: { npm_config_better_sqlite3_binary_host: `http://127.0.0.1:${port}` },
    async close() {
      await new Promise((done) => server.close(done))
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
