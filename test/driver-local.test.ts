// The local-disk driver: the shared contract, then what only a filesystem can get wrong.
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import t from 'tap'
import type { Test } from 'tap'
import { LocalDiskStore } from '../plugin/drivers/local.js'
import type { ObjectStore } from '../plugin/drivers/types.js'
import { InvalidKeyError } from '../plugin/errors.js'
import { driverContract, readAll, rejection } from './driver-contract.js'

async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir)
  } catch {
    return []
  }
}

function makeLocal(t: Test): { store: LocalDiskStore; root: string } {
  const root = join(t.testdir(), 'data')
  return { store: new LocalDiskStore({ root }), root }
}

driverContract(t, 'local', async (t) => {
  const { store, root } = makeLocal(t)
  // Every file left in incoming/ (temp bodies, manifests, metadata) counts as unfinished.
  return { store, incomplete: () => entries(join(root, 'incoming')) }
})

t.test('local: objects and metadata live in the documented layout', async (t) => {
  const { store, root } = makeLocal(t)
  const key = 'org-1/epcr/document/obj-1/report.pdf'
  await store.put({ key, body: Readable.from([Buffer.from('%PDF')]), contentType: 'application/pdf' })
  t.ok(existsSync(join(root, 'objects', key)), 'bytes under objects/{key}')
  t.ok(existsSync(join(root, 'meta', key)), 'metadata under meta/{key}')
  t.same(await entries(join(root, 'incoming')), [], 'incoming/ is empty once the put is done')
  const asStore: ObjectStore = store
  t.equal(asStore.presignGet, undefined, 'no presigned GET: the plugin uses proxy-mode URLs')
  t.equal(asStore.presignPut, undefined, 'no presigned PUT')
  t.equal(asStore.multipart, undefined, 'no multipart uploads in steps: tus and presigned multipart say so')
  await store.delete(key)
  t.same(await entries(join(root, 'objects')), [], 'delete prunes the empty parent directories')
  t.same(await entries(join(root, 'meta')), [], 'and those of the metadata')
})

t.test('local: keys cannot escape the root', async (t) => {
  const { store, root } = makeLocal(t)
  const ok = 'org-1/epcr/doc/obj-1/ok.txt'
  await store.put({ key: ok, body: Readable.from([Buffer.from('ok')]), contentType: 'text/plain' })
  const outside = join(root, '..', 'escaped.txt')
  const attempts: Array<[string, (key: string) => Promise<unknown>]> = [
    ['put', (key) => store.put({ key, body: Readable.from([Buffer.from('x')]), contentType: 'text/plain' })],
    ['get', (key) => store.get(key)],
    ['head', (key) => store.head(key)],
    ['delete', (key) => store.delete(key)],
    ['copy to', (key) => store.copy(ok, key)],
    ['copy from', (key) => store.copy(key, 'org-1/epcr/doc/obj-1/copy.txt')],
    ['setTags', (key) => store.setTags(key, { a: 'b' })],
    ['getTags', (key) => store.getTags(key)],
  ]
  const keys = [
    '../escaped.txt',
    '../../escaped.txt',
    'org-1/../../escaped.txt',
    '/etc/passwd',
    'org-1/epcr/doc/obj-1/..',
    'org-1//doc/x',
    './org-1/x',
    'org-1\\..\\..\\escaped.txt',
    'org-1/x\0.txt',
    '',
  ]
  for (const [operation, run] of attempts) {
    for (const key of keys) {
      const err = await rejection(run(key))
      t.ok(err instanceof InvalidKeyError, `${operation} ${JSON.stringify(key)}: InvalidKeyError`)
    }
  }
  t.ok((await rejection(store.list('../'))) instanceof InvalidKeyError, 'list of ../ is refused')
  t.ok((await rejection(store.list('org-1/../../'))) instanceof InvalidKeyError, 'list of a/../../ is refused')
  const badUpload = { key: 'x', uploadId: '../objects/org-1/epcr/doc/obj-1/ok.txt', initiated: new Date() }
  t.ok((await rejection(store.abortIncompleteUpload(badUpload))) instanceof InvalidKeyError, 'abort of a path id')
  t.notOk(existsSync(outside), 'nothing was written outside the root')
  t.equal((await readAll((await store.get(ok)).body)).toString(), 'ok', 'object intact')
})

t.test('local: a key that is a directory of other keys is not an object', async (t) => {
  const { store } = makeLocal(t)
  await store.put({ key: '.trash/org-1/abc', body: Readable.from([Buffer.from('x')]), contentType: 'text/plain' })
  t.equal(await store.head('.trash/org-1'), undefined, 'head of a directory is undefined')
  t.equal((await rejection(store.get('.trash/org-1'))).code, 'FST_SPACES_NOT_FOUND', 'get of a directory is 404')
  t.same((await store.list('.trash/')).items.map((i) => i.key), ['.trash/org-1/abc'], 'trash keys list')
})

t.test('local: uploads left by a crash are listed and can be aborted', async (t) => {
  const { store, root } = makeLocal(t)
  await store.ping()
  const uploadId = randomUUID()
  const key = 'org-1/epcr/doc/obj-1/crashed.bin'
  await writeFile(join(root, 'incoming', uploadId), 'half a body')
  const manifest = { key, initiated: '2026-01-30T12:00:00.000Z' }
  await writeFile(join(root, 'incoming', `${uploadId}.json`), JSON.stringify(manifest))
  const restarted: ObjectStore = new LocalDiskStore({ root })
  const listed = await restarted.listIncompleteUploads('org-1/')
  t.same(listed, [{ key, uploadId, initiated: new Date('2026-01-30T12:00:00.000Z') }], 'listed by the key it was for')
  t.same(await restarted.listIncompleteUploads('org-2/'), [], 'filtered by prefix')
  await restarted.abortIncompleteUpload(listed[0]!)
  t.same(await entries(join(root, 'incoming')), [], 'temp file and manifest removed')
  t.equal(await restarted.head(key), undefined, 'never became an object')
})

t.test('local: ping creates the root and fails when it cannot write there', async (t) => {
  const { store, root } = makeLocal(t)
  t.notOk(existsSync(root), 'no root before first use')
  await store.ping()
  t.ok(existsSync(join(root, 'incoming')), 'ping created the layout')
  const parent = t.testdir()
  await writeFile(join(parent, 'a-file'), 'not a directory')
  const broken = new LocalDiskStore({ root: join(parent, 'a-file') })
  const err = await rejection(broken.ping())
  t.equal(err.code, 'FST_SPACES_STORAGE_UNAVAILABLE', 'a root that is a file is unavailable')
  t.equal(err.statusCode, 503)
  await mkdir(join(parent, 'later'))
  await new LocalDiskStore({ root: join(parent, 'later', 'deep') }).ping()
  t.ok(existsSync(join(parent, 'later', 'deep', 'objects')), 'missing parents are created')
})
