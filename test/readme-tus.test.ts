// The README's tus-js-client example, run as written: the block is copied into a fresh app with
// only its endpoint pointed at a test sidecar, and run by node in its own process. The network is
// cut once mid-upload, so the example's own retryDelays and chunkSize do the resuming.
import { test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { readmeTypeScript } from './helpers/readme.js'
import { emptyApp, linkRepoModules, sh } from './helpers/npm.js'
import { listeningOnBucket } from './helpers/server.js'
import { startRelay } from './helpers/relay.js'

const MIB = 1024 * 1024
/** The endpoint the README's example names: the sidecar's default listen address. */
const README_ENDPOINT = 'http://127.0.0.1:8080/v1/uploads/tus'

test("the README's tus-js-client example uploads a file as written, through a cut connection", async (t) => {
  const block = readmeTypeScript().find((b) => b.includes("from 'tus-js-client'"))
  if (!block) throw new Error('the README has no tus-js-client example')
  t.ok(block.includes(`'${README_ENDPOINT}'`), 'the example names the sidecar on its default port')

  const server = await listeningOnBucket(t, 'readme-tus')
  const relay = await startRelay(Number(new URL(server.base).port))
  t.teardown(() => relay.close())
  const dir = emptyApp('readme-tus')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  linkRepoModules(dir)
  // Two full 8 MiB chunks and a tail: the example's chunkSize decides the PATCHes.
  const video = randomBytes(19 * MIB + 321)
  writeFileSync(join(dir, 'ambulance-cam.mp4'), video)
  writeFileSync(join(dir, 'upload.ts'), block.replace(README_ENDPOINT, `${relay.url}/v1/uploads/tus`))

  // One cut in the middle of the second chunk, as an LTE drop would make it.
  let cut = false
  void relay.cutAfter(12 * MIB).then(() => (cut = true))
  const token = server.token({ sub: 'medic-7', org: 'org-1', scope: 'epcr:*' })
  let failure = ''
  const run = await sh(process.execPath, ['--import', 'tsx', 'upload.ts'], { cwd: dir, env: { PATH: process.env.PATH, TOKEN: token }, timeout: 120_000 }).catch(
    (err: Error) => {
      failure = err.message
      return { stdout: '', stderr: '' }
    },
  )

  t.equal(failure, '', 'the example exited cleanly')
  t.ok(cut, 'the connection was cut mid-upload')
  const offsetAsks = server.logs.filter((line) => line.includes('"method":"HEAD"') && line.includes('"route":"/v1/uploads/tus/:id"'))
  t.ok(offsetAsks.length >= 1, 'after the cut the client asked for the offset to resume from')
  const url = /stored; the upload URL was (\S+)/.exec(run.stdout)?.[1]
  t.ok(url, `the example reported success: ${run.stdout.trim()}`)
  const row = await server.app.storage.ledger.getById(url!.split('/').pop()!)
  t.equal(row?.state, 'live')
  t.match(row?.key, /^org-1\/epcr\/video\/epcr-456\/\d{8}_ambulance-cam\.mp4$/, 'the key from its metadata and the token')
  t.equal(row?.contentType, 'video/mp4')
  t.equal(row?.size, video.length)
  t.equal(row?.sha256, createHash('sha256').update(video).digest('hex'), 'the recorded sha256 is that of the whole file')
  const events = (await server.app.storage.ledger.queryAudit({ key: row!.key }, { limit: 10 })).items
  t.same(events.map((e) => `${e.action}:${e.result}:${e.actor}`), ['upload:ok:medic-7'], 'one audit event for the upload')
})
