// The README's two Uppy setups, run as written in Chromium: each block is copied into a page with
// only the sidecar's address changed, and its exported function builds the Uppy that uploads.
// The tus one goes through a connection cut mid-upload; the multipart one sends its parts
// straight to the bucket, whose CORS rule the CLI sets.
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { createTestBucket } from './helpers/s3.js'
import { buildServer, spacesEnv } from './helpers/server.js'
import { bundlePage, launchChromium } from './helpers/browser.js'
import { runCli } from './helpers/cli.js'
import { patternStream, sha256Of } from './helpers/http.js'
import { emptyApp, linkRepoModules } from './helpers/npm.js'
import { readmeTypeScript } from './helpers/readme.js'
import { startRelay } from './helpers/relay.js'

const MIB = 1024 * 1024
/** The sidecar's address in the README's examples. */
const README_SIDECAR = 'https://storage.example.com'
const PAGE_HELPERS = fileURLToPath(new URL('./browser/uppy-page.js', import.meta.url))
const USER = { sub: 'medic-12', org: 'org-field', scope: 'epcr:*' }

interface PageResult {
  ok: boolean
  failed: string[]
  uploadURL?: string
  body?: { key?: string }
  events: string[]
}
interface UploadOptions {
  token: string
  epcrId: string
  size: number
  seed: number
  name: string
}
// Declared for the page script: it runs in the browser, not here.
declare const globalThis: {
  readmeTus(options: UploadOptions): Promise<PageResult>
  readmeMultipart(options: UploadOptions): Promise<PageResult>
}

/** The README block that imports `module`, with the sidecar's address replaced. */
function readmeBlock(module: string, sidecar: string): string {
  const block = readmeTypeScript().find((b) => b.includes(`from '${module}'`))
  if (!block?.includes(README_SIDECAR)) throw new Error(`the README has no ${module} example naming ${README_SIDECAR}`)
  return block.replaceAll(README_SIDECAR, sidecar)
}

t.test("the README's Uppy setups upload as written: tus through a cut connection, and S3 multipart", { timeout: 240_000 }, async (t) => {
  const browser = await launchChromium(t)
  if (!browser) return
  // The blocks are bundled with the sidecar's address in them, and the sidecar needs the page's
  // origin for CORS: a relay gives the address first and points at the sidecar once it listens.
  const relay = await startRelay(1)
  t.teardown(() => relay.close())
  const dir = emptyApp('readme-uppy')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  linkRepoModules(dir)
  writeFileSync(join(dir, 'tus-uploader.ts'), readmeBlock('@uppy/tus', relay.url))
  writeFileSync(join(dir, 'multipart-uploader.ts'), readmeBlock('@uppy/aws-s3', relay.url))
  writeFileSync(
    join(dir, 'page.ts'),
    `import { patternBlob, run } from ${JSON.stringify(PAGE_HELPERS)}
import { epcrUploader } from './tus-uploader.ts'
import { largeFileUploader } from './multipart-uploader.ts'
const file = (o: { size: number; seed: number; name: string }) => ({ name: o.name, type: 'video/mp4', data: patternBlob(o.size, o.seed, 'video/mp4') })
Object.assign(globalThis, {
  readmeTus: (o: any) => run(epcrUploader(o.token, o.epcrId), file(o)),
  readmeMultipart: async (o: any) => run(await largeFileUploader(o.token, o.epcrId), file(o)),
})
`,
  )
  const page = await bundlePage(t, join(dir, 'page.ts'))

  const bucket = await createTestBucket(t, 'readme-uppy')
  const env = spacesEnv(bucket)
  const server = await buildServer(t, { ...env, CORS_ORIGINS: page.origin })
  await server.app.listen({ host: '127.0.0.1', port: 0 })
  relay.retarget((server.app.server.address() as { port: number }).port)
  // The bucket rule for the page's origin, set by the real CLI as an operator would.
  const applied = await runCli(['cors', 'apply'], { ...env, CORS_ORIGINS: page.origin })
  t.equal(applied.code, 0, `cors apply${applied.stderr ? `: ${applied.stderr}` : ''}`)
  const context = await browser.newContext()
  context.setDefaultTimeout(60_000)
  const token = server.token(USER)

  await t.test('epcrUploader (@uppy/tus) survives a cut connection', async (t) => {
    const browserPage = await context.newPage()
    await browserPage.goto(page.origin)
    const size = 19 * MIB + 5
    let cut = false
    void relay.cutAfter(11 * MIB).then(() => (cut = true))
    const result = await browserPage.evaluate((o) => globalThis.readmeTus(o), { token, epcrId: 'epcr-88', size, seed: 41, name: 'scene.mp4' })
    t.ok(cut, 'the connection was cut mid-upload')
    t.ok(result.ok, `Uppy finished: ${result.failed.join('; ')}`)
    const row = await server.app.storage.ledger.getById(result.uploadURL!.split('/').pop()!)
    t.equal(row?.state, 'live')
    t.match(row?.key, /^org-field\/epcr\/attachment\/epcr-88\/\d{8}_scene\.mp4$/, "the key from the uploader's meta and the token")
    t.equal(row?.sha256, (await sha256Of(patternStream(size, 41))).sha256, 'the exact sha256')
    t.equal(row?.contentType, 'video/mp4')
  })

  await t.test('largeFileUploader (@uppy/aws-s3, multipart) sends parts to the bucket and the sidecar records the file', async (t) => {
    const browserPage = await context.newPage()
    const partPuts: number[] = []
    browserPage.on('request', (request) => {
      const part = new URL(request.url()).searchParams.get('partNumber')
      if (request.method() === 'PUT' && part) partPuts.push(Number(part))
    })
    await browserPage.goto(page.origin)
    const size = 20 * MIB + 9
    const result = await browserPage.evaluate((o) => globalThis.readmeMultipart(o), { token, epcrId: 'epcr-88', size, seed: 43, name: 'dashcam.mp4' })
    t.ok(result.ok, `Uppy finished: ${result.failed.join('; ')}`)
    t.same([...new Set(partPuts)].sort(), [1, 2, 3], "three parts: the example's 8 MiB minimum part size")
    const key = result.body?.key ?? ''
    t.match(key, /^org-field\/epcr\/video\/epcr-88\/\d{8}_dashcam\.mp4$/, "the key from the session's target and the token")
    const live = await server.app.storage.ledger.getLive(key)
    t.equal(live?.sha256, (await sha256Of(patternStream(size, 43))).sha256, 'the exact sha256')
    t.equal(live?.size, size)
    t.same(await bucket.incompleteUploads(), [], 'no multipart upload left open')
  })
})
