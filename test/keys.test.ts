// The key layout: every bad key is a 400 with a code, and none reaches outside its org.
import { test } from 'tap'
import { buildKey, datePrefix, parseKey, uploadFilename, DEFAULT_SYSTEMS } from '../plugin/keys.js'
import { buildPluginApp } from './helpers/app.js'
import { createTestBucket } from './helpers/s3.js'

const rules = { systems: DEFAULT_SYSTEMS }
const GOOD = 'org-123/epcr/document/epcr-456/20260130_report.pdf'

const BAD_KEYS: Array<[string, string]> = [
  ['', 'empty'],
  ['org-1/epcr/document/epcr-456', 'four segments'],
  ['org-1/epcr/document/epcr-456/a/b.pdf', 'six segments'],
  ['../epcr/document/e/x.pdf', 'org ..'],
  ['./epcr/document/e/x.pdf', 'org .'],
  ['.trash/epcr/document/e/x.pdf', 'org starting with a dot'],
  ['org-1/epcr/../e/x.pdf', 'objectType ..'],
  ['org-1/epcr/document/../x.pdf', 'objectId ..'],
  ['org-1/epcr/document/e/..', 'filename ..'],
  ['org-1/epcr/document/e/.', 'filename .'],
  ['org-1/epcr/document/e/a\\b.pdf', 'backslash'],
  ['org-1/epcr/document/e/a\u0000b.pdf', 'NUL'],
  ['org-1/epcr/document/e/a\nb.pdf', 'newline'],
  ['org-1/epcr/document/e/a\u007fb.pdf', 'DEL'],
  ['org-1/epcr/document/e/a\u0085b.pdf', 'C1 control'],
  ['org-1/epcr/document/e/gpj.\u202Eexe', 'bidi override'],
  [`org-1/epcr/document/e/${'a'.repeat(256)}`, 'filename over 255 bytes'],
  [`org-1/epcr/document/e/${'é'.repeat(128)}`, 'filename over 255 bytes of UTF-8'],
  [`${'o'.repeat(129)}/epcr/document/e/x.pdf`, 'orgId over 128'],
  ['org 1/epcr/document/e/x.pdf', 'space in orgId'],
  ['org-1/EPCR/document/e/x.pdf', 'unknown system (case)'],
  ['org-1/payroll/document/e/x.pdf', 'unknown system'],
  ['org-1/epcr/doc%2Fument/e/x.pdf', 'percent in segment'],
  ['org-1/epcr/document/e/', 'empty filename'],
  ['/org-1/epcr/document/e/x.pdf', 'leading slash'],
]

test('parseKey accepts the contract layout and rejects every bad key', async (t) => {
  t.same(parseKey(GOOD, rules), {
    orgId: 'org-123',
    system: 'epcr',
    objectType: 'document',
    objectId: 'epcr-456',
    filename: '20260130_report.pdf',
    key: GOOD,
  })
  for (const system of DEFAULT_SYSTEMS) t.ok(parseKey(`o/${system}/t/i/f.pdf`, rules), system)
  t.equal(parseKey(`o/epcr/t/i/${'a'.repeat(255)}`, rules).filename.length, 255, '255 bytes is fine')
  t.equal(parseKey('o/epcr/t/i/Cafe\u0301.pdf', rules).key, 'o/epcr/t/i/Caf\u00e9.pdf', 'NFD names normalize to NFC')
  for (const [key, why] of BAD_KEYS) {
    t.throws(() => parseKey(key, rules), { code: 'FST_SPACES_INVALID_KEY', statusCode: 400 }, why)
  }
})

test('client filenames lose their directory part and POST names get the UTC date', async (t) => {
  t.equal(uploadFilename('C:\\Users\\x\\report.pdf'), 'report.pdf')
  t.equal(uploadFilename('../../etc/passwd'), 'passwd')
  t.equal(uploadFilename('/abs/path/scan.tiff'), 'scan.tiff')
  t.throws(() => uploadFilename('dir/..'), { code: 'FST_SPACES_INVALID_KEY' })
  t.throws(() => uploadFilename('x/'), { code: 'FST_SPACES_INVALID_KEY' })
  t.equal(datePrefix(new Date('2026-01-30T23:59:59Z')), '20260130_')
  t.equal(datePrefix(new Date('2026-01-30T23:59:59-05:00')), '20260131_', 'UTC, not local time')
  t.equal(buildKey({ orgId: 'o', system: 'fax', objectType: 't', objectId: 'i', filename: 'f' }, rules), 'o/fax/t/i/f')
})

test('bad keys are 400 over HTTP, on every route, and nothing reaches the bucket', async (t) => {
  const bucket = await createTestBucket(t, 'keys')
  const app = await buildPluginApp(t, bucket)
  const raw = [
    '/files/org-1/epcr/document/e/..%2F..%2Fother-org%2Fx.pdf',
    '/files/org-1/epcr/document/e/%2e%2e',
    '/files/..%2Forg-2/epcr/document/e/x.pdf',
    '/files/org-1/epcr/document/e/a%00b.pdf',
    '/files/org-1/epcr/document/e/a%0Db.pdf',
    '/files/org-1/unknown/document/e/x.pdf',
    `/files/org-1/epcr/document/e/${'a'.repeat(300)}`,
    '/files/org-1/epcr/document/e/a%5Cb.pdf',
    '/files/.trash/epcr/document/e/x.pdf',
  ]
  for (const url of raw) {
    for (const method of ['PUT', 'GET', 'HEAD', 'DELETE'] as const) {
      const res = await app.inject({ method, url, payload: method === 'PUT' ? 'x' : undefined })
      t.equal(res.statusCode, 400, `${method} ${url.slice(0, 60)}`)
      if (method !== 'HEAD') t.equal(res.json().code, 'FST_SPACES_INVALID_KEY')
    }
  }
  const post = await app.inject({
    method: 'POST',
    url: '/files/org-1/epcr/..%2F..%2Fx/e',
    headers: { 'content-type': 'multipart/form-data; boundary=b' },
    payload: '--b\r\nContent-Disposition: form-data; name="file"; filename="x.pdf"\r\n\r\nx\r\n--b--\r\n',
  })
  t.equal(post.statusCode, 400)
  const sign = await app.inject({ method: 'POST', url: '/signed-urls', payload: { key: '../x' } })
  t.equal(sign.statusCode, 400)
  t.equal(sign.json().code, 'FST_SPACES_INVALID_KEY')
  t.same(await bucket.keys(), [], 'nothing was written')
})

test('a multipart filename with a directory part is stored under its base name only', async (t) => {
  const bucket = await createTestBucket(t, 'keys')
  const app = await buildPluginApp(t, bucket, { datePrefix: false })
  const res = await app.inject({
    method: 'POST',
    url: '/files/org-1/epcr/document/e1',
    headers: { 'content-type': 'multipart/form-data; boundary=b' },
    payload: '--b\r\nContent-Disposition: form-data; name="file"; filename="..\\\\..\\\\evil.pdf"\r\n\r\nx\r\n--b--\r\n',
  })
  t.equal(res.statusCode, 201, res.body)
  t.equal(res.json().files[0].key, 'org-1/epcr/document/e1/evil.pdf')
  t.same(await bucket.keys(), ['org-1/epcr/document/e1/evil.pdf'])
})
