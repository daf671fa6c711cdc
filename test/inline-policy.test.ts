// Active content is never rendered live from the sidecar's origin: HTML, SVG, XML or JavaScript
// asked for inline comes as an attachment, and every file but a PDF carries
// `Content-Security-Policy: sandbox`. PDFs and images still preview inline, in a real browser.
import { test } from 'tap'
import { deflateSync } from 'node:zlib'
import { chromium } from 'playwright-core'
import { buildServer, spacesEnv } from './helpers/server.js'
import { createTestBucket } from './helpers/s3.js'

const ADMIN = { sub: 'viewer', org: 'org-1', roles: ['admin'] }
const FOLDER = 'org-1/epcr/document/inline'
// Page code runs in the browser; the test's tsconfig has no DOM types.
interface Element {
  shadowRoot: { querySelector(selector: string): Element | null } | null
}
declare const document: { images: Array<{ naturalWidth: number }>; querySelector(selector: string): Element | null }

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync']

/** A 2x2 PNG, built here so the test needs no fixture file. */
function png(): Buffer {
  const table = Array.from({ length: 256 }, (_, n) => {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    return c >>> 0
  })
  const crc = (data: Buffer) => {
    let c = 0xffffffff
    for (const byte of data) c = table[(c ^ byte) & 255]! ^ (c >>> 8)
    return (c ^ 0xffffffff) >>> 0
  }
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type), data])
    const out = Buffer.alloc(body.length + 8)
    out.writeUInt32BE(data.length, 0)
    body.copy(out, 4)
    out.writeUInt32BE(crc(body), body.length + 4)
    return out
  }
  const header = Buffer.alloc(13)
  header.writeUInt32BE(2, 0)
  header.writeUInt32BE(2, 4)
  header[8] = 8
  header[9] = 2
  const pixels = Buffer.from([0, 255, 0, 0, 255, 0, 0, 0, 0, 0, 255, 0, 0, 255])
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', header), chunk('IDAT', deflateSync(pixels)), chunk('IEND', Buffer.alloc(0))])
}

const PDF = Buffer.from('%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n')
const SCRIPT = '<script>document.title = "script ran"; fetch("/v1/files")</script>'
const FILES: Array<{ name: string; type: string; body: Buffer; inline: boolean; sandboxed: boolean }> = [
  { name: 'report.pdf', type: 'application/pdf', body: PDF, inline: true, sandboxed: false },
  { name: 'scan.png', type: 'image/png', body: png(), inline: true, sandboxed: true },
  { name: 'note.txt', type: 'text/plain; charset=utf-8', body: Buffer.from('plain note'), inline: true, sandboxed: true },
  { name: 'page.html', type: 'text/html', body: Buffer.from(`<title>page</title>${SCRIPT}`), inline: false, sandboxed: true },
  { name: 'shout.html', type: 'TEXT/HTML; charset=UTF-8', body: Buffer.from(SCRIPT), inline: false, sandboxed: true },
  { name: 'logo.svg', type: 'image/svg+xml', body: Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg">${SCRIPT}</svg>`), inline: false, sandboxed: true },
  { name: 'data.xml', type: 'application/xml', body: Buffer.from('<a/>'), inline: false, sandboxed: true },
  { name: 'page.xhtml', type: 'application/xhtml+xml', body: Buffer.from('<html xmlns="http://www.w3.org/1999/xhtml"/>'), inline: false, sandboxed: true },
  { name: 'app.js', type: 'text/javascript', body: Buffer.from('alert(1)'), inline: false, sandboxed: true },
  { name: 'blob.bin', type: 'application/octet-stream', body: Buffer.from([1, 2, 3]), inline: false, sandboxed: true },
]

test('inline requests: active types come as attachments, everything but PDFs is sandboxed', async (t) => {
  const bucket = await createTestBucket(t, 'inline')
  const { app, auth } = await buildServer(t, spacesEnv(bucket))
  const headers = auth(ADMIN)
  for (const file of FILES) {
    const put = await app.inject({ method: 'PUT', url: `/v1/files/${FOLDER}/${file.name}`, headers: { ...headers, 'content-type': file.type }, payload: file.body })
    t.equal(put.statusCode, 201, put.body)
  }
  for (const file of FILES) {
    const key = `${FOLDER}/${file.name}`
    const expected = file.inline ? /^inline;/ : /^attachment;/
    const viaApi = await app.inject({ method: 'GET', url: `/v1/files/${key}?inline=1`, headers })
    const sign = await app.inject({ method: 'POST', url: '/v1/signed-urls', headers, payload: { key, mode: 'proxy', disposition: 'inline' } })
    const viaLink = await app.inject({ method: 'GET', url: new URL(sign.json().url).pathname })
    for (const [how, res] of [['GET ?inline=1', viaApi], ['proxy URL', viaLink]] as const) {
      t.equal(res.statusCode, 200, `${file.name} via ${how}`)
      t.match(res.headers['content-disposition'], expected, `${file.name} via ${how}: ${file.inline ? 'inline' : 'forced to attachment'}`)
      t.equal(res.headers['content-security-policy'], file.sandboxed ? 'sandbox' : undefined, `${file.name} via ${how}: CSP`)
      t.equal(res.headers['x-content-type-options'], 'nosniff')
    }
    const plain = await app.inject({ method: 'GET', url: `/v1/files/${key}`, headers })
    t.match(plain.headers['content-disposition'], /^attachment;/)
    t.equal(plain.headers['content-security-policy'], file.sandboxed ? 'sandbox' : undefined, `${file.name} as attachment: CSP`)
    // A direct URL is served by the store's origin, which cannot send the CSP: the disposition is what protects it.
    const direct = await app.inject({ method: 'POST', url: '/v1/signed-urls', headers, payload: { key, mode: 'direct', disposition: 'inline' } })
    const fromStore = await fetch(direct.json().url)
    await fromStore.arrayBuffer()
    t.match(fromStore.headers.get('content-disposition'), expected, `${file.name} via a direct URL`)
  }
})

test('in Chromium, a PDF and an image preview inline; an HTML page is downloaded, its script never runs', async (t) => {
  const { app, auth } = await buildServer(t)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const origin = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const headers = auth(ADMIN)
  const links: Record<string, string> = {}
  for (const file of FILES.filter((f) => ['report.pdf', 'scan.png', 'page.html', 'logo.svg'].includes(f.name))) {
    await app.inject({ method: 'PUT', url: `/v1/files/${FOLDER}/${file.name}`, headers: { ...headers, 'content-type': file.type }, payload: file.body })
    const sign = await app.inject({ method: 'POST', url: '/v1/signed-urls', headers, payload: { key: `${FOLDER}/${file.name}`, mode: 'proxy', disposition: 'inline' } })
    links[file.name] = `${origin}${new URL(sign.json().url).pathname}`
  }
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS, timeout: 30_000 })
  t.teardown(() => browser.close())
  const page = await (await browser.newContext({ acceptDownloads: true })).newPage()

  await page.goto(links['scan.png']!)
  t.equal(await page.evaluate(() => document.images[0]?.naturalWidth), 2, 'the image renders inline under the sandbox policy')

  await page.goto(links['report.pdf']!)
  let pages: number | undefined
  // The viewer loads a few dozen modules first: seconds on a busy machine.
  for (let i = 0; i < 300 && !pages; i++) {
    const viewer = page.frames().find((f) => f.url().startsWith('chrome-extension://'))
    pages = await viewer
      ?.evaluate(() => {
        const toolbar = document.querySelector('pdf-viewer')?.shadowRoot?.querySelector('viewer-toolbar')
        return (toolbar?.shadowRoot?.querySelector('viewer-page-selector') as { docLength?: number } | null)?.docLength
      })
      .catch(() => undefined)
    if (!pages) await page.waitForTimeout(100)
  }
  t.equal(pages, 1, "Chromium's PDF viewer shows the PDF inline")

  for (const name of ['page.html', 'logo.svg']) {
    const download = page.waitForEvent('download', { timeout: 10_000 })
    await page.goto(links[name]!).catch(() => {})
    t.equal((await download).suggestedFilename(), name, `${name} is a download`)
    t.not(await page.title(), 'script ran', `${name}: its script did not run`)
  }
})
