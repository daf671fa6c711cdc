// The shared contract every object-store driver passes (after @tus/s3-store's shared suite).
// A driver test file calls driverContract() with a factory that makes a fresh, empty store.
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import type { ObjectStore } from '../plugin/drivers/types.js'

export interface DriverUnderTest {
  store: ObjectStore
  /** What the backing store itself holds of unfinished uploads (temp files, multipart uploads). */
  incomplete: () => Promise<unknown[]>
}

export type MakeStore = (t: Test) => Promise<DriverUnderTest>

export const MIB = 1024 * 1024
/** Over two 5 MiB parts, so the S3 driver does a real multipart upload. */
export const BIG = 12 * MIB
const CHUNK = 256 * 1024

/** A fresh key prefix `{orgId}/{system}/{objectType}/{objectId}/` per test. */
export function freshPrefix(): string {
  return `org-${randomBytes(4).toString('hex')}/epcr/document/obj-1/`
}

export async function readAll(body: Readable): Promise<Buffer> {
  return Buffer.concat((await body.toArray()) as Buffer[])
}

export async function sha256Of(body: Readable): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256')
  let size = 0
  for await (const chunk of body) {
    hash.update(chunk as Buffer)
    size += (chunk as Buffer).length
  }
  return { sha256: hash.digest('hex'), size }
}

/** `total` random bytes from a generator; `before(sent)` runs before each chunk and may throw or wait. */
export function generatedBody(total: number, before?: (sent: number) => unknown) {
  const hash = createHash('sha256')
  async function* generate() {
    for (let sent = 0; sent < total; ) {
      await before?.(sent)
      const chunk = randomBytes(Math.min(CHUNK, total - sent))
      hash.update(chunk)
      sent += chunk.length
      yield chunk
    }
  }
  return { body: Readable.from(generate(), { objectMode: false }), sha256: () => hash.digest('hex') }
}

export async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string; statusCode?: number }> {
  try {
    await promise
  } catch (err) {
    return err as Error & { code?: string; statusCode?: number }
  }
  throw new Error('expected a rejection')
}

function text(value: string): Readable {
  return Readable.from([Buffer.from(value)])
}

export function driverContract(t: Test, name: string, makeStore: MakeStore): void {
  /** Asserts that a failed put left nothing: no object, no listing, no unfinished upload. */
  async function leftNothing(t: Test, { store, incomplete }: DriverUnderTest, key: string, prefix: string) {
    t.equal(await store.head(key), undefined, 'no object at the key')
    t.same((await store.list(prefix)).items, [], 'nothing listed under the prefix')
    t.same(await incomplete(), [], 'no incomplete upload left in the store')
    t.same(await store.listIncompleteUploads(), [], 'the driver lists no incomplete upload')
  }

  t.test(`${name}: put and get round trip a small body`, async (t) => {
    const { store } = await makeStore(t)
    const key = `${freshPrefix()}hello.txt`
    const { etag } = await store.put({ key, body: text('hello, world'), contentType: 'text/plain; charset=utf-8' })
    t.match(etag, /^".+"$/, 'etag is a quoted, non-empty string')
    const got = await store.get(key)
    t.equal((await readAll(got.body)).toString(), 'hello, world', 'bytes are identical')
    t.equal(got.size, 12)
    t.equal(got.contentType, 'text/plain; charset=utf-8', 'content type kept')
    t.equal(got.etag, etag, 'get reports the etag put returned')
    t.equal(got.range, undefined, 'no range when none was asked')
    t.equal((await store.head(key))?.etag, etag, 'head reports the same etag')
    const again = await store.put({ key, body: text('hello, world'), contentType: 'text/plain; charset=utf-8' })
    t.equal(again.etag, etag, 'the same bytes give the same etag')
    const other = await store.put({ key, body: text('hello, moon'), contentType: 'text/plain' })
    t.not(other.etag, etag, 'other bytes give another etag')
    t.equal((await readAll((await store.get(key)).body)).toString(), 'hello, moon', 'a put replaces the object')
  })

  t.test(`${name}: put and get round trip an empty body`, async (t) => {
    const { store } = await makeStore(t)
    const key = `${freshPrefix()}empty.bin`
    const { etag } = await store.put({ key, body: Readable.from([]), contentType: 'application/octet-stream' })
    t.ok(etag.length > 2, 'etag is non-empty')
    const got = await store.get(key)
    t.equal((await readAll(got.body)).length, 0, 'no bytes come back')
    t.equal(got.size, 0)
    t.equal((await store.head(key))?.size, 0, 'head reports size 0')
  })

  t.test(`${name}: put streams a 12 MiB body (multipart on S3)`, async (t) => {
    const driver = await makeStore(t)
    const { store } = driver
    const key = `${freshPrefix()}big.bin`
    const source = generatedBody(BIG)
    const { etag } = await store.put({ key, body: source.body, contentType: 'application/pdf' })
    const head = await store.head(key)
    t.equal(head?.size, BIG, 'head reports the full size')
    t.equal(head?.contentType, 'application/pdf')
    t.ok(etag.length > 2, 'put returns a non-empty etag')
    t.equal(head?.etag, etag, 'head reports the etag put returned')
    const got = await store.get(key)
    t.same(await sha256Of(got.body), { sha256: source.sha256(), size: BIG }, 'bytes are identical')
    t.same(await driver.incomplete(), [], 'no incomplete upload left behind')
  })

  t.test(`${name}: get of a byte range`, async (t) => {
    const { store } = await makeStore(t)
    const key = `${freshPrefix()}range.bin`
    const bytes = randomBytes(1000)
    await store.put({ key, body: Readable.from([bytes]), contentType: 'application/octet-stream' })
    const middle = await store.get(key, { start: 10, end: 19 })
    t.same(await readAll(middle.body), bytes.subarray(10, 20), 'bytes 10-19')
    t.equal(middle.size, 1000, 'size is the total size, not the range length')
    t.same(middle.range, { start: 10, end: 19 })
    const first = await store.get(key, { start: 0, end: 0 })
    t.same(await readAll(first.body), bytes.subarray(0, 1), 'a one-byte range')
    const tail = await store.get(key, { start: 990, end: 999 })
    t.same(await readAll(tail.body), bytes.subarray(990), 'the last ten bytes')
    const clamped = await store.get(key, { start: 995, end: 5000 })
    t.same(await readAll(clamped.body), bytes.subarray(995), 'an end past the size is clamped, as S3 does')
    t.equal(clamped.size, 1000)
  })

  t.test(`${name}: a range starting past the end is 416`, async (t) => {
    const { store } = await makeStore(t)
    const key = `${freshPrefix()}short.txt`
    await store.put({ key, body: text('0123456789'), contentType: 'text/plain' })
    for (const range of [{ start: 10, end: 20 }, { start: 50, end: 60 }]) {
      const err = await rejection(store.get(key, range))
      t.equal(err.code, 'FST_SPACES_RANGE_NOT_SATISFIABLE', `bytes=${range.start}-${range.end}`)
      t.equal(err.statusCode, 416)
    }
  })

  t.test(`${name}: get of a missing object is FST_SPACES_NOT_FOUND`, async (t) => {
    const { store } = await makeStore(t)
    const err = await rejection(store.get(`${freshPrefix()}missing.txt`))
    t.equal(err.code, 'FST_SPACES_NOT_FOUND')
    t.equal(err.statusCode, 404)
    const ranged = await rejection(store.get(`${freshPrefix()}missing.txt`, { start: 0, end: 10 }))
    t.equal(ranged.code, 'FST_SPACES_NOT_FOUND', 'a ranged get of a missing object is 404 too')
  })

  t.test(`${name}: head of a present and an absent object`, async (t) => {
    const { store } = await makeStore(t)
    const prefix = freshPrefix()
    const before = Date.now()
    const { etag } = await store.put({ key: `${prefix}a.json`, body: text('{"a":1}'), contentType: 'application/json' })
    const head = await store.head(`${prefix}a.json`)
    t.ok(head, 'present')
    t.equal(head?.key, `${prefix}a.json`)
    t.equal(head?.size, 7)
    t.equal(head?.contentType, 'application/json')
    t.equal(head?.etag, etag)
    t.ok(head?.lastModified instanceof Date, 'lastModified is a Date')
    // S3 keeps whole seconds: allow for the truncation and a little clock skew.
    t.ok(Math.abs((head?.lastModified.getTime() ?? 0) - before) < 60_000, 'lastModified is about now')
    t.equal(await store.head(`${prefix}b.json`), undefined, 'absent: undefined, not an error')
  })

  t.test(`${name}: delete is idempotent`, async (t) => {
    const { store } = await makeStore(t)
    const prefix = freshPrefix()
    const key = `${prefix}gone.txt`
    await store.put({ key, body: text('bye'), contentType: 'text/plain' })
    await store.put({ key: `${prefix}kept.txt`, body: text('stay'), contentType: 'text/plain' })
    await store.delete(key)
    t.equal(await store.head(key), undefined, 'the object is gone')
    t.equal((await rejection(store.get(key))).code, 'FST_SPACES_NOT_FOUND', 'get is 404 after delete')
    await store.delete(key)
    t.pass('deleting it again succeeds')
    await store.delete(`${freshPrefix()}never-was.txt`)
    t.pass('deleting a key that never existed succeeds')
    t.same((await store.list(prefix)).items.map((i) => i.key), [`${prefix}kept.txt`], 'the sibling is untouched')
  })

  t.test(`${name}: copy keeps bytes, content type and tags`, async (t) => {
    const { store } = await makeStore(t)
    const from = `${freshPrefix()}scan.png`
    const to = `.trash/org-x/${randomBytes(16).toString('hex')}`
    const bytes = randomBytes(4096)
    await store.put({ key: from, body: Readable.from([bytes]), contentType: 'image/png' })
    await store.setTags(from, { sha256: 'abc123', deletedBy: 'user-1' })
    await store.copy(from, to)
    const got = await store.get(to)
    t.same(await readAll(got.body), bytes, 'bytes identical')
    t.equal(got.contentType, 'image/png', 'content type kept')
    t.same(await store.getTags(to), { sha256: 'abc123', deletedBy: 'user-1' }, 'tags kept')
    t.ok(await store.head(from), 'the source is still there')
    const err = await rejection(store.copy(`${freshPrefix()}missing.png`, `${freshPrefix()}copy.png`))
    t.equal(err.code, 'FST_SPACES_NOT_FOUND', 'copying a missing object is 404')
  })

  t.test(`${name}: tags round trip`, async (t) => {
    const { store } = await makeStore(t)
    const key = `${freshPrefix()}tagged.txt`
    await store.put({ key, body: text('tag me'), contentType: 'text/plain' })
    t.same(await store.getTags(key), {}, 'a new object has no tags')
    await store.setTags(key, { sha256: 'e3b0c442', owner: 'user 1' })
    t.same(await store.getTags(key), { sha256: 'e3b0c442', owner: 'user 1' })
    await store.setTags(key, { state: 'final' })
    t.same(await store.getTags(key), { state: 'final' }, 'setTags replaces the whole set')
    await store.put({ key, body: text('new bytes'), contentType: 'text/plain' })
    t.same(await store.getTags(key), {}, 'a put replaces the object, tags included')
    const missing = `${freshPrefix()}missing.txt`
    t.equal((await rejection(store.getTags(missing))).code, 'FST_SPACES_NOT_FOUND', 'getTags of a missing object')
    t.equal((await rejection(store.setTags(missing, { a: 'b' }))).code, 'FST_SPACES_NOT_FOUND', 'setTags of one')
  })

  t.test(`${name}: list with a prefix pages through a cursor in key order`, async (t) => {
    const { store } = await makeStore(t)
    const prefix = freshPrefix()
    const names = ['d.txt', 'b.txt', 'e.txt', 'a.txt', 'c-long-name.txt']
    for (const [i, filename] of names.entries()) {
      await store.put({ key: `${prefix}${filename}`, body: text('x'.repeat(i + 1)), contentType: 'text/plain' })
    }
    // A sibling whose key starts like the prefix but is outside it.
    await store.put({ key: `${prefix.slice(0, -1)}-2/a.txt`, body: text('no'), contentType: 'text/plain' })
    const pages: string[][] = []
    let cursor: string | undefined
    do {
      const page = await store.list(prefix, { cursor, limit: 2 })
      pages.push(page.items.map((item) => item.key.slice(prefix.length)))
      cursor = page.nextCursor
      t.ok(pages.length <= 3, 'paging ends')
    } while (cursor && pages.length <= 3)
    t.same(pages, [['a.txt', 'b.txt'], ['c-long-name.txt', 'd.txt'], ['e.txt']], 'pages of 2, 2 and 1 in key order')
    const all = await store.list(prefix)
    t.equal(all.nextCursor, undefined, 'no cursor when everything fits')
    t.same(
      all.items.map((item) => [item.key.slice(prefix.length), item.size]),
      [['a.txt', 4], ['b.txt', 2], ['c-long-name.txt', 5], ['d.txt', 1], ['e.txt', 3]],
      'items carry their sizes',
    )
    t.ok(all.items.every((item) => item.etag.length > 2 && item.lastModified instanceof Date), 'etag and date')
    t.same(await store.list(`${freshPrefix()}`), { items: [], nextCursor: undefined }, 'an empty prefix lists nothing')
  })

  t.test(`${name}: a put whose body fails halfway leaves nothing`, async (t) => {
    const driver = await makeStore(t)
    const prefix = freshPrefix()
    const key = `${prefix}broken.bin`
    const boom = new Error('the body failed halfway')
    const source = generatedBody(BIG, (sent) => {
      if (sent >= 11 * MIB) throw boom
    })
    const err = await rejection(driver.store.put({ key, body: source.body, contentType: 'application/pdf' }))
    t.equal(err.message, boom.message, "rejects with the body's own error")
    await leftNothing(t, driver, key, prefix)
  })

  t.test(`${name}: a failed overwrite keeps the previous object`, async (t) => {
    const { store } = await makeStore(t)
    const key = `${freshPrefix()}keep.txt`
    await store.put({ key, body: text('version 1'), contentType: 'text/plain' })
    const source = generatedBody(BIG, (sent) => {
      if (sent >= 6 * MIB) throw new Error('the body failed')
    })
    await rejection(store.put({ key, body: source.body, contentType: 'text/plain' }))
    t.equal((await readAll((await store.get(key)).body)).toString(), 'version 1', 'the old bytes are still served')
  })

  t.test(`${name}: a put aborted through its signal leaves nothing`, async (t) => {
    const driver = await makeStore(t)
    const prefix = freshPrefix()
    const key = `${prefix}aborted.bin`
    const controller = new AbortController()
    const source = generatedBody(BIG * 2, async (sent) => {
      if (sent >= 11 * MIB) {
        controller.abort()
        await sleep(5)
      }
    })
    const err = await rejection(
      driver.store.put({ key, body: source.body, contentType: 'application/pdf', signal: controller.signal }),
    )
    t.equal(err.name, 'AbortError', 'rejects with an AbortError')
    await leftNothing(t, driver, key, prefix)
    const early = new AbortController()
    early.abort()
    const before = await rejection(
      driver.store.put({ key, body: text('never'), contentType: 'text/plain', signal: early.signal }),
    )
    t.equal(before.name, 'AbortError', 'an already aborted signal rejects too')
    await leftNothing(t, driver, key, prefix)
  })

  t.test(`${name}: an upload in flight is listed as incomplete and can be aborted`, async (t) => {
    const driver = await makeStore(t)
    const { store } = driver
    const prefix = freshPrefix()
    const key = `${prefix}in-flight.bin`
    const controller = new AbortController()
    const aborted = new Promise((resolve) => controller.signal.addEventListener('abort', resolve))
    // 6 MiB then stall: the S3 driver has started its multipart upload by then.
    const source = generatedBody(BIG, async (sent) => {
      if (sent >= 6 * MIB) await aborted
    })
    const put = rejection(store.put({ key, body: source.body, contentType: 'text/plain', signal: controller.signal }))
    let listed = await store.listIncompleteUploads(prefix)
    for (let i = 0; i < 200 && listed.length === 0; i++) {
      await sleep(50)
      listed = await store.listIncompleteUploads(prefix)
    }
    t.equal(listed.length, 1, 'one incomplete upload under the prefix')
    t.equal(listed[0]?.key, key, 'named by the key it is for')
    t.ok(listed[0]?.uploadId, 'with an upload id')
    t.ok(listed[0]?.initiated instanceof Date, 'and a start date')
    t.same(await store.listIncompleteUploads(freshPrefix()), [], 'another prefix lists none')
    if (listed[0]) await store.abortIncompleteUpload(listed[0])
    t.same(await store.listIncompleteUploads(prefix), [], 'gone once aborted')
    controller.abort()
    // A part still in flight when the upload was aborted fails first (the store lost the upload
    // under it: a retryable store error, not a 404); otherwise the caller's abort ends the put.
    const failure = await put
    t.ok(failure.name === 'AbortError' || failure.code === 'FST_SPACES_STORAGE_ERROR', `the put then fails: ${failure.code ?? failure.name}`)
    await leftNothing(t, driver, key, prefix)
  })

  t.test(`${name}: Unicode, spaces, quotes, + and % in filenames round trip`, async (t) => {
    const { store } = await makeStore(t)
    const prefix = freshPrefix()
    const filenames = [
      'Bericht "final" ü.pdf',
      "it's 100% done + more.txt",
      '日本語 ファイル 😀.txt',
      'a+b=c&d?e#f;g.txt',
      '%20 literal %2F and %.txt',
      'spaced  name .txt',
    ]
    for (const filename of filenames) {
      const key = `${prefix}${filename}`
      await store.put({ key, body: text(`bytes of ${filename}`), contentType: 'text/plain' })
      t.equal((await store.head(key))?.key, key, `head: ${filename}`)
      t.equal((await readAll((await store.get(key)).body)).toString(), `bytes of ${filename}`, `get: ${filename}`)
      await store.setTags(key, { name: 'tagged' })
      t.same(await store.getTags(key), { name: 'tagged' }, `tags: ${filename}`)
    }
    const listed = (await store.list(prefix)).items.map((item) => item.key.slice(prefix.length))
    t.same([...listed].sort(), [...filenames].sort(), 'list returns every key exactly')
    const copied = `${prefix}copy of ${filenames[1]}`
    await store.copy(`${prefix}${filenames[1]}`, copied)
    t.equal((await readAll((await store.get(copied)).body)).toString(), `bytes of ${filenames[1]}`, 'copy works')
    await store.delete(`${prefix}${filenames[0]}`)
    t.equal(await store.head(`${prefix}${filenames[0]}`), undefined, 'delete works')
  })

  t.test(`${name}: ping succeeds`, async (t) => {
    const { store } = await makeStore(t)
    await store.ping()
    t.pass('ping resolved')
    t.ok(store.kind === 's3' || store.kind === 'local', 'kind names the driver')
  })
}
