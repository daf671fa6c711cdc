// /ready follows the real S3 peer: 503 with the reason while it is stopped, 200 once it is back.
// It stops the shared peer, so scripts/test runs it alone, after every other test.
import { test } from 'tap'
import { execFileSync } from 'node:child_process'
import { buildServer, spacesEnv } from '../helpers/server.js'
import { createTestBucket } from '../helpers/s3.js'

const peer = (command: string) => execFileSync('scripts/s3-peer', [command], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 }).toString()

test('/ready is 503 while the S3 peer is down and 200 when it returns', async (t) => {
  const bucket = await createTestBucket(t, 'ready')
  const { app, auth } = await buildServer(t, spacesEnv(bucket))
  t.same((await app.inject('/ready')).json(), { status: 'ready', store: 's3' })

  peer('stop')
  t.teardown(() => void peer('start'))
  const down = await app.inject('/ready')
  t.equal(down.statusCode, 503)
  t.match(down.json(), { code: 'FST_SPACES_NOT_READY', message: /^storage: / })
  t.equal(down.headers['retry-after'], '5')
  t.same((await app.inject('/health')).json(), { status: 'ok' }, 'liveness does not depend on the bucket')
  const upload = await app.inject({ method: 'PUT', url: '/v1/files/org-1/epcr/document/e/x.pdf', headers: auth({ sub: 'u', org: 'org-1', roles: ['admin'] }), payload: 'x' })
  t.equal(upload.statusCode, 503, 'uploads during the outage are a retryable 503')
  t.equal(upload.json().code, 'FST_SPACES_STORAGE_UNAVAILABLE')
  t.equal(app.storage.ledger.getLive('org-1/epcr/document/e/x.pdf'), undefined, 'and are not recorded as stored')

  t.match((await app.inject('/metrics')).body, /spaces_proxy_store_errors_total\{operation="\w+Command",code="[^"]+"\} [1-9]/, 'store errors are counted by code')

  peer('start')
  let status = 0
  for (let i = 0; i < 60 && status !== 200; i++) {
    status = (await app.inject('/ready')).statusCode
    if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 500))
  }
  t.equal(status, 200, 'ready again once the peer is back')
})
