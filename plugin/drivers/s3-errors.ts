// Maps what the S3 SDK throws to the API's coded errors. Messages name the operation and the
// S3 error code only: never the URL, which can carry a signature.
import {
  NotFoundError,
  RangeNotSatisfiableError,
  StorageError,
  StorageUnavailableError,
} from '../errors.js'

const UNAVAILABLE_CODES = new Set([
  'SlowDown',
  'ServiceUnavailable',
  'RequestTimeout',
  'TimeoutError',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EPIPE',
  'EAI_AGAIN',
])

interface SdkError {
  name?: string
  code?: string
  Code?: string
  $metadata?: { httpStatusCode?: number }
}

export function toStoreError(operation: string, err: unknown): Error {
  if (err instanceof StorageError || err instanceof StorageUnavailableError || err instanceof NotFoundError) {
    return err
  }
  const sdk = (err ?? {}) as SdkError
  const code = sdk.Code ?? sdk.code ?? sdk.name ?? 'Unknown'
  const status = sdk.$metadata?.httpStatusCode
  // A missing bucket is a broken deployment, not a missing file.
  if (code === 'NoSuchBucket') return new StorageError(`${operation}: NoSuchBucket`, { cause: err })
  if (code === 'NoSuchKey' || code === 'NotFound' || status === 404) {
    return new NotFoundError('the object is not in the bucket', { cause: err })
  }
  if (code === 'InvalidRange' || status === 416) return new RangeNotSatisfiableError({ cause: err })
  const detail = `${operation}: ${code}`
  if (UNAVAILABLE_CODES.has(code) || status === 503 || status === undefined) {
    return new StorageUnavailableError(detail, { cause: err })
  }
  return new StorageError(detail, { cause: err })
}
