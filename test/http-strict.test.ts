// Strict HTTP: a partial PUT is refused rather than stored as a whole file, unknown JSON
// properties are refused by name rather than dropped, and every status carries the code the
// README's error table lists for it.
import { test } from 'tap'
import { readFileSync } from 'node:fs'
import { STATUS_CODES } from 'node:http'
import type { FastifyError } from 'fastify'
import { toApiError } from '../plugin/error-handler.js'
import { buildPluginApp } from './helpers/app.js'
import { createTestBucket } from './helpers/s3.js'

const KEY = 'org-1/epcr/document/e-1/report.pdf'

/** code -> status, from the README's Errors table. */
function errorTable(): Map<string, string> {
  const readme = readFileSync('README.md', 'utf8')
  return new Map([...readme.matchAll(/^\| `(FST_SPACES_[A-Z_]+)` \| (\w+) \|/gm)].map((m) => [m[1]!, m[2]!]))
}

test('a PUT with Content-Range is a 400 and stores nothing (RFC 9110: no partial PUT)', async (t) => {
  const bucket = await createTestBucket(t, 'strict')
  const app = await buildPluginApp(t, bucket)
  const res = await app.inject({
    method: 'PUT',
    url: `/files/${KEY}`,
    headers: { 'content-type': 'application/pdf', 'content-range': 'bytes 0-2/10' },
    payload: 'abc',
  })
  t.equal(res.statusCode, 400)
  t.match(res.json(), { code: 'FST_SPACES_BAD_REQUEST', message: /Content-Range/ })
  t.same(await bucket.keys(), [], 'nothing in the bucket')
  t.equal(await app.storage.ledger.getLive(KEY), undefined, 'nothing recorded')
  const [event] = (await app.storage.ledger.queryAudit({ key: KEY }, { limit: 1 })).items
  t.match(event, { action: 'upload', result: 'error', status: 400, errorCode: 'FST_SPACES_BAD_REQUEST' }, 'the refusal is audited')
})

test('unknown JSON properties are a 400 that names them', async (t) => {
  const bucket = await createTestBucket(t, 'strict')
  const app = await buildPluginApp(t, bucket)
  await app.inject({ method: 'PUT', url: `/files/${KEY}`, payload: 'abc' })
  const sign = await app.inject({
    method: 'POST',
    url: '/signed-urls',
    payload: { key: KEY, expiresIn: 300, metadata: { patient: 'x' }, ttl: 5 },
  })
  t.equal(sign.statusCode, 400)
  t.match(sign.json(), { code: 'FST_SPACES_BAD_REQUEST', message: /unknown properties: "metadata", "ttl"/ })
  const upload = await app.inject({
    method: 'POST',
    url: '/uploads',
    payload: { system: 'epcr', objectType: 'd', objectId: 'i', filename: 'a.pdf', contentType: 'application/pdf', size: 1, public: true },
  })
  t.equal(upload.statusCode, 400)
  t.match(upload.json().message, /unknown properties: "public"/)
  const ok = await app.inject({ method: 'POST', url: '/signed-urls', payload: { key: KEY, expiresIn: 300 } })
  t.equal(ok.statusCode, 201, 'known properties only: accepted')
})

test('a body of the wrong type is a 415 with the code the table lists for 415', async (t) => {
  const bucket = await createTestBucket(t, 'strict')
  const app = await buildPluginApp(t, bucket)
  const table = errorTable()
  const form = await app.inject({
    method: 'POST',
    url: '/files/org-1/epcr/document/e-1',
    headers: { 'content-type': 'application/json' },
    payload: '{}',
  })
  t.equal(form.statusCode, 415, 'JSON to the multipart route: 415, not 406')
  t.equal(table.get(form.json().code), '415', form.json().code)
  const json = await app.inject({ method: 'POST', url: '/signed-urls', headers: { 'content-type': 'application/xml' }, payload: '<a/>' })
  t.equal(json.statusCode, 415, 'XML to a JSON route')
  t.equal(table.get(json.json().code), '415', json.json().code)
})

test('whatever status a foreign error carries, the answer pairs a status with the code listed for it', async (t) => {
  const table = errorTable()
  for (let status = 400; status < 600; status++) {
    if (!STATUS_CODES[status]) continue
    const foreign = Object.assign(new Error('from elsewhere'), { statusCode: status, code: 'FST_SOMETHING' }) as FastifyError
    const api = toApiError(foreign, 1024)
    t.equal(table.get(api.code), String(api.statusCode), `${status} -> ${api.statusCode} ${api.code}`)
  }
})
