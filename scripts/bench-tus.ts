// Resumable uploads, side by side in one run against the S3 peer (or any TEST_S3_* endpoint):
//   eval "$(scripts/s3-peer env)"; npx tsx scripts/bench-tus.ts [--mib 256] [--runs 3] [--chunk-mib 0,8]
//   (each chunk size in turn; 0: one PATCH for the whole file, tus-js-client's and Uppy's default)
//   [--profile DIR] (the sidecar writes a CPU profile there)
// - the sidecar's tus endpoint (`spaces-proxy serve` in a child process), tus-js-client as client;
// - baseline: a direct lib-storage Upload from this process (8 MiB parts, 4 in flight);
// - baseline: @tus/server with @tus/s3-store (test/fixtures/tus-baseline-server.ts), the usual
//   choice, same client and chunks;
// - with chunked PATCHes, also a direct lib-storage Upload with one part in flight, parts the size
//   of a chunk: a tus client sends a chunk and waits for its answer, so that is the most the
//   protocol lets any server reach with such a client.
// In each round the cases take turns, so a burst of other work on the machine hits them alike; a
// case's ratio is the median of its ratios to the direct upload (4 in flight) of the same round.
// For each server: median MiB/s, its CPU seconds per GiB (utime + stime from /proc), its peak RSS
// above its RSS at rest after a warm-up (VmHWM after clear_refs), and the peak bytes of temp files
// (each server gets its own TMPDIR, sampled every 50 ms). For every case, this process's CPU per
// GiB: the client's, which shares the two cores with the servers. Then the hashes a resumable
// upload could use: node's crypto against hash-wasm (whose state can be saved and loaded).
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { Upload } from '@aws-sdk/lib-storage'
import { createSigner } from 'fast-jwt'
import { createSHA256 } from 'hash-wasm'
import * as tus from 'tus-js-client'
import { createTestBucket } from '../test/helpers/s3.js'
import { spacesEnv, JWT_SECRET } from '../test/helpers/server.js'
import { cliArgs } from '../test/helpers/cli.js'
import { procMemoryKb } from '../test/helpers/http.js'
import { median, ownCpuMs, processCpuMs, profileArgs } from './lib/bench.js'

const MIB = 1024 * 1024
const { values } = parseArgs({ options: { mib: { type: 'string', default: '256' }, runs: { type: 'string', default: '3' }, 'chunk-mib': { type: 'string', default: '0,8' }, profile: { type: 'string' } } })
const mib = Number(values.mib)
const runs = Number(values.runs)
// 0: tus-js-client's default, the whole file in one PATCH.
const chunks = values['chunk-mib'].split(',').map((text) => {
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value < 0 || value > 1024) throw new Error('--chunk-mib takes integers from 0 to 1024, comma-separated')
  return value * MIB || Infinity
})
if (!Number.isSafeInteger(mib) || mib < 16 || mib > 2048) throw new Error('--mib must be an integer from 16 to 2048')
if (!Number.isSafeInteger(runs) || runs < 1 || runs > 10) throw new Error('--runs must be an integer from 1 to 10')
const SIZE = mib * MIB
const DATA = randomBytes(SIZE)

const cleanups: Array<() => unknown> = []
async function cleanup() {
  for (const fn of cleanups.reverse()) await fn()
}
const deadline = setTimeout(() => {
  console.error('bench-tus: deadline passed, stopping')
  void cleanup().finally(() => process.exit(1))
}, 120_000 + runs * 3 * mib * 1000)
deadline.unref()
process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)))

interface Child {
  child: ChildProcess
  port: number
  tmp: string
}

/** Starts a server process with its own TMPDIR; resolves once it says where it listens. */
async function start(args: string[], env: NodeJS.ProcessEnv, listening: RegExp): Promise<Child> {
  const tmp = mkdtempSync(join(tmpdir(), 'bench-tus-tmp-'))
  const cwd = mkdtempSync(join(tmpdir(), 'bench-tus-cwd-'))
  cleanups.push(() => {
    for (const dir of [tmp, cwd]) rmSync(dir, { recursive: true, force: true })
  })
  const child = spawn(process.execPath, args, { cwd, env: { PATH: process.env.PATH, ...env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] })
  // SIGTERM, so a CPU profile gets written; SIGKILL if it does not stop.
  cleanups.push(async () => {
    if (child.exitCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  })
  let output = ''
  const port = await new Promise<number>((resolve, reject) => {
    const seen = (chunk: Buffer) => {
      output += chunk
      const match = listening.exec(output)
      if (match) resolve(Number(match[1]))
    }
    child.stdout!.on('data', seen)
    child.stderr!.on('data', seen)
    child.once('exit', (code) => reject(new Error(`server exited with ${code}:\n${output}`)))
  })
  return { child, port, tmp }
}

/** Bytes of the files under `dir`, leaving out tsx's cache of compiled sources (the servers run from source). */
function bytesUnder(dir: string): number {
  let total = 0
  try {
    for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
      try {
        if (entry.isFile() && !relative(dir, entry.parentPath).startsWith('tsx-')) total += statSync(join(entry.parentPath, entry.name)).size
      } catch {}
    }
  } catch {}
  return total
}

function tusUpload(endpoint: string, headers: Record<string, string>, name: string, data: Buffer, chunk: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(data, {
      endpoint,
      headers,
      chunkSize: chunk,
      metadata: { system: 'epcr', objectType: 'bench', objectId: 'b-1', filename: name, contentType: 'application/octet-stream' },
      retryDelays: [],
      onSuccess: () => resolve(),
      onError: reject,
    })
    upload.start()
  })
}

/** One thing being measured: a client upload, against a server child or straight to the store. */
interface Case {
  label: string
  server?: Child
  once: (run: number) => Promise<void>
  speeds: number[]
  /** This case's speed over the direct upload's in the same round. */
  ratios: number[]
  cpuSeconds: number
  /** This process's CPU over the case's runs: the client (tus-js-client or the SDK). */
  clientCpuSeconds: number
  restKb: number
  tempPeak: number
}

/**
 * Runs every case once per round, in turn, so a burst of other work on the machine hits a round's
 * cases alike; the first case is the direct upload the others are compared with, round by round.
 * The server's CPU counts only its own runs.
 */
async function measure(cases: Case[]): Promise<void> {
  for (const c of cases) await c.once(-1) // warm-up
  for (const c of cases) {
    const pid = c.server?.child.pid
    if (!pid) continue
    c.restKb = procMemoryKb(pid, 'VmRSS')
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
  }
  const sampler = setInterval(() => {
    for (const c of cases) if (c.server) c.tempPeak = Math.max(c.tempPeak, bytesUnder(c.server.tmp))
  }, 50)
  try {
    for (let run = 0; run < runs; run++) {
      for (const c of cases) {
        const pid = c.server?.child.pid
        const cpuBefore = pid ? processCpuMs(pid) : 0
        const clientBefore = ownCpuMs()
        const started = process.hrtime.bigint()
        await c.once(run)
        c.speeds.push(mib / (Number(process.hrtime.bigint() - started) / 1e9))
        c.clientCpuSeconds += (ownCpuMs() - clientBefore) / 1000
        if (pid) c.cpuSeconds += (processCpuMs(pid) - cpuBefore) / 1000
      }
      for (const c of cases) c.ratios.push(c.speeds[run]! / cases[0]!.speeds[run]!)
    }
  } finally {
    clearInterval(sampler)
  }
}

const bucket = await createTestBucket({ teardown: (fn) => cleanups.push(fn) }, 'bench-tus')
const token = createSigner({ key: JWT_SECRET, expiresIn: 3_600_000 })({ sub: 'bench', org: 'org-1', scope: 'epcr:*' })
const ledgerDir = mkdtempSync(join(tmpdir(), 'bench-tus-ledger-'))
cleanups.push(() => rmSync(ledgerDir, { recursive: true, force: true }))
const sidecar = await start([...profileArgs(values.profile), ...cliArgs(['serve'])], { ...spacesEnv(bucket), JWT_SECRET, HOST: '127.0.0.1', PORT: '0', LEDGER_PATH: join(ledgerDir, 'ledger.db'), SWEEP_INTERVAL_SECONDS: '0' }, /Server listening at http:\/\/127\.0\.0\.1:(\d+)/)
const baseline = await start(['--import', resolve('node_modules/tsx/dist/loader.mjs'), resolve('test/fixtures/tus-baseline-server.ts'), bucket.name], { ...process.env }, /^(\d+)\n/m)

for (const [mode, chunk] of chunks.entries()) {
  // Each chunk size gets its own direct baseline, measured beside it.
  const newCase = (label: string, server: Child | undefined, once: Case['once']): Case =>
    ({ label, server, once, speeds: [], ratios: [], cpuSeconds: 0, clientCpuSeconds: 0, restKb: 0, tempPeak: 0 })
  const direct = (partSize: number, queueSize: number) => (run: number) =>
    new Upload({ client: bucket.client, params: { Bucket: bucket.name, Key: `direct/${run}.bin`, Body: DATA }, partSize, queueSize, leavePartsOnError: false }).done().then(() => {})
  const oneInFlight = chunk === Infinity
    ? undefined
    : newCase(`baseline: direct lib-storage Upload (${chunk / MIB} MiB x 1, one part in flight as with tus chunks)`, undefined, direct(Math.max(5 * MIB, chunk), 1))
  const servers = [
    newCase('sidecar tus (/v1/uploads/tus)', sidecar, (run) =>
      tusUpload(`http://127.0.0.1:${sidecar.port}/v1/uploads/tus`, { authorization: `Bearer ${token}` }, `sidecar-${mode}-${run}.bin`, DATA, chunk),
    ),
    newCase('baseline: @tus/server + @tus/s3-store', baseline, (run) =>
      tusUpload(`http://127.0.0.1:${baseline.port}/files`, {}, `baseline-${mode}-${run}.bin`, DATA, chunk),
    ),
  ]
  const cases = [newCase('baseline: direct lib-storage Upload (8 MiB x 4)', undefined, direct(8 * MIB, 4)), ...(oneInFlight ? [oneInFlight] : []), ...servers]
  await measure(cases)

  const load = loadavg()
  console.log(`\n${mib} MiB x ${runs} rounds (the cases take turns in each), tus chunks of ${chunk === Infinity ? 'the whole file (one PATCH)' : `${chunk / MIB} MiB`}; ${cpus().length} cores, load ${load.map((l) => l.toFixed(1)).join(' ')}`)
  console.log('| case | MiB/s | vs direct (median) | vs direct by round | client CPU s/GiB | server CPU s/GiB | server peak - rest | temp disk peak |')
  console.log('|---|---|---|---|---|---|---|---|')
  for (const c of cases) {
    const pid = c.server?.child.pid
    const server = pid
      ? `${((c.cpuSeconds / (runs * mib)) * 1024).toFixed(1)} | ${((procMemoryKb(pid, 'VmHWM') - c.restKb) / 1024).toFixed(0)} MiB | ${(c.tempPeak / MIB).toFixed(0)} MiB`
      : ' | | '
    const rounds = c.ratios.map((r) => r.toFixed(2)).join(' ')
    const client = ((c.clientCpuSeconds / (runs * mib)) * 1024).toFixed(1)
    console.log(`| ${c.label} | ${median(c.speeds).toFixed(0)} | ${median(c.ratios).toFixed(2)}x | ${rounds} | ${client} | ${server} |`)
  }
  if (oneInFlight) {
    const ratios = servers.map((c) => `${c.label.replace(/ \(.*/, '')} ${median(c.speeds.map((speed, run) => speed / oneInFlight.speeds[run]!)).toFixed(2)}x`)
    console.log(`Against the direct upload with one part in flight (median of rounds): ${ratios.join(', ')}`)
  }
}

// The hash a resumable upload could carry between instances, against node's.
const block = randomBytes(8 * MIB)
const hashRate = async (update: (b: Buffer) => void) => {
  const started = process.hrtime.bigint()
  for (let i = 0; i < 32; i++) update(block)
  return 256 / (Number(process.hrtime.bigint() - started) / 1e9)
}
const node = createHash('sha256')
const nodeRate = await hashRate((b) => node.update(b))
const wasm = await createSHA256()
wasm.init()
const wasmRate = await hashRate((b) => wasm.update(b))
console.log(`\nSHA-256 over 256 MiB: node crypto ${nodeRate.toFixed(0)} MiB/s, hash-wasm (state can be saved) ${wasmRate.toFixed(0)} MiB/s (${(wasmRate / nodeRate).toFixed(2)}x)`)

await cleanup()
process.exit(0)
