// Streams a stored file to the client with the headers browsers and download managers expect:
// ETag, Last-Modified, Accept-Ranges, Content-Disposition, and Range / If-None-Match / If-Range.
import { create as contentDisposition } from 'content-disposition'
import parseRange from 'range-parser'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ByteRange } from '../drivers/types.js'
import type { FileRecord } from '../ledger/types.js'
import type { Storage } from '../storage.js'
import { BadRequestError, RangeNotSatisfiableError } from '../errors.js'
import { servedAs, type Disposition } from '../inline-policy.js'

export type { Disposition }

export function dispositionHeader(filename: string, type: Disposition): string {
  return contentDisposition(filename, { type })
}

/**
 * A presigned GET straight to the store (or its CDN) that answers with the same filename and type
 * the proxy would send. The key must already be checked as live: the URL does not ask the ledger.
 */
export async function directDownloadUrl(
  storage: Storage,
  record: FileRecord,
  options: { disposition: Disposition; expiresIn: number },
): Promise<string> {
  if (!storage.store.presignGet) throw new BadRequestError('this store cannot sign URLs itself; use mode "proxy"')
  const filename = record.key.slice(record.key.lastIndexOf('/') + 1)
  return storage.store.presignGet({
    key: record.key,
    expiresIn: options.expiresIn,
    // The store's origin gets the same rule: active content is a download, never a page.
    contentDisposition: dispositionHeader(filename, servedAs(record.contentType, options.disposition).disposition),
    contentType: record.contentType,
  })
}

function stripWeak(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag
}

/** RFC 9110 weak comparison, as If-None-Match requires. */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header || !etag) return false
  if (header.trim() === '*') return true
  return header.split(',').some((tag) => stripWeak(tag.trim()) === stripWeak(etag))
}

/** The single range to serve, undefined for the whole file; multi-range requests get the whole file. */
function requestedRange(request: FastifyRequest, record: FileRecord): ByteRange | undefined {
  const header = request.headers.range
  if (!header) return undefined
  const ifRange = request.headers['if-range'] as string | undefined
  if (ifRange && stripWeak(ifRange) !== record.etag) return undefined
  const ranges = parseRange(record.size, header, { combine: true })
  if (ranges === -1) throw new RangeNotSatisfiableError()
  if (ranges === -2 || ranges.type !== 'bytes' || ranges.length !== 1) return undefined
  return ranges[0]
}

export interface SendFileOptions {
  disposition: Disposition
  /** Headers only (HEAD). */
  headOnly?: boolean
  /**
   * Told how many body bytes are about to be sent, before the send: the audit hook writes the
   * request's event as the response goes out, so it must already know them.
   */
  beforeSend?: (bytes: number) => void
}

/** Sends the file and returns how many body bytes it is sending (for the audit event). */
export async function sendFile(
  storage: Storage,
  request: FastifyRequest,
  reply: FastifyReply,
  record: FileRecord,
  options: SendFileOptions,
): Promise<number> {
  // Decide on 304 and 416 before setting content headers, so an error body keeps its own type.
  const notModified = etagMatches(request.headers['if-none-match'], record.etag)
  let range: ByteRange | undefined
  if (!notModified) {
    try {
      range = requestedRange(request, record)
    } catch (err) {
      reply.header('content-range', `bytes */${record.size}`)
      throw err
    }
  }
  const filename = record.key.slice(record.key.lastIndexOf('/') + 1)
  reply.header('etag', record.etag)
  reply.header('last-modified', new Date(record.createdAt).toUTCString())
  reply.header('accept-ranges', 'bytes')
  reply.header('cache-control', 'private, no-cache')
  if (notModified) {
    options.beforeSend?.(0)
    reply.code(304).send()
    return 0
  }
  reply.header('content-type', record.contentType)
  const served = servedAs(record.contentType, options.disposition)
  reply.header('content-disposition', dispositionHeader(filename, served.disposition))
  if (served.contentSecurityPolicy) reply.header('content-security-policy', served.contentSecurityPolicy)
  reply.header('x-content-type-options', 'nosniff')
  const length = range ? range.end - range.start + 1 : record.size
  reply.header('content-length', length)
  if (range) {
    reply.code(206)
    reply.header('content-range', `bytes ${range.start}-${range.end}/${record.size}`)
  }
  if (options.headOnly) {
    options.beforeSend?.(0)
    reply.send()
    return 0
  }
  // An empty file has no byte to range over; S3 answers 416 to bytes=0--1, so skip the store.
  if (record.size === 0) {
    options.beforeSend?.(0)
    reply.send('')
    return 0
  }
  const object = await storage.store.get(record.key, range)
  options.beforeSend?.(length)
  reply.send(object.body)
  return length
}
