// Requests per second and server CPU per request for the sidecar's small requests (signing, small
// proxied GETs, HEAD, /health), side by side in the same run with a bare JSON route on a plain
// Fastify app served by the same child process.
//   eval "$(scripts/s3-peer env)"; npx tsx scripts/bench-requests.ts [--seconds 3] [--rounds 3] [--connections 16]
//     [--only TEXT] (routes whose label has TEXT) [--profile DIR] (the server writes a CPU profile there)
// The sidecar runs as `spaces-proxy serve` runs it (scripts/lib/sidecar-child.ts) on a fresh bucket
// of the S3 peer, with HS256 bearer tokens and logs at info level; every file request is audited
// into its SQLite ledger. A reference row has the S3 peer serve the small file itself, from a
// direct signed URL: a proxied GET waits on that GET, so it can go no faster. autocannon drives
// each route from this process over 127.0.0.1 keep-alive connections for a fixed time. Each round
// runs the bare route, then every sidecar route, so a burst of load from other work on the
// machine hits both; the ratios are medians of each round's route/bare ratio. Latency is each answer's time as autocannon measured
// it; server CPU per request is the child's utime + stime over the run (/proc), which shared-CPU
// noise disturbs less than req/s; peak RSS is the child's VmHWM, reset before each run. A
// deadline stops it all.
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { createTestBucket } from '../test/helpers/s3.js'
import { procMemoryKb } from '../test/helpers/http.js'
import { intFlag, machineLine, median, processCpuMs, table } from './lib/bench.js'
import { startSidecar, type Sidecar } from './lib/sidecar.js'

const KEY = 'org-1/epcr/document/doc-1/report.pdf'
const FILE_BYTES = 1024

/**
 * autocannon's HTTP parser waits for the Content-Length bytes a HEAD answer announces but never
 * sends. Its client installs the parser's headers-complete callback after setupClient runs, so
 * wrap whatever it installs: returning true tells the parser there is no body (as Node's own
 * client does for HEAD).
 */
function skipBodies(client: unknown): void {
  const parser = (client as { parser: Record<number, unknown> }).parser
  const ON_HEADERS_COMPLETE = 2 // http-parser-js HTTPParser.kOnHeadersComplete
  let installed: ((...args: unknown[]) => unknown) | undefined
  Object.defineProperty(parser, ON_HEADERS_COMPLETE, {
    get: () => (installed ? (...args: unknown[]) => (installed!(...args), true) : undefined),
    set: (fn: (...args: unknown[]) => unknown) => {
      installed = fn
    },
  })
}

interface Route {
  label: string
  options: autocannon.Options
  /** The status every answer must have. */
  status: number
  rps: number[]
  ratios: number[]
  cpuMs: number[]
  p50: number[]
  p99: number[]
  /** The server's peak RSS during each run, KiB. */
  peakKb: number[]
  errors: number
  /** Served by the S3 peer, not the sidecar: the sidecar's CPU and memory say nothing of it. */
  store?: boolean
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '3' },
      rounds: { type: 'string', default: '3' },
      connections: { type: 'string', default: '16' },
      only: { type: 'string' },
      profile: { type: 'string' },
    },
  })
  const seconds = intFlag('seconds', values.seconds, 1, 60)
  const rounds = intFlag('rounds', values.rounds, 1, 10)
  const connections = intFlag('connections', values.connections, 1, 256)
  const startLine = machineLine()

  const cleanups: Array<() => unknown> = []
  let server: Sidecar | undefined
  const cleanup = async (): Promise<void> => {
    await server?.stop()
    for (const fn of cleanups.reverse()) await fn()
  }
  const routeCount = 9
  const deadline = setTimeout(
    () => {
      console.error('bench-requests: deadline passed, stopping')
      void cleanup().finally(() => process.exit(1))
    },
    60_000 + routeCount * (rounds * seconds + 1) * 2_000,
  )
  deadline.unref()
  process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)))

  try {
    const bucket = await createTestBucket({ teardown: (fn) => cleanups.push(fn) }, 'bench-requests')
    server = await startSidecar(bucket, { profileDir: values.profile })
    const { sidecar, authorization } = server
    const pid = server.child.pid!
    const json = { 'content-type': 'application/json' }

    // The file to sign for and read, and one check per mode that the URLs handed out serve it.
    const put = await fetch(`${sidecar}/v1/files/${KEY}`, {
      method: 'PUT',
      headers: { authorization, 'content-type': 'application/pdf' },
      body: 'x'.repeat(FILE_BYTES),
    })
    if (put.status !== 201) throw new Error(`PUT ${put.status}: ${await put.text()}`)
    const signed: Record<string, string> = {}
    for (const mode of ['direct', 'proxy']) {
      const response = await fetch(`${sidecar}/v1/signed-urls`, {
        method: 'POST',
        headers: { authorization, ...json },
        body: JSON.stringify({ key: KEY, mode, expiresIn: 900 }),
      })
      if (response.status !== 201) throw new Error(`sign ${mode} ${response.status}: ${await response.text()}`)
      signed[mode] = ((await response.json()) as { url: string }).url
      const file = await fetch(signed[mode]!)
      if (file.status !== 200 || (await file.text()).length !== FILE_BYTES) throw new Error(`${mode} URL answered ${file.status}`)
    }

    const route = (label: string, options: autocannon.Options, status = 200, store = false): Route => ({
      label,
      options,
      status,
      store,
      rps: [],
      ratios: [],
      cpuMs: [],
      p50: [],
      p99: [],
      peakKb: [],
      errors: 0,
    })
    const bare = route('baseline: bare Fastify POST /bare (JSON echo)', {
      url: `${server.bare}/bare`,
      method: 'POST',
      headers: json,
      body: JSON.stringify({ key: KEY }),
    })
    const sign = (mode: string) => ({
      url: `${sidecar}/v1/signed-urls`,
      method: 'POST' as const,
      headers: { ...json, authorization },
      body: JSON.stringify({ key: KEY, mode }),
    })
    const routes = [
      route('POST /v1/signed-urls mode=direct', sign('direct'), 201),
      route('POST /v1/signed-urls mode=proxy', sign('proxy'), 201),
      route(`GET /v1/signed/{token}, ${FILE_BYTES} B file`, { url: signed.proxy! }),
      route(`GET /v1/files/{key}, ${FILE_BYTES} B file`, { url: `${sidecar}/v1/files/${KEY}`, headers: { authorization } }),
      // What the store itself serves: a small proxied GET can go no faster than the GET it makes.
      route(`reference: the S3 peer's own GET of a direct signed URL, ${FILE_BYTES} B file`, { url: signed.direct! }, 200, true),
      route('GET /v1/files/{key}?redirect=1', { url: `${sidecar}/v1/files/${KEY}?redirect=1`, headers: { authorization } }, 302),
      route('HEAD /v1/files/{key}', {
        url: `${sidecar}/v1/files/${KEY}`,
        method: 'HEAD',
        headers: { authorization },
        setupClient: skipBodies,
      }),
      route('GET /health', { url: `${sidecar}/health` }),
    ].filter((r) => values.only === undefined || r.label.includes(values.only))

    async function measure(r: Route): Promise<number> {
      const latencies: number[] = []
      writeFileSync(`/proc/${pid}/clear_refs`, '5') // VmHWM starts over from VmRSS
      const cpuBefore = processCpuMs(pid)
      await new Promise<autocannon.Result>((resolve, reject) => {
        const instance = autocannon({ ...r.options, connections, duration: seconds }, (err, res) => (err ? reject(err) : resolve(res)))
        instance.on('response', (_client, status, _bytes, ms) => {
          if (status === r.status) latencies.push(ms)
          else r.errors++
        })
      })
      const rps = latencies.length / seconds
      latencies.sort((a, b) => a - b)
      const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? NaN
      r.rps.push(rps)
      r.cpuMs.push((processCpuMs(pid) - cpuBefore) / Math.max(1, latencies.length))
      r.p50.push(at(0.5))
      r.p99.push(at(0.99))
      r.peakKb.push(procMemoryKb(pid, 'VmHWM'))
      return rps
    }

    // Warm-up: JIT, connections, caches, on every route.
    for (const r of [bare, ...routes]) await autocannon({ ...r.options, connections, duration: 1 })
    for (let round = 0; round < rounds; round++) {
      for (const r of routes) {
        const bareRps = await measure(bare)
        r.ratios.push((await measure(r)) / bareRps)
      }
    }

    console.log(`${startLine} at the start; ${machineLine()} at the end`)
    console.log(`autocannon ${connections} connections x ${seconds} s per route per round, ${rounds} rounds; server in one child process`)
    const row = (r: Route, ratio: string): string[] => [
      r.label,
      Math.round(median(r.rps)).toLocaleString('en'),
      ratio,
      r.store ? '' : median(r.cpuMs).toFixed(3),
      median(r.p50).toFixed(2),
      median(r.p99).toFixed(2),
      r.store ? '' : (Math.max(...r.peakKb) / 1024).toFixed(0),
      String(r.errors),
    ]
    console.log(
      table(
        ['route', 'req/s', 'vs bare', 'server CPU ms/req', 'p50 ms', 'p99 ms', 'server peak RSS MiB', 'other status'],
        [row(bare, ''), ...routes.map((r) => row(r, `${median(r.ratios).toFixed(3)}x`))],
      ),
    )
  } finally {
    clearTimeout(deadline)
    await cleanup()
  }
}

await main()
