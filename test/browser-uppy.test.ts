// Uppy in Chromium against the sidecar and the S3 peer, with nothing of ours in the browser but the
// page: @uppy/tus through a connection that is cut mid-upload, and @uppy/aws-s3 in multipart mode
// with one part failing once. Both end with the exact sha256 recorded.
import { execFile } from 'node:child_process'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { createTestBucket } from './helpers/s3.js'
import { buildServer, spacesEnv } from './helpers/server.js'
import { bundlePage, launchChromium } from './helpers/browser.js'
import { patternStream, sha256Of } from './helpers/http.js'
import { startRelay } from './helpers/relay.js'

const MIB = 1024 * 1024
const CLI = fileURLToPath(new URL('../server/cli.ts', import.meta.url))
const TSX = import.meta.resolve('tsx')
const USER = { sub: 'paramedic', org: 'org-field', scope: 'epcr:*' }

interface PageResult {
  ok: boolean
  failed: string[]
  uploadURL?: string
  body?: { key?: string; location?: string; sha256?: string }
  events: string[]
}
// Declared for the page scripts: they run in the browser, not here.
declare const globalThis: {
  uploadWithTus(options: object): Promise<PageResult>
  uploadWithS3Multipart(options: object): Promise<PageResult>
}

t.test('Uppy in Chromium: tus through a cut connection, and S3 multipart with a failed part', { timeout: 240_000 }, async (t) => {
  const browser = await launchChromium(t)
  if (!browser) return
  const page = await bundlePage(t, fileURLToPath(new URL('./browser/uppy-page.js', import.meta.url)))
  const bucket = await createTestBucket(t, 'uppy')
  const env = spacesEnv(bucket)
  const { app, auth } = await buildServer(t, { ...env, CORS_ORIGINS: page.origin })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as AddressInfo).port
  // The bucket rule for the page's origin, set by the real CLI as an operator would.
  const applied = await new Promise<number>((resolve) =>
    execFile(process.execPath, ['--import', TSX, CLI, 'cors', 'apply'], { cwd: t.testdir(), env: { PATH: process.env.PATH ?? '', ...env, CORS_ORIGINS: page.origin }, timeout: 60_000 }, (err) => resolve(err ? 1 : 0)),
  )
  t.equal(applied, 0, 'cors apply')
  const context = await browser.newContext()
  context.setDefaultTimeout(60_000)
  const authorization = auth(USER).authorization

  await t.test('@uppy/tus survives a cut connection', async (t) => {
    const relay = await startRelay(port)
    t.teardown(() => relay.close())
    const browserPage = await context.newPage()
    await browserPage.goto(page.origin)
    const size = 18 * MIB
    let cut = false
    void relay.cutAfter(7 * MIB).then(() => (cut = true))
    const result = await browserPage.evaluate(
      (options) => globalThis.uploadWithTus(options),
      { endpoint: `${relay.url}/v1/uploads/tus`, authorization, size, seed: 21, name: 'scene.mp4', meta: { system: 'epcr', objectType: 'video', objectId: 'v-7' } },
    )
    t.ok(cut, 'the connection was cut mid-upload')
    t.ok(result.ok, `Uppy finished: ${result.failed.join('; ')}`)
    const row = await app.storage.ledger.getById(result.uploadURL!.split('/').pop()!)
    t.equal(row?.state, 'live')
    t.equal(row?.sha256, (await sha256Of(patternStream(size, 21))).sha256, 'the exact sha256')
    t.match(row?.key, /^org-field\/epcr\/video\/v-7\/\d{8}_scene\.mp4$/)
    t.equal(row?.contentType, 'video/mp4', "Uppy's filetype names the type")
  })

  await t.test('@uppy/aws-s3 multipart: 64 MiB in 5 MiB parts, one part fails once and is retried', async (t) => {
    const browserPage = await context.newPage()
    let failedOnce = false
    const partPuts: number[] = []
    await browserPage.route(/partNumber=\d+/, async (route) => {
      const partNumber = Number(new URL(route.request().url()).searchParams.get('partNumber'))
      if (route.request().method() === 'PUT') partPuts.push(partNumber)
      if (partNumber === 3 && route.request().method() === 'PUT' && !failedOnce) {
        failedOnce = true
        await route.abort('connectionreset')
        return
      }
      await route.continue()
    })
    await browserPage.goto(page.origin)
    const size = 64 * MIB
    const result = await browserPage.evaluate(
      (options) => globalThis.uploadWithS3Multipart(options),
      { sidecar: `http://127.0.0.1:${port}`, authorization, target: { system: 'epcr', objectType: 'scan', objectId: 's-7' }, size, seed: 33, name: 'chart.pdf' },
    )
    t.ok(result.ok, `Uppy finished: ${result.failed.join('; ')}`)
    t.ok(failedOnce, 'part 3 failed once')
    t.equal(partPuts.filter((n) => n === 3).length, 2, 'and was sent again')
    t.equal(new Set(partPuts).size, 13, '13 parts of 5 MiB')
    const key = result.body?.key ?? ''
    t.match(key, /^org-field\/epcr\/scan\/s-7\/\d{8}_chart\.pdf$/)
    const live = await app.storage.ledger.getLive(key)
    t.equal(live?.sha256, (await sha256Of(patternStream(size, 33))).sha256, 'the exact sha256')
    t.equal(live?.size, size)
    t.same(await bucket.incompleteUploads(), [], 'no multipart upload left open')
  })
})
