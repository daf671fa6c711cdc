// The presign fast path: SigV4 query signing without the SDK's command stack. It must give the
// very URLs the SDK's own signer gives, and the S3 peer must take them: for GET (with and without
// response-content-disposition) and PUT (a whole object, or one part of a multipart upload the
// browser sends), until they expire, and never once tampered with.
import { createHash, createHmac, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import t from 'tap'
import type { Test } from 'tap'
import { SignatureV4 } from '@smithy/signature-v4'
import { GetObjectCommand } from '@aws-sdk/client-s3'
import { S3Presigner, encodeRfc3986, type PresignInput, type PresignerOptions } from '../plugin/drivers/s3-presigner.js'
import { S3Store } from '../plugin/drivers/s3.js'
import { createTestBucket } from './helpers/s3.js'
import { sha256Of } from './helpers/http.js'

const CREDENTIALS = { accessKeyId: 'DO00EXAMPLEKEY0000', secretAccessKey: 'example/secret+key=0123456789abcdefABCDEF' }
const NOW = new Date('2026-01-30T12:34:56.789Z')

/** The same request signed by @smithy/signature-v4, the signer inside the AWS SDK. */
async function smithyUrl(options: PresignerOptions, input: PresignInput): Promise<URL> {
  const signer = new SignatureV4({
    credentials: CREDENTIALS,
    region: options.region,
    service: 's3',
    sha256: Sha256,
    // The S3 serializer encodes the key itself, as we do.
    uriEscapePath: false,
  })
  const ours = new URL(new S3Presigner(options).objectUrl(input.key))
  const signed = await signer.presign(
    {
      method: input.method,
      protocol: ours.protocol,
      hostname: ours.hostname,
      port: ours.port ? Number(ours.port) : undefined,
      path: ours.pathname,
      query: { ...input.query },
      // Spelled as the SDK's presigner spells it: the name is hoisted into the query as it is.
      headers: { host: ours.host, 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD', ...input.headers },
    },
    { expiresIn: input.expiresIn, signingDate: input.now, signableHeaders: new Set(Object.keys(input.headers ?? {})) },
  )
  const url = new URL(ours)
  for (const [name, value] of Object.entries(signed.query ?? {})) url.searchParams.set(name, String(value))
  return url
}

/** The hash interface @smithy/signature-v4 takes, over node:crypto. */
class Sha256 {
  private readonly hash: { update(data: Uint8Array | string): unknown; digest(): Buffer }
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    if (secret === undefined) this.hash = createHash('sha256')
    else if (typeof secret === 'string') this.hash = createHmac('sha256', secret)
    else if (ArrayBuffer.isView(secret)) this.hash = createHmac('sha256', new Uint8Array(secret.buffer, secret.byteOffset, secret.byteLength))
    else this.hash = createHmac('sha256', new Uint8Array(secret))
  }
  update(data: Uint8Array | string): void {
    this.hash.update(data)
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest()
  }
  reset(): void {}
}

function sortedParams(url: URL): string[] {
  return [...url.searchParams].map(([name, value]) => `${name}=${value}`).sort()
}

t.test('the same URLs as the SDK signer, byte for byte in every signed part', async (t) => {
  const base = { ...CREDENTIALS, region: 'nyc3', bucket: 'fusonems-docs' }
  const connections: Array<[string, PresignerOptions]> = [
    ['virtual-hosted on Spaces', { ...base, endpoint: 'https://nyc3.digitaloceanspaces.com', forcePathStyle: false }],
    ['path-style on a local port', { ...base, endpoint: 'http://127.0.0.1:7480', forcePathStyle: true }],
    ['a dotted bucket over TLS falls back to path-style', { ...base, bucket: 'docs.example', endpoint: 'https://nyc3.digitaloceanspaces.com', forcePathStyle: false }],
  ]
  const inputs: Array<[string, PresignInput]> = [
    ['GET', { method: 'GET', key: 'org-1/epcr/document/e-1/20260130_report.pdf', expiresIn: 600, now: NOW }],
    [
      'GET with response-content-disposition and type',
      {
        method: 'GET',
        key: "org-1/epcr/document/e-1/Bericht (final) it's 100% ü*!.pdf",
        expiresIn: 900,
        now: NOW,
        query: {
          'response-content-disposition': `attachment; filename="Bericht (final) it's 100% _.pdf"; filename*=UTF-8''Bericht%20%28final%29%20it%27s%20100%25%20%C3%BC%2A%21.pdf`,
          'response-content-type': 'application/pdf',
        },
      },
    ],
    [
      'PUT of one part of a multipart upload',
      {
        method: 'PUT',
        key: 'org-1/epcr/document/e-1/scan.pdf',
        expiresIn: 600,
        now: NOW,
        query: { partNumber: '3', uploadId: '2~AbC-dEf_gh.ij/Kl+m' },
      },
    ],
    [
      'PUT binding type and length',
      {
        method: 'PUT',
        key: 'org-1/fax/inbound/f-1/scan +1.tiff',
        expiresIn: 300,
        now: NOW,
        headers: { 'content-type': 'image/tiff', 'content-length': '1048576' },
      },
    ],
  ]
  for (const [where, options] of connections) {
    for (const [what, input] of inputs) {
      const ours = new URL(new S3Presigner(options).presign(input))
      const reference = await smithyUrl(options, input)
      t.equal(ours.origin, reference.origin, `${where}, ${what}: host`)
      t.equal(ours.pathname, reference.pathname, `${where}, ${what}: path`)
      t.same(sortedParams(ours), sortedParams(reference), `${where}, ${what}: every query parameter, the signature included`)
    }
  }
})

t.test('keys are encoded as S3 wants them, and lifetimes are bounded', async (t) => {
  t.equal(encodeRfc3986("a b/c+d!'()*~ü"), "a%20b%2Fc%2Bd%21%27%28%29%2A~%C3%BC")
  const presigner = new S3Presigner({ ...CREDENTIALS, region: 'nyc3', bucket: 'b', endpoint: 'http://127.0.0.1:7480', forcePathStyle: true })
  t.equal(presigner.objectUrl('o/a b/ü.pdf'), 'http://127.0.0.1:7480/b/o/a%20b/%C3%BC.pdf')
  t.throws(() => presigner.presign({ method: 'GET', key: 'k', expiresIn: 604_801 }), RangeError, 'over a week is refused')
  t.throws(() => presigner.presign({ method: 'GET', key: 'k', expiresIn: 0 }), RangeError)
})

t.test('the S3 peer takes the URLs, until they expire, and never once tampered with', async (t) => {
  const bucket = await createTestBucket(t, 'presigner')
  const presigner = new S3Presigner({ ...bucket.connection, forcePathStyle: bucket.connection.forcePathStyle ?? false })
  const key = "org-1/epcr/document/e-1/Bericht (final) it's 100% ü+.pdf"
  const bytes = randomBytes(4096)
  const store = new S3Store({ connection: bucket.connection, partSize: 5 * 1024 * 1024, queueSize: 2 })
  t.teardown(() => store.close())
  await store.put({ key, body: Readable.from([bytes]), contentType: 'application/pdf' })
  const disposition = `attachment; filename="Bericht (final) it's 100% _+.pdf"; filename*=UTF-8''Bericht%20%28final%29%20it%27s%20100%25%20%C3%BC%2B.pdf`
  const stale = new Date(Date.now() - 11 * 60 * 1000)

  t.test('GET', async (t) => {
    const url = presigner.presign({ method: 'GET', key, expiresIn: 600 })
    const response = await fetch(url)
    t.equal(response.status, 200)
    t.same(Buffer.from(await response.arrayBuffer()), bytes, 'the bytes')
    t.equal(response.headers.get('content-type'), 'application/pdf', 'the stored type')
    t.equal((await fetch(presigner.presign({ method: 'GET', key, expiresIn: 600, now: stale }))).status, 403, 'expired')
    await refusesTampering(t, url)
  })

  t.test('GET with response-content-disposition', async (t) => {
    const url = presigner.presign({
      method: 'GET',
      key,
      expiresIn: 600,
      query: { 'response-content-disposition': disposition, 'response-content-type': 'application/x-pdf' },
    })
    const response = await fetch(url)
    t.equal(response.status, 200)
    t.same(Buffer.from(await response.arrayBuffer()), bytes, 'the bytes')
    t.equal(response.headers.get('content-disposition'), disposition, 'the disposition comes back as signed')
    t.equal(response.headers.get('content-type'), 'application/x-pdf', 'and the type')
    const stale2 = presigner.presign({ method: 'GET', key, expiresIn: 600, now: stale, query: { 'response-content-disposition': disposition } })
    t.equal((await fetch(stale2)).status, 403, 'expired')
    const swapped = new URL(url)
    swapped.searchParams.set('response-content-disposition', 'inline')
    t.equal((await fetch(swapped)).status, 403, 'another disposition is refused')
    await refusesTampering(t, url)
  })

  t.test('PUT binding type and length', async (t) => {
    const putKey = 'org-1/fax/inbound/f-1/scan +1 ü.tiff'
    const body = randomBytes(2048)
    const url = presigner.presign({
      method: 'PUT',
      key: putKey,
      expiresIn: 600,
      headers: { 'content-type': 'image/tiff', 'content-length': String(body.length) },
    })
    // fetch sends the Content-Length of the body it is given.
    const headers = { 'content-type': 'image/tiff' }
    t.equal((await fetch(url, { method: 'PUT', headers: { 'content-type': 'text/html' }, body })).status, 403, 'another type is refused')
    t.equal((await fetch(url, { method: 'PUT', headers, body: Buffer.concat([body, body]) })).status, 403, 'another length is refused')
    const expired = presigner.presign({
      method: 'PUT',
      key: putKey,
      expiresIn: 600,
      now: stale,
      headers: { 'content-type': 'image/tiff', 'content-length': String(body.length) },
    })
    t.equal((await fetch(expired, { method: 'PUT', headers, body })).status, 403, 'expired')
    await refusesTampering(t, url, { method: 'PUT', headers, body })
    t.same(await bucket.keys('org-1/fax/'), [], 'nothing was written by a refused request')
    t.equal((await fetch(url, { method: 'PUT', headers, body })).status, 200)
    const stored = await bucket.client.send(new GetObjectCommand({ Bucket: bucket.name, Key: putKey }))
    t.equal(stored.ContentType, 'image/tiff')
    t.same(await sha256Of(stored.Body as Readable), await sha256Of(Readable.from([body])), 'stored byte for byte')
  })

  t.test('PUT of a multipart part, as the store signs it for browsers', async (t) => {
    const partKey = 'org-1/epcr/document/e-2/scan part.pdf'
    const uploadId = await store.multipart.create({ key: partKey, contentType: 'application/pdf' })
    t.teardown(() => store.abortIncompleteUpload({ key: partKey, uploadId, initiated: new Date() }).catch(() => {}))
    const body = randomBytes(3072)
    const init = { method: 'PUT', headers: {}, body }
    const { url } = await store.multipart.presignPart({ key: partKey, uploadId, partNumber: 1, expiresIn: 600 })
    const query = { partNumber: '1', uploadId }
    const expired = presigner.presign({ method: 'PUT', key: partKey, expiresIn: 600, now: stale, query })
    t.equal((await fetch(expired, init)).status, 403, 'expired')
    const otherPart = new URL(url)
    otherPart.searchParams.set('partNumber', '2')
    t.equal((await fetch(otherPart, init)).status, 403, 'another part number is refused')
    await refusesTampering(t, url, init)
    t.same(await store.multipart.listParts({ key: partKey, uploadId }), [], 'no refused request stored a part')
    const response = await fetch(url, init)
    t.equal(response.status, 200)
    const parts = await store.multipart.listParts({ key: partKey, uploadId })
    t.same(parts.map((p) => [p.partNumber, p.size]), [[1, body.length]], 'the part is stored')
    await store.multipart.complete({ key: partKey, uploadId, parts: [{ partNumber: 1, etag: response.headers.get('etag')! }] })
    const stored = await bucket.client.send(new GetObjectCommand({ Bucket: bucket.name, Key: partKey }))
    t.same(await sha256Of(stored.Body as Readable), await sha256Of(Readable.from([body])), 'assembled byte for byte')
  })
})

/** Each change to a signed part of the URL makes the peer refuse it. */
async function refusesTampering(
  t: Test,
  url: string,
  init: { method: string; headers: Record<string, string>; body: Buffer } | undefined = undefined,
): Promise<void> {
  const variants: Array<[string, (u: URL) => void]> = [
    ['another key', (u) => (u.pathname = u.pathname.replace(/\.(pdf|tiff)$/, '.txt'))],
    ['a longer life', (u) => u.searchParams.set('X-Amz-Expires', '604800')],
    ['an earlier date', (u) => u.searchParams.set('X-Amz-Date', '20260101T000000Z')],
    ['a changed signature', (u) => u.searchParams.set('X-Amz-Signature', flipLastHex(u.searchParams.get('X-Amz-Signature')!))],
    ['an added parameter', (u) => u.searchParams.set('response-cache-control', 'public')],
    ['no signature', (u) => u.searchParams.delete('X-Amz-Signature')],
  ]
  for (const [what, change] of variants) {
    const tampered = new URL(url)
    change(tampered)
    const response = await fetch(tampered, init)
    await response.arrayBuffer()
    t.equal(response.status, 403, `${what}: refused`)
  }
}

function flipLastHex(signature: string): string {
  const last = signature.at(-1)!
  return signature.slice(0, -1) + (last === '0' ? '1' : '0')
}
