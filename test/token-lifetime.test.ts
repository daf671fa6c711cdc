// Bearer tokens must expire, and soon: no `exp` is a 401, and so is a token that claims to live
// longer than JWT_TTL_MAX. Content types, wherever a client gives one, are media types with no
// control characters (they come back as response headers).
import { test } from 'tap'
import { createHmac } from 'node:crypto'
import { buildServer, spacesEnv, JWT_SECRET } from './helpers/server.js'
import { createTestBucket } from './helpers/s3.js'
import { runCli } from './helpers/cli.js'
import { formHeaders, multipartBody } from './helpers/multipart.js'

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
function hs256(payload: Record<string, unknown>) {
  const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`
  return `Bearer ${unsigned}.${createHmac('sha256', JWT_SECRET).update(unsigned).digest('base64url')}`
}
const now = () => Math.floor(Date.now() / 1000)
const CLAIMS = { sub: 'u1', org: 'org-1', roles: ['admin'] }

test('tokens without exp, or living longer than JWT_TTL_MAX, get 401', async (t) => {
  const { app } = await buildServer(t, { JWT_TTL_MAX: '3600' })
  const get = (authorization: string) => app.inject({ method: 'GET', url: '/v1/files', headers: { authorization } })
  const refused: Array<[string, Record<string, unknown>, RegExp]> = [
    ['no exp at all', { ...CLAIMS, iat: now() }, /no expiry/],
    ['no exp, no iat', { ...CLAIMS }, /no expiry/],
    ['exp as a string', { ...CLAIMS, iat: now(), exp: String(now() + 60) }, /invalid|no expiry/],
    ['a year long', { ...CLAIMS, iat: now(), exp: now() + 365 * 86_400 }, /3600 seconds/],
    ['issued long ago, still valid, lifetime too long', { ...CLAIMS, iat: now() - 7200, exp: now() + 60 }, /3600 seconds/],
    ['no iat, far exp', { ...CLAIMS, exp: now() + 7200 }, /3600 seconds/],
    ['iat in the future to shorten the lifetime', { ...CLAIMS, iat: now() + 86_400, exp: now() + 86_400 + 60 }, /3600 seconds|invalid/],
  ]
  for (const [why, payload, message] of refused) {
    const res = await get(hs256(payload))
    t.equal(res.statusCode, 401, why)
    t.equal(res.json().code, 'FST_SPACES_UNAUTHORIZED', why)
    t.match(res.json().message, message, why)
  }
  for (const [why, payload] of [
    ['one hour exactly', { ...CLAIMS, iat: now(), exp: now() + 3600 }],
    ['no iat, short exp', { ...CLAIMS, exp: now() + 600 }],
  ] as const) {
    t.equal((await get(hs256(payload))).statusCode, 200, why)
  }
  const denied = (await app.storage.ledger.queryAudit({ action: 'list' }, { limit: 50 })).items
  t.equal(denied.filter((e) => e.result === 'denied' && e.status === 401).length, refused.length, 'each refusal is audited')
})

test('the token command refuses a --ttl the sidecar would refuse', async (t) => {
  const env = { JWT_SECRET, JWT_TTL_MAX: '600' }
  const over = await runCli(['token', '--sub', 'me', '--org', 'org-1', '--ttl', '601'], env)
  t.equal(over.code, 2)
  t.match(over.stderr, /JWT_TTL_MAX \(600 seconds\)/)
  const ok = await runCli(['token', '--sub', 'me', '--org', 'org-1', '--ttl', '600'], env)
  t.equal(ok.code, 0, ok.stderr)
})

test('content types with CR/LF or other control characters are a 400 everywhere', async (t) => {
  const bucket = await createTestBucket(t, 'ctype')
  const { app, auth } = await buildServer(t, spacesEnv(bucket))
  const admin = auth(CLAIMS)
  const bad = ['text/plain\r\nX-Injected: 1', 'text/html\n', 'application/pdf\u0000', 'image/png; name="a\u0001"', 'no-slash', 'text/plain\u007f']
  for (const contentType of bad) {
    const presign = await app.inject({
      method: 'POST',
      url: '/v1/uploads',
      headers: admin,
      payload: { system: 'epcr', objectType: 'document', objectId: 'd-1', filename: 'a.pdf', contentType, size: 3 },
    })
    t.equal(presign.statusCode, 400, `POST /v1/uploads with ${JSON.stringify(contentType)}`)
    // Control characters already fail the route's schema (printable ASCII only, as the OpenAPI
    // document says); what passes it must still be a media type.
    t.match(presign.json(), { code: /^FST_SPACES_(BAD_REQUEST|INVALID_CONTENT_TYPE)$/, message: /contentType|content type/ })
  }
  // The parser keeps only a part's type/subtype, so its parameters never reach us; the rest is checked.
  for (const contentType of ['application/pdf\u0000', 'no-slash', 'text/plain\u007f', 'text/plain x']) {
    const form = await app.inject({
      method: 'POST',
      url: '/v1/files/org-1/epcr/document/d-1',
      headers: { ...admin, ...formHeaders('ct') },
      payload: multipartBody('ct', [{ filename: 'a.pdf', contentType, data: 'abc' }]),
    })
    t.equal(form.statusCode, 400, `a form part of type ${JSON.stringify(contentType)}`)
    t.equal(form.json().code, 'FST_SPACES_INVALID_CONTENT_TYPE')
  }
  t.equal((await app.storage.ledger.listStoredKeys()).length, 0, 'nothing was reserved or stored')
  t.same(await bucket.keys(), [])
  const fine = await app.inject({
    method: 'POST',
    url: '/v1/uploads',
    headers: admin,
    payload: { system: 'epcr', objectType: 'document', objectId: 'd-1', filename: 'b.txt', contentType: 'text/plain; charset="utf-8"', size: 3 },
  })
  t.equal(fine.statusCode, 201, 'a media type with a quoted parameter is fine')
})
