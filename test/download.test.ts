// GET and HEAD /files/{key}: Range (206, 416), If-None-Match (304), ETag, Last-Modified and a
// Content-Disposition that is safe for any filename.
import { test } from 'tap'
import { buildPluginApp } from './helpers/app.js'
import { createTestBucket } from './helpers/s3.js'

const KEY = 'org-1/epcr/document/epcr-456/report.pdf'
const BODY = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz')

test('downloads honour Range, If-None-Match and HEAD', async (t) => {
  const bucket = await createTestBucket(t, 'get')
  const app = await buildPluginApp(t, bucket)
  const put = await app.inject({ method: 'PUT', url: `/files/${KEY}`, payload: BODY, headers: { 'content-type': 'application/pdf' } })
  t.equal(put.statusCode, 201)
  const { etag } = put.json()

  const whole = await app.inject({ method: 'GET', url: `/files/${KEY}` })
  t.equal(whole.statusCode, 200)
  t.same(whole.rawPayload, BODY)
  t.equal(whole.headers['content-type'], 'application/pdf')
  t.equal(whole.headers['accept-ranges'], 'bytes')
  t.equal(whole.headers['content-length'], String(BODY.length))
  t.equal(whole.headers.etag, etag)
  t.ok(whole.headers['last-modified'], 'Last-Modified is sent')
  t.equal(whole.headers['content-disposition'], 'attachment; filename=report.pdf')

  const range = await app.inject({ method: 'GET', url: `/files/${KEY}`, headers: { range: 'bytes=10-15' } })
  t.equal(range.statusCode, 206)
  t.equal(range.body, 'abcdef')
  t.equal(range.headers['content-range'], `bytes 10-15/${BODY.length}`)
  t.equal(range.headers['content-length'], '6')

  const suffix = await app.inject({ method: 'GET', url: `/files/${KEY}`, headers: { range: 'bytes=-4' } })
  t.equal(suffix.statusCode, 206)
  t.equal(suffix.body, 'wxyz')

  const open = await app.inject({ method: 'GET', url: `/files/${KEY}`, headers: { range: 'bytes=30-' } })
  t.equal(open.statusCode, 206)
  t.equal(open.body, 'uvwxyz')

  const past = await app.inject({ method: 'GET', url: `/files/${KEY}`, headers: { range: 'bytes=100-200' } })
  t.equal(past.statusCode, 416)
  t.equal(past.json().code, 'FST_SPACES_RANGE_NOT_SATISFIABLE')
  t.equal(past.headers['content-range'], `bytes */${BODY.length}`)

  const staleIfRange = await app.inject({ method: 'GET', url: `/files/${KEY}`, headers: { range: 'bytes=0-1', 'if-range': '"other"' } })
  t.equal(staleIfRange.statusCode, 200, 'If-Range that does not match sends the whole file')

  const cached = await app.inject({ method: 'GET', url: `/files/${KEY}`, headers: { 'if-none-match': etag } })
  t.equal(cached.statusCode, 304)
  t.equal(cached.body, '')
  const weak = await app.inject({ method: 'GET', url: `/files/${KEY}`, headers: { 'if-none-match': `"nope", W/${etag}` } })
  t.equal(weak.statusCode, 304, 'weak comparison, lists of tags')
  const changed = await app.inject({ method: 'GET', url: `/files/${KEY}`, headers: { 'if-none-match': '"nope"' } })
  t.equal(changed.statusCode, 200)

  const head = await app.inject({ method: 'HEAD', url: `/files/${KEY}` })
  t.equal(head.statusCode, 200)
  t.equal(head.body, '')
  t.equal(head.headers['content-length'], String(BODY.length))
  t.equal(head.headers.etag, etag)

  const inline = await app.inject({ method: 'GET', url: `/files/${KEY}?inline=1` })
  t.match(inline.headers['content-disposition'], /^inline; /)

  const missing = await app.inject({ method: 'GET', url: '/files/org-1/epcr/document/epcr-456/missing.pdf' })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().code, 'FST_SPACES_NOT_FOUND')
  const missingHead = await app.inject({ method: 'HEAD', url: '/files/org-1/epcr/document/epcr-456/missing.pdf' })
  t.equal(missingHead.statusCode, 404)
})

test('Content-Disposition is safe for non-ASCII names and names with quotes', async (t) => {
  const bucket = await createTestBucket(t, 'get')
  const app = await buildPluginApp(t, bucket)
  const names = ['Bericht Müller "final".pdf', '患者記録.pdf', 'a;b=c, "d".txt', 'O\'Brien report.pdf']
  for (const name of names) {
    const key = `org-1/epcr/document/e1/${name}`
    const put = await app.inject({ method: 'PUT', url: `/files/${encodeURIComponent(key).replaceAll('%2F', '/')}`, payload: 'x' })
    t.equal(put.statusCode, 201, `${name}: ${put.body}`)
    t.equal(put.json().key, key)
    const get = await app.inject({ method: 'GET', url: `/files/${encodeURIComponent(key).replaceAll('%2F', '/')}` })
    t.equal(get.statusCode, 200)
    const header = get.headers['content-disposition'] as string
    t.notMatch(header, /[^\x20-\x7e]/, `${name}: the header is plain ASCII`)
    const star = /filename\*=UTF-8''([^;]+)/.exec(header)
    const decoded = star ? decodeURIComponent(star[1]!) : /filename="((?:[^"\\]|\\.)*)"/.exec(header)![1]!.replace(/\\(.)/g, '$1')
    t.equal(decoded, name, `${name}: the filename round-trips`)
  }
})
