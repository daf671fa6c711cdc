// The SQLite ledger on a real, full 4 MiB tmpfs: a write that fails is never reported as success,
// and no store side effect follows a write that was not confirmed. A DELETE leaves the file live
// and readable with no orphaned trash copy; a PUT in flight gets no 201 while its row is pending.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, openSync, rmSync, writeSync, closeSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { SqliteLedger } from '../plugin/ledger/sqlite.js'
import { createTestBucket } from './helpers/s3.js'
import { buildServer, spacesEnv } from './helpers/server.js'

const ADMIN = { sub: 'medic-admin', org: 'org-1', roles: ['admin'] }
const KEY = 'org-1/epcr/document/epcr-456/report.pdf'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

if (process.getuid?.() !== 0) {
  throw new Error('ledger-full-disk mounts a tmpfs and needs root: run the suite as root (CI does), e.g. sudo npm test')
}

/** Fills the filesystem with a file until it refuses another byte. */
function fill(path: string): void {
  const fd = openSync(path, 'w')
  const chunk = Buffer.alloc(64 * 1024)
  try {
    for (let size = chunk.length; size >= 1; ) {
      try {
        writeSync(fd, chunk, 0, size)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
        size = Math.floor(size / 2)
      }
    }
  } finally {
    closeSync(fd)
  }
}

t.test('a full disk under the ledger: nothing reported as done that was not recorded', async (t) => {
  const mount = mkdtempSync(join(tmpdir(), 'fastify-spaces-full-'))
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mount])
  // Lazy: the server may still hold the file open when teardown reaches this.
  t.teardown(() => execFileSync('umount', ['-l', mount]))
  const filler = join(mount, 'filler')
  const ledgerPath = join(mount, 'ledger.db')
  const bucket = await createTestBucket(t, 'fulldisk')
  const { app, auth } = await buildServer(t, { ...spacesEnv(bucket), LEDGER_PATH: ledgerPath, INSTANCE_LEASE_SECONDS: '1' })
  const headers = auth(ADMIN)
  const body = Buffer.from('%PDF-1.7 the only copy')
  t.equal((await app.inject({ method: 'PUT', url: `/v1/files/${KEY}`, headers, payload: body })).statusCode, 201)

  await t.test('DELETE: refused, the file stays live and readable, no trash copy is orphaned', async (t) => {
    fill(filler)
    const del = await app.inject({ method: 'DELETE', url: `/v1/files/${KEY}`, headers })
    t.equal(del.statusCode, 503, del.body)
    t.equal(del.json().code, 'FST_SPACES_LEDGER_ERROR')
    t.same(await bucket.keys(), [KEY], 'no unrecorded .trash copy')
    rmSync(filler)
    const get = await app.inject({ method: 'GET', url: `/v1/files/${KEY}`, headers })
    t.equal(get.statusCode, 200)
    t.same(get.rawPayload, body, 'the file is live and readable')
    t.same((await app.inject({ method: 'GET', url: '/v1/trash', headers })).json().items, [])
  })

  await t.test('PUT in flight: no 201 while its row is pending, no object left', async (t) => {
    await app.listen({ port: 0, host: '127.0.0.1' })
    const port = (app.server.address() as { port: number }).port
    const key = 'org-1/epcr/document/epcr-456/in-flight.pdf'
    const half = Buffer.alloc(64 * 1024, 1)
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'PUT', path: `/v1/files/${key}`, headers: { ...headers, 'content-length': half.length * 2 } }, (res) => {
        let text = ''
        res.setEncoding('utf8').on('data', (chunk) => (text += chunk)).on('end', () => resolve({ status: res.statusCode!, body: text }))
      })
      req.on('error', reject)
      req.write(half)
      const watch = SqliteLedger.open({ path: ledgerPath })
      void (async () => {
        while (!(await watch.getPending(key))) await sleep(20)
        await watch.close()
        fill(filler)
        req.end(half)
      })()
    })
    const { status, body: text } = await answer
    t.equal(status, 503, text)
    t.match(JSON.parse(text), { code: 'FST_SPACES_LEDGER_ERROR' })
    rmSync(filler)
    t.equal((await app.inject({ method: 'HEAD', url: `/v1/files/${key}`, headers })).statusCode, 404)
    t.same(await bucket.keys(), [KEY], 'the upload\'s object was removed')
    const ledger = SqliteLedger.open({ path: ledgerPath })
    t.teardown(() => ledger.close())
    for (let i = 0; i < 50 && (await ledger.getPending(key)); i++) await sleep(100)
    t.equal(await ledger.getPending(key), undefined, 'the sweep settles the row its failed write left pending')
    t.equal(await ledger.getLive(key), undefined)
    t.match(await ledger.verifyAudit(), { ok: true })
  })
})
