// No token, signature, secret or filename reaches the process logs, whatever the request did.
import { test } from 'tap'
import { buildServer, spacesEnv, JWT_SECRET } from './helpers/server.js'
import { createTestBucket } from './helpers/s3.js'

test('logs carry no tokens, signatures, secrets or filenames', async (t) => {
  const bucket = await createTestBucket(t, 'logs')
  const { app, logs, token } = await buildServer(t, { ...spacesEnv(bucket), LOG_LEVEL: 'trace' })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const bearer = token({ sub: 'medic-7', org: 'org-1', roles: ['admin'] })
  const headers = { authorization: `Bearer ${bearer}` }
  const patient = 'Jane Q Patient'
  const key = `org-1/epcr/document/epcr-9/${patient} run report.pdf`
  const keyUrl = `${base}/v1/files/${encodeURI(key)}`

  t.equal((await fetch(keyUrl, { method: 'PUT', headers, body: 'pcr' })).status, 201)
  t.equal((await fetch(keyUrl, { headers })).status, 200)
  const direct = (await (await fetch(`${base}/v1/signed-urls`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ key }) })).json()) as { url: string }
  const proxy = (await (await fetch(`${base}/v1/signed-urls`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ key, mode: 'proxy' }) })).json()) as { url: string }
  t.equal((await fetch(proxy.url)).status, 200)
  t.equal((await fetch(`${proxy.url}x`)).status, 403)
  t.equal((await fetch(keyUrl, { headers: { authorization: `Bearer ${bearer}tampered` } })).status, 401)
  t.equal((await fetch(`${base}/v1/files/org-1/epcr/document/epcr-9/..%2F${encodeURIComponent(patient)}.pdf`, { headers })).status, 400)
  t.equal((await fetch(`${base}/v1/files?cursor=${'x'.repeat(20)}`, { headers })).status, 400)
  t.equal((await fetch(`${base}/v1/nope/${encodeURIComponent(patient)}`, { headers })).status, 404)

  const signature = new URL(direct.url).searchParams.get('X-Amz-Signature')!
  const proxyToken = proxy.url.split('/signed/')[1]!
  const secrets: Array<[string, string]> = [
    ['the bearer token', bearer],
    ['the token signature', bearer.split('.')[2]!],
    ['the direct URL signature', signature],
    ['the proxy token', proxyToken],
    ['the proxy token signature', proxyToken.split('.')[1]!],
    ['JWT_SECRET', JWT_SECRET],
    ['SPACES_SECRET_KEY', bucket.connection.secretAccessKey],
    ['the patient name in a filename', 'Jane'],
    ['the encoded patient name', 'Jane%20Q'],
  ]
  t.ok(logs.length > 10, `${logs.length} log lines captured`)
  for (const [what, value] of secrets) {
    const leaks = logs.filter((line) => line.includes(value))
    t.same(leaks, [], `no log line holds ${what}`)
  }
  t.ok(logs.some((line) => line.includes('"route":"/v1/files/*"')), 'requests are logged by route pattern')
  t.ok(logs.every((line) => JSON.parse(line).reqId === undefined || typeof JSON.parse(line).reqId === 'string'), 'with request ids')
})
