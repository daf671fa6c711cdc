// Malformed multipart is the client's error: a 400 with a code, never a 500, and never anything
// stored. First the shapes the adversarial run found, then a seeded fuzz over raw sockets:
// valid forms broken in one to three ways (truncation, boundaries, line endings, filenames,
// part headers, limits, encodings), each answer checked, and the bucket and ledger checked after.
import { test } from 'tap'
import { formHeaders, multipartBody, type FormPart } from './helpers/multipart.js'
import { assertLeftNothing, fuzzTarget, runFuzz, type FuzzCase } from './helpers/fuzz.js'
import { rawRequest } from './helpers/raw-http.js'
import { seeded, testSeed, type Random } from './helpers/seed.js'

const CASES = Number(process.env.FUZZ_MULTIPART_CASES ?? 1200)
const ADMIN = { sub: 'fuzzer', org: 'org-1', roles: ['admin'] }

function post(path: string, headers: Record<string, string>, body: Buffer, token: string): Buffer {
  const lines = [`POST ${path} HTTP/1.1`, 'Host: fuzz', `Authorization: Bearer ${token}`, 'Connection: close']
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`)
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), body])
}

const withLength = (headers: Record<string, string>, body: Buffer) => ({ ...headers, 'Content-Length': String(body.length) })

test('the malformed shapes from the report are 400 FST_SPACES_MALFORMED_MULTIPART and store nothing', async (t) => {
  const target = await fuzzTarget(t, 'mp-shapes')
  const token = target.server.token(ADMIN)
  const path = '/v1/files/org-1/epcr/document/shapes'
  const two: FormPart[] = [
    { filename: 'first.pdf', contentType: 'application/pdf', data: 'first file' },
    { filename: 'second.pdf', contentType: 'application/pdf', data: 'second file, longer than the first' },
  ]
  const whole = multipartBody('shape', two)
  const cases: Array<[string, Record<string, string>, Buffer]> = [
    ['a truncated body', formHeaders('shape'), whole.subarray(0, 60)],
    ['a truncated second part', formHeaders('shape'), whole.subarray(0, whole.indexOf('second file') + 6)],
    ['no boundary', { 'content-type': 'multipart/form-data' }, whole],
    ['a boundary that does not match', formHeaders('other'), whole],
    ['CR-only line endings', formHeaders('shape'), multipartBody('shape', two, '\r')],
    ['a boundary longer than 70 characters', formHeaders('b'.repeat(300)), multipartBody('b'.repeat(300), two)],
  ]
  for (const [what, headers, body] of cases) {
    const answer = await rawRequest(target.port, post(path, withLength(headers, body), body, token))
    t.equal(answer?.status, 400, `${what}: 400`)
    t.match(JSON.parse(answer?.body ?? '{}'), { statusCode: 400, code: 'FST_SPACES_MALFORMED_MULTIPART', error: 'Bad Request' }, what)
  }
  await assertLeftNothing(t, target)
})

const FILENAMES = ['report.pdf', 'scan 01.tiff', 'Jane Doe chart.pdf', 'résumé.pdf', 're\u0301sume\u0301.pdf', 'x.pdf', 'a'.repeat(200) + '.pdf', 'C:\\Users\\x\\note.txt']
const EVIL_NAMES = ['..', '.', '', '../../etc/passwd', 'a\u0000b.pdf', 'x\u202Egpj.exe', 'a'.repeat(300), '%2e%2e', '/', 'dir/', '\\\\server\\share\\', 'tab\there.pdf', '\u0085.pdf']
const EVIL_TYPES = ['', 'text/html\u0001', 'no-slash', 'a/b c', ';;', 'x/'.repeat(200), 'application/pdf\u007f']

interface Form {
  path: string
  query: string
  boundary: string
  headers: Record<string, string>
  parts: FormPart[]
  newline: string
  body?: Buffer
  chunked: boolean
  truncated: boolean
  token: string
}

type Mutation = (form: Form, random: Random, tokens: Record<string, string>) => void

const at = (form: Form, random: Random) => form.parts.filter((p) => p.filename !== undefined).length > 0
  ? random.pick(form.parts.filter((p) => p.filename !== undefined))
  : undefined

/** Each breaks a valid form one way; `body` set means the bytes are final. */
const MUTATIONS: Record<string, Mutation> = {
  truncate: (f, r) => {
    const body = multipartBody(f.boundary, f.parts, f.newline)
    f.body = body.subarray(0, r.int(0, body.length - 1))
  },
  'no-closing-boundary': (f) => {
    const body = multipartBody(f.boundary, f.parts, f.newline)
    f.body = body.subarray(0, body.length - `--${f.boundary}--${f.newline}`.length)
  },
  'cr-only': (f) => void (f.newline = '\r'),
  'lf-only': (f) => void (f.newline = '\n'),
  'no-boundary-param': (f) => void (f.headers['Content-Type'] = 'multipart/form-data'),
  'wrong-boundary': (f) => void (f.headers['Content-Type'] = 'multipart/form-data; boundary=not-the-one'),
  'long-boundary': (f, r) => {
    f.boundary = 'L'.repeat(r.int(71, 300))
    f.headers['Content-Type'] = `multipart/form-data; boundary=${f.boundary}`
  },
  'quoted-boundary': (f) => void (f.headers['Content-Type'] = `multipart/form-data; boundary="${f.boundary}"`),
  'evil-filename': (f, r) => {
    const part = at(f, r)
    if (part) part.filename = r.pick(EVIL_NAMES)
  },
  duplicate: (f, r) => {
    const part = at(f, r)
    if (part) f.parts.push({ ...part })
  },
  'evil-part-type': (f, r) => {
    const part = at(f, r)
    if (part) part.contentType = r.pick(EVIL_TYPES)
  },
  'garble-disposition': (f, r) => {
    const body = multipartBody(f.boundary, f.parts, f.newline).toString('latin1')
    f.body = Buffer.from(body.replace('Content-Disposition', r.pick(['Content-Dispo', 'X', 'Content-Disposition:', ''])), 'latin1')
  },
  'no-disposition': (f) => {
    f.body = Buffer.from(multipartBody(f.boundary, f.parts, f.newline).toString('latin1').replace(/Content-Disposition: [^\r\n]*\r?\n/, ''), 'latin1')
  },
  'flip-bytes': (f, r) => {
    const body = Buffer.from(multipartBody(f.boundary, f.parts, f.newline))
    for (let i = r.int(1, 5); i > 0; i--) body[r.int(0, Math.min(body.length, 200) - 1)] = r.int(0, 255)
    f.body = body
  },
  preamble: (f, r) => {
    f.body = Buffer.concat([Buffer.from(`preamble ${r.int(0, 1e6)}${f.newline}`), multipartBody(f.boundary, f.parts, f.newline)])
  },
  epilogue: (f, r) => {
    f.body = Buffer.concat([multipartBody(f.boundary, f.parts, f.newline), r.bytes(r.int(1, 64))])
  },
  'proto-field': (f, r) => void f.parts.push({ name: r.pick(['__proto__', 'constructor', 'toString']), data: '{}' }),
  'many-fields': (f) => {
    for (let i = 0; i < 25; i++) f.parts.unshift({ name: `field${i}`, data: 'v' })
  },
  'oversize-file': (f) => void f.parts.push({ filename: 'big.pdf', contentType: 'application/pdf', data: Buffer.alloc(256 * 1024 + 1, 1) }),
  'huge-part-header': (f, r) => {
    const part = at(f, r)
    if (part) part.contentType = `application/pdf; x="${'y'.repeat(100 * 1024)}"`
  },
  'zero-files': (f) => void (f.parts = f.parts.filter((p) => p.filename === undefined)),
  chunked: (f) => void (f.chunked = true),
  'short-body': (f) => void (f.truncated = true),
  'wrong-content-type': (f, r) => void (f.headers['Content-Type'] = r.pick(['text/plain', 'multipart/mixed; boundary=b', 'application/json', 'multipart/form-data; boundary=', 'multipart/form-data; charset=utf-8'])),
  'no-content-type': (f) => void delete f.headers['Content-Type'],
  overwrite: (f) => void (f.query = '?overwrite=true'),
  'bad-query': (f, r) => void (f.query = r.pick(['?overwrite=maybe', '?overwrite=true&overwrite=false', '?%zz', '?overwrite[]=1'])),
  'bad-path': (f, r) => void (f.path = r.pick(['/v1/files/org-1/nosuch/document/x', '/v1/files/org-1/epcr/../x/y', '/v1/files/.org/epcr/a/b', '/v1/files/org-1/epcr/a', `/v1/files/org-1/epcr/${'t'.repeat(129)}/b`, '/v1/files/org%00/epcr/a/b'])),
  'other-org': (f, _r, tokens) => void (f.token = tokens.otherOrg!),
  'read-only': (f, _r, tokens) => void (f.token = tokens.readOnly!),
  'bad-token': (f, r) => void (f.token = r.pick(['x', 'a.b.c', ''])),
}

function chunkedBody(body: Buffer, random: Random): Buffer {
  const pieces: Buffer[] = []
  for (let at = 0; at < body.length; ) {
    const size = Math.min(body.length - at, random.int(1, 4096))
    pieces.push(Buffer.from(`${size.toString(16)}\r\n`), body.subarray(at, at + size), Buffer.from('\r\n'))
    at += size
  }
  pieces.push(Buffer.from('0\r\n\r\n'))
  return Buffer.concat(pieces)
}

function formCase(random: Random, index: number, tokens: Record<string, string>): FuzzCase {
  const boundary = random.pick(['b', `fuzz${random.int(0, 1e6)}`, '----WebKitFormBoundary7MA4YWxkTrZu0gW', 'x'.repeat(70)])
  const parts: FormPart[] = []
  for (let i = random.int(1, 3); i > 0; i--) {
    parts.push({ filename: random.pick(FILENAMES), contentType: random.pick(['application/pdf', 'image/tiff', 'text/plain']), data: random.bytes(random.int(0, 2048)) })
  }
  if (random.chance(0.3)) parts.splice(random.int(0, parts.length), 0, { name: 'note', data: 'a field' })
  const form: Form = {
    path: `/v1/files/org-1/epcr/document/up-${index}`,
    query: '',
    boundary,
    headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` },
    parts,
    newline: '\r\n',
    chunked: false,
    truncated: false,
    token: tokens.admin!,
  }
  const names = Object.keys(MUTATIONS)
  // About one in ten forms is left valid: the success path is fuzzed as well.
  const applied = random.chance(0.1) ? [] : Array.from({ length: random.int(1, 3) }, () => random.pick(names))
  for (const name of applied) MUTATIONS[name]!(form, random, tokens)
  let body = form.body ?? multipartBody(form.boundary, form.parts, form.newline)
  const headers = { ...form.headers }
  if (form.chunked && !form.truncated) {
    headers['Transfer-Encoding'] = 'chunked'
    body = chunkedBody(body, random)
  } else {
    headers['Content-Length'] = String(body.length + (form.truncated ? random.int(1, 1000) : 0))
  }
  return { label: applied.join('+') || 'valid', request: post(form.path + form.query, headers, body, form.token), truncated: form.truncated }
}

test(`fuzz: ${CASES} mutated multipart requests over raw sockets`, async (t) => {
  const random = seeded(testSeed())
  t.comment(`seed ${random.seed} (replay with FUZZ_SEED=${random.seed})`)
  const target = await fuzzTarget(t, 'mp-fuzz')
  const tokens = {
    admin: target.server.token(ADMIN),
    otherOrg: target.server.token({ sub: 'outsider', org: 'org-2', roles: ['admin'] }),
    readOnly: target.server.token({ sub: 'reader', org: 'org-1', scope: 'epcr:read' }),
  }
  const cases = Array.from({ length: CASES }, (_, index) => formCase(random, index, tokens))
  await runFuzz(t, target, cases, { seed: random.seed })
  t.ok(target.stored.size > 0, `some forms were valid and stored (${target.stored.size} files)`)
  await assertLeftNothing(t, target)
})
