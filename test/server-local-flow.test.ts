// The sidecar on its embedded default (no SPACES_*): the README's curl flow works end to end.
import { test } from 'tap'
import { buildServer } from './helpers/server.js'
import { LEDGERS } from './helpers/pg.js'

const ADMIN = { sub: 'dev-user', org: 'org-123', roles: ['admin'] }
const KEY = 'org-123/epcr/document/epcr-456/report.pdf'

for (const ledger of LEDGERS) test(`upload (-T and -F), download, signed URL, delete, restore and audit on local disk, ${ledger.name} ledger`, async (t) => {
  const { app, auth, logs } = await buildServer(t, await ledger.env(t))
  t.ok(logs.some((line) => line.includes('embedded local-disk store')), 'it says it runs on local disk')
  const headers = auth(ADMIN)

  const put = await app.inject({ method: 'PUT', url: `/v1/files/${KEY}`, headers: { ...headers, 'content-type': 'application/pdf' }, payload: 'hello' })
  t.equal(put.statusCode, 201, put.body)
  t.equal(put.headers.location, `/v1/files/${KEY}`)

  const form = await app.inject({
    method: 'POST',
    url: '/v1/files/org-123/billing/invoice/inv-789',
    headers: { ...headers, 'content-type': 'multipart/form-data; boundary=x' },
    payload:
      '--x\r\nContent-Disposition: form-data; name="file"; filename="invoice.pdf"\r\nContent-Type: application/pdf\r\n\r\ninvoice\r\n' +
      '--x\r\nContent-Disposition: form-data; name="file"; filename="remit.pdf"\r\nContent-Type: application/pdf\r\n\r\nremit\r\n--x--\r\n',
  })
  t.equal(form.statusCode, 201, form.body)
  t.equal(form.json().files.length, 2)
  t.match(form.json().files[0].key, /^org-123\/billing\/invoice\/inv-789\/\d{8}_invoice\.pdf$/)

  const get = await app.inject({ method: 'GET', url: `/v1/files/${KEY}`, headers })
  t.equal(get.statusCode, 200)
  t.equal(get.body, 'hello')

  const signed = await app.inject({ method: 'POST', url: '/v1/signed-urls', headers, payload: { key: KEY } })
  t.equal(signed.statusCode, 201, signed.body)
  const { url, expiresIn, method } = signed.json()
  t.equal(expiresIn, 600)
  t.equal(method, 'GET')
  t.match(url, /\/v1\/signed\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'proxy mode on local disk')
  const viaLink = await app.inject({ method: 'GET', url: new URL(url).pathname })
  t.equal(viaLink.statusCode, 200, 'no bearer token needed')
  t.equal(viaLink.body, 'hello')

  const list = await app.inject({ method: 'GET', url: '/v1/files', headers })
  t.equal(list.json().items.length, 3)

  const del = await app.inject({ method: 'DELETE', url: `/v1/files/${KEY}`, headers })
  t.equal(del.statusCode, 200, del.body)
  const { trashId, purgeAfter, deletedAt } = del.json()
  t.ok(trashId && purgeAfter && deletedAt)
  t.equal((await app.inject({ method: 'GET', url: `/v1/files/${KEY}`, headers })).statusCode, 404, 'deleted means 404')
  t.equal((await app.inject({ method: 'GET', url: new URL(url).pathname })).statusCode, 404, 'and its signed link too')

  const restore = await app.inject({ method: 'POST', url: `/v1/trash/${trashId}/restore`, headers })
  t.equal(restore.statusCode, 200, restore.body)
  t.equal((await app.inject({ method: 'GET', url: `/v1/files/${KEY}`, headers })).body, 'hello')

  const audit = await app.inject({ method: 'GET', url: `/v1/audit?key=${encodeURIComponent(KEY)}`, headers })
  t.equal(audit.statusCode, 200)
  t.same(
    audit.json().items.map((e: { action: string }) => e.action),
    ['download', 'restore', 'download', 'download', 'soft_delete', 'download', 'sign', 'download', 'upload'],
    'every operation on the key, newest first',
  )
  const verify = await app.inject({ method: 'GET', url: '/v1/audit/verify', headers })
  t.match(verify.json(), { ok: true, events: Number })

  const metrics = (await app.inject('/metrics')).body
  t.match(metrics, /spaces_proxy_uploads_total\{result="ok"\} 2/, 'uploads are counted')
  t.match(metrics, /spaces_proxy_errors_total\{code="FST_SPACES_NOT_FOUND"\} 2/, 'errors by code')
  t.match(metrics, /spaces_proxy_request_duration_seconds_count\{operation="storage.object.download",status="200"\} \d/)

  const usage = await app.inject({ method: 'GET', url: '/v1/usage', headers })
  t.match(usage.json(), { orgId: 'org-123', objects: 3, bytes: 17, bySystem: { epcr: { objects: 1 }, billing: { objects: 2 } } })
})

test('operations routes: health, ready, metrics, docs', async (t) => {
  const { app } = await buildServer(t)
  t.same((await app.inject('/health')).json(), { status: 'ok' })
  t.same((await app.inject('/ready')).json(), { status: 'ready', store: 'local' })
  const metrics = await app.inject('/metrics')
  t.equal(metrics.statusCode, 200)
  t.match(metrics.body, /spaces_proxy_request_duration_seconds/)
  const docs = await app.inject('/docs/json')
  t.equal(docs.statusCode, 200)
  const paths = Object.keys(docs.json().paths)
  for (const path of ['/v1/files/{*}', '/v1/signed-urls', '/v1/trash/{trashId}/restore', '/v1/audit', '/v1/usage']) {
    t.ok(paths.some((p) => p === path || p.startsWith(path.replace('{*}', ''))), `docs list ${path}`)
  }
  t.equal((await app.inject('/docs')).statusCode < 400, true, 'the UI answers')
  await app.inject({ method: 'GET', url: '/v1/files', headers: { 'x-request-id': 'edge-1234' } })
  await app.inject({ method: 'GET', url: '/v1/files', headers: { 'x-request-id': 'x\n{"level":60}' } })
  const ids = (await app.storage.ledger.queryAudit({ action: 'list' }, { limit: 5 })).items.map((e) => e.requestId)
  t.equal(ids[1], 'edge-1234', "an upstream request id is kept for correlation")
  t.match(ids[0], /^[0-9a-f-]{36}$/, 'one with a newline is replaced by a fresh id')

  const unknown = await app.inject('/v1/nope')
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().code, 'FST_SPACES_ROUTE_NOT_FOUND')
})
