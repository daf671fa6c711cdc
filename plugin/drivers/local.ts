// The local-disk driver: the sidecar's embedded default when no Spaces is configured.
//   {root}/objects/{key}      the bytes
//   {root}/meta/{key}         JSON: contentType, etag, tags, size, lastModified
//   {root}/incoming/{id}      an upload in progress, with {id}.json naming its key (the manifest)
// A put is written to incoming/, fsynced, then renamed into place, so readers never see half a file.
import { createHash, randomUUID } from 'node:crypto'
import { constants } from 'node:fs'
import { access, copyFile, mkdir, open, readdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { InvalidKeyError, NotFoundError, RangeNotSatisfiableError, StorageUnavailableError } from '../errors.js'
import type { ByteRange, GetResult, IncompleteUpload, ListPage, ObjectInfo, ObjectStore, PutInput } from './types.js'

export interface LocalDiskStoreOptions {
  /** The directory that holds everything; created on first use. */
  root: string
}

interface Meta {
  contentType: string
  etag: string
  tags: Record<string, string>
  size: number
  lastModified: string
}

interface Manifest {
  key: string
  initiated: string
}

const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

function isCode(err: unknown, ...codes: string[]): boolean {
  return codes.includes((err as NodeJS.ErrnoException | undefined)?.code ?? '')
}

/** S3 orders keys by their UTF-8 bytes; JS string comparison orders UTF-16 units. */
function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

export class LocalDiskStore implements ObjectStore {
  readonly kind = 'local' as const
  readonly root: string
  private readonly objects: string
  private readonly meta: string
  private readonly incoming: string
  private ready: Promise<void> | undefined

  constructor(options: LocalDiskStoreOptions) {
    this.root = resolve(options.root)
    this.objects = join(this.root, 'objects')
    this.meta = join(this.root, 'meta')
    this.incoming = join(this.root, 'incoming')
  }

  private ensureDirs(): Promise<void> {
    this.ready ??= Promise.all([this.objects, this.meta, this.incoming].map((dir) => mkdir(dir, { recursive: true })))
      .then(() => undefined)
      .catch((err: unknown) => {
        this.ready = undefined
        throw err
      })
    return this.ready
  }

  /** The file for a key under one tree. Keys arrive validated; this still refuses any path trick. */
  private pathFor(base: string, key: string): string {
    const segments = key.split('/')
    if (key.includes('\0') || key.includes('\\') || segments.some((s) => s === '' || s === '.' || s === '..')) {
      throw new InvalidKeyError('the key does not map to a file under the storage root')
    }
    const full = resolve(base, key)
    if (!full.startsWith(base + sep)) throw new InvalidKeyError('the key does not map to a file under the storage root')
    return full
  }

  private async readMeta(key: string): Promise<Meta | undefined> {
    try {
      return JSON.parse(await readFile(this.pathFor(this.meta, key), 'utf8')) as Meta
    } catch (err) {
      if (isCode(err, 'ENOENT', 'ENOTDIR')) return undefined
      throw err
    }
  }

  /** Writes a file beside the others in incoming/ and renames it over `target`, making parents. */
  private async place(source: string, target: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      await mkdir(dirname(target), { recursive: true })
      try {
        return await rename(source, target)
      } catch (err) {
        // A concurrent delete may prune the fresh parent between mkdir and rename: once more.
        if (!isCode(err, 'ENOENT') || attempt > 2) throw err
      }
    }
  }

  private async writeMeta(key: string, meta: Meta): Promise<void> {
    const tmp = join(this.incoming, `${randomUUID()}.meta`)
    await writeFile(tmp, JSON.stringify(meta))
    await this.place(tmp, this.pathFor(this.meta, key))
  }

  private info(key: string, meta: Meta | undefined, size: number, mtime: Date): ObjectInfo {
    return {
      key,
      size,
      etag: meta?.etag ?? '',
      contentType: meta?.contentType ?? 'application/octet-stream',
      lastModified: meta ? new Date(meta.lastModified) : mtime,
    }
  }

  async put({ key, body, contentType, signal }: PutInput): Promise<{ etag: string }> {
    const target = this.pathFor(this.objects, key)
    await this.ensureDirs()
    const uploadId = randomUUID()
    const tmp = join(this.incoming, uploadId)
    const manifest: Manifest = { key, initiated: new Date().toISOString() }
    await writeFile(`${tmp}.json`, JSON.stringify(manifest))
    const onAbort = () => body.destroy(Object.assign(new Error('upload aborted'), { name: 'AbortError' }))
    if (signal?.aborted) onAbort()
    signal?.addEventListener('abort', onAbort, { once: true })
    const hash = createHash('md5')
    let size = 0
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk)
        size += chunk.length
        callback(null, chunk)
      },
    })
    const file = await open(tmp, 'wx').catch(async (err: unknown) => {
      signal?.removeEventListener('abort', onAbort)
      await rm(`${tmp}.json`, { force: true })
      throw err
    })
    try {
      await pipeline(body, meter, file.createWriteStream({ autoClose: false }))
      await file.sync()
      await file.close()
      const etag = `"${hash.digest('hex')}"`
      await this.place(tmp, target)
      await this.writeMeta(key, { contentType, etag, tags: {}, size, lastModified: new Date().toISOString() })
      return { etag }
    } catch (err) {
      await file.close().catch(() => {})
      await rm(tmp, { force: true })
      // A failure of the stream itself (limit, client gone) carries its own error: keep it.
      throw (body as { errored?: Error | null }).errored ?? err
    } finally {
      signal?.removeEventListener('abort', onAbort)
      await rm(`${tmp}.json`, { force: true })
    }
  }

  async get(key: string, range?: ByteRange): Promise<GetResult> {
    const path = this.pathFor(this.objects, key)
    // Open first and stat the descriptor: a concurrent overwrite swaps the name, not these bytes.
    const file = await open(path, 'r').catch((err: unknown) => {
      throw isCode(err, 'ENOENT', 'ENOTDIR', 'EISDIR') ? new NotFoundError('the object is not on disk', { cause: err }) : err
    })
    try {
      const { size, mtime } = await file.stat()
      if (range && (range.start < 0 || range.start > range.end || range.start >= size)) {
        throw new RangeNotSatisfiableError()
      }
      const served = range ? { start: range.start, end: Math.min(range.end, size - 1) } : undefined
      const meta = await this.readMeta(key)
      const body = file.createReadStream({ start: served?.start, end: served?.end })
      return { ...this.info(key, meta, size, mtime), body, range: served }
    } catch (err) {
      await file.close()
      throw err
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const path = this.pathFor(this.objects, key)
    try {
      const stats = await stat(path)
      if (!stats.isFile()) return undefined
      return this.info(key, await this.readMeta(key), stats.size, stats.mtime)
    } catch (err) {
      if (isCode(err, 'ENOENT', 'ENOTDIR')) return undefined
      throw err
    }
  }

  async delete(key: string): Promise<void> {
    const object = this.pathFor(this.objects, key)
    const meta = this.pathFor(this.meta, key)
    await rm(object, { force: true })
    await rm(meta, { force: true })
    await Promise.all([this.prune(dirname(object), this.objects), this.prune(dirname(meta), this.meta)])
  }

  /** Removes now-empty parent directories, best effort, stopping at the tree's base. */
  private async prune(dir: string, base: string): Promise<void> {
    for (let current = dir; current.startsWith(base + sep); current = dirname(current)) {
      try {
        await rmdir(current)
      } catch {
        return
      }
    }
  }

  async copy(fromKey: string, toKey: string): Promise<void> {
    const source = this.pathFor(this.objects, fromKey)
    const target = this.pathFor(this.objects, toKey)
    const meta = await this.readMeta(fromKey)
    await this.ensureDirs()
    const tmp = join(this.incoming, `${randomUUID()}.copy`)
    try {
      await copyFile(source, tmp)
      await this.place(tmp, target)
    } catch (err) {
      await rm(tmp, { force: true })
      throw isCode(err, 'ENOENT', 'ENOTDIR') ? new NotFoundError('the object is not on disk', { cause: err }) : err
    }
    const { size } = await stat(target)
    const copied: Meta = meta ?? { contentType: 'application/octet-stream', etag: '', tags: {}, size, lastModified: '' }
    await this.writeMeta(toKey, { ...copied, size, lastModified: new Date().toISOString() })
  }

  async setTags(key: string, tags: Record<string, string>): Promise<void> {
    const meta = await this.readMeta(key)
    if (!meta || !(await this.head(key))) throw new NotFoundError('the object is not on disk')
    await this.writeMeta(key, { ...meta, tags: { ...tags } })
  }

  async getTags(key: string): Promise<Record<string, string>> {
    const meta = await this.readMeta(key)
    if (!meta || !(await this.head(key))) throw new NotFoundError('the object is not on disk')
    return meta.tags
  }

  async list(prefix: string, options: { cursor?: string; limit?: number } = {}): Promise<ListPage> {
    const limit = options.limit ?? 1000
    const cursor = options.cursor
    const slash = prefix.lastIndexOf('/')
    const start = slash < 0 ? this.objects : this.pathFor(this.objects, prefix.slice(0, slash))
    const keys = (await this.walk(start))
      .filter((key) => key.startsWith(prefix) && (cursor === undefined || compareKeys(key, cursor) > 0))
      .sort(compareKeys)
    const page = keys.slice(0, limit)
    const items: ObjectInfo[] = []
    for (const key of page) {
      const info = await this.head(key)
      if (info) items.push(info)
    }
    return { items, nextCursor: keys.length > limit ? page.at(-1) : undefined }
  }

  /** Every key under a directory of the objects tree. */
  private async walk(dir: string): Promise<string[]> {
    let entries
    try {
      entries = await readdir(dir, { withFileTypes: true })
    } catch (err) {
      if (isCode(err, 'ENOENT', 'ENOTDIR')) return []
      throw err
    }
    const keys: string[] = []
    for (const entry of entries) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) keys.push(...(await this.walk(path)))
      else if (entry.isFile()) keys.push(relative(this.objects, path).split(sep).join('/'))
    }
    return keys
  }

  async listIncompleteUploads(prefix = ''): Promise<IncompleteUpload[]> {
    await this.ensureDirs()
    const uploads: IncompleteUpload[] = []
    for (const name of await readdir(this.incoming)) {
      const uploadId = name.slice(0, -'.json'.length)
      if (!name.endsWith('.json') || !UPLOAD_ID.test(uploadId)) continue
      try {
        const manifest = JSON.parse(await readFile(join(this.incoming, name), 'utf8')) as Manifest
        if (manifest.key.startsWith(prefix)) {
          uploads.push({ key: manifest.key, uploadId, initiated: new Date(manifest.initiated) })
        }
      } catch (err) {
        if (!isCode(err, 'ENOENT')) throw err // finished while we listed
      }
    }
    return uploads.sort((a, b) => compareKeys(a.key, b.key))
  }

  async abortIncompleteUpload(upload: IncompleteUpload): Promise<void> {
    if (!UPLOAD_ID.test(upload.uploadId)) throw new InvalidKeyError('unknown upload id')
    const tmp = join(this.incoming, upload.uploadId)
    await rm(tmp, { force: true })
    await rm(`${tmp}.json`, { force: true })
  }

  async ping(): Promise<void> {
    try {
      await this.ensureDirs()
      await access(this.incoming, constants.W_OK)
      const probe = join(this.incoming, `${randomUUID()}.ping`)
      await writeFile(probe, '')
      await rm(probe)
    } catch (err) {
      throw new StorageUnavailableError(`local disk: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err })
    }
  }

  async close(): Promise<void> {}
}
