// GET /files/{key}?redirect=1 (or the redirectDownloads option): a 302 to a short-lived direct URL
// instead of the bytes, audited as a sign. The URL serves the file with the same filename and
// type the proxy would send; ?redirect=0 streams anyway; a store that cannot presign says so.
import { test } from 'tap'
import Fastify from 'fastify'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spaces } from '../plugin/index.js'
import { LocalDiskStore } from '../plugin/drivers/local.js'
import { ADMIN, buildPluginApp, tempLedgerPath } from './helpers/app.js'
import { createTestBucket } from './helpers/s3.js'

const KEY = 'org-1/epcr/document/epcr-456/Bericht ü.pdf'
const URL_KEY = KEY.split('/').map(encodeURIComponent).join('/')
const BODY = Buffer.from('%PDF-1.7 discharge summary')

test('?redirect=1 answers 302 to a direct URL that serves the file, audited as a sign', async (t) => {
  const bucket = await createTestBucket(t, 'redirect')
  const app = await buildPluginApp(t, bucket)
  const put = await app.inject({ method: 'PUT', url: `/files/${URL_KEY}`, payload: BODY, headers: { 'content-type': 'application/pdf' } })
  t.equal(put.statusCode, 201, put.body)

  const redirect = await app.inject({ method: 'GET', url: `/files/${URL_KEY}?redirect=1` })
  t.equal(redirect.statusCode, 302)
  t.equal(redirect.body, '', 'no bytes through the proxy')
  t.equal(redirect.headers['cache-control'], 'private, no-store', 'the redirect is not cached past its URL')
  const location = new URL(String(redirect.headers.location))
  t.equal(location.searchParams.get('X-Amz-Expires'), '300', 'it lives signedUrls.minTtl seconds')
  const direct = await fetch(location)
  t.equal(direct.status, 200)
  t.same(Buffer.from(await direct.arrayBuffer()), BODY, 'the store serves the bytes')
  t.equal(direct.headers.get('content-type'), 'application/pdf')
  t.match(direct.headers.get('content-disposition'), /^attachment; filename="Bericht \?\.pdf"; filename\*=UTF-8''Bericht%20%C3%BC\.pdf$/)

  const inline = await app.inject({ method: 'GET', url: `/files/${URL_KEY}?redirect=true&inline=1` })
  t.equal(inline.statusCode, 302)
  const inlineResponse = await fetch(String(inline.headers.location))
  t.match(inlineResponse.headers.get('content-disposition'), /^inline;/, '?inline=1 carries over')
  await inlineResponse.arrayBuffer()

  const tampered = new URL(location)
  tampered.searchParams.set('X-Amz-Expires', '900')
  t.equal((await fetch(tampered)).status, 403, 'the URL cannot be stretched')

  const streamed = await app.inject({ method: 'GET', url: `/files/${URL_KEY}?redirect=0` })
  t.equal(streamed.statusCode, 200, '?redirect=0 streams, as without the flag')
  t.same(streamed.rawPayload, BODY)

  const missing = await app.inject({ method: 'GET', url: '/files/org-1/epcr/document/epcr-456/none.pdf?redirect=1' })
  t.equal(missing.statusCode, 404, 'no URL for a file that is not live')

  const events = (await app.storage.ledger.queryAudit({ key: KEY }, { limit: 10 })).items
  t.same(
    events.map((e) => `${e.action}:${e.result}:${e.ttl ?? '-'}`),
    ['download:ok:-', 'sign:ok:300', 'sign:ok:300', 'upload:ok:-'],
    'each redirect is a sign event with its lifetime; the streamed download is a download',
  )
})

test('redirectDownloads makes the redirect the default; a request for another org is still refused', async (t) => {
  const bucket = await createTestBucket(t, 'redirect')
  const app = await buildPluginApp(t, bucket, { redirectDownloads: true, signedUrls: { minTtl: 120, defaultTtl: 600, maxTtl: 900 } })
  await app.inject({ method: 'PUT', url: `/files/${URL_KEY}`, payload: BODY })

  const redirect = await app.inject({ method: 'GET', url: `/files/${URL_KEY}` })
  t.equal(redirect.statusCode, 302)
  t.equal(new URL(String(redirect.headers.location)).searchParams.get('X-Amz-Expires'), '120')
  const streamed = await app.inject({ method: 'GET', url: `/files/${URL_KEY}?redirect=0` })
  t.equal(streamed.statusCode, 200)
  t.same(streamed.rawPayload, BODY)

  const otherOrg = await app.inject({ method: 'GET', url: `/files/${URL_KEY}`, headers: { 'x-test-org': 'org-2' } })
  t.equal(otherOrg.statusCode, 403, 'no URL without read access')
  t.equal(otherOrg.headers.location, undefined)
})

test('a store that cannot presign: ?redirect=1 is a coded 400, and the option fails the boot', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'fastify-spaces-redirect-'))
  const store = new LocalDiskStore({ root })
  const app = Fastify({ logger: false })
  await app.register(spaces, { store, ledger: { path: tempLedgerPath() }, identify: () => ADMIN })
  t.teardown(() => app.close())
  await app.inject({ method: 'PUT', url: `/files/${URL_KEY}`, payload: BODY })
  const refused = await app.inject({ method: 'GET', url: `/files/${URL_KEY}?redirect=1` })
  t.equal(refused.statusCode, 400)
  t.equal(refused.json().code, 'FST_SPACES_BAD_REQUEST')
  t.equal((await app.inject({ method: 'GET', url: `/files/${URL_KEY}` })).statusCode, 200, 'streaming still works')

  const misconfigured = Fastify({ logger: false })
  t.teardown(() => misconfigured.close())
  await t.rejects(
    async () => {
      await misconfigured.register(spaces, { store, ledger: { path: tempLedgerPath() }, redirectDownloads: true })
    },
    { code: 'FST_SPACES_CONFIG_INVALID' },
  )
})
