// A tus upload started on one sidecar process that is then killed with SIGKILL finishes on a fresh
// process, with the sha256 of the whole file: everything the upload needs to carry on (parts, tail,
// hash state) is in the bucket and the ledger, nothing in the dead process.
import { test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSigner } from 'fast-jwt'
import * as tus from 'tus-js-client'
import { SqliteLedger } from '../plugin/ledger/sqlite.js'
import { createTestBucket } from './helpers/s3.js'
import { spacesEnv, JWT_SECRET } from './helpers/server.js'
import { startCliServer } from './helpers/cli.js'
import { startRelay } from './helpers/relay.js'

const MIB = 1024 * 1024

test('kill -9 mid-upload: a fresh process finishes it with the right sha256', async (t) => {
  const bucket = await createTestBucket(t, 'tuscrash')
  const dir = mkdtempSync(join(tmpdir(), 'fastify-spaces-tus-crash-'))
  const env = { ...spacesEnv(bucket), JWT_SECRET, LEDGER_PATH: join(dir, 'ledger.db'), LOG_LEVEL: 'info', SWEEP_INTERVAL_SECONDS: '0' }
  const token = createSigner({ key: JWT_SECRET, expiresIn: 600_000 })({ sub: 'medic', org: 'org-1', scope: 'epcr:*' })

  const first = await startCliServer(env)
  t.teardown(() => first.child.kill('SIGKILL'))
  const relay = await startRelay(first.port)
  t.teardown(() => relay.close())

  const data = randomBytes(26 * MIB + 5)
  let killed = false
  let second: Awaited<ReturnType<typeof startCliServer>> | undefined
  const finished = await new Promise<tus.Upload>((resolve, reject) => {
    const upload: tus.Upload = new tus.Upload(data, {
      endpoint: `${relay.url}/v1/uploads/tus`,
      headers: { authorization: `Bearer ${token}` },
      chunkSize: 8 * MIB,
      metadata: { system: 'epcr', objectType: 'video', objectId: 'v-9', filename: 'crash.mp4', contentType: 'video/mp4' },
      // Long enough to outlast the restart and the dead process's lease on the upload (10 s).
      retryDelays: [250, 500, 1000, 2000, 2000, 3000, 3000, 3000, 3000, 3000, 3000],
      onProgress(sent) {
        if (killed || sent < 13 * MIB) return
        killed = true
        // Mid-chunk: the second 8 MiB chunk is half sent.
        first.child.kill('SIGKILL')
        void startCliServer(env).then((fresh) => {
          second = fresh
          relay.retarget(fresh.port)
        }, reject)
      },
      onSuccess: () => resolve(upload),
      onError: reject,
    })
    upload.start()
  })
  t.teardown(() => second?.child.kill('SIGKILL'))
  t.ok(killed, 'the first process was killed mid-upload')
  t.equal(await first.exited, null, 'by SIGKILL')

  const ledger = SqliteLedger.open({ path: env.LEDGER_PATH })
  t.teardown(() => ledger.close())
  const row = await ledger.getById(finished.url!.split('/').pop()!)
  t.equal(row?.state, 'live')
  t.equal(row?.size, data.length)
  t.equal(row?.sha256, createHash('sha256').update(data).digest('hex'), 'the sha256 of the whole file, though two processes hashed it')
  const res = await fetch(`http://127.0.0.1:${second!.port}/v1/files/${row!.key}`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex'), row?.sha256, 'and the stored bytes are exact')
  t.same(await bucket.keys(), [row!.key], 'no staged tail left')
  t.same(await bucket.incompleteUploads(), [], 'no multipart upload left')
})
