// A real browser at an allowed origin uploads with the presigned PUT and downloads with a signed
// GET, straight to the S3 peer, with the bucket CORS rule set by the real `cors apply` CLI; a
// page at another origin is refused by both the bucket and the sidecar. Headless Chromium
// (Debian's /usr/bin/chromium) driven by playwright-core; `scripts/test` installs it when missing.
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { chromium, type Browser, type Page } from 'playwright-core'
import { CHROMIUM, CHROMIUM_ARGS } from './helpers/browser.js'
import { createTestBucket } from './helpers/s3.js'
import { buildServer, spacesEnv } from './helpers/server.js'

const CLI = fileURLToPath(new URL('../server/cli.ts', import.meta.url))
const TSX = import.meta.resolve('tsx')
const STEP_MS = 15_000

const claims = { sub: 'browser-user', org: 'org-browser', scope: 'epcr:*' }
// Not valid UTF-8 and not text: the bytes must come back exactly.
const payload = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.from([0, 1, 2, 0xfe, 0xff, 0x80, 10, 13]), Buffer.alloc(300, 0x5a)])

function cli(args: string[], env: Record<string, string>, cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', TSX, CLI, ...args],
      { cwd, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    )
  })
}

/** A plain page server: any path gets an empty HTML page, so the page's origin is this server's. */
async function pageServer(t: Test): Promise<{ origin: string }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end('<!doctype html><meta charset="utf-8"><title>upload page</title><body>upload page</body>')
  })
  server.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

interface Seen {
  method: string
  url: string
  /** CDP's resource type; a preflight is sent as "Other" and answered as "Preflight". */
  type: string
  status?: number
  headers?: Record<string, string>
  /** Set when the request failed; `corsError` names a CORS refusal. */
  failed?: string
  corsError?: string
}

/**
 * Every request the page's network stack sends, preflights included: Playwright's page events
 * leave them out, CDP's Network domain has them.
 */
async function watchNetwork(page: Page): Promise<() => Seen[]> {
  const seen = new Map<string, Seen>()
  const cdp = await page.context().newCDPSession(page)
  cdp.on('Network.requestWillBeSent', (e) => {
    seen.set(e.requestId, { method: e.request.method, url: e.request.url, type: e.type ?? '' })
  })
  cdp.on('Network.responseReceived', (e) => {
    const entry = seen.get(e.requestId)
    if (!entry) return
    entry.type = e.type
    entry.status = e.response.status
    entry.headers = Object.fromEntries(Object.entries(e.response.headers).map(([k, v]) => [k.toLowerCase(), String(v)]))
  })
  cdp.on('Network.loadingFailed', (e) => {
    const entry = seen.get(e.requestId)
    if (!entry) return
    entry.failed = e.errorText
    entry.corsError = e.corsErrorStatus?.corsError
  })
  await cdp.send('Network.enable')
  return () => [...seen.values()]
}

/** Waits (bounded) for CDP events that may trail the page script's result. */
async function until(ready: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!ready() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
}

/** An OPTIONS preflight sent from Node, as a browser at `origin` would send it. */
async function preflight(url: string, origin: string, method: string, headers: string): Promise<Response> {
  return fetch(url, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers },
    signal: AbortSignal.timeout(STEP_MS),
  })
}

// Declared for the page scripts below: they run in the browser, not here.
declare const document: { title: string }

t.test('browser: direct upload and signed download from an allowed origin; another origin refused', { timeout: 120_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.fail(`${CHROMIUM} is missing: install Debian's chromium (apt-get install --no-install-recommends chromium); scripts/test does it as root`)
    return
  }
  const allowed = await pageServer(t)
  const other = await pageServer(t)

  const bucket = await createTestBucket(t, 'browser')
  const env = spacesEnv(bucket)
  const { app, auth, token } = await buildServer(t, { ...env, CORS_ORIGINS: allowed.origin })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const sidecar = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

  // The bucket rule, set the way an operator sets it: the real CLI, from a directory with no .env.
  const applied = await cli(['cors', 'apply'], { ...env, CORS_ORIGINS: allowed.origin }, t.testdir())
  t.equal(applied.code, 0, 'cors apply', { stderr: applied.stderr })
  t.match(applied.stdout, `Applied to bucket ${bucket.name}`)

  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 })
  t.teardown(() => browser.close())
  const context = await browser.newContext()
  // tsx (esbuild, keepNames) wraps named functions in the page scripts below in a __name() helper
  // that exists only in Node; the page gets a no-op one.
  await context.addInitScript('globalThis.__name = (fn) => fn')
  context.setDefaultTimeout(STEP_MS)
  context.setDefaultNavigationTimeout(STEP_MS)

  await t.test('allowed origin: sidecar calls, presigned PUT and signed GET all pass CORS', async (t) => {
    const page = await context.newPage()
    const network = await watchNetwork(page)
    await page.goto(`${allowed.origin}/`)
    t.equal(await page.evaluate(() => document.title), 'upload page')

    const result = await page.evaluate(
      async ({ sidecar, authorization, bytes, timeoutMs }) => {
        const body = new Uint8Array(bytes)
        const api = (path: string, json: unknown) =>
          fetch(`${sidecar}${path}`, {
            method: 'POST',
            headers: { authorization, 'content-type': 'application/json' },
            body: JSON.stringify(json),
            signal: AbortSignal.timeout(timeoutMs),
          })
        const hex = (buf: ArrayBuffer) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('')

        const presign = await api('/v1/uploads', {
          system: 'epcr',
          objectType: 'document',
          objectId: 'epcr-1',
          filename: 'report.pdf',
          contentType: 'application/pdf',
          size: body.byteLength,
        })
        const upload = (await presign.json()) as { key: string; url: string; method: string; headers: Record<string, string> }

        const put = await fetch(upload.url, { method: upload.method, headers: upload.headers, body, signal: AbortSignal.timeout(timeoutMs) })
        const putText = await put.text()

        const complete = await api('/v1/uploads/complete', { key: upload.key })
        const record = (await complete.json()) as { key: string; size: number }

        const sign = await api('/v1/signed-urls', { key: upload.key, mode: 'direct' })
        const signed = (await sign.json()) as { url: string }

        // A plain GET: no preflight, but the response must carry the bucket's CORS headers.
        const get = await fetch(signed.url, { signal: AbortSignal.timeout(timeoutMs) })
        const getBytes = hex(await get.arrayBuffer())
        // A conditional ranged GET, as a resuming download sends it. A single Range is safelisted
        // (no preflight), If-None-Match is not: this one is preflighted. Exposed headers readable.
        const ranged = await fetch(signed.url, {
          headers: { range: 'bytes=1-3', 'if-none-match': '"stale"' },
          signal: AbortSignal.timeout(timeoutMs),
        })
        const rangedBytes = hex(await ranged.arrayBuffer())
        return {
          key: upload.key,
          url: upload.url,
          putHeaders: upload.headers,
          presign: presign.status,
          put: put.status,
          putText,
          complete: complete.status,
          record,
          sign: sign.status,
          signedUrl: signed.url,
          get: get.status,
          getBytes,
          getContentType: get.headers.get('content-type'),
          getEtag: get.headers.get('etag'),
          ranged: ranged.status,
          rangedBytes,
          contentRange: ranged.headers.get('content-range'),
          contentDisposition: ranged.headers.get('content-disposition'),
        }
      },
      { sidecar, authorization: auth(claims).authorization, bytes: [...payload], timeoutMs: STEP_MS },
    )

    t.equal(result.presign, 201, 'POST /v1/uploads')
    t.same(result.putHeaders, { 'Content-Type': 'application/pdf' })
    t.equal(result.put, 200, `presigned PUT straight to the bucket: ${result.putText}`)
    t.equal(result.complete, 201, 'POST /v1/uploads/complete')
    t.match(result.record, { key: result.key, size: payload.length })
    t.equal(result.sign, 201, 'POST /v1/signed-urls')
    t.ok(result.signedUrl.startsWith(bucket.connection.endpoint), 'a direct URL, on the bucket')
    t.equal(result.get, 200, 'signed GET')
    t.equal(result.getBytes, payload.toString('hex'), 'the bytes read back are the bytes uploaded')
    t.equal(result.getContentType, 'application/pdf')
    t.ok(result.getEtag, 'ETag is exposed to the page')
    t.equal(result.ranged, 206, 'ranged signed GET')
    t.equal(result.rangedBytes, payload.subarray(1, 4).toString('hex'))
    t.equal(result.contentRange, `bytes 1-3/${payload.length}`, 'Content-Range is exposed to the page')
    t.match(result.contentDisposition, /^attachment; filename/, 'Content-Disposition is exposed to the page')

    // The browser's own record of the exchange: a preflight before each cross-origin call that
    // needs one (Authorization, a JSON or PDF Content-Type, If-None-Match), then the call itself.
    // CDP reports a preflight after the request it is for, so they are compared sorted by target.
    await until(() => network().every((r) => r.type !== 'Fetch' || r.status !== undefined || r.failed !== undefined))
    const seen = network().filter((r) => r.url.startsWith(sidecar) || r.url.startsWith(bucket.connection.endpoint))
    const where = (r: Seen) => (r.url.startsWith(sidecar) ? `sidecar ${new URL(r.url).pathname}` : 'bucket')
    const summary = seen
      .map((r) => [where(r), r.method, r.type, r.status, r.headers?.['access-control-allow-origin']] as const)
      .sort((a, b) => `${a[0]} ${a[1]} ${a[3]}`.localeCompare(`${b[0]} ${b[1]} ${b[3]}`))
    t.same(
      summary,
      [
        ['bucket', 'GET', 'Fetch', 200, allowed.origin],
        ['bucket', 'GET', 'Fetch', 206, allowed.origin],
        ['bucket', 'OPTIONS', 'Preflight', 200, allowed.origin],
        ['bucket', 'OPTIONS', 'Preflight', 200, allowed.origin],
        ['bucket', 'PUT', 'Fetch', 200, allowed.origin],
        ['sidecar /v1/signed-urls', 'OPTIONS', 'Preflight', 204, allowed.origin],
        ['sidecar /v1/signed-urls', 'POST', 'Fetch', 201, allowed.origin],
        ['sidecar /v1/uploads', 'OPTIONS', 'Preflight', 204, allowed.origin],
        ['sidecar /v1/uploads', 'POST', 'Fetch', 201, allowed.origin],
        ['sidecar /v1/uploads/complete', 'OPTIONS', 'Preflight', 204, allowed.origin],
        ['sidecar /v1/uploads/complete', 'POST', 'Fetch', 201, allowed.origin],
      ],
      'each call that needs one was preflighted, and every answer carries the allowed origin',
    )
    const bucketPreflights = seen.filter((r) => r.type === 'Preflight' && where(r) === 'bucket')
    const putPreflight = bucketPreflights.find((r) => r.url === result.url)
    t.ok(putPreflight, 'the presigned PUT was preflighted')
    t.match(putPreflight?.headers?.['access-control-allow-methods'] ?? '', /PUT/)
    t.ok(bucketPreflights.find((r) => r.url === result.signedUrl), 'the conditional signed GET was preflighted')
    t.notOk(seen.some((r) => r.failed), 'no request failed')

    // The same preflights from Node, with the headers a browser sends.
    const putCheck = await preflight(result.url, allowed.origin, 'PUT', 'content-type')
    t.equal(putCheck.status, 200)
    t.equal(putCheck.headers.get('access-control-allow-origin'), allowed.origin)
    t.match(putCheck.headers.get('access-control-allow-methods') ?? '', /PUT/)
    t.match((putCheck.headers.get('access-control-allow-headers') ?? '').toLowerCase(), /content-type/)
    t.equal(putCheck.headers.get('access-control-max-age'), '3000')
    const getCheck = await preflight(result.signedUrl, allowed.origin, 'GET', 'if-none-match,range')
    t.equal(getCheck.status, 200)
    t.equal(getCheck.headers.get('access-control-allow-origin'), allowed.origin)
    const apiCheck = await preflight(`${sidecar}/v1/uploads`, allowed.origin, 'POST', 'authorization,content-type')
    t.equal(apiCheck.status, 204)
    t.equal(apiCheck.headers.get('access-control-allow-origin'), allowed.origin)
    t.match((apiCheck.headers.get('access-control-allow-headers') ?? '').toLowerCase(), /authorization/)
    await page.close()
  })

  await t.test('another origin: the bucket and the sidecar refuse it', async (t) => {
    // A fresh presigned PUT and a signed GET of a stored object, minted outside the browser.
    const headers = { authorization: `Bearer ${token(claims)}` }
    const presign = await app.inject({
      method: 'POST',
      url: '/v1/uploads',
      headers,
      payload: { system: 'epcr', objectType: 'document', objectId: 'epcr-2', filename: 'other.pdf', contentType: 'application/pdf', size: payload.length },
    })
    t.equal(presign.statusCode, 201)
    const upload = presign.json() as { key: string; url: string; headers: Record<string, string> }
    const stored = await app.inject({
      method: 'PUT',
      url: `/v1/files/org-browser/epcr/document/epcr-3/stored.pdf`,
      headers: { ...headers, 'content-type': 'application/pdf' },
      payload,
    })
    t.equal(stored.statusCode, 201)
    const sign = await app.inject({ method: 'POST', url: '/v1/signed-urls', headers, payload: { key: 'org-browser/epcr/document/epcr-3/stored.pdf', mode: 'direct' } })
    t.equal(sign.statusCode, 201)
    const signedUrl = (sign.json() as { url: string }).url

    const page = await context.newPage()
    const network = await watchNetwork(page)
    await page.goto(`${other.origin}/`)
    const result = await page.evaluate(
      async ({ sidecar, authorization, signedUrl, upload, bytes, timeoutMs }) => {
        const outcome = async (p: Promise<Response>) => {
          try {
            const res = await p
            return { ok: true, status: res.status }
          } catch (err) {
            return { ok: false, name: (err as Error).name, message: (err as Error).message }
          }
        }
        const signal = () => AbortSignal.timeout(timeoutMs)
        return {
          get: await outcome(fetch(signedUrl, { signal: signal() })),
          put: await outcome(fetch(upload.url, { method: 'PUT', headers: upload.headers, body: new Uint8Array(bytes), signal: signal() })),
          api: await outcome(
            fetch(`${sidecar}/v1/signed-urls`, {
              method: 'POST',
              headers: { authorization, 'content-type': 'application/json' },
              body: JSON.stringify({ key: upload.key }),
              signal: signal(),
            }),
          ),
        }
      },
      { sidecar, authorization: headers.authorization, signedUrl, upload, bytes: [...payload], timeoutMs: STEP_MS },
    )
    for (const [name, outcome] of Object.entries(result)) {
      t.match(outcome, { ok: false, name: 'TypeError' }, `${name}: the browser refuses it as a CORS failure`)
    }
    // What the browser saw: the bucket refused the PUT preflight (so the PUT was never sent) and
    // answered the GET without an allow-origin; the sidecar's preflight answer had none either.
    const isFailed = (r: Seen) => r.type !== 'Fetch' || r.failed !== undefined
    await until(() => network().every(isFailed))
    const seen = network().filter((r) => r.url.startsWith(sidecar) || r.url.startsWith(bucket.connection.endpoint))
    const where = (r: Seen) => (r.url.startsWith(sidecar) ? `sidecar ${new URL(r.url).pathname}` : 'bucket')
    t.same(
      seen
        .map((r) => [where(r), r.method, r.type, r.status, r.headers?.['access-control-allow-origin'], r.corsError])
        .sort((a, b) => `${a[0]} ${a[1]}`.localeCompare(`${b[0]} ${b[1]}`)),
      [
        ['bucket', 'GET', 'Fetch', undefined, undefined, 'MissingAllowOriginHeader'],
        ['bucket', 'OPTIONS', 'Preflight', 403, undefined, undefined],
        ['bucket', 'PUT', 'Fetch', undefined, undefined, 'PreflightMissingAllowOriginHeader'],
        ['sidecar /v1/signed-urls', 'OPTIONS', 'Preflight', 204, undefined, undefined],
        ['sidecar /v1/signed-urls', 'POST', 'Fetch', undefined, undefined, 'PreflightMissingAllowOriginHeader'],
      ],
      'Chromium reports each refusal as a CORS error',
    )
    t.notOk((await bucket.keys()).includes(upload.key), 'nothing was uploaded from the other origin')

    // From Node: the preflights get no allow-origin for that origin.
    for (const [url, method, requestHeaders] of [
      [upload.url, 'PUT', 'content-type'],
      [signedUrl, 'GET', 'if-none-match,range'],
      [`${sidecar}/v1/uploads`, 'POST', 'authorization,content-type'],
    ] as const) {
      const res = await preflight(url, other.origin, method, requestHeaders)
      t.equal(res.headers.get('access-control-allow-origin'), null, `${method} ${new URL(url).host}: no allow-origin (status ${res.status})`)
    }
    // And a plain GET with that Origin is served without one, so a browser will not hand it over.
    const plain = await fetch(signedUrl, { headers: { origin: other.origin }, signal: AbortSignal.timeout(STEP_MS) })
    t.equal(plain.headers.get('access-control-allow-origin'), null)
    await plain.arrayBuffer()
    await page.close()
  })
})
