// How the console is served: a page and hashed assets from this origin only, with a strict CSP
// and the usual security headers; the development token only to a browser on this machine; the
// console in host apps by option, and nowhere unless asked; its assets in the published package.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import t from 'tap'
import Fastify from 'fastify'
import { spaces } from '../plugin/index.js'
import { tempLedgerPath } from './helpers/app.js'
import { buildServer } from './helpers/server.js'

const SPACES = {
  endpoint: 'https://nyc3.digitaloceanspaces.com',
  region: 'nyc3',
  bucket: 'fusonems-quantum-storage',
  accessKeyId: 'DO00EXAMPLE',
  secretAccessKey: 'example-secret',
}

const SECURITY = {
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
}

function csp(header: unknown): Map<string, string> {
  return new Map(String(header).split(';').map((d) => d.trim().split(/\s+(.*)/s).slice(0, 2) as [string, string]))
}

t.test('the sidecar serves the page with a strict CSP and the security headers', async (t) => {
  const { app, config } = await buildServer(t)
  const page = await app.inject({ method: 'GET', url: '/console/' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  t.match(page.headers, SECURITY)
  t.equal(page.headers['cache-control'], 'no-cache')
  const policy = csp(page.headers['content-security-policy'])
  t.equal(policy.get('default-src'), "'none'")
  t.equal(policy.get('script-src'), "'self'", 'no inline or remote script')
  t.equal(policy.get('style-src'), "'self'", 'no inline style')
  t.equal(policy.get('connect-src'), "'self'")
  t.equal(policy.get('frame-ancestors'), "'none'")
  t.equal(policy.get('base-uri'), "'none'")
  t.equal(policy.get('form-action'), "'none'")
  t.notMatch(page.headers['content-security-policy'], /unsafe|https?:|\*/)

  const html = page.body
  t.match(html, 'data-api="/v1"')
  t.match(html, `data-systems="${config.systems.join(',')}"`)
  t.match(html, 'data-dev-token=""', 'JWT_SECRET is set: no development token on offer')
  t.notMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script')
  t.notMatch(html, /<style|\sstyle=/, 'no inline style')
  const urls = [...html.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]!)
  t.equal(urls.length, 3, 'a script, a stylesheet and an icon')
  t.ok(urls.every((url) => url.startsWith('/console/assets/')), 'all from this origin')

  const same = await app.inject({ method: 'GET', url: '/console' })
  t.equal(same.body, html, '/console serves the same page')
  const cached = await app.inject({ method: 'GET', url: '/console/', headers: { 'if-none-match': page.headers.etag as string } })
  t.equal(cached.statusCode, 304)

  for (const url of urls) {
    const asset = await app.inject({ method: 'GET', url })
    t.equal(asset.statusCode, 200, url)
    t.match(asset.headers['content-type'], url.endsWith('.js') ? /^text\/javascript/ : url.endsWith('.css') ? /^text\/css/ : /^image\/svg\+xml/)
    t.equal(asset.headers['cache-control'], 'public, max-age=31536000, immutable', 'hashed names are cached for good')
    t.match(asset.headers, SECURITY)
    t.ok(Number(asset.headers['content-length']) > 0)
    if (url.endsWith('.js')) t.notMatch(asset.body, /\beval\(|new Function\(/, 'nothing the CSP would have to allow')
  }
  for (const url of ['/console/assets/nope.js', '/console/assets/..%2Fmanifest.json', '/console/manifest.json', '/console/index.html']) {
    const missing = await app.inject({ method: 'GET', url })
    t.equal(missing.statusCode, 404, url)
    t.equal(missing.json().code, 'FST_SPACES_ROUTE_NOT_FOUND')
  }
})

t.test('the development token: only without JWT_SECRET, only to a browser on this machine', async (t) => {
  const { app } = await buildServer(t, { JWT_SECRET: '' })
  const page = await app.inject({ method: 'GET', url: '/console/' })
  t.match(page.body, 'data-dev-token="offered"')

  const local = await app.inject({ method: 'GET', url: '/console/dev-token', headers: { host: 'localhost:8080' } })
  t.equal(local.statusCode, 200)
  t.equal(local.headers['cache-control'], 'no-store')
  const { token } = local.json() as { token: string }
  const usage = await app.inject({ method: 'GET', url: '/v1/usage', headers: { authorization: `Bearer ${token}` } })
  t.equal(usage.statusCode, 200, 'the token works: the dev banner’s admin of org-123')
  t.equal(usage.json().orgId, 'org-123')
  t.equal((await app.inject({ method: 'GET', url: '/console/dev-token', headers: { host: '127.0.0.1:8080' } })).statusCode, 200)

  for (const [why, request] of [
    ['a rebound DNS name', { headers: { host: 'attacker.example:8080' } }],
    ['a forwarded client', { headers: { host: 'localhost:8080', 'x-forwarded-for': '203.0.113.9' } }],
    ['another machine', { headers: { host: 'localhost:8080' }, remoteAddress: '192.0.2.7' }],
  ] as const) {
    const refused = await app.inject({ method: 'GET', url: '/console/dev-token', ...request })
    t.equal(refused.statusCode, 404, why)
  }

  const { app: configured } = await buildServer(t)
  t.equal((await configured.inject({ method: 'GET', url: '/console/dev-token', headers: { host: 'localhost' } })).statusCode, 404, 'with JWT_SECRET: no such route')
})

t.test('CONSOLE=false: no console', async (t) => {
  const { app } = await buildServer(t, { CONSOLE: 'false' })
  t.equal((await app.inject({ method: 'GET', url: '/console/' })).statusCode, 404)
})

t.test('host apps: the console by option, over the plugin’s own prefix', async (t) => {
  // Not async: an async function returning the (thenable) instance would wait for it to boot.
  const build = (options: Record<string, unknown>) => {
    const app = Fastify()
    app.register(spaces, { spaces: SPACES, ledger: { path: tempLedgerPath() }, prefix: '/storage', ...options })
    t.teardown(() => app.close())
    return app
  }
  const off = build({})
  t.equal((await off.inject({ method: 'GET', url: '/storage/console/' })).statusCode, 404, 'off unless asked for')

  const on = build({ console: true })
  const page = await on.inject({ method: 'GET', url: '/storage/console/' })
  t.equal(page.statusCode, 200)
  t.match(page.body, 'data-api="/storage"')
  t.match(page.body, 'src="/storage/console/assets/app-')
  t.match(page.headers, SECURITY)

  const moved = build({ console: { path: '/admin/records' }, systems: ['epcr', 'fax'] })
  const elsewhere = await moved.inject({ method: 'GET', url: '/admin/records/' })
  t.equal(elsewhere.statusCode, 200)
  t.match(elsewhere.body, 'data-api="/storage"')
  t.match(elsewhere.body, 'data-systems="epcr,fax"')

  // Inside a prefixed context, the API is where the host mounted it.
  const nested = Fastify()
  t.teardown(() => nested.close())
  nested.register(async (scope) => scope.register(spaces, { spaces: SPACES, ledger: { path: tempLedgerPath() }, console: true }), { prefix: '/api' })
  const nestedPage = await nested.inject({ method: 'GET', url: '/api/console/' })
  t.equal(nestedPage.statusCode, 200)
  t.match(nestedPage.body, 'data-api="/api"')

  const noRoutes = build({ console: true, routes: false })
  await t.rejects(async () => noRoutes.ready(), { code: 'FST_SPACES_CONFIG_INVALID', message: /needs `routes` on/ })
})

t.test('GET /v1/audit filters by result', async (t) => {
  const { app, auth } = await buildServer(t)
  const clerk = auth({ sub: 'clerk', org: 'org-1', scope: 'epcr:read' })
  const admin = auth({ sub: 'boss', org: 'org-1', roles: ['admin'] })
  t.equal((await app.inject({ method: 'GET', url: '/v1/files?system=epcr', headers: clerk })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/v1/files?system=billing', headers: clerk })).statusCode, 403)
  const denied = (await app.inject({ method: 'GET', url: '/v1/audit?result=denied', headers: admin })).json() as {
    items: Array<{ result: string; actor: string; errorCode: string }>
  }
  t.same(denied.items.map((e) => [e.result, e.actor, e.errorCode]), [['denied', 'clerk', 'FST_SPACES_FORBIDDEN']])
  const ok = (await app.inject({ method: 'GET', url: '/v1/audit?result=ok&actor=clerk', headers: admin })).json() as { items: Array<{ result: string; key: string }> }
  t.same(ok.items.map((e) => [e.result, e.key]), [['ok', 'org-1/epcr/']])
  const bad = await app.inject({ method: 'GET', url: '/v1/audit?result=maybe', headers: admin })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().code, 'FST_SPACES_BAD_REQUEST')
})

t.test('the package ships the built console, and no new runtime dependency', async (t) => {
  const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { timeout: 60_000 })
  const files = (JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path)
  const manifest = JSON.parse(readFileSync('dist/console/manifest.json', 'utf8')) as { files: string[] }
  for (const path of ['dist/console/index.html', 'dist/console/manifest.json', ...manifest.files.map((f) => `dist/console/assets/${f}`)]) {
    t.ok(files.includes(path), `${path} is in the package`)
  }
  t.notOk(files.some((path) => path.startsWith('console/')), 'the console’s sources are not')
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string> }
  t.same(Object.keys(pkg.dependencies).filter((name) => /preact|uppy|axe|esbuild/.test(name)), [], 'the UI stack is bundled at build time')
})
