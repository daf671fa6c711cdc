// SigV4 query-string signing (presigned URLs) for one bucket, without the SDK's command stack.
// The SDK's getSignedUrl runs a command through its middleware, endpoint rules and serializers
// and costs about 1 ms of CPU per URL; the signature itself is one SHA-256 and one HMAC once the
// day's signing key is derived, which this keeps. test/s3-presigner.test.ts checks the output
// against @smithy/signature-v4 (the SDK's own signer) and checks the URLs against the S3 peer.
import { createHmac, createSecretKey, hash, type KeyObject } from 'node:crypto'

const ALGORITHM = 'AWS4-HMAC-SHA256'
/** A presigned URL carries no payload hash: the body is not known when it is signed. */
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD'
/** SigV4 refuses presigned URLs that live longer than a week. */
const MAX_EXPIRES_IN = 7 * 24 * 60 * 60

export interface PresignerOptions {
  /** Where requests go: `https://nyc3.digitaloceanspaces.com`, or a CDN origin. */
  endpoint: string
  region: string
  bucket: string
  accessKeyId: string
  secretAccessKey: string
  /** `endpoint/bucket/key` rather than `bucket.endpoint/key`. */
  forcePathStyle: boolean
}

export interface PresignInput {
  method: 'GET' | 'PUT' | 'HEAD'
  key: string
  /** Seconds, 1 to 604800. */
  expiresIn: number
  /** Extra query parameters, signed: `response-content-disposition` and the like. */
  query?: Record<string, string>
  /** Headers the request must carry exactly, signed (lower-case names). `host` is always signed. */
  headers?: Record<string, string>
  /** The signing time; tests move it to check expiry. */
  now?: Date
}

const UNRESERVED = /^[A-Za-z0-9\-_.~]*$/

/** RFC 3986 percent-encoding, as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ */
export function encodeRfc3986(value: string): string {
  if (UNRESERVED.test(value)) return value
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

/** An object key as a URL path: each segment encoded once, slashes kept. */
function encodeKey(key: string): string {
  return key.split('/').map(encodeRfc3986).join('/')
}

/**
 * Whether the bucket can be a host label, as the SDK's endpoint rules decide it: a DNS name, and
 * without dots over TLS (a dotted name would not match the endpoint's wildcard certificate).
 */
function virtualHostable(bucket: string, protocol: string): boolean {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) return false
  if (bucket.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(bucket)) return false
  return protocol === 'http:' || !bucket.includes('.')
}

/** `20260130T120000Z` */
function amzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')
}

function hmac(key: Buffer | KeyObject | string, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest()
}

function byNameThenValue(a: readonly [string, string], b: readonly [string, string]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0
}

/** What stays the same for a whole UTC day of signing. */
interface SigningDay {
  day: string
  scope: string
  credential: string
  key: KeyObject
}

export class S3Presigner {
  /** Scheme and host every URL starts with. */
  private readonly origin: string
  /** The Host header value the signature covers (no default port, as clients send it). */
  private readonly host: string
  /** Path before the encoded key: `/bucket/` path-style, `/` otherwise. */
  private readonly pathPrefix: string
  private readonly region: string
  private readonly accessKeyId: string
  private readonly secretAccessKey: string
  /** The signing key and scope depend only on the day (and region, service, secret). */
  private today: SigningDay | undefined
  /** The X-Amz-Date of the current second, which most URLs in a busy second share. */
  private second = -1
  private secondDate = ''

  constructor(options: PresignerOptions) {
    const url = new URL(options.endpoint)
    const pathStyle = options.forcePathStyle || !virtualHostable(options.bucket, url.protocol)
    if (!pathStyle) url.hostname = `${options.bucket}.${url.hostname}`
    this.origin = url.origin
    this.host = url.host
    this.pathPrefix = pathStyle ? `/${encodeRfc3986(options.bucket)}/` : '/'
    this.region = options.region
    this.accessKeyId = options.accessKeyId
    this.secretAccessKey = options.secretAccessKey
  }

  /** The object's URL, unsigned: where a signed one points too. */
  objectUrl(key: string): string {
    return `${this.origin}${this.objectPath(key)}`
  }

  private objectPath(key: string): string {
    return `${this.pathPrefix}${encodeKey(key)}`
  }

  presign(input: PresignInput): string {
    if (!Number.isSafeInteger(input.expiresIn) || input.expiresIn < 1 || input.expiresIn > MAX_EXPIRES_IN) {
      throw new RangeError(`a presigned URL lives 1 to ${MAX_EXPIRES_IN} seconds (got ${input.expiresIn})`)
    }
    const longDate = this.longDate(input.now)
    const signing = this.signingDay(longDate.slice(0, 8))

    let signedHeaders = 'host'
    let canonicalHeaders = `host:${this.host}\n`
    if (input.headers) {
      const headers: Record<string, string> = { host: this.host }
      for (const [name, value] of Object.entries(input.headers)) headers[name.toLowerCase()] = value.trim().replace(/\s+/g, ' ')
      const names = Object.keys(headers).sort()
      signedHeaders = names.join(';')
      canonicalHeaders = names.map((name) => `${name}:${headers[name]}\n`).join('')
    }

    // Names and values already in canonical form; those we add sort first and in this order.
    const params: Array<readonly [string, string]> = [
      ['X-Amz-Algorithm', ALGORITHM],
      // As the SDK's presigner does: says outright that the body is not covered.
      ['X-Amz-Content-Sha256', UNSIGNED_PAYLOAD],
      ['X-Amz-Credential', signing.credential],
      ['X-Amz-Date', longDate],
      ['X-Amz-Expires', String(input.expiresIn)],
      ['X-Amz-SignedHeaders', encodeRfc3986(signedHeaders)],
    ]
    if (input.query) {
      for (const [name, value] of Object.entries(input.query)) params.push([encodeRfc3986(name), encodeRfc3986(value)])
      params.sort(byNameThenValue)
    }
    let query = ''
    for (const [name, value] of params) query += `${query ? '&' : ''}${name}=${value}`

    const path = this.objectPath(input.key)
    const canonicalRequest = `${input.method}\n${path}\n${query}\n${canonicalHeaders}\n${signedHeaders}\n${UNSIGNED_PAYLOAD}`
    const stringToSign = `${ALGORITHM}\n${longDate}\n${signing.scope}\n${hash('sha256', canonicalRequest, 'hex')}`
    const signature = createHmac('sha256', signing.key).update(stringToSign).digest('hex')
    return `${this.origin}${path}?${query}&X-Amz-Signature=${signature}`
  }

  private longDate(now: Date | undefined): string {
    if (now) return amzDate(now)
    const second = Math.floor(Date.now() / 1000)
    if (second !== this.second) {
      this.secondDate = amzDate(new Date(second * 1000))
      this.second = second
    }
    return this.secondDate
  }

  private signingDay(day: string): SigningDay {
    if (this.today?.day !== day) {
      const scope = `${day}/${this.region}/s3/aws4_request`
      const dateKey = hmac(`AWS4${this.secretAccessKey}`, day)
      this.today = {
        day,
        scope,
        credential: encodeRfc3986(`${this.accessKeyId}/${scope}`),
        key: createSecretKey(hmac(hmac(hmac(dateKey, this.region), 's3'), 'aws4_request')),
      }
    }
    return this.today
  }
}
