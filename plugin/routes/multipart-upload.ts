// A multipart POST is all or nothing. Each file part streams to the store as it arrives (never
// buffered), but none is recorded until every part has arrived: a bad part, a duplicate name,
// one file too many, a malformed body or a store failure part-way undoes the files already
// streamed (and brings back any file an overwrite displaced). Each file keeps its audit event.
import type { FastifyRequest } from 'fastify'
import type { MultipartFile } from '@fastify/multipart'
import type { Access } from '../access.js'
import type { FileRecord } from '../ledger/types.js'
import type { StagedUpload, Storage } from '../storage.js'
import { DuplicateFileError, MalformedMultipartError, NoFileError, TooManyPartsError } from '../errors.js'
import { buildKey, datedFilename, uploadFilename, type KeyParts } from '../keys.js'
import { earlierUpload } from '../uploads/retry.js'

/** busboy's limits on one request; the size of each file is the upload meter's business. */
export const MULTIPART_LIMITS = { files: 100, fields: 20, parts: 1000, fieldSize: 64 * 1024 } as const

const LIMIT_CODES = new Set(['FST_FILES_LIMIT', 'FST_FIELDS_LIMIT', 'FST_PARTS_LIMIT'])

export interface PartsUpload {
  /** Validated: org, system, object type and id. */
  folder: Omit<KeyParts, 'filename'>
  actor: string
  overwrite: boolean
  signal: AbortSignal
  /** The request's Idempotency-Key: each file is remembered under it and its place in the form. */
  idempotencyKey?: string
}

/** The form's files in order, and how many of them this request stored (the rest a retry found). */
export interface StoredParts {
  files: FileRecord[]
  stored: number
}

const PARSER_REASONS: Array<[RegExp, string]> = [
  [/^Unexpected end of multipart data/, 'it ends before its closing boundary'],
  [/terminated early/, 'a part ends before its boundary'],
  [/Boundary not found|Boundary required/, 'the Content-Type names no boundary'],
  [/needle/, 'the boundary is longer than 70 characters'],
  [/Malformed part header/, 'a part header is malformed'],
]

/**
 * busboy (the parser) throws plain errors without a code for bytes that are not multipart:
 * those are the client's fault. Coded errors (ours, @fastify/multipart's limits) pass unchanged.
 */
function asClientError(err: unknown): unknown {
  const code = (err as { code?: unknown })?.code
  if (typeof code === 'string' && LIMIT_CODES.has(code)) {
    return new TooManyPartsError(MULTIPART_LIMITS.files, MULTIPART_LIMITS.fields, { cause: err })
  }
  if (!(err instanceof Error) || code !== undefined) return err
  const reason = PARSER_REASONS.find(([pattern]) => pattern.test(err.message))?.[1] ?? 'it cannot be parsed'
  return new MalformedMultipartError(reason, { cause: err })
}

/** The request's file parts, with parser failures turned into 400s. */
async function* fileParts(request: FastifyRequest): AsyncGenerator<MultipartFile> {
  const parts = request.files()
  for (;;) {
    let next: IteratorResult<MultipartFile>
    try {
      next = await parts.next()
    } catch (err) {
      throw asClientError(err)
    }
    if (next.done) return
    yield next.value
  }
}

/**
 * Streams and records every file part of the request, or none of them. A retried form (same
 * Idempotency-Key) gets the files its first attempt stored back instead of storing them again.
 */
export async function storeParts(
  request: FastifyRequest,
  { storage, access }: { storage: Storage; access: Access },
  upload: PartsUpload,
): Promise<StoredParts> {
  const { folder } = upload
  const folderKey = `${folder.orgId}/${folder.system}/${folder.objectType}/${folder.objectId}/`
  const staged: StagedUpload[] = []
  // Each place in the form holds a file found by a retry or one staged now.
  const places: Array<FileRecord | StagedUpload> = []
  const keys = new Set<string>()
  try {
    for await (const part of fileParts(request)) {
      let key: string | undefined
      try {
        const filename = uploadFilename(part.filename)
        const named = storage.options.datePrefix ? datedFilename(filename, new Date()) : filename
        key = buildKey({ ...folder, filename: named }, storage.options)
        if (keys.has(key)) throw new DuplicateFileError()
        keys.add(key)
        const fileKey = upload.idempotencyKey ? `${upload.idempotencyKey}#${places.length}` : undefined
        const earlier = fileKey ? await earlierUpload(storage.ledger, { key, actor: upload.actor, idempotencyKey: fileKey }) : undefined
        if (earlier) {
          part.file.resume()
          access.addEvent(request, { key, bytes: earlier.size, sha256: earlier.sha256, status: 200 })
          places.push(earlier)
          continue
        }
        const file = await storage.stage({
          key,
          body: part.file,
          contentType: part.mimetype || 'application/octet-stream',
          actor: upload.actor,
          overwrite: upload.overwrite,
          signal: upload.signal,
          idempotencyKey: fileKey,
        })
        staged.push(file)
        places.push(file)
        // No status: the event takes the request's, so a file undone by a later failure says so.
        access.addEvent(request, { key, bytes: file.size, sha256: file.sha256 })
      } catch (err) {
        access.addEvent(request, { key: key ?? folderKey })
        part.file.resume()
        // A part cut short by the parser fails the store with a stream error: name the real cause.
        const streamError = (part.file as { errored?: Error | null }).errored
        throw streamError && (streamError as { code?: unknown }).code === undefined ? asClientError(streamError) : err
      }
    }
    if (places.length === 0) throw new NoFileError()
  } catch (err) {
    for (const file of staged.reverse()) await storage.discardStaged(file, err)
    throw err
  }
  const committed = await storage.commitAll(staged, upload.actor)
  const files = places.map((place) => ('reservationId' in place ? committed[staged.indexOf(place)]! : place))
  return { files, stored: staged.length }
}
