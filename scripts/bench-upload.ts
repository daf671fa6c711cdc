// Upload and download throughput through the plugin, side by side with the SDK talking to the same
// bucket directly, in the same run, against the S3 peer (or any TEST_S3_* endpoint).
//   eval "$(scripts/s3-peer env)"; npx tsx scripts/bench-upload.ts [--mib 200] [--runs 3]
// Plugin: test/fixtures/plugin-server.ts in a child process (5 MiB parts x 4 in flight) takes
// PUT /files/* (raw body) and POST /files/... (multipart) over 127.0.0.1.
// Baseline: a lib-storage Upload from this process with the same part size and queue, fed the same
// generated stream; for downloads, GET /files/* through the plugin against a direct GetObject.
// The stream repeats one random MiB: generating fresh bytes (patternStream) costs about 1 s of CPU
// per 200 MiB here, which would bound the baseline, whose generator shares its thread with the SDK.
// Server memory: its peak RSS during each plugin run (VmHWM, reset through /proc/PID/clear_refs
// before the run) minus its RSS at rest after the warm-up, so memory kept from earlier runs counts.
// A fresh bucket is made and removed; a deadline stops it all.
import { writeFileSync } from 'node:fs'
import { get as httpGet } from 'node:http'
import { randomBytes } from 'node:crypto'
import { loadavg, cpus } from 'node:os'
import { Readable } from 'node:stream'
import { parseArgs } from 'node:util'
import { GetObjectCommand } from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { createTestBucket } from '../test/helpers/s3.js'
import { DEFAULT_QUEUE_SIZE } from '../plugin/options.js'
import { procMemoryKb, sendStream, startChildServer, type ChildServer } from '../test/helpers/http.js'

const MIB = 1024 * 1024
const PART_SIZE = 5 * MIB // what the fixture gets from its options: max(5 MiB, 1 GiB / 10,000)
const QUEUE_SIZE = DEFAULT_QUEUE_SIZE // the plugin's default, which the fixture uses
const { values } = parseArgs({ options: { mib: { type: 'string', default: '200' }, runs: { type: 'string', default: '3' } } })
const mib = Number(values.mib)
const runs = Number(values.runs)
if (!Number.isSafeInteger(mib) || mib < 10 || mib > 1000) throw new Error('--mib must be an integer from 10 to 1000')
if (!Number.isSafeInteger(runs) || runs < 1 || runs > 10) throw new Error('--runs must be an integer from 1 to 10')
const SIZE = mib * MIB
const load = loadavg()

const cleanups: Array<() => unknown> = []
let server: ChildServer | undefined
async function cleanup(): Promise<void> {
  await server?.stop()
  for (const fn of cleanups.reverse()) await fn()
}
// Bounded in time: about 4 s per 200 MiB transfer is slow here; give plenty, then stop anyway.
const deadline = setTimeout(() => {
  console.error('bench-upload: deadline passed, stopping')
  void cleanup().finally(() => process.exit(1))
}, 60_000 + runs * 5 * (SIZE / MIB) * 100)
deadline.unref()
process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)))

const bucket = await createTestBucket({ teardown: (fn) => cleanups.push(fn) }, 'bench-upload')
server = await startChildServer('test/fixtures/plugin-server.ts', [bucket.name])
const pid = server.child.pid!
const base = `http://127.0.0.1:${server.port}`

const BLOCK = randomBytes(MIB)
/** `size` bytes of BLOCK over and over, in 256 KiB chunks: random enough for S3, nearly free to make. */
function generated(size: number): Readable {
  let sent = 0
  return new Readable({
    read() {
      const n = Math.min(256 * 1024, size - sent)
      if (n <= 0) return void this.push(null)
      const at = sent % MIB
      this.push(BLOCK.subarray(at, at + n))
      sent += n
    },
  })
}

/** Seconds taken by `fn`, after checking what it returns is the whole file. */
async function timed(label: string, fn: () => Promise<number>): Promise<number> {
  const start = process.hrtime.bigint()
  const bytes = await fn()
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  if (bytes !== SIZE) throw new Error(`${label}: ${bytes} bytes instead of ${SIZE}`)
  return seconds
}

async function directUpload(key: string, size = SIZE): Promise<number> {
  const upload = new Upload({
    client: bucket.client,
    params: { Bucket: bucket.name, Key: key, Body: generated(size), ContentType: 'application/octet-stream' },
    partSize: PART_SIZE,
    queueSize: QUEUE_SIZE,
    leavePartsOnError: false,
  })
  await upload.done()
  return size
}

async function pluginPut(key: string, size = SIZE): Promise<number> {
  const res = await sendStream(`${base}/files/${key}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: generated(size),
  })
  if (res.status !== 201) throw new Error(`PUT ${res.status}: ${res.body}`)
  return JSON.parse(res.body).size
}

async function pluginPost(prefix: string): Promise<number> {
  const boundary = 'fastifyspacesbenchboundary'
  const body = Readable.from(
    (async function* () {
      yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="post.bin"\r\n` +
        'Content-Type: application/octet-stream\r\n\r\n')
      yield* generated(SIZE)
      yield Buffer.from(`\r\n--${boundary}--\r\n`)
    })(),
  )
  const res = await sendStream(`${base}/files/${prefix}`, {
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    body,
  })
  if (res.status !== 201) throw new Error(`POST ${res.status}: ${res.body}`)
  return JSON.parse(res.body).files[0].size
}

async function count(stream: AsyncIterable<Uint8Array>): Promise<number> {
  let bytes = 0
  for await (const chunk of stream) bytes += chunk.length
  return bytes
}

const directGet = async (key: string): Promise<number> =>
  count((await bucket.client.send(new GetObjectCommand({ Bucket: bucket.name, Key: key }))).Body as Readable)

const pluginGet = (key: string): Promise<number> =>
  new Promise((resolve, reject) => {
    httpGet(`${base}/files/${key}`, (res) => {
      if (res.statusCode !== 200) reject(new Error(`GET ${res.statusCode}`))
      count(res).then(resolve, reject)
    }).on('error', reject)
  })

interface Case {
  label: string
  seconds: number[]
  /** Server peak RSS above its RSS at rest, per run, KiB (plugin cases only). */
  growthKb?: number[]
  baseline?: Case
}
const cases = {
  directUp: { label: 'upload: direct lib-storage Upload (baseline)', seconds: [] } as Case,
  put: { label: 'upload: plugin PUT /files/* raw body', seconds: [], growthKb: [] } as Case,
  post: { label: 'upload: plugin POST /files/... multipart', seconds: [], growthKb: [] } as Case,
  directDown: { label: 'download: direct GetObject (baseline)', seconds: [] } as Case,
  get: { label: 'download: plugin GET /files/*', seconds: [], growthKb: [] } as Case,
}
cases.put.baseline = cases.post.baseline = cases.directUp
cases.get.baseline = cases.directDown

/** Times a plugin run and the server's peak RSS during it, above `restKb`. */
async function pluginRun(c: Case, restKb: number, fn: () => Promise<number>): Promise<void> {
  writeFileSync(`/proc/${pid}/clear_refs`, '5') // resets VmHWM to the current RSS
  c.seconds.push(await timed(c.label, fn))
  c.growthKb!.push(procMemoryKb(pid, 'VmHWM') - restKb)
}

try {
  // Warm up JIT, sockets and the first multipart upload on both sides.
  await directUpload('warm/direct.bin', 12 * MIB)
  await pluginPut('org-1/epcr/document/warm/warm.bin', 12 * MIB)
  const restKb = procMemoryKb(pid, 'VmRSS')
  for (let run = 1; run <= runs; run++) {
    const put = `org-1/epcr/document/bench-${run}/put.bin`
    cases.directUp.seconds.push(await timed('direct upload', () => directUpload(`direct/${run}.bin`)))
    await pluginRun(cases.put, restKb, () => pluginPut(put))
    await pluginRun(cases.post, restKb, () => pluginPost(`org-1/epcr/document/bench-${run}`))
    cases.directDown.seconds.push(await timed('direct download', () => directGet(put)))
    await pluginRun(cases.get, restKb, () => pluginGet(put))
  }

  const median = (xs: number[]): number => {
    const sorted = [...xs].sort((a, b) => a - b)
    return (sorted[Math.floor((sorted.length - 1) / 2)]! + sorted[Math.ceil((sorted.length - 1) / 2)]!) / 2
  }
  const rate = (seconds: number): number => SIZE / MIB / seconds
  const rows = Object.values(cases).map((c) => {
    const rates = c.seconds.map(rate)
    const ratio = c.baseline ? median(rates) / median(c.baseline.seconds.map(rate)) : undefined
    return [c.label, ...rates.map((r) => r.toFixed(0)), median(rates).toFixed(0), ratio ? `${ratio.toFixed(2)}x` : '',
      c.growthKb ? c.growthKb.map((kb) => String(Math.round(kb / 1024) || 0)).join(' / ') : '']
  })
  const head = ['case', ...Array.from({ length: runs }, (_, i) => `run ${i + 1}`), 'median', 'vs direct', 'server peak - rest MiB']
  const width = Math.max(...rows.map((r) => r[0]!.length))
  const line = (cells: string[]): string =>
    `${cells[0]!.padEnd(width)}  ${cells.slice(1, -1).map((c) => c.padStart(9)).join('  ')}  ${cells.at(-1)!.padStart(20)}`
  console.log(`node ${process.version}, ${mib} MiB x ${runs} runs, ${PART_SIZE / MIB} MiB parts x ${QUEUE_SIZE}, ` +
    `S3 ${bucket.connection.endpoint}, ${cpus().length} cores, load average ${load.map((l) => l.toFixed(2)).join(' ')}`)
  console.log(`figures in MiB/s; plugin server RSS at rest ${(restKb / 1024).toFixed(0)} MiB`)
  console.log(line(head))
  for (const row of rows) console.log(line(row))
} finally {
  clearTimeout(deadline)
  await cleanup()
}
