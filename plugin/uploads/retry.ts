// Safe retries of PUT and POST uploads. A client whose answer got lost sends the same request
// again; it should get the file it already stored (200), not a 409 that reads as failure.
// - `Idempotency-Key: <opaque>`: the ledger remembers the key with the upload it made.
// - `Repr-Digest: sha-256=:<base64>:` (RFC 9530): a live file at the key with that SHA-256 is the
//   same file. The digest is also checked against the bytes of a new upload.
import type { FileRecord, Ledger } from '../ledger/types.js'
import { BadRequestError, UploadInProgressError } from '../errors.js'
import { toRecord } from './claim.js'

export interface RetryHeaders {
  idempotencyKey?: string
  /** Hex SHA-256 from Repr-Digest. */
  sha256?: string
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/

/** Reads the retry headers of a request; a malformed one is a 400. */
export function retryHeaders(headers: Record<string, string | string[] | undefined>): RetryHeaders {
  const result: RetryHeaders = {}
  const key = headers['idempotency-key']
  if (key !== undefined) {
    // The IETF draft quotes it as a structured-field string; plain tokens are common too.
    const value = typeof key === 'string' ? key.replace(/^"(.*)"$/, '$1') : ''
    if (!IDEMPOTENCY_KEY.test(value)) throw new BadRequestError('Idempotency-Key must be 1 to 255 printable ASCII characters')
    result.idempotencyKey = value
  }
  const digest = headers['repr-digest']
  if (digest !== undefined) {
    const match = typeof digest === 'string' ? /(?:^|,)\s*sha-256=:([A-Za-z0-9+/]{43}=):/.exec(digest) : null
    if (match) result.sha256 = Buffer.from(match[1]!, 'base64').toString('hex')
    else if (typeof digest !== 'string' || !/sha-512=/.test(digest)) throw new BadRequestError('Repr-Digest must carry sha-256=:<base64>:')
  }
  return result
}

/**
 * The record an earlier, identical request stored at `key`, or undefined when this is a new upload.
 * A retry that arrives while the first attempt still streams gets 409 (retry later).
 */
export async function earlierUpload(ledger: Ledger, input: { key: string; actor: string } & RetryHeaders): Promise<FileRecord | undefined> {
  if (input.idempotencyKey) {
    const row = await ledger.findByIdempotencyKey(input.actor, input.idempotencyKey)
    if (row && row.key !== input.key) throw new BadRequestError('this Idempotency-Key was used for an upload to another key')
    if (row?.state === 'live') return toRecord(row)
    if (row?.state === 'pending') throw new UploadInProgressError()
  }
  if (input.sha256) {
    const live = await ledger.getLive(input.key)
    if (live?.sha256 === input.sha256) return toRecord(live)
  }
  return undefined
}
