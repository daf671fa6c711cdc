// Resumable uploads (the engine under tus), kept entirely in the store and the ledger so any
// instance can carry on where another stopped, even after a crash:
// - the bytes go straight into an S3 multipart upload at the file's key, one part per part-size
//   run of bytes: a request's last part streams from the request to the store; a long PATCH reads
//   the parts before it into reused part buffers, to keep several uploading (32 MiB of them,
//   while the next one is read); never into temp files;
// - bytes past the last full part (shorter than S3's 5 MiB minimum) wait in a tail object under
//   the staging prefix, and are streamed into the front of the next part;
// - the ledger row holds the offset, the parts and the tail's length, and moves forward only by
//   compare-and-set on the offset, under a lease, so two instances never both append;
// - the SHA-256 runs in the memory of the instance that receives the bytes (node's crypto, about
//   1.2 GB/s with SHA-NI). When another instance, or a restart, carries on, the chain is broken and
//   the digest comes from reading the assembled file back once, at completion. A hash whose state
//   could travel in the ledger (hash-wasm's save()/load()) measured 9x slower here, and on every
//   byte of every upload: scripts/bench-tus.ts prints both.
import { createHash, randomUUID, type Hash } from 'node:crypto'
import { Readable } from 'node:stream'
import type { FileRecord, ObjectRow } from '../ledger/types.js'
import type { KeyParts } from '../keys.js'
import type { MultipartOperations } from '../drivers/types.js'
import type { Storage } from '../storage.js'
import {
  BadRequestError,
  ChecksumMismatchError,
  NotFoundError,
  OffsetMismatchError,
  PayloadTooLargeError,
  UploadExpiredError,
  UploadLockedError,
} from '../errors.js'
import { PartBuffers } from '../drivers/part-buffers.js'
import { ByteSlicer } from './byte-slicer.js'
import { MAX_PARTS, MIN_PART_BYTES } from './multipart.js'
import { stagingDirFor, tailKeyFor } from './staging.js'
import { multipartOf, reserveWithMultipart } from './store-upload.js'

const MIB = 1024 * 1024
/** Part size when the client's first chunk says nothing useful (too small, or the whole file). */
const DEFAULT_PART_BYTES = 8 * MIB
/** A client chunk up to this size becomes the part size, so its chunks map one to one onto parts. */
const MAX_ADOPTED_PART_BYTES = 64 * MIB
/** An append holds its upload's lease this long, renewed while it streams. */
const LEASE_MS = 10_000
/** Parts one append uploads at once, and the bytes they may hold in memory between them. */
const PARTS_IN_FLIGHT = 4
const IN_FLIGHT_BYTES = 32 * MIB
/** Running hashes kept for uploads in progress here; the oldest are dropped past this (they read back). */
const MAX_RUNNING_HASHES = 10_000

/** What a resumable upload carries from one request (and instance) to the next: the row's `progress`. */
export interface ResumableProgress {
  v: 1
  /** Fixed by the first append; 0 before it. */
  partSize: number
  parts: Array<{ partNumber: number; etag: string }>
  /** Bytes waiting in the tail object. */
  tail: number
  /** Set once bytes arrived at an instance that had not hashed the ones before: read back at completion. */
  rehash?: boolean
  /** Set once every byte is in, while the upload is assembled and recorded (sha256 null: read it back). */
  finishing?: { sha256: string | null }
}

export interface ResumableStart {
  parts: KeyParts & { key: string }
  contentType: string
  length: number
  actor: string
}

export interface AppendInput {
  id: string
  actor: string
  /** Where the client says its bytes start. */
  offset: number
  body: Readable
  /** The body's length (Content-Length). */
  length: number
  /** A checksum of this body (tus checksum extension): nothing is kept unless it matches. */
  checksum?: { algorithm: ChecksumAlgorithm; digest: Buffer }
  signal?: AbortSignal
}

export const CHECKSUM_ALGORITHMS = ['sha1', 'sha256', 'md5'] as const
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number]

export interface AppendResult {
  offset: number
  /** Present when this append completed the upload. */
  record?: FileRecord
}

function parseProgress(row: ObjectRow): ResumableProgress {
  return row.progress ? (JSON.parse(row.progress) as ResumableProgress) : { v: 1, partSize: 0, parts: [], tail: 0 }
}

/**
 * The client's chunk size when it makes a sensible part size, else the default; enough for 10,000
 * parts. A first PATCH carrying the whole file says nothing of chunks: it gets default parts, a few
 * in flight, and a cut keeps those done.
 */
export function choosePartSize(firstChunk: number, length: number): number {
  const chunked = firstChunk < length
  const adopted = chunked && firstChunk >= MIN_PART_BYTES && firstChunk <= MAX_ADOPTED_PART_BYTES ? firstChunk : DEFAULT_PART_BYTES
  return Math.max(adopted, Math.ceil(length / MAX_PARTS))
}

/**
 * Reads a part whole, so the next part can be read while this one uploads: copies the waiting
 * tail (`tailBytes` long), then `fromBody` bytes of the request, into `buffer` (at least that
 * long) and returns the filled view.
 */
async function readPart(buffer: Buffer, tail: AsyncIterable<Buffer> | undefined, tailBytes: number, slicer: ByteSlicer, fromBody: number): Promise<Buffer> {
  let filled = 0
  if (tail) for await (const chunk of tail) filled += chunk.copy(buffer, filled)
  if (filled !== tailBytes) throw new Error(`a tail of ${tailBytes} bytes read ${filled}`)
  await slicer.copyInto(buffer, filled, fromBody)
  return buffer.subarray(0, tailBytes + fromBody)
}

/**
 * The waiting tail (if any), then the request's bytes, as one stream. Without a tail the body's
 * own stream goes as it is: wrapped, each chunk cost another async step (about 0.2 s per GiB).
 */
function afterTail(tail: AsyncIterable<Buffer> | undefined, body: Readable): Readable {
  if (!tail) return body
  return Readable.from(
    (async function* () {
      yield* tail
      yield* body
    })(),
    { objectMode: false },
  )
}

export class ResumableUploads {
  /** Names this process's lease holders. */
  private readonly instance = randomUUID()
  /** The SHA-256 of each upload's bytes received here, as of its last recorded offset. */
  private readonly hashes = new Map<string, { offset: number; hash: Hash }>()
  /**
   * Buffers for parts read whole, reused from one part to the next (as the PUT path's are): the
   * socket's 64 KiB chunks are copied in and dropped at once, and each part goes to the store as
   * one buffer rather than as 128 small writes.
   */
  private readonly partBuffers = new PartBuffers(DEFAULT_PART_BYTES, PARTS_IN_FLIGHT + 1)

  constructor(private readonly storage: Storage) {}

  private operations(): MultipartOperations {
    return multipartOf(this.storage, 'resumable uploads need one; use PUT /files')
  }

  /**
   * Reserves the key and starts the store's multipart upload. The same user starting over (a new
   * POST for a key their own unfinished upload holds, say after losing its URL) replaces that
   * upload, unless a request is appending to it right now.
   */
  async create(input: ResumableStart): Promise<ObjectRow> {
    const operations = this.operations()
    this.storage.checkUpload({ size: input.length, contentType: input.contentType })
    const earlier = await this.storage.ledger.getPending(input.parts.key)
    if (earlier?.kind === 'tus' && earlier.createdBy === input.actor) await this.terminate(earlier.id, input.actor)
    const progress: ResumableProgress = { v: 1, partSize: 0, parts: [], tail: 0 }
    const id = await reserveWithMultipart(this.storage, operations, {
      key: input.parts.key,
      parts: input.parts,
      contentType: input.contentType,
      actor: input.actor,
      overwrite: false,
      kind: 'tus',
      expectedSize: input.length,
      expiresAt: this.storage.uploadExpiry(),
      uploadOffset: 0,
      progress: JSON.stringify(progress),
    }, (id) => ({ stagingKey: stagingDirFor(id) }))
    return (await this.storage.ledger.getById(id))!
  }

  /**
   * The upload a client names, if it is this actor's. A finished one reads as live; one that
   * expired or was terminated is gone (410), one never made is 404.
   */
  async find(id: string, actor: string): Promise<ObjectRow> {
    const row = await this.storage.ledger.getById(id)
    if (!row || row.kind !== 'tus' || row.createdBy !== actor) throw new NotFoundError('no such upload')
    if (row.state === 'failed') throw new UploadExpiredError()
    if (row.state !== 'pending' && row.state !== 'live') throw new NotFoundError('no such upload')
    if (row.state === 'pending' && parseProgress(row).finishing) {
      // A request holding the upload is finishing it right now: two finishes would race on the
      // store's completion and the ledger's commit. Retry in a moment (423) and get the file.
      if (await this.storage.ledger.leaseHolder(`upload:${row.id}`)) throw new UploadLockedError()
      return this.finishInterrupted(row)
    }
    return row
  }

  /** Bytes received so far: the whole length once recorded. */
  offsetOf(row: ObjectRow): number {
    return row.state === 'live' ? row.size : Math.max(0, row.uploadOffset ?? 0)
  }

  /** Appends a request's bytes at `offset`; completes the upload when they are the last. */
  async append(input: AppendInput): Promise<AppendResult> {
    const row = await this.find(input.id, input.actor)
    if (row.state === 'live') {
      if (input.length === 0 && input.offset === row.size) return { offset: row.size, record: undefined }
      throw new OffsetMismatchError(row.size)
    }
    if (row.uploadOffset !== input.offset) throw new OffsetMismatchError(row.uploadOffset ?? 0)
    const total = row.expectedSize ?? 0
    if (input.offset + input.length > total) throw new PayloadTooLargeError(total)
    const lease = `upload:${row.id}`
    const holder = `${this.instance}:${randomUUID()}`
    const { ledger } = this.storage
    if (!(await ledger.acquireLease(lease, holder, LEASE_MS))) throw new UploadLockedError()
    const renew = setInterval(() => void ledger.acquireLease(lease, holder, LEASE_MS).catch(() => {}), LEASE_MS / 4)
    renew.unref()
    try {
      // Re-read under the lease: another instance may have moved on between find() and here.
      const current = await this.find(input.id, input.actor)
      if (current.state !== 'pending' || current.uploadOffset !== input.offset) {
        throw new OffsetMismatchError(this.offsetOf(current))
      }
      return await this.appendLocked(current, input)
    } finally {
      clearInterval(renew)
      await ledger.releaseLease(lease, holder).catch(() => {})
    }
  }

  private async appendLocked(row: ObjectRow, input: AppendInput): Promise<AppendResult> {
    const operations = this.operations()
    const { ledger } = this.storage
    const total = row.expectedSize ?? 0
    const progress = parseProgress(row)
    if (progress.partSize === 0) progress.partSize = choosePartSize(input.length, total)
    const hash = this.runningHash(row.id, input.offset, progress)
    const check: Hash | undefined = input.checksum ? createHash(input.checksum.algorithm) : undefined
    const slicer = new ByteSlicer(input.body, (chunk) => {
      hash?.update(chunk)
      check?.update(chunk)
    })
    // With a checksum, nothing may be kept until the whole body is known to match.
    const deferred = check !== undefined
    let committed = input.offset
    /** Where the parts uploaded so far end (the tail, when one is written, ends at `sent`). */
    let offset = input.offset
    /** Where the bytes handed to parts or to the tail end. */
    let sent = input.offset
    /** Records the offset; `covered` is the hash of exactly the bytes before it, kept for the next append. */
    const persist = async (covered: Hash | undefined) => {
      const moved = await ledger.updateUpload(row.id, {
        expectedOffset: committed,
        uploadOffset: offset,
        progress: JSON.stringify(progress),
        expiresAt: this.storage.uploadExpiry(),
      })
      if (!moved) throw new OffsetMismatchError(committed)
      committed = offset
      if (covered) this.keepHash(row.id, offset, covered)
    }
    // The tail starts where the parts end; reading it names it, so it is fixed before the loop moves on.
    const tail = () => (progress.tail > 0 ? this.readTail(tailKeyFor(row.id, sent - progress.tail), progress.tail) : undefined)
    const superseded = new Set<string>()

    // A client that sends a whole file (or many parts) in one PATCH gets its parts uploaded a few
    // at a time, as a direct multipart upload would: each is read into memory while the ones
    // before it upload. The offset moves only over parts that are done, in order.
    const window = Math.max(1, Math.min(PARTS_IN_FLIGHT, Math.floor(IN_FLIGHT_BYTES / progress.partSize)))
    // A part read whole keeps uploading when the client goes (its bytes are all here); `stop` ends
    // them once one part fails, after which no later part can count.
    const stop = new AbortController()
    const signal = input.signal ? AbortSignal.any([input.signal, stop.signal]) : stop.signal
    // Each part in flight carries the hash as of its end: by the time it is done, later bytes were read.
    const uploading: Array<{
      partNumber: number
      end: number
      done: Promise<{ etag: string }>
      hashAtEnd: Hash | undefined
      settled: boolean
      failed: boolean
    }> = []
    let nextPart = progress.parts.length + 1
    const settleOldest = async () => {
      const part = uploading.shift()!
      try {
        const { etag } = await part.done
        progress.parts.push({ partNumber: part.partNumber, etag })
        offset = part.end
        if (!deferred && offset < total) await persist(part.hashAtEnd)
      } catch (err) {
        stop.abort()
        throw err
      }
    }

    // The window counts parts still uploading: one slow part must not hold back the next while
    // the parts after it are done (the offset still moves only over parts done in order).
    const roomForAPart = async () => {
      for (;;) {
        while (uploading[0]?.settled) await settleOldest()
        const running = uploading.filter((part) => !part.settled)
        // A later part that failed fails the request now; settleOldest records the parts before it.
        const failed = uploading.find((part) => part.failed)
        if (failed) await failed.done
        if (running.length < window) return
        await Promise.race(running.map((part) => part.done.then(() => {}, () => {})))
      }
    }

    try {
      let remaining = input.length
      while (remaining > 0) {
        const last = sent + remaining === total
        if (progress.tail + remaining >= progress.partSize || last) {
          // One part: the waiting tail, then as much of the body as fills it (or all of it, at the end).
          const fromBody = Math.min(progress.partSize - progress.tail, remaining)
          const size = progress.tail + fromBody
          if (progress.tail > 0) superseded.add(tailKeyFor(row.id, sent - progress.tail))
          // A part streams when nothing is read after it in this request: one part at a time, or the
          // request's last part (a client's 8 MiB PATCH is one part: it goes on to the store as it
          // arrives). The hash reaches the part's end as it uploads. Any other part is read whole
          // first, while `window` parts upload (as the PUT path reads one part ahead of its queue),
          // so the client's bytes keep coming while the store takes the parts before them.
          const streamed = window === 1 || fromBody === remaining
          const pooled = !streamed && size <= this.partBuffers.partSize
          const held = streamed ? undefined : pooled ? this.partBuffers.take() : Buffer.allocUnsafeSlow(size)
          const release = () => pooled && this.partBuffers.give(held!)
          let body: Readable | Buffer
          try {
            body = held ? await readPart(held, tail(), progress.tail, slicer, fromBody) : afterTail(tail(), slicer.take(fromBody))
            await roomForAPart()
          } catch (err) {
            release()
            throw err
          }
          const done = operations.uploadPart({
            key: row.key,
            uploadId: row.uploadId!,
            partNumber: nextPart,
            body,
            contentLength: size,
            signal: streamed ? signal : stop.signal,
          })
          const part = { partNumber: nextPart++, end: sent + fromBody, done, hashAtEnd: streamed ? hash : hash?.copy(), settled: false, failed: false }
          // Awaited in order by settleOldest; a failure must not go unhandled meanwhile.
          done.then(
            () => (part.settled = true),
            () => (part.settled = part.failed = true),
          ).finally(release)
          uploading.push(part)
          progress.tail = 0
          sent += fromBody
          remaining -= fromBody
        } else {
          while (uploading.length > 0) await settleOldest()
          // Too short for a part: old tail plus the rest becomes the new tail, outside the live layout.
          const size = progress.tail + remaining
          const start = sent - progress.tail
          if (progress.tail > 0) superseded.add(tailKeyFor(row.id, start))
          await operations.putSized({
            key: tailKeyFor(row.id, start),
            body: afterTail(tail(), slicer.take(remaining)),
            contentLength: size,
            contentType: 'application/octet-stream',
            signal,
          })
          progress.tail = size
          sent += remaining
          offset = sent
          remaining = 0
          if (!deferred && offset < total) await persist(hash)
        }
      }
      while (uploading.length > 0) await settleOldest()
    } catch (err) {
      // The body failed (say the client went): the parts read before it still count, so the client
      // resumes after them. Without a checksum to wait for, they are recorded as they finish.
      if (!deferred && !stop.signal.aborted) await (async () => {
        while (uploading.length > 0) await settleOldest()
      })().catch(() => {})
      stop.abort()
      await Promise.allSettled(uploading.map((part) => part.done))
      throw err
    }
    if (check && !check.digest().equals(input.checksum!.digest)) throw new ChecksumMismatchError()
    if (offset < total) {
      if (offset !== committed) await persist(hash)
      await this.removeTails(superseded, progress.tail > 0 ? tailKeyFor(row.id, offset - progress.tail) : undefined)
      return { offset }
    }
    // Every byte is in: record the digest first, so an interrupted finish can be taken up again.
    progress.finishing = { sha256: hash ? hash.digest('hex') : null }
    await persist(undefined)
    const record = await this.finish(row.id)
    await this.removeStaged(row.id)
    return { offset, record }
  }

  /**
   * The hash to carry on with: a fresh one at offset 0, this instance's own when it received every
   * byte before `offset`, else none (the chain is broken: the digest is read back at completion).
   */
  private runningHash(id: string, offset: number, progress: ResumableProgress): Hash | undefined {
    if (progress.rehash) return undefined
    if (offset === 0) return createHash('sha256')
    const kept = this.hashes.get(id)
    if (kept?.offset === offset) return kept.hash.copy()
    progress.rehash = true
    return undefined
  }

  /** A copy as of a recorded offset: bytes of a later, failed append must not count. */
  private keepHash(id: string, offset: number, hash: Hash): void {
    this.hashes.delete(id)
    this.hashes.set(id, { offset, hash: hash.copy() })
    if (this.hashes.size > MAX_RUNNING_HASHES) this.hashes.delete(this.hashes.keys().next().value!)
  }

  /** Only the bytes the ledger counts: a tail written by an append that then lost its race may be longer. */
  private async *readTail(key: string, length: number): AsyncIterable<Buffer> {
    const got = await this.storage.store.get(key, { start: 0, end: length - 1 })
    yield* got.body
  }

  /** Tails the ledger no longer counts on, once it has recorded that (best effort: the sweep gets the rest). */
  private async removeTails(superseded: Set<string>, current: string | undefined): Promise<void> {
    for (const key of superseded) if (key !== current) await this.storage.store.delete(key).catch(() => {})
  }

  /** Everything the upload staged. */
  private async removeStaged(id: string): Promise<void> {
    const { items } = await this.storage.store.list(stagingDirFor(id))
    for (const item of items) await this.storage.store.delete(item.key)
  }

  /** Assembles the parts at the key, tags it and records it. Safe to run again after an interruption. */
  private async finish(id: string): Promise<FileRecord> {
    const { ledger, store } = this.storage
    const row = (await ledger.getById(id))!
    if (row.state === 'live') return row
    this.hashes.delete(id)
    const progress = parseProgress(row)
    const total = row.expectedSize ?? 0
    if (total === 0) {
      await store.put({ key: row.key, body: Readable.from([]), contentType: row.contentType })
      await this.abortParts(row)
    } else {
      await this.operations()
        .complete({ key: row.key, uploadId: row.uploadId!, parts: progress.parts })
        .catch(async (err) => {
          // Completed by an earlier attempt that was cut off before recording it.
          if (!(err instanceof NotFoundError) || (await store.head(row.key))?.size !== total) throw err
        })
    }
    const info = await store.head(row.key)
    if (!info || info.size !== total) throw new BadRequestError(`the assembled upload holds ${info?.size ?? 0} of ${total} bytes`)
    const sha256 = progress.finishing!.sha256 ?? (await this.storage.hashStored(row.key))
    await store.setTags(row.key, { sha256 })
    try {
      return await ledger.commit(row.id, { size: total, sha256, etag: info.etag })
    } catch (err) {
      // Recorded meanwhile (a finish that lost its answer, or one that ran alongside): that is the file.
      const now = await ledger.getById(row.id).catch(() => undefined)
      if (now?.state === 'live') return now
      throw err
    }
  }

  private async finishInterrupted(row: ObjectRow): Promise<ObjectRow> {
    await this.finish(row.id)
    await this.removeStaged(row.id).catch(() => {})
    return (await this.storage.ledger.getById(row.id))!
  }

  /** Termination: removes what was uploaded and releases the key. */
  async terminate(id: string, actor: string): Promise<ObjectRow> {
    const row = await this.find(id, actor)
    if (row.state !== 'pending') throw new NotFoundError('this upload has finished')
    const lease = `upload:${row.id}`
    const holder = `${this.instance}:${randomUUID()}`
    if (!(await this.storage.ledger.acquireLease(lease, holder, LEASE_MS))) throw new UploadLockedError()
    try {
      await this.discard(row, 'terminated by the client')
    } finally {
      await this.storage.ledger.releaseLease(lease, holder).catch(() => {})
    }
    return row
  }

  private async abortParts(row: ObjectRow): Promise<void> {
    if (!row.uploadId) return
    await this.storage.store.abortIncompleteUpload({ key: row.key, uploadId: row.uploadId, initiated: new Date() }).catch((err) => {
      if (!(err instanceof NotFoundError)) throw err
    })
  }

  /**
   * Aborts the store's upload and removes the staged tail, then marks the row failed. The row is
   * read once more after the fail: a request still starting this upload may have recorded its
   * store upload since `row` was read, and after the fail no one can, so that read is final.
   */
  private async discard(row: ObjectRow, reason: string): Promise<void> {
    this.hashes.delete(row.id)
    await this.abortParts(row)
    await this.removeStaged(row.id)
    await this.storage.ledger.fail(row.id, reason)
    const final = await this.storage.ledger.getById(row.id)
    if (final?.uploadId && final.uploadId !== row.uploadId) await this.abortParts(final)
  }

  /**
   * The sweep's rule for an upload past its expiry that no instance is appending to: one whose
   * bytes were all in is finished; anything else is aborted and its tail removed.
   */
  async settle(row: ObjectRow): Promise<'committed' | 'failed' | 'busy'> {
    if (await this.storage.ledger.leaseHolder(`upload:${row.id}`)) return 'busy'
    if (parseProgress(row).finishing) {
      const record = await this.finish(row.id)
      await this.storage.systemAudit('upload', row.key, { status: 201, bytes: record.size, sha256: record.sha256, actor: row.createdBy })
      return 'committed'
    }
    await this.discard(row, 'resumable upload expired')
    await this.storage.systemAudit('upload', row.key, { status: 410, errorCode: 'FST_SPACES_UPLOAD_EXPIRED', actor: row.createdBy })
    return 'failed'
  }
}
