// Bearer tokens: only well-signed, current tokens with sub and org get in; other orgs' files are
// 403 and audited; RS256 and ES256 keys work; issuer and audience are checked when set.
import { test } from 'tap'
import { createHmac, generateKeyPairSync, createSign } from 'node:crypto'
import { buildServer, JWT_SECRET } from './helpers/server.js'

const KEY = 'org-1/billing/invoice/inv-1/invoice.pdf'
const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

function hs256(payload: Record<string, unknown>, secret = JWT_SECRET, header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' }) {
  const unsigned = `${b64(header)}.${b64(payload)}`
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`
}

const now = () => Math.floor(Date.now() / 1000)

test('tokens that must not get in get 401 with a code', async (t) => {
  const { app, token } = await buildServer(t)
  const good = { sub: 'u1', org: 'org-1', roles: ['admin'] }
  const put = await app.inject({ method: 'PUT', url: `/v1/files/${KEY}`, headers: { authorization: `Bearer ${token(good)}` }, payload: 'x' })
  t.equal(put.statusCode, 201, put.body)

  const cases: Array<[string, Record<string, string>]> = [
    ['no Authorization header', {}],
    ['not a bearer token', { authorization: 'Basic dXNlcjpwYXNz' }],
    ['garbage', { authorization: 'Bearer not.a.jwt' }],
    ['alg none', { authorization: `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...good, exp: now() + 60 })}.` }],
    ['wrong secret', { authorization: `Bearer ${hs256({ ...good, exp: now() + 60 }, 'another-secret-another-secret-another-secret')}` }],
    ['expired', { authorization: `Bearer ${hs256({ ...good, exp: now() - 10 })}` }],
    ['not yet valid', { authorization: `Bearer ${hs256({ ...good, nbf: now() + 600, exp: now() + 900 })}` }],
    ['tampered payload', { authorization: `Bearer ${token(good).replace(/\.[^.]+\./, `.${b64({ ...good, org: 'org-2' })}.`)}` }],
    ['RS256 header on an HS256 server', { authorization: `Bearer ${hs256({ ...good, exp: now() + 60 }, JWT_SECRET, { alg: 'RS256', typ: 'JWT' })}` }],
    ['no sub', { authorization: `Bearer ${token({ org: 'org-1', roles: ['admin'] })}` }],
    ['no org', { authorization: `Bearer ${token({ sub: 'u1', roles: ['admin'] })}` }],
    ['org with a path trick', { authorization: `Bearer ${token({ sub: 'u1', org: '../org-2', roles: ['admin'] })}` }],
  ]
  for (const [why, headers] of cases) {
    const res = await app.inject({ method: 'GET', url: `/v1/files/${KEY}`, headers })
    t.equal(res.statusCode, 401, why)
    t.equal(res.json().code, 'FST_SPACES_UNAUTHORIZED', why)
  }
  const expired = await app.inject({ method: 'GET', url: `/v1/files/${KEY}`, headers: { authorization: `Bearer ${hs256({ ...good, exp: now() - 10 })}` } })
  t.match(expired.json().message, /expired/)
  const denied = (await app.storage.ledger.queryAudit({ key: KEY, action: 'download' }, { limit: 50 })).items
  t.equal(denied.filter((e) => e.result === 'denied' && e.status === 401).length, cases.length + 1, 'every refused attempt is audited')
})

test('other orgs and missing scopes are 403, audited with actor and org', async (t) => {
  const { app, auth } = await buildServer(t)
  const owner = auth({ sub: 'owner', org: 'org-1', roles: ['admin'] })
  t.equal((await app.inject({ method: 'PUT', url: `/v1/files/${KEY}`, headers: owner, payload: 'x' })).statusCode, 201)

  const otherAdmin = auth({ sub: 'intruder', org: 'org-2', roles: ['admin'] })
  for (const [method, url] of [['GET', `/v1/files/${KEY}`], ['HEAD', `/v1/files/${KEY}`], ['DELETE', `/v1/files/${KEY}`], ['PUT', `/v1/files/${KEY}?overwrite=true`]] as const) {
    const res = await app.inject({ method, url, headers: otherAdmin, payload: method === 'PUT' ? 'y' : undefined })
    t.equal(res.statusCode, 403, `${method} by another org's admin`)
    if (method !== 'HEAD') t.equal(res.json().code, 'FST_SPACES_FORBIDDEN')
  }
  const sign = await app.inject({ method: 'POST', url: '/v1/signed-urls', headers: otherAdmin, payload: { key: KEY } })
  t.equal(sign.statusCode, 403)
  const list = await app.inject({ method: 'GET', url: '/v1/files?orgId=org-1', headers: otherAdmin })
  t.equal(list.statusCode, 403)
  const audit = await app.inject({ method: 'GET', url: '/v1/audit?orgId=org-1', headers: otherAdmin })
  t.equal(audit.statusCode, 403)

  const reader = auth({ sub: 'clerk', org: 'org-1', scope: 'epcr:read' })
  t.equal((await app.inject({ method: 'GET', url: `/v1/files/${KEY}`, headers: reader })).statusCode, 403, 'epcr:read does not cover billing')
  const billing = auth({ sub: 'clerk', org: 'org-1', scope: 'billing:read' })
  t.equal((await app.inject({ method: 'GET', url: `/v1/files/${KEY}`, headers: billing })).statusCode, 200)
  t.equal((await app.inject({ method: 'DELETE', url: `/v1/files/${KEY}`, headers: billing })).statusCode, 403, 'read is not delete')

  const auditor = auth({ sub: 'aud', org: 'org-1', roles: ['auditor'] })
  t.equal((await app.inject({ method: 'GET', url: `/v1/files/${KEY}`, headers: auditor })).statusCode, 403, 'auditors read no content')
  t.equal((await app.inject({ method: 'GET', url: '/v1/audit', headers: auditor })).statusCode, 200, 'auditors read the audit log')
  t.equal((await app.inject({ method: 'GET', url: '/v1/usage', headers: auditor })).statusCode, 200)

  const events = (await app.storage.ledger.queryAudit({ key: KEY }, { limit: 100 })).items
  const intruder = events.filter((e) => e.actor === 'intruder')
  t.ok(intruder.length >= 4, 'the other org attempts are in the audit log')
  for (const e of intruder) t.match(e, { org: 'org-2', result: 'denied', status: 403, errorCode: 'FST_SPACES_FORBIDDEN' })
  t.ok(events.some((e) => e.actor === 'aud' && e.result === 'denied' && e.action === 'download'))
})

test('RS256 and ES256 tokens with JWT_PUBLIC_KEY, issuer and audience checked', async (t) => {
  for (const [alg, type, options] of [
    ['RS256', 'rsa', { modulusLength: 2048 }],
    ['ES256', 'ec', { namedCurve: 'P-256' }],
  ] as const) {
    const { publicKey, privateKey } = generateKeyPairSync(type as 'rsa', options as never)
    const { app } = await buildServer(t, {
      JWT_SECRET: '',
      JWT_PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      JWT_ISSUER: 'https://idp.example',
      JWT_AUDIENCE: 'fastify-spaces',
    })
    const sign = (payload: Record<string, unknown>) => {
      const unsigned = `${b64({ alg, typ: 'JWT' })}.${b64(payload)}`
      const signature = createSign('sha256').update(unsigned).sign({ key: privateKey, dsaEncoding: 'ieee-p1363' } as never)
      return `Bearer ${unsigned}.${signature.toString('base64url')}`
    }
    const claims = { sub: 'u', org: 'org-1', roles: ['admin'], iss: 'https://idp.example', aud: 'fastify-spaces', exp: now() + 60 }
    const ok = await app.inject({ method: 'GET', url: '/v1/files', headers: { authorization: sign(claims) } })
    t.equal(ok.statusCode, 200, `${alg}: ${ok.body}`)
    const wrongIss = await app.inject({ method: 'GET', url: '/v1/files', headers: { authorization: sign({ ...claims, iss: 'https://evil.example' }) } })
    t.equal(wrongIss.statusCode, 401, `${alg}: wrong issuer`)
    const wrongAud = await app.inject({ method: 'GET', url: '/v1/files', headers: { authorization: sign({ ...claims, aud: 'other' }) } })
    t.equal(wrongAud.statusCode, 401, `${alg}: wrong audience`)
    const hsForged = await app.inject({
      method: 'GET',
      url: '/v1/files',
      headers: { authorization: `Bearer ${hs256(claims, publicKey.export({ type: 'spki', format: 'pem' }).toString())}` },
    })
    t.equal(hsForged.statusCode, 401, `${alg}: HS256 signed with the public key is refused`)
  }
})
