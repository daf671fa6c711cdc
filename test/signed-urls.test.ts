// Short-lived URLs: direct ones are the store's own presigned URLs, proxy ones come back through
// /signed/{token}. Both give the bytes while valid and 403 once expired or tampered with.
import { test } from 'tap'
import { buildPluginApp } from './helpers/app.js'
import { createTestBucket, testConnection } from './helpers/s3.js'
import Fastify from 'fastify'
import { spaces } from '../plugin/index.js'
import { ADMIN, tempLedgerPath } from './helpers/app.js'

const KEY = 'org-1/epcr/document/epcr-456/Bericht Müller.pdf'
const BODY = 'patient care report'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The same URL with one character of its signature changed. */
function tamper(url: string, pattern: RegExp): string {
  return url.replace(pattern, (match) => match.slice(0, -1) + (match.endsWith('a') ? 'b' : 'a'))
}

test('direct URLs: bytes while valid, 403 from the store when tampered or expired', async (t) => {
  const bucket = await createTestBucket(t, 'sign')
  const app = await buildPluginApp(t, bucket, { signedUrls: { minTtl: 1, defaultTtl: 600, maxTtl: 900 } })
  t.equal((await app.inject({ method: 'PUT', url: `/files/${encodeURI(KEY)}`, payload: BODY, headers: { 'content-type': 'application/pdf' } })).statusCode, 201)

  const signed = await app.inject({ method: 'POST', url: '/signed-urls', payload: { key: KEY } })
  t.equal(signed.statusCode, 201, signed.body)
  const { url, expiresIn, expiresAt, method } = signed.json()
  t.equal(expiresIn, 600, 'ten minutes by default')
  t.equal(method, 'GET')
  t.ok(Math.abs(Date.parse(expiresAt) - Date.now() - 600_000) < 5000, 'expiresAt is ten minutes out')
  t.match(url, new RegExp(`^${testConnection(bucket.name).endpoint}/${bucket.name}/`), 'a URL on the store')
  t.match(url, /X-Amz-Expires=600/)

  const ok = await fetch(url)
  t.equal(ok.status, 200)
  t.equal(await ok.text(), BODY)
  t.match(ok.headers.get('content-disposition'), /^attachment; filename="Bericht M\?ller\.pdf"; filename\*=UTF-8''Bericht%20M%C3%BCller\.pdf$/)
  t.equal(ok.headers.get('content-type'), 'application/pdf')

  const forged = await fetch(tamper(url, /X-Amz-Signature=[0-9a-f]+/))
  t.equal(forged.status, 403, 'one changed signature character')
  await forged.body?.cancel()

  const short = await app.inject({ method: 'POST', url: '/signed-urls', payload: { key: KEY, expiresIn: 1, disposition: 'inline' } })
  t.equal(short.statusCode, 201)
  await sleep(2500)
  const expired = await fetch(short.json().url)
  t.equal(expired.status, 403, 'expired')
  await expired.body?.cancel()

  const events = (await app.storage.ledger.queryAudit({ key: KEY, action: 'sign' }, { limit: 10 })).items
  t.same(events.map((e) => e.ttl), [1, 600], 'signs are audited with their lifetime')
})

test('proxy URLs: through the plugin, audited when used, 403 when tampered or expired', async (t) => {
  const bucket = await createTestBucket(t, 'sign')
  const app = await buildPluginApp(t, bucket, { signedUrls: { minTtl: 1, defaultTtl: 600, maxTtl: 900 } })
  // A PDF: the inline policy shows PDFs inline (an unknown type would come as an attachment).
  t.equal((await app.inject({ method: 'PUT', url: `/files/${encodeURI(KEY)}`, payload: BODY, headers: { 'content-type': 'application/pdf' } })).statusCode, 201)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`

  const signed = await fetch(`${base}/signed-urls`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ key: KEY, mode: 'proxy', disposition: 'inline' }),
  })
  t.equal(signed.status, 201)
  const { url } = (await signed.json()) as { url: string }
  t.match(url, new RegExp(`^${base}/signed/`), 'a URL on this server')
  const ok = await fetch(url)
  t.equal(ok.status, 200)
  t.equal(await ok.text(), BODY)
  t.match(ok.headers.get('content-disposition'), /^inline; /)
  const ranged = await fetch(url, { headers: { range: 'bytes=0-6' } })
  t.equal(ranged.status, 206)
  t.equal(await ranged.text(), 'patient')

  const forged = await fetch(tamper(url, /\.[A-Za-z0-9_-]+$/))
  t.equal(forged.status, 403)
  t.equal(((await forged.json()) as { code: string }).code, 'FST_SPACES_SIGNED_URL_INVALID')

  const short = await fetch(`${base}/signed-urls`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ key: KEY, mode: 'proxy', expiresIn: 1 }),
  })
  await sleep(2200)
  const expired = await fetch(((await short.json()) as { url: string }).url)
  t.equal(expired.status, 403, 'expired')
  await expired.body?.cancel()

  const downloads = (await app.storage.ledger.queryAudit({ key: KEY, action: 'download' }, { limit: 10 })).items
  t.same(downloads.map((e) => [e.result, e.status]), [['denied', 403], ['ok', 206], ['ok', 200]], 'uses of the link are audited')
  t.equal(downloads[1]!.actor, ADMIN.sub, 'as the user who asked for the link')
  t.equal(downloads[0]!.actor, ADMIN.sub, 'an expired link still names its owner')
  const forgedEvents = (await app.storage.ledger.queryAudit({ action: 'download' }, { limit: 10 })).items.filter((e) => e.key === null)
  t.equal(forgedEvents.length, 1, 'a forged link is audited without trusting its claims')
  t.match(forgedEvents[0], { result: 'denied', status: 403, actor: null, errorCode: 'FST_SPACES_SIGNED_URL_INVALID' })
})

test('expiresIn must lie within the bounds; a missing file cannot be signed', async (t) => {
  const bucket = await createTestBucket(t, 'sign')
  const app = await buildPluginApp(t, bucket)
  t.equal((await app.inject({ method: 'PUT', url: '/files/org-1/fax/inbound/f-1/fax.pdf', payload: 'fax' })).statusCode, 201)
  for (const expiresIn of [299, 901, 0, -5, 86400]) {
    const res = await app.inject({ method: 'POST', url: '/signed-urls', payload: { key: 'org-1/fax/inbound/f-1/fax.pdf', expiresIn } })
    t.equal(res.statusCode, 400, `expiresIn ${expiresIn}`)
    t.equal(res.json().code, 'FST_SPACES_INVALID_EXPIRY')
  }
  for (const expiresIn of [300, 900]) {
    const res = await app.inject({ method: 'POST', url: '/signed-urls', payload: { key: 'org-1/fax/inbound/f-1/fax.pdf', expiresIn } })
    t.equal(res.statusCode, 201, `expiresIn ${expiresIn}`)
  }
  const missing = await app.inject({ method: 'POST', url: '/signed-urls', payload: { key: 'org-1/fax/inbound/f-1/nope.pdf' } })
  t.equal(missing.statusCode, 404)
  const badMode = await app.inject({ method: 'POST', url: '/signed-urls', payload: { key: 'org-1/fax/inbound/f-1/fax.pdf', mode: 'public' } })
  t.equal(badMode.statusCode, 400)
})

test('with a CDN endpoint, direct URLs use the CDN host, virtual-hosted style', async (t) => {
  const app = Fastify()
  await app.register(spaces, {
    spaces: {
      endpoint: 'https://nyc3.digitaloceanspaces.com',
      region: 'nyc3',
      bucket: 'fusonems-quantum-storage',
      accessKeyId: 'DO00EXAMPLE',
      secretAccessKey: 'example-secret',
      cdnEndpoint: 'https://fusonems-quantum-storage.nyc3.cdn.digitaloceanspaces.com',
    },
    ledger: { path: tempLedgerPath() },
    identify: () => ADMIN,
    routes: false,
  })
  t.teardown(() => app.close())
  await app.ready()
  const url = new URL(await app.storage.store.presignGet!({ key: KEY, expiresIn: 600 }))
  t.equal(url.host, 'fusonems-quantum-storage.nyc3.cdn.digitaloceanspaces.com')
  t.equal(url.pathname, '/org-1/epcr/document/epcr-456/Bericht%20M%C3%BCller.pdf', 'the bucket is in the host, not the path')
  t.equal(url.searchParams.get('X-Amz-Expires'), '600')
  t.match(url.searchParams.get('X-Amz-SignedHeaders'), /^host$/)
})
