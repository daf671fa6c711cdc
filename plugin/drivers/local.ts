// The local-disk driver: the sidecar's embedded default when no Spaces is configured.
//   {root}/objects/{key}      the bytes
//   {root}/meta/{key}         JSON: contentType, etag, tags, size, lastModified
//   {root}/incoming/{id}      an upload in progress, with {id}.json naming its key (the manifest)
// A put is written to incoming/, fsynced, then renamed into place, so readers never see half a file.
import { createHash, randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { copyFile, mkdir, open, readdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises'
import { dirname, join, relative, resolve, sep } from 'node:path'
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

const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

function isCode(err: unknown, ...codes: string[]): boolean {
  return codes.includes((err as NodeJS.ErrnoException | undefined)?.code ?? '')
}

const notOnDisk = (cause?: unknown) => new NotFoundError('the object is not on disk', { cause })

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
  private ready: Promise<unknown> | undefined

  constructor(options: LocalDiskStoreOptions) {
    this.root = resolve(options.root)
    this.objects = join(this.root, 'objects')
    this.meta = join(this.root, 'meta')
    this.incoming = join(this.root, 'incoming')
  }

  private async ensureDirs(): Promise<void> {
    this.ready ??= Promise.all([this.objects, this.meta, this.incoming].map((dir) => mkdir(dir, { recursive: true })))
    await this.ready.catch((err: unknown) => {
      this.ready = undefined // let a later call try again
      throw err
    })
  }

  /** The file for a key under one tree. Keys arrive validated; this still refuses any path trick. */
  private pathFor(base: string, key: string): string {
    const full = resolve(base, key)
    const odd = key.includes('\0') || key.includes('\\') || key.split('/').some((s) => ['', '.', '..'].includes(s))
    if (odd || !full.startsWith(base + sep)) throw new InvalidKeyError('the key does not map to a file under the root')
    return full
  }

  private async readMeta(key: string): Promise<Meta | undefined> {
    try {
      return JSON.parse(await readFile(this.pathFor(this.meta, key), 'utf8')) as Meta
    } catch (err) {
      if (isCode(err, 'ENOENT', 'ENOTDIR', 'EISDIR')) return undefined
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

  /** The metadata of an object that exists, or 404. */
  private async liveMeta(key: string): Promise<Meta> {
    const meta = await this.readMeta(key)
    if (!meta || !(await this.head(key))) throw notOnDisk()
    return meta
  }

  private info(key: string, meta: Meta | undefined, size: number, mtime: Date): ObjectInfo {
    const { etag = '', contentType = 'application/octet-stream' } = meta ?? {}
    return { key, size, etag, contentType, lastModified: meta ? new Date(meta.lastModified) : mtime }
  }

  async put({ key, body, contentType, signal }: PutInput): Promise<ObjectInfo> {
    const target = this.pathFor(this.objects, key)
    await this.ensureDirs()
    const uploadId = randomUUID()
    const tmp = join(this.incoming, uploadId)
    await writeFile(`${tmp}.json`, JSON.stringify({ key, initiated: new Date().toISOString() }))
    const onAbort = () => body.destroy(Object.assign(new Error('upload aborted'), { name: 'AbortError' }))
    if (signal?.aborted) onAbort()
    signal?.addEventListener('abort', onAbort, { once: true })
    const hash = createHash('md5')
    let size = 0
    async function* meter(source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        hash.update(chunk)
        size += chunk.length
        yield chunk
      }
    }
    try {
      // flush: the bytes reach the disk before the rename makes them visible.
      await pipeline(body, meter, createWriteStream(tmp, { flags: 'wx', flush: true }))
      const etag = `"${hash.digest('hex')}"`
      await this.place(tmp, target)
      const meta = { contentType, etag, tags: {}, size, lastModified: new Date().toISOString() }
      await this.writeMeta(key, meta)
      return { key, size, etag, contentType, lastModified: new Date(meta.lastModified) }
    } catch (err) {
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
      throw isCode(err, 'ENOENT', 'ENOTDIR') ? notOnDisk(err) : err
    })
    try {
      const stats = await file.stat()
      if (!stats.isFile()) throw notOnDisk()
      if (range && (range.start < 0 || range.start > range.end || range.start >= stats.size)) {
        throw new RangeNotSatisfiableError()
      }
      const served = range ? { start: range.start, end: Math.min(range.end, stats.size - 1) } : undefined
      const info = this.info(key, await this.readMeta(key), stats.size, stats.mtime)
      return { ...info, body: file.createReadStream({ start: served?.start, end: served?.end }), range: served }
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
      if (!(await rmdir(current).then(() => true, () => false))) return
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
      throw isCode(err, 'ENOENT', 'ENOTDIR') ? notOnDisk(err) : err
    }
    const { size } = await stat(target)
    const copied: Meta = meta ?? { contentType: 'application/octet-stream', etag: '', tags: {}, size, lastModified: '' }
    await this.writeMeta(toKey, { ...copied, size, lastModified: new Date().toISOString() })
  }

  async setTags(key: string, tags: Record<string, string>): Promise<void> {
    await this.writeMeta(key, { ...(await this.liveMeta(key)), tags: { ...tags } })
  }

  async getTags(key: string): Promise<Record<string, string>> {
    return (await this.liveMeta(key)).tags
  }

  async list(prefix: string, options: { cursor?: string; limit?: number } = {}): Promise<ListPage> {
    const limit = options.limit ?? 1000
    const cursor = options.cursor
    const slash = prefix.lastIndexOf('/')
    const start = slash < 0 ? this.objects : this.pathFor(this.objects, prefix.slice(0, slash))
    const keys = (await this.keysUnder(start))
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
  private async keysUnder(dir: string): Promise<string[]> {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch((err: unknown) => {
      if (isCode(err, 'ENOENT', 'ENOTDIR')) return []
      throw err
    })
    return entries
      .filter((entry) => entry.isFile())
      .map((entry) => relative(this.objects, join(entry.parentPath, entry.name)).split(sep).join('/'))
  }

  async listIncompleteUploads(prefix = ''): Promise<IncompleteUpload[]> {
    await this.ensureDirs()
    const uploads: IncompleteUpload[] = []
    for (const name of await readdir(this.incoming)) {
      const uploadId = name.replace(/\.json$/, '')
      if (uploadId === name || !UPLOAD_ID.test(uploadId)) continue
      const manifest = await readFile(join(this.incoming, name), 'utf8').then(
        (text) => JSON.parse(text) as { key: string; initiated: string },
        () => undefined, // finished while we listed
      )
      if (!manifest?.key.startsWith(prefix)) continue
      uploads.push({ key: manifest.key, uploadId, initiated: new Date(manifest.initiated) })
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
      const probe = join(this.incoming, `${randomUUID()}.ping`)
      await writeFile(probe, '')
      await rm(probe)
    } catch (err) {
      throw new StorageUnavailableError(`local disk: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err })
    }
  }

  async close(): Promise<void> {}
}
