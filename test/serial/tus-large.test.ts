// 1 GiB through tus in 8 MiB PATCHes, the connection cut three times: the sidecar (its own
// process, so /proc shows its memory) streams every byte into S3 parts and a staged tail, never to
// local disk, with flat memory, one record and one audit event, and the exact sha256.
// It runs in the serial phase: memory is measured with no other test competing for the cores.
import { test } from 'tap'
import { mkdtempSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSigner } from 'fast-jwt'
import * as tus from 'tus-js-client'
import { SqliteLedger } from '../../plugin/ledger/sqlite.js'
import { createTestBucket } from '../helpers/s3.js'
import { spacesEnv, JWT_SECRET } from '../helpers/server.js'
import { startCliServer } from '../helpers/cli.js'
import { patternStream, procMemoryKb, sha256Of } from '../helpers/http.js'
import { startRelay } from '../helpers/relay.js'

const MIB = 1024 * 1024
const SIZE = 1024 * MIB
const MAX_GROWTH_KB = 64 * 1024

/** Every file under `dir` with its size. */
function filesUnder(dir: string): Map<string, number> {
  const files = new Map<string, number>()
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) files.set(join(entry.parentPath, entry.name), statSync(join(entry.parentPath, entry.name)).size)
  }
  return files
}

/** Regular files a process has open, sampled until stopped: the ledger's, or any it writes to. */
function watchOpenFiles(pid: number): () => Set<string> {
  const seen = new Set<string>()
  const sample = () => {
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try {
          const target = readlinkSync(`/proc/${pid}/fd/${fd}`)
          if (target.startsWith('/') && !target.startsWith('/dev/') && !target.startsWith('/proc/')) seen.add(target)
        } catch {} // closed while we looked
      }
    } catch {}
  }
  const timer = setInterval(sample, 100)
  return () => {
    clearInterval(timer)
    return seen
  }
}

function tusUpload(endpoint: string, token: string, size: number, seed: number, filename: string, onProgress?: (sent: number) => void) {
  return new Promise<tus.Upload>((resolve, reject) => {
    const upload: tus.Upload = new tus.Upload(patternStream(size, seed), {
      endpoint,
      headers: { authorization: `Bearer ${token}` },
      chunkSize: 8 * MIB,
      uploadSize: size,
      metadata: { system: 'epcr', objectType: 'video', objectId: 'v-big', filename, contentType: 'video/mp4' },
      retryDelays: [200, 500, 1000, 2000, 2000, 3000, 3000],
      onProgress,
      onSuccess: () => resolve(upload),
      onError: reject,
    })
    upload.start()
  })
}

test('1 GiB tus upload, cut three times: exact sha256, one record, one event, no disk, flat memory', { timeout: 600_000 }, async (t) => {
  const bucket = await createTestBucket(t, 'tusbig')
  const dir = mkdtempSync(join(tmpdir(), 'fastify-spaces-tus-big-'))
  const env = { ...spacesEnv(bucket), JWT_SECRET, LEDGER_PATH: join(dir, 'ledger.db'), LOG_LEVEL: 'info', SWEEP_INTERVAL_SECONDS: '0', MAX_UPLOAD_BYTES: String(2 * SIZE) }
  const token = createSigner({ key: JWT_SECRET, expiresIn: 600_000 })({ sub: 'medic', org: 'org-1', scope: 'epcr:*' })
  const server = await startCliServer(env)
  t.teardown(() => server.child.kill('SIGKILL'))
  const pid = server.child.pid!
  const relay = await startRelay(server.port)
  t.teardown(() => relay.close())
  const endpoint = `${relay.url}/v1/uploads/tus`
  const expected = await sha256Of(patternStream(SIZE, 11))

  // Warm up to a steady state before the baseline (JIT, sockets, the garbage V8 lets build up).
  await tusUpload(endpoint, token, 64 * MIB, 3, 'warm.mp4')
  const baselineKb = procMemoryKb(pid, 'VmRSS')
  writeFileSync(`/proc/${pid}/clear_refs`, '5')
  const openFiles = watchOpenFiles(pid)

  const cutsAt = [300 * MIB, 550 * MIB, 800 * MIB]
  let cuts = 0
  const started = Date.now()
  const finished = await tusUpload(endpoint, token, SIZE, 11, 'big.mp4', (sent) => {
    if (cuts < cutsAt.length && sent >= cutsAt[cuts]!) {
      cuts++
      relay.cut()
    }
  })
  const seconds = (Date.now() - started) / 1000
  const peakKb = procMemoryKb(pid, 'VmHWM')
  const opened = openFiles()
  t.equal(cuts, 3, 'the connection was killed three times')
  t.comment(`1 GiB in ${seconds.toFixed(1)} s (${(1024 / seconds).toFixed(0)} MiB/s) with 3 cuts; sidecar RSS at rest ${Math.round(baselineKb / 1024)} MiB, peak ${Math.round(peakKb / 1024)} MiB`)
  t.ok(peakKb - baselineKb < MAX_GROWTH_KB, `sidecar peak RSS grew by ${Math.round((peakKb - baselineKb) / 1024)} MiB (< 64 MiB)`)

  const ledger = SqliteLedger.open({ path: env.LEDGER_PATH })
  t.teardown(() => ledger.close())
  const row = await ledger.getById(finished.url!.split('/').pop()!)
  t.equal(row?.sha256, expected.sha256, 'the recorded sha256 is exact')
  t.equal(row?.size, SIZE)
  const live = (await ledger.listLive({ orgId: 'org-1', system: 'epcr', objectType: 'video', objectId: 'v-big' }, { limit: 10 })).items
  t.same(live.map((r) => r.key).filter((k) => k.endsWith('big.mp4')), [row!.key], 'one ledger record for it')
  const events = (await ledger.queryAudit({ key: row!.key }, { limit: 10 })).items
  t.same(events.map((e) => `${e.action}:${e.result}:${e.status}`), ['upload:ok:201'], 'one audit event for it')

  // Nothing landed on local disk: while the upload ran the sidecar had no file open but the ledger
  // (and its own code), and its directory holds the ledger only.
  const written = [...opened].filter((path) => !path.startsWith(`${env.LEDGER_PATH}`) && !path.startsWith(process.cwd()) && !path.startsWith('/usr/'))
  t.same(written, [], 'no file open but the ledger while the upload ran')
  t.same([...filesUnder(dir).keys()].filter((path) => !path.startsWith(env.LEDGER_PATH)), [], 'no file beside the ledger')
  t.same((await bucket.keys()).filter((k) => k.startsWith('.uploads/')), [], 'no staged tail left')
  t.same(await bucket.incompleteUploads(), [], 'no multipart upload left open')
})
