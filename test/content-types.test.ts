// ALLOWED_CONTENT_TYPES: uploads of other types get 415 on every upload path and leave nothing.
import { test } from 'tap'
import { buildServer, spacesEnv } from './helpers/server.js'
import { createTestBucket } from './helpers/s3.js'

test('types outside ALLOWED_CONTENT_TYPES are 415, and nothing is stored', async (t) => {
  const bucket = await createTestBucket(t, 'types')
  const { app, auth } = await buildServer(t, { ...spacesEnv(bucket), ALLOWED_CONTENT_TYPES: 'application/pdf, image/*' })
  const headers = auth({ sub: 'u', org: 'org-1', roles: ['admin'] })

  const pdf = await app.inject({ method: 'PUT', url: '/v1/files/org-1/fax/inbound/f-1/fax.pdf', headers: { ...headers, 'content-type': 'application/pdf' }, payload: 'pdf' })
  t.equal(pdf.statusCode, 201)
  const png = await app.inject({ method: 'PUT', url: '/v1/files/org-1/fax/inbound/f-1/fax.png', headers: { ...headers, 'content-type': 'image/png' }, payload: 'png' })
  t.equal(png.statusCode, 201, 'type/* wildcards')
  const html = await app.inject({ method: 'PUT', url: '/v1/files/org-1/fax/inbound/f-1/page.html', headers: { ...headers, 'content-type': 'text/html; charset=utf-8' }, payload: '<html>' })
  t.equal(html.statusCode, 415)
  t.equal(html.json().code, 'FST_SPACES_UNSUPPORTED_TYPE')

  const form = await app.inject({
    method: 'POST',
    url: '/v1/files/org-1/fax/inbound/f-2',
    headers: { ...headers, 'content-type': 'multipart/form-data; boundary=b' },
    payload: '--b\r\nContent-Disposition: form-data; name="file"; filename="x.exe"\r\nContent-Type: application/x-msdownload\r\n\r\nMZ\r\n--b--\r\n',
  })
  t.equal(form.statusCode, 415)

  const direct = await app.inject({
    method: 'POST',
    url: '/v1/uploads',
    headers,
    payload: { system: 'fax', objectType: 'inbound', objectId: 'f-3', filename: 'x.svg', contentType: 'image/svg+xml', size: 3 },
  })
  t.equal(direct.statusCode, 201, 'image/* covers svg')
  const directBad = await app.inject({
    method: 'POST',
    url: '/v1/uploads',
    headers,
    payload: { system: 'fax', objectType: 'inbound', objectId: 'f-3', filename: 'x.js', contentType: 'text/javascript', size: 3 },
  })
  t.equal(directBad.statusCode, 415)
  t.same((await bucket.keys()).sort(), ['org-1/fax/inbound/f-1/fax.pdf', 'org-1/fax/inbound/f-1/fax.png'])
})
