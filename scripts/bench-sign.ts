// Requests per second for POST /v1/signed-urls on the sidecar (HS256 bearer token verified, URL
// presigned or proxy-signed, request audited in SQLite), side by side in the same run with a bare
// JSON route on a plain Fastify app served by the same child process.
//   eval "$(scripts/s3-peer env)"; npx tsx scripts/bench-sign.ts [--seconds 5] [--connections 16]
// The sidecar is build(loadConfig(env)) with SPACES_* pointing at a fresh bucket on the S3 peer and
// logs at info level into a discarding stream. autocannon drives each route from this process over
// 127.0.0.1 keep-alive connections for a fixed time, after a one-second warm-up. Latency is each
// 2xx response's time as autocannon measured it (to the microsecond); server CPU per request is the
// child's utime + stime over the run (/proc), which shared-CPU noise disturbs less than req/s.
// The sign routes audit each request into the ledger, as in production. A deadline stops it all.
import { spawn, type ChildProcess } from 'node:child_process'
import { createHmac, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import type { Server } from 'node:http'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import Fastify from 'fastify'
import { build } from '../server/app.js'
import { loadConfig } from '../server/config.js'
import { loggerOptions } from '../server/logging.js'
import { createTestBucket } from '../test/helpers/s3.js'

const KEY = 'org-1/epcr/document/doc-1/report.pdf'

if (process.argv[2] === '--serve') {
  // Child: the sidecar and the bare app, each on its own port; prints {"sidecar":N,"bare":N}.
  const discard = new Writable({ write: (_chunk, _encoding, done) => done() })
  const sidecar = await build(loadConfig(process.env), { logger: { ...loggerOptions('info'), stream: discard } })
  const bare = Fastify({ logger: false })
  bare.post('/bare', async (request) => ({ ok: true, key: (request.body as { key: string }).key }))
  await sidecar.listen({ host: '127.0.0.1', port: 0 })
  await bare.listen({ host: '127.0.0.1', port: 0 })
  const port = (app: { server: Server }): number => (app.server.address() as { port: number }).port
  process.stdout.write(`${JSON.stringify({ sidecar: port(sidecar), bare: port(bare) })}\n`)
  process.on('SIGTERM', () => void Promise.all([sidecar.close(), bare.close()]).then(() => process.exit(0)))
} else {
  await main()
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { seconds: { type: 'string', default: '5' }, connections: { type: 'string', default: '16' } },
  })
  const seconds = Number(values.seconds)
  const connections = Number(values.connections)
  if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > 60) throw new Error('--seconds must be 1 to 60')
  if (!Number.isSafeInteger(connections) || connections < 1 || connections > 256) throw new Error('--connections must be 1 to 256')
  const load = loadavg()

  const cleanups: Array<() => unknown> = []
  let child: ChildProcess | undefined
  const cleanup = async (): Promise<void> => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM')
      await once(child, 'exit')
    }
    for (const fn of cleanups.reverse()) await fn()
  }
  const cases = 4
  const deadline = setTimeout(() => {
    console.error('bench-sign: deadline passed, stopping')
    void cleanup().finally(() => process.exit(1))
  }, 60_000 + cases * (seconds + 1) * 2_000)
  deadline.unref()
  process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)))

  try {
    const bucket = await createTestBucket({ teardown: (fn) => cleanups.push(fn) }, 'bench-sign')
    const dir = mkdtempSync(join(tmpdir(), 'bench-sign-'))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const jwtSecret = randomBytes(32).toString('hex')
    const env = {
      ...process.env,
      JWT_SECRET: jwtSecret,
      LEDGER_PATH: join(dir, 'ledger.db'),
      DATA_DIR: join(dir, 'data'),
      SWEEP_INTERVAL_SECONDS: '0',
      SPACES_ENDPOINT: bucket.connection.endpoint,
      SPACES_REGION: bucket.connection.region,
      SPACES_BUCKET: bucket.name,
      SPACES_ACCESS_KEY: bucket.connection.accessKeyId,
      SPACES_SECRET_KEY: bucket.connection.secretAccessKey,
      SPACES_FORCE_PATH_STYLE: String(bucket.connection.forcePathStyle),
    }
    child = spawn(process.execPath, ['--import', 'tsx', process.argv[1]!, '--serve'], { env, stdio: ['ignore', 'pipe', 'inherit'] })
    const ports = await new Promise<{ sidecar: number; bare: number }>((resolve, reject) => {
      let output = ''
      child!.stdout!.on('data', (chunk) => {
        output += chunk
        const match = /^(\{.*\})\n/m.exec(output)
        if (match) resolve(JSON.parse(match[1]!))
      })
      child!.once('exit', (code) => reject(new Error(`server exited with ${code} before listening`)))
    })
    const sidecar = `http://127.0.0.1:${ports.sidecar}`

    // An HS256 bearer token, as an identity provider would issue it.
    const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
    const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: 'bench', org: 'org-1', roles: ['admin'], exp: Math.floor(Date.now() / 1000) + 3600 })}`
    const authorization = `Bearer ${unsigned}.${createHmac('sha256', jwtSecret).update(unsigned).digest('base64url')}`

    // The file to sign for, and one check per mode that the URLs it hands out really serve it.
    const put = await fetch(`${sidecar}/v1/files/${KEY}`, { method: 'PUT', headers: { authorization, 'content-type': 'application/pdf' }, body: 'x'.repeat(1000) })
    if (put.status !== 201) throw new Error(`PUT ${put.status}: ${await put.text()}`)
    for (const mode of ['direct', 'proxy']) {
      const signed = await fetch(`${sidecar}/v1/signed-urls`, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify({ key: KEY, mode }) })
      if (signed.status !== 201) throw new Error(`sign ${mode} ${signed.status}: ${await signed.text()}`)
      const file = await fetch((await signed.json() as { url: string }).url)
      if (file.status !== 200 || (await file.text()).length !== 1000) throw new Error(`${mode} URL answered ${file.status}`)
    }

    /** The server process's CPU time so far, ms (utime + stime, in clock ticks of 10 ms). */
    const serverCpuMs = (): number => {
      const fields = readFileSync(`/proc/${child!.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
      return (Number(fields[11]) + Number(fields[12])) * 10
    }
    interface Row { route: string; rps: number; p50: number; p99: number; cpuMs: number; errors: number }
    const rows: Row[] = []
    const json = { 'content-type': 'application/json' }
    async function measure(route: string, options: autocannon.Options): Promise<void> {
      await autocannon({ ...options, connections, duration: 1 }) // warm-up
      const latencies: number[] = []
      const cpuBefore = serverCpuMs()
      const result = await new Promise<autocannon.Result>((resolve, reject) => {
        const instance = autocannon({ ...options, connections, duration: seconds }, (err, res) => (err ? reject(err) : resolve(res)))
        instance.on('response', (_client, status, _bytes, ms) => {
          if (status >= 200 && status < 300) latencies.push(ms)
        })
      })
      const cpuMs = (serverCpuMs() - cpuBefore) / Math.max(1, latencies.length)
      latencies.sort((a, b) => a - b)
      const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? NaN
      rows.push({ route, rps: latencies.length / seconds, p50: at(0.5), p99: at(0.99), cpuMs, errors: result.non2xx + result.errors + result.timeouts })
    }

    await measure('baseline: plain Fastify POST /bare (JSON echo)', { url: `http://127.0.0.1:${ports.bare}/bare`, method: 'POST', headers: json, body: JSON.stringify({ key: KEY }) })
    await measure('sidecar GET /health (no auth, logged)', { url: `${sidecar}/health` })
    for (const mode of ['direct', 'proxy']) {
      await measure(`sidecar POST /v1/signed-urls mode=${mode}`, {
        url: `${sidecar}/v1/signed-urls`,
        method: 'POST',
        headers: { ...json, authorization },
        body: JSON.stringify({ key: KEY, mode }),
      })
    }

    const width = Math.max(...rows.map((r) => r.route.length))
    const line = (...cells: string[]): string => `${cells[0]!.padEnd(width)}  ${cells.slice(1).map((c) => c.padStart(10)).join('  ')}`
    console.log(`node ${process.version}, autocannon ${connections} connections x ${seconds} s per route, server in one child process, ` +
      `${cpus().length} cores, load average ${load.map((l) => l.toFixed(2)).join(' ')}`)
    console.log(line('route', 'req/s', 'p50 ms', 'p99 ms', 'vs bare', 'server CPU ms/req', 'non-2xx'))
    for (const r of rows) {
      console.log(line(r.route, Math.round(r.rps).toLocaleString('en'), r.p50.toFixed(2), r.p99.toFixed(2),
        `${(r.rps / rows[0]!.rps).toFixed(3)}x`, r.cpuMs.toFixed(3), String(r.errors)))
    }
  } finally {
    clearTimeout(deadline)
    await cleanup()
  }
}
