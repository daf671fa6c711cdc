// Hostile HTTP over raw sockets: broken framing and headers, keys that try to escape their org,
// bad JSON, junk queries and cursors. First the protocol-level shapes the adversarial run found,
// each with its documented code; then a seeded fuzz whose every answer must be a non-5xx in the
// documented error shape, and after which the bucket and the ledger hold only what succeeded.
import { test } from 'tap'
import { createHmac } from 'node:crypto'
import { assertLeftNothing, fuzzTarget, runFuzz, type FuzzCase } from './helpers/fuzz.js'
import { rawRequest } from './helpers/raw-http.js'
import { JWT_SECRET } from './helpers/server.js'
import { seeded, testSeed, type Random } from './helpers/seed.js'

const CASES = Number(process.env.FUZZ_HTTP_CASES ?? 2500)
const TUS_CASES = Number(process.env.FUZZ_TUS_CASES ?? 600)
const ADMIN = { sub: 'fuzzer', org: 'org-1', roles: ['admin'] }

function http(head: string, headers: Array<[string, string]>, body: Buffer | string = ''): Buffer {
  const lines = [head, ...headers.map(([name, value]) => `${name}: ${value}`)]
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), Buffer.from(body)])
}

test('protocol-level errors answer in the documented shape, without echoing the path', async (t) => {
  const target = await fuzzTarget(t, 'proto')
  const auth: [string, string] = ['Authorization', `Bearer ${target.server.token(ADMIN)}`]
  const key = '/v1/files/org-1/epcr/document/proto/Jane-Doe.pdf'
  const cases: Array<[string, Buffer, number, string]> = [
    ['duplicate Content-Length', http(`PUT ${key} HTTP/1.1`, [['Host', 'x'], auth, ['Content-Length', '3'], ['Content-Length', '3']], 'abc'), 400, 'FST_SPACES_BAD_HTTP'],
    ['Transfer-Encoding with Content-Length', http(`PUT ${key} HTTP/1.1`, [['Host', 'x'], auth, ['Content-Length', '3'], ['Transfer-Encoding', 'chunked']], '3\r\nabc\r\n0\r\n\r\n'), 400, 'FST_SPACES_BAD_HTTP'],
    ['headers over 16 KiB', http('GET /health HTTP/1.1', [['Host', 'x'], ['X-Big', 'a'.repeat(17 * 1024)]]), 431, 'FST_SPACES_HEADERS_TOO_LARGE'],
    ['Expect: teapot', http('GET /health HTTP/1.1', [['Host', 'x'], ['Expect', 'teapot']]), 417, 'FST_SPACES_EXPECTATION_FAILED'],
    ['%zz in the path', http(`GET ${key}%zz HTTP/1.1`, [['Host', 'x'], auth]), 400, 'FST_SPACES_BAD_URL'],
    ['a parameter over the router limit', http(`POST /v1/trash/${'a'.repeat(600)}/restore HTTP/1.1`, [['Host', 'x'], auth, ['Content-Length', '0']]), 414, 'FST_SPACES_URI_TOO_LONG'],
    ['an unknown method', http('BREW /health HTTP/1.1', [['Host', 'x']]), 400, 'FST_SPACES_BAD_HTTP'],
    ['no Host on HTTP/1.1', http('GET /health HTTP/1.1', []), 400, 'FST_SPACES_BAD_HTTP'],
    ['a body type the route does not take', http('POST /v1/files/org-1/epcr/document/proto HTTP/1.1', [['Host', 'x'], auth, ['Content-Type', 'application/json'], ['Content-Length', '2']], '{}'), 415, 'FST_SPACES_UNSUPPORTED_TYPE'],
  ]
  for (const [what, request, status, code] of cases) {
    const answer = await rawRequest(target.port, request)
    t.equal(answer?.status, status, `${what}: ${status}`)
    const body = JSON.parse(answer?.body ?? '{}')
    t.same(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'], `${what}: the error shape`)
    t.match(body, { statusCode: status, code }, `${what}: ${code}`)
    t.notMatch(answer?.body ?? '', /Jane-Doe|\/v1\//, `${what}: the path is not echoed`)
  }
  await assertLeftNothing(t, target)
})

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
function jwt(payload: Record<string, unknown>, header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' }, secret = JWT_SECRET): string {
  const unsigned = `${b64(header)}.${b64(payload)}`
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`
}

const now = () => Math.floor(Date.now() / 1000)
const SEGMENTS = ['org-1', 'org-2', '.org', 'org 1', 'ORG-1', 'a'.repeat(129), '', '..', '.', '%2e%2e', 'org%00', '%2F', 'x%2Fy', '%c0%ae%c0%ae', '%ff', 'é', '%zz', '*', 'a'.repeat(600)]
const SYSTEMS = ['epcr', 'billing', 'fax', 'nosuch', 'EPCR', '', '..', '.trash']
const NAMES = ['report.pdf', 'Jane%20Doe.pdf', 'r%C3%A9sum%C3%A9.pdf', 're%CC%81sume%CC%81.pdf', '..', '.', '', '%2e%2e', 'a%00b', 'x%E2%80%AEgpj.exe', 'a'.repeat(256), 'a%2Fb', 'a%5Cb', '%0d%0aSet-Cookie:x', 'x?y', 'x#y', 'CON', 'with space.pdf']

function keyPath(r: Random, objectIds: readonly string[]): string {
  const org = r.chance(0.7) ? 'org-1' : r.pick(SEGMENTS)
  const system = r.chance(0.7) ? 'epcr' : r.pick(SYSTEMS)
  const type = r.chance(0.8) ? 'document' : r.pick(SEGMENTS)
  const id = r.chance(0.8) ? r.pick(objectIds) : r.pick(SEGMENTS)
  const name = r.pick(NAMES)
  let segments = [org, system, type, id, name]
  if (r.chance(0.1)) segments = segments.slice(0, r.int(0, 4))
  if (r.chance(0.1)) segments.push(r.pick(NAMES))
  const path = segments.join(r.chance(0.05) ? '//' : '/')
  return `/v1/files/${r.chance(0.05) ? '/' : ''}${path}${r.chance(0.05) ? '/' : ''}`
}

const UPLOAD_IDS = Array.from({ length: 40 }, (_, i) => `up-${i}`)
const OTHER_IDS = Array.from({ length: 10 }, (_, i) => `del-${i}`)
const TYPES = ['application/pdf', 'text/plain', 'image/png', 'text/html', 'text/plain x', 'no-slash', 'application/pdf; charset="a"', '', 'a/b;c=', 'application/pdf;;;']

function authHeader(r: Random, tokens: Record<string, string>): Array<[string, string]> {
  const choice = r.int(0, 14)
  if (choice < 8) return [['Authorization', `Bearer ${tokens.admin}`]]
  const variants: Array<[string, string] | undefined> = [
    undefined,
    ['Authorization', 'Basic dXNlcjpwYXNz'],
    ['Authorization', `Bearer ${r.pick(['x', 'a.b.c', '...', 'e30.e30.', ''])}`],
    ['Authorization', `Bearer ${jwt({ ...ADMIN, exp: now() + 60 }, { alg: 'none', typ: 'JWT' })}`],
    ['Authorization', `Bearer ${jwt({ ...ADMIN, iat: now() })}`],
    ['Authorization', `Bearer ${jwt({ ...ADMIN, iat: now(), exp: now() + 10 * 86_400 })}`],
    ['Authorization', `Bearer ${tokens.reader}`],
  ]
  const picked = variants[choice - 8]
  return picked ? [picked] : []
}

function fileRequest(r: Random, tokens: Record<string, string>): FuzzCase {
  const method = r.pick(['GET', 'HEAD', 'PUT', 'PUT', 'DELETE', 'POST', 'OPTIONS', 'PATCH'])
  const path = keyPath(r, method === 'DELETE' ? OTHER_IDS : method === 'PUT' ? UPLOAD_IDS : [...UPLOAD_IDS, ...OTHER_IDS])
  const query = r.pick(['', '', '', '?overwrite=true', '?inline=1', '?overwrite=yes', '?inline=%zz', '?a=1&a=2'])
  const headers: Array<[string, string]> = [['Host', 'fuzz'], ['Connection', 'close'], ...authHeader(r, tokens)]
  let body: Buffer = Buffer.alloc(0)
  if (method === 'PUT' || method === 'POST') {
    body = r.bytes(r.chance(0.05) ? 256 * 1024 + 1 : r.int(0, 4096))
    const type = r.pick(TYPES)
    if (type) headers.push(['Content-Type', type])
    headers.push(['Content-Length', String(body.length)])
  }
  if (method === 'GET' && r.chance(0.3)) headers.push(['Range', r.pick(['bytes=0-0', 'bytes=-1', 'bytes=5-1', 'bytes=0-0,1-1', 'lines=1-2', 'bytes=99999999999999999999-', 'bytes=', 'bytes=-0'])])
  if (method === 'GET' && r.chance(0.2)) headers.push([r.pick(['If-None-Match', 'If-Range']), r.pick(['*', '"x"', 'W/"', '', '"a", W/"b"', 'Tue, 01 Jan 2999 00:00:00 GMT'])])
  return { label: `${method} key`, request: http(`${method} ${path}${query} HTTP/1.1`, headers, body), head: method === 'HEAD' }
}

/** A valid-looking request with its framing or headers broken one way. */
function headerRequest(r: Random, tokens: Record<string, string>): FuzzCase {
  const path = `/v1/files/org-1/epcr/document/${r.pick(UPLOAD_IDS)}/h.pdf`
  const body = 'abc'
  const base: Array<[string, string]> = [['Host', 'fuzz'], ['Connection', 'close'], ['Authorization', `Bearer ${tokens.admin}`]]
  const variants: Array<[string, Array<[string, string]>, string, boolean?]> = [
    ['duplicate Content-Length', [['Content-Length', '3'], ['Content-Length', r.pick(['3', '4'])]], body],
    ['TE and CL', [['Content-Length', '3'], ['Transfer-Encoding', 'chunked']], '3\r\nabc\r\n0\r\n\r\n'],
    ['TE gzip', [['Transfer-Encoding', 'gzip']], body],
    ['TE gzip, chunked', [['Transfer-Encoding', 'gzip, chunked']], '3\r\nabc\r\n0\r\n\r\n'],
    ['bad chunk size', [['Transfer-Encoding', 'chunked']], r.pick(['zz\r\nabc\r\n0\r\n\r\n', '-1\r\n\r\n', '3;ext\r\nabc\r\n0\r\n\r\n', '1ffffffffffffffff\r\n'])],
    ['a chunk larger than what follows', [['Transfer-Encoding', 'chunked']], 'fffffff\r\nabc', true],
    ['odd Content-Length', [['Content-Length', r.pick(['-1', 'abc', '1e3', '3.0', ' 3', '0x3', '99999999999999999999'])]], body],
    ['Expect', [['Expect', r.pick(['teapot', '100-continue', '', '200-ok', '100-continue, foo'])], ['Content-Length', '3']], body],
    ['no Host', [['Content-Length', '3']], body],
    ['two Hosts', [['Host', 'other'], ['Content-Length', '3']], body],
    ['huge header', [['X-Big', 'a'.repeat(r.int(16 * 1024, 40 * 1024))], ['Content-Length', '3']], body],
    ['many headers', Array.from({ length: r.int(100, 3000) }, (_, i) => [`X-H${i}`, 'v'] as [string, string]), body],
    ['bad header name', [[r.pick(['X Y', 'X:Y', '', '(x)', 'é']), 'v'], ['Content-Length', '3']], body],
    ['control characters in a value', [['X-Ctl', r.pick(['a\u0000b', 'a\u0001', 'a\u007f'])], ['Content-Length', '3']], body],
    ['obsolete line folding', [['X-Fold', 'a\r\n b'], ['Content-Length', '3']], body],
    ['odd request id', [['X-Request-Id', r.pick(['a'.repeat(500), '<script>', 'ü', '../../x', ''])], ['Content-Length', '3']], body],
    ['odd Content-Type', [['Content-Type', r.pick(['text/plain x', 'a/b;c=""', '/', 'text/', ';', 'x'.repeat(300) + '/y', 'text/plain; a=b; a=c'])], ['Content-Length', '3']], body],
    ['truncated body', [['Content-Length', String(r.int(4, 100_000))]], body, true],
  ]
  const [label, extra, payload, truncated] = r.pick(variants)
  const headers = label === 'no Host' ? base.filter(([name]) => name !== 'Host').concat(extra) : [...base, ...extra]
  const line = r.chance(0.9) ? `PUT ${path} HTTP/1.1` : r.pick([`PUT ${path} HTTP/1.0`, `PUT ${path} HTTP/2.0`, `PUT ${path} HTTP/9`, `PUT  ${path} HTTP/1.1`, `PUT http://evil${path} HTTP/1.1`, `PUT ${path}`])
  return { label: `headers: ${label}`, request: http(line, headers, payload), truncated }
}

function jsonValue(r: Random, depth = 0): unknown {
  const kind = r.int(0, depth > 2 ? 5 : 7)
  switch (kind) {
    case 0: return null
    case 1: return r.pick([true, false])
    case 2: return r.pick([0, -1, 1, 299, 300, 600, 900, 901, 1.5, 2 ** 53, -(2 ** 63), 1e308])
    case 3: return r.pick(['', 'org-1/epcr/document/up-1/report.pdf', 'proxy', 'direct', 'inline', 'attachment', 'a'.repeat(5000), '\u0000', 'text/plain\r\nX: y', '../x'])
    case 4: return 'org-1/epcr/document/' + r.pick(UPLOAD_IDS) + '/' + r.pick(['report.pdf', 'x.pdf', 'h.pdf'])
    case 5: return r.pick(['epcr', 'document', 'up-1', 'application/pdf', 'text/html'])
    case 6: return Array.from({ length: r.int(0, 3) }, () => jsonValue(r, depth + 1))
    default: return Object.fromEntries(Array.from({ length: r.int(0, 3) }, () => [r.pick(['key', 'expiresIn', 'mode', 'x', '__proto__', 'constructor']), jsonValue(r, depth + 1)]))
  }
}

const JSON_ROUTES: Record<string, () => Record<string, unknown>> = {
  '/v1/signed-urls': () => ({ key: 'org-1/epcr/document/up-1/report.pdf', expiresIn: 600, mode: 'proxy', disposition: 'attachment' }),
  '/v1/uploads': () => ({ system: 'epcr', objectType: 'document', objectId: 'up-1', filename: 'direct.pdf', contentType: 'application/pdf', size: 10 }),
  '/v1/uploads/complete': () => ({ key: 'org-1/epcr/document/up-1/direct.pdf' }),
}

function jsonRequest(r: Random, tokens: Record<string, string>): FuzzCase {
  const route = r.pick(Object.keys(JSON_ROUTES))
  const value = JSON_ROUTES[route]!()
  for (let i = r.int(0, 3); i > 0; i--) value[r.pick([...Object.keys(value), 'extra', '__proto__'])] = jsonValue(r)
  let text = JSON.stringify(value)
  const mangle = r.int(0, 12)
  if (mangle === 1) text = text.slice(0, r.int(0, text.length - 1))
  if (mangle === 2) text = '{"a":'.repeat(r.int(1000, 20_000)) + '1' + '}'.repeat(r.int(0, 20_000))
  if (mangle === 3) text = '['.repeat(r.int(1000, 50_000))
  if (mangle === 4) text = r.pick(['', 'null', '[]', '"x"', '123', 'NaN', '{,}', '\ufeff{}', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{}}}'])
  if (mangle === 5) text = `{"key":"${'\\ud800'.repeat(3)}"}`
  const body = mangle === 6 ? r.bytes(r.int(1, 512)) : Buffer.from(text)
  const type = r.chance(0.85) ? 'application/json' : r.pick(['application/json; charset=utf-16', 'text/plain', 'application/x-www-form-urlencoded', 'text/json', ''])
  const headers: Array<[string, string]> = [['Host', 'fuzz'], ['Connection', 'close'], ...authHeader(r, tokens), ['Content-Length', String(body.length)]]
  if (type) headers.push(['Content-Type', type])
  return { label: `json ${route} mangle ${mangle}`, request: http(`POST ${route} HTTP/1.1`, headers, body) }
}

function miscRequest(r: Random, tokens: Record<string, string>): FuzzCase {
  const junk = () => r.pick(['', '-1', '0', '1001', 'abc', '1e3', '%zz', 'a'.repeat(2000), 'eyJ4IjoxfQ', 'WyJhIiwiYiJd', 'W10', '%00', 'null'])
  const targets = [
    () => `GET /v1/trash?limit=${junk()}&cursor=${junk()} HTTP/1.1`,
    () => `GET /v1/files?system=${r.pick(SYSTEMS)}&orgId=${r.pick(SEGMENTS)}&limit=${junk()}&cursor=${junk()}&objectType=${r.pick(SEGMENTS)} HTTP/1.1`,
    () => `GET /v1/audit?orgId=${r.pick(SEGMENTS)}&action=${r.pick(['upload', 'nosuch', ''])}&since=${r.pick(['2020-01-01T00:00:00Z', 'yesterday', '', '9999-99-99'])}&until=${junk()}&limit=${junk()}&cursor=${junk()} HTTP/1.1`,
    () => `GET /v1/usage?orgId=${r.pick(SEGMENTS)} HTTP/1.1`,
    () => `GET /v1/audit/verify HTTP/1.1`,
    () => `${r.pick(['POST', 'DELETE'])} /v1/trash/${r.pick(['00000000-0000-0000-0000-000000000000', 'not-a-uuid', '%zz', '', 'a'.repeat(100)])}${r.pick(['/restore', '', '/x'])} HTTP/1.1`,
    () => `GET /v1/signed/${r.pick([junk(), 'a.b', 'x'.repeat(5000), Buffer.from(r.bytes(60)).toString('base64url') + '.' + Buffer.from(r.bytes(32)).toString('base64url')])} HTTP/1.1`,
    () => `GET ${r.pick(['/health', '/metrics', '/docs/json', '/', '/v1', '/v1/', '/nosuch', '/v1/files/', '/%2e%2e/etc/passwd', '/v1/../health'])} HTTP/1.1`,
    () => `OPTIONS ${r.pick(['*', '/v1/files', '/v1/files/org-1/epcr/document/up-1/x.pdf'])} HTTP/1.1`,
  ]
  const line = r.pick(targets)()
  const headers: Array<[string, string]> = [['Host', 'fuzz'], ['Connection', 'close'], ...authHeader(r, tokens)]
  if (line.startsWith('POST') || line.startsWith('DELETE')) headers.push(['Content-Length', '0'])
  if (line.startsWith('OPTIONS') && r.chance(0.5)) headers.push(['Origin', 'http://evil.example'], ['Access-Control-Request-Method', 'PUT'])
  return { label: `misc ${line.split(' ')[0]} ${line.split(' ')[1]!.split('?')[0]!.slice(0, 30)}`, request: http(line, headers) }
}

test(`fuzz: ${CASES} hostile requests (headers, keys, JSON, queries) over raw sockets`, async (t) => {
  const random = seeded(testSeed())
  t.comment(`seed ${random.seed} (replay with FUZZ_SEED=${random.seed})`)
  const target = await fuzzTarget(t, 'http-fuzz')
  const tokens = { admin: target.server.token(ADMIN), reader: target.server.token({ sub: 'reader', org: 'org-1', scope: 'epcr:read' }) }
  const kinds = [fileRequest, fileRequest, fileRequest, headerRequest, headerRequest, jsonRequest, jsonRequest, miscRequest]
  const cases = Array.from({ length: CASES }, () => random.pick(kinds)(random, tokens))
  await runFuzz(t, target, cases, { seed: random.seed })
  await assertLeftNothing(t, target)
})

const TUS_LENGTH = 16
const tusMetadata = (fields: Record<string, string>) =>
  Object.entries(fields).map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`).join(',')

/** tus creation with one or more of its headers mangled (or none: a real upload). */
function tusCreation(r: Random, tokens: Record<string, string>): FuzzCase {
  const fields: Record<string, string> = { system: 'epcr', objectType: 'video', objectId: r.pick(UPLOAD_IDS), filename: `t${r.int(0, 30)}.mp4`, contentType: 'video/mp4' }
  if (r.chance(0.4)) fields[r.pick(Object.keys(fields))] = r.pick([...SEGMENTS, ...NAMES, ...TYPES])
  let metadata = tusMetadata(fields)
  if (r.chance(0.15)) metadata = r.pick(['', 'system', 'system !!!', 'a b c', 'system ZXBjcg==,system ZXBjcg==', '%zz', ','.repeat(50), 'x'.repeat(5000)])
  const length = r.chance(0.8) ? String(TUS_LENGTH) : r.pick(['', '-1', 'abc', '1e3', '0', String(256 * 1024 + 1), '99999999999999999999'])
  const headers: Array<[string, string]> = [['Host', 'fuzz'], ['Connection', 'close'], ...authHeader(r, tokens), ['Upload-Length', length], ['Upload-Metadata', metadata]]
  if (r.chance(0.9)) headers.push(['Tus-Resumable', r.chance(0.9) ? '1.0.0' : r.pick(['0.2.2', '', '1.0'])])
  if (r.chance(0.1)) headers.push(['Upload-Defer-Length', '1'])
  // creation-with-upload, now and then
  const body: Buffer = r.chance(0.2) ? r.bytes(r.int(0, TUS_LENGTH + 4)) : Buffer.alloc(0)
  if (body.length > 0) headers.push(['Content-Type', r.pick(['application/offset+octet-stream', 'text/plain'])])
  headers.push(['Content-Length', String(body.length)])
  return { label: 'tus POST', request: http('POST /v1/uploads/tus HTTP/1.1', headers, body) }
}

/** PATCH, HEAD, DELETE and OPTIONS on real uploads (made before the run) and on made-up ids. */
function tusStep(r: Random, tokens: Record<string, string>, ids: readonly string[]): FuzzCase {
  const method = r.pick(['PATCH', 'PATCH', 'PATCH', 'HEAD', 'DELETE', 'OPTIONS'])
  const id = r.chance(0.8) ? r.pick(ids) : r.pick(['00000000-0000-0000-0000-000000000000', 'x', '%zz', '..', 'a'.repeat(65), '%2F'])
  const headers: Array<[string, string]> = [['Host', 'fuzz'], ['Connection', 'close'], ...authHeader(r, tokens)]
  if (r.chance(0.95)) headers.push(['Tus-Resumable', '1.0.0'])
  let body: Buffer = Buffer.alloc(0)
  if (method === 'PATCH') {
    body = r.bytes(r.chance(0.7) ? r.int(1, TUS_LENGTH) : r.int(0, 64))
    headers.push(['Upload-Offset', r.pick(['0', '0', String(r.int(0, TUS_LENGTH)), '-1', 'abc', '', '99999999999999999999'])])
    const type = r.chance(0.85) ? 'application/offset+octet-stream' : r.pick(['text/plain', 'application/json', ''])
    if (type) headers.push(['Content-Type', type])
    if (r.chance(0.15)) headers.push(['Upload-Checksum', r.pick(['sha1 AAAA', 'sha1 ' + 'A'.repeat(27) + '=', 'md5 x', 'crc32 y', 'sha1', ''])])
  }
  if (method !== 'HEAD' && method !== 'OPTIONS') headers.push(['Content-Length', String(body.length)])
  return { label: `tus ${method}`, request: http(`${method} /v1/uploads/tus/${id} HTTP/1.1`, headers, body), head: method === 'HEAD' }
}

test(`fuzz: ${TUS_CASES} hostile tus requests over raw sockets`, async (t) => {
  const random = seeded(testSeed())
  t.comment(`seed ${random.seed} (replay with FUZZ_SEED=${random.seed})`)
  const target = await fuzzTarget(t, 'tus-fuzz')
  const tokens = { admin: target.server.token(ADMIN), reader: target.server.token({ sub: 'reader', org: 'org-1', scope: 'epcr:read' }) }
  // Real uploads for the steps to land on.
  const ids: string[] = []
  for (let i = 0; i < 6; i++) {
    const created = await target.server.app.inject({
      method: 'POST',
      url: '/v1/uploads/tus',
      headers: {
        authorization: `Bearer ${tokens.admin}`,
        'tus-resumable': '1.0.0',
        'upload-length': String(TUS_LENGTH),
        'upload-metadata': tusMetadata({ system: 'epcr', objectType: 'video', objectId: `tus-${i}`, filename: 'clip.mp4', contentType: 'video/mp4' }),
      },
    })
    t.equal(created.statusCode, 201, created.body)
    const path = new URL(created.headers.location as string, 'http://x').pathname
    target.tusUploads.add(path)
    ids.push(path.split('/').pop()!)
  }
  const cases = Array.from({ length: TUS_CASES }, () => (random.chance(0.3) ? tusCreation(random, tokens) : tusStep(random, tokens, ids)))
  await runFuzz(t, target, cases, { seed: random.seed })

  // Every upload the run made either finished (a file, like any 201) or is terminated now, which
  // must leave nothing of it behind.
  const { ledger } = target.server.app.storage
  for (const path of target.tusUploads) {
    const row = await ledger.getById(path.split('/').pop()!)
    if (row?.state === 'live') target.stored.add(row.key)
    if (row?.state !== 'pending') continue
    const ended = await target.server.app.inject({ method: 'DELETE', url: path, headers: { authorization: `Bearer ${tokens.admin}`, 'tus-resumable': '1.0.0' } })
    t.equal(ended.statusCode, 204, `terminating ${row.key}`)
  }
  await assertLeftNothing(t, target)
})
