// Upload and download throughput through the sidecar, side by side with the SDK talking to the
// same bucket directly, in the same run, against the S3 peer (or any TEST_S3_* endpoint).
//   eval "$(scripts/s3-peer env)"; npx tsx scripts/bench-transfer.ts [--mib 1024] [--runs 3] [--profile DIR]
// The sidecar runs in a child process as `spaces-proxy serve` runs it (scripts/lib/sidecar-child.ts,
// default part size and parts in flight, bearer tokens, logs at info) and takes PUT /v1/files/*
// (raw body), POST /v1/files/... (multipart) and GET /v1/files/* over 127.0.0.1. Baselines, from
// this process: a lib-storage Upload with 8 MiB parts x 4 in flight fed the same generated
// stream, and a GetObject read to its end.
// Each round runs every case once, baselines and sidecar alternating, so a burst of load from other
// work on the machine hits both; the ratios are medians of each round's sidecar/baseline ratio.
// The stream repeats one random MiB: generating fresh bytes costs about 1 s of CPU per 200 MiB,
// which would bound the baseline, whose generator shares its thread with the SDK.
// Sidecar CPU is the child's utime + stime over each of its runs; the baselines' CPU is this
// process's over the direct run (the SDK, the generator, the reading). Sidecar memory is its peak
// RSS during each of its runs (VmHWM, reset through /proc/PID/clear_refs) minus its RSS at rest:
// the lowest seen after a warm-up that ran every path once. A fresh bucket is made and removed; a deadline stops it all.
import { writeFileSync } from 'node:fs'
import { get as httpGet } from 'node:http'
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { parseArgs } from 'node:util'
import { GetObjectCommand } from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { createTestBucket } from '../test/helpers/s3.js'
import { procMemoryKb, sendStream } from '../test/helpers/http.js'
import { intFlag, machineLine, median, ownCpuMs, processCpuMs, table } from './lib/bench.js'
import { startSidecar, type Sidecar } from './lib/sidecar.js'

const MIB = 1024 * 1024
const GIB = 1024 * MIB
const BASELINE_PART_SIZE = 8 * MIB
const BASELINE_QUEUE_SIZE = 4
const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '1024' },
    runs: { type: 'string', default: '3' },
    profile: { type: 'string' },
  },
})
const mib = intFlag('mib', values.mib, 16, 4096)
const runs = intFlag('runs', values.runs, 1, 10)
const SIZE = mib * MIB
const startLine = machineLine()

const cleanups: Array<() => unknown> = []
let server: Sidecar | undefined
async function cleanup(): Promise<void> {
  await server?.stop()
  for (const fn of cleanups.reverse()) await fn()
}
// Bounded in time: a minute per GiB per transfer is far slower than this machine ever ran under
// load; give that, then stop anyway.
const deadline = setTimeout(
  () => {
    console.error('bench-transfer: deadline passed, stopping')
    void cleanup().finally(() => process.exit(1))
  },
  120_000 + (runs + 1) * 5 * (SIZE / GIB) * 60_000,
)
deadline.unref()
process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)))

const bucket = await createTestBucket({ teardown: (fn) => cleanups.push(fn) }, 'bench-transfer')
server = await startSidecar(bucket, { profileDir: values.profile })
const pid = server.child.pid!
const base = `${server.sidecar}/v1`
const { authorization } = server

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

async function directUpload(key: string, size = SIZE): Promise<number> {
  const upload = new Upload({
    client: bucket.client,
    params: { Bucket: bucket.name, Key: key, Body: generated(size), ContentType: 'application/octet-stream' },
    partSize: BASELINE_PART_SIZE,
    queueSize: BASELINE_QUEUE_SIZE,
    leavePartsOnError: false,
  })
  await upload.done()
  return size
}

async function sidecarPut(key: string, size = SIZE): Promise<number> {
  const res = await sendStream(`${base}/files/${key}`, {
    method: 'PUT',
    headers: { authorization, 'content-type': 'application/octet-stream' },
    body: generated(size),
  })
  if (res.status !== 201) throw new Error(`PUT ${res.status}: ${res.body}`)
  return JSON.parse(res.body).size
}

async function sidecarPost(prefix: string, size = SIZE): Promise<number> {
  const boundary = 'fastifyspacesbenchboundary'
  const body = Readable.from(
    (async function* () {
      yield Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="post.bin"\r\n` +
          'Content-Type: application/octet-stream\r\n\r\n',
      )
      yield* generated(size)
      yield Buffer.from(`\r\n--${boundary}--\r\n`)
    })(),
  )
  const res = await sendStream(`${base}/files/${prefix}`, {
    method: 'POST',
    headers: { authorization, 'content-type': `multipart/form-data; boundary=${boundary}` },
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

const sidecarGet = (key: string, size = SIZE): Promise<number> =>
  new Promise((resolve, reject) => {
    httpGet(`${base}/files/${key}`, { headers: { authorization } }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`GET ${res.statusCode}`))
      count(res).then((bytes) => (bytes === size ? resolve(bytes) : reject(new Error(`GET: ${bytes} of ${size} bytes`))), reject)
    }).on('error', reject)
  })

interface Case {
  label: string
  /** MiB/s per run. */
  rates: number[]
  /** CPU seconds per GiB per run: the sidecar's for its cases, this process's for baselines. */
  cpu: number[]
  /** Sidecar peak RSS during each run, KiB (its cases). */
  peaks: number[]
  baseline?: Case
}
const newCase = (label: string, baseline?: Case): Case => ({ label, rates: [], cpu: [], peaks: [], baseline })
const directUp = newCase('baseline: direct lib-storage Upload, 8 MiB x 4')
const put = newCase('sidecar PUT /v1/files/* (raw body)', directUp)
const post = newCase('sidecar POST /v1/files/... (multipart)', directUp)
const directDown = newCase('baseline: direct GetObject')
const get = newCase('sidecar GET /v1/files/*', directDown)

/** Times one run; for the sidecar's cases also its CPU and its peak RSS during the run. */
async function run(c: Case, fn: () => Promise<number>, sidecar = true): Promise<void> {
  if (sidecar) writeFileSync(`/proc/${pid}/clear_refs`, '5') // VmHWM starts over from VmRSS
  const cpuBefore = sidecar ? processCpuMs(pid) : ownCpuMs()
  const start = process.hrtime.bigint()
  const bytes = await fn()
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  const cpuMs = (sidecar ? processCpuMs(pid) : ownCpuMs()) - cpuBefore
  if (bytes !== SIZE) throw new Error(`${c.label}: ${bytes} bytes instead of ${SIZE}`)
  c.rates.push(SIZE / MIB / seconds)
  c.cpu.push(cpuMs / 1000 / (SIZE / GIB))
  if (sidecar) c.peaks.push(procMemoryKb(pid, 'VmHWM'))
}

try {
  // Warm up JIT, sockets and each path once, on both sides.
  const warmKey = 'org-1/epcr/document/warm/warm.bin'
  await directUpload('warm/direct.bin', 24 * MIB)
  await sidecarPut(warmKey, 24 * MIB)
  await sidecarPost('org-1/epcr/document/warm-post', 24 * MIB)
  await sidecarGet(warmKey, 24 * MIB)
  // At rest is the leanest the sidecar is seen between and during the runs, sampled every 250 ms:
  // right after work its RSS still holds garbage V8 has not collected, which would flatter growth.
  let restKb = procMemoryKb(pid, 'VmRSS')
  const sampler = setInterval(() => {
    restKb = Math.min(restKb, procMemoryKb(pid, 'VmRSS'))
  }, 250)
  try {
    for (let round = 1; round <= runs; round++) {
      const key = `org-1/epcr/document/bench-${round}/put.bin`
      await run(directUp, () => directUpload(`direct/${round}.bin`), false)
      await run(put, () => sidecarPut(key))
      await run(post, () => sidecarPost(`org-1/epcr/document/bench-${round}`))
      await run(directDown, () => directGet(key), false)
      await run(get, () => sidecarGet(key))
    }
  } finally {
    clearInterval(sampler)
  }

  const fmt = (xs: number[], digits: number) => xs.map((x) => x.toFixed(digits)).join(' / ')
  const growth = (peaks: number[]) => {
    const mib = peaks.map((kb) => (kb - restKb) / 1024)
    return `${fmt(mib, 0)} (max ${Math.max(...mib).toFixed(0)})`
  }
  const rows = [directUp, put, post, directDown, get].map((c) => {
    const ratios = c.baseline ? c.rates.map((rate, i) => rate / c.baseline!.rates[i]!) : []
    return [
      c.label,
      fmt(c.rates, 0),
      median(c.rates).toFixed(0),
      c.baseline ? `${median(ratios).toFixed(2)}x` : '',
      median(c.cpu).toFixed(2),
      c.peaks.length > 0 ? growth(c.peaks) : '',
    ]
  })
  console.log(`${startLine} at the start; ${machineLine()} at the end`)
  console.log(
    `${mib} MiB x ${runs} rounds, S3 ${bucket.connection.endpoint}; sidecar RSS at rest (the lowest seen after the warm-up) ${(restKb / 1024).toFixed(0)} MiB`,
  )
  console.log(
    table(
      ['case', 'MiB/s per round', 'median', 'vs baseline', 'CPU s/GiB', 'sidecar peak - rest, MiB'],
      rows,
    ),
  )
  console.log('CPU s/GiB: the sidecar process for sidecar rows; this process (the SDK client) for baselines.')
} finally {
  clearTimeout(deadline)
  await cleanup()
}
