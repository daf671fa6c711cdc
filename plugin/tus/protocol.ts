// tus 1.0.0: the protocol's headers, constants and header parsing, shared by its handlers.
// https://tus.io/protocols/resumable-upload (core, creation, creation-with-upload, termination,
// expiration, checksum).
import { BadRequestError } from '../errors.js'
import { CHECKSUM_ALGORITHMS, type ChecksumAlgorithm } from '../uploads/resumable.js'

export const TUS_VERSION = '1.0.0'
export const TUS_EXTENSIONS = ['creation', 'creation-with-upload', 'termination', 'expiration', 'checksum'] as const
export const OFFSET_OCTET_STREAM = 'application/offset+octet-stream'

/** Request and response header names (lower case, as Node gives them). */
export const H = {
  resumable: 'tus-resumable',
  version: 'tus-version',
  extension: 'tus-extension',
  maxSize: 'tus-max-size',
  checksumAlgorithm: 'tus-checksum-algorithm',
  uploadOffset: 'upload-offset',
  uploadLength: 'upload-length',
  uploadDeferLength: 'upload-defer-length',
  uploadMetadata: 'upload-metadata',
  uploadExpires: 'upload-expires',
  uploadChecksum: 'upload-checksum',
} as const

/** What browsers must be allowed to send and read (the sidecar's CORS uses these). */
export const TUS_REQUEST_HEADERS = ['Tus-Resumable', 'Upload-Offset', 'Upload-Length', 'Upload-Metadata', 'Upload-Defer-Length', 'Upload-Concat', 'Upload-Checksum', 'X-HTTP-Method-Override']
export const TUS_RESPONSE_HEADERS = ['Tus-Resumable', 'Tus-Version', 'Tus-Extension', 'Tus-Max-Size', 'Tus-Checksum-Algorithm', 'Upload-Offset', 'Upload-Length', 'Upload-Metadata', 'Upload-Expires', 'Location']

/** `Upload-Metadata`: comma-separated `key base64value` pairs (the value may be absent). */
export function parseMetadata(header: string | undefined): Record<string, string> {
  const metadata: Record<string, string> = {}
  if (!header) return metadata
  for (const pair of header.split(',')) {
    const [key, value, extra] = pair.trim().split(' ')
    if (!key || extra !== undefined || !/^[\x21-\x7e]+$/.test(key) || key in metadata) {
      throw new BadRequestError('Upload-Metadata must be comma-separated "key base64value" pairs with unique keys')
    }
    if (value !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw new BadRequestError(`Upload-Metadata ${key} is not base64`)
    metadata[key] = value === undefined ? '' : Buffer.from(value, 'base64').toString('utf8')
  }
  return metadata
}

/** A non-negative integer header, or undefined when absent. */
export function integerHeader(value: string | string[] | undefined, name: string): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || !/^\d{1,16}$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new BadRequestError(`${name} must be a non-negative integer`)
  }
  return Number(value)
}

/** `Upload-Checksum: <algorithm> <base64 digest>`. */
export function parseChecksum(value: string | string[] | undefined): { algorithm: ChecksumAlgorithm; digest: Buffer } | undefined {
  if (value === undefined) return undefined
  const [algorithm, digest] = typeof value === 'string' ? value.split(' ') : []
  if (!CHECKSUM_ALGORITHMS.includes(algorithm as ChecksumAlgorithm) || !digest) {
    throw new BadRequestError(`Upload-Checksum must be "<algorithm> <base64 digest>" with one of ${CHECKSUM_ALGORITHMS.join(', ')}`)
  }
  return { algorithm: algorithm as ChecksumAlgorithm, digest: Buffer.from(digest, 'base64') }
}

/** Upload-Expires is an RFC 9110 HTTP date. */
export function httpDate(iso: string | null): string | undefined {
  return iso ? new Date(iso).toUTCString() : undefined
}
