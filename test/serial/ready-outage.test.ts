// /ready follows the S3 server: 503 with the reason while it is down, 200 once it is back.
// Against the local peer the peer itself is stopped and started, so scripts/test runs this alone,
// after every other test. Against another endpoint (TEST_S3_ENDPOINT) the outage is a loopback
// TCP relay in front of it that is shut and reopened: the sidecar sees the same refused connections.
import { test } from 'tap'
import { execFileSync } from 'node:child_process'
import { buildServer, spacesEnv } from '../helpers/server.js'
import { createTestBucket } from '../helpers/s3.js'
import { tcpRelay } from '../helpers/tcp-relay.js'

const peer = (command: string) => execFileSync('scripts/s3-peer', [command], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 }).toString()

function localPeerRunning(): boolean {
  try {
    peer('status')
    return process.env.TEST_S3_ENDPOINT === `http://127.0.0.1:${process.env.S3_PEER_PORT ?? 7480}`
  } catch {
    return false
  }
}

test('/ready is 503 while the S3 server is down and 200 when it returns', async (t) => {
  const bucket = await createTestBucket(t, 'ready')
  const usePeer = localPeerRunning()
  const tcp = usePeer ? undefined : await tcpRelay(new URL(bucket.connection.endpoint))
  if (tcp) t.teardown(() => tcp.down())
  const env = { ...spacesEnv(bucket), ...(tcp ? { SPACES_ENDPOINT: tcp.endpoint() } : {}) }
  const { app, auth } = await buildServer(t, env)
  t.same((await app.inject('/ready')).json(), { status: 'ready', store: 's3' })
  t.comment(usePeer ? 'stopping the local S3 peer' : 'shutting the relay to TEST_S3_ENDPOINT')

  if (tcp) await tcp.down()
  else {
    peer('stop')
    t.teardown(() => void peer('start'))
  }
  const down = await app.inject('/ready')
  t.equal(down.statusCode, 503)
  t.match(down.json(), { code: 'FST_SPACES_NOT_READY', message: /^storage: / })
  t.equal(down.headers['retry-after'], '5')
  t.same((await app.inject('/health')).json(), { status: 'ok' }, 'liveness does not depend on the bucket')
  const upload = await app.inject({ method: 'PUT', url: '/v1/files/org-1/epcr/document/e/x.pdf', headers: auth({ sub: 'u', org: 'org-1', roles: ['admin'] }), payload: 'x' })
  t.equal(upload.statusCode, 503, 'uploads during the outage are a retryable 503')
  t.equal(upload.json().code, 'FST_SPACES_STORAGE_UNAVAILABLE')
  t.equal(await app.storage.ledger.getLive('org-1/epcr/document/e/x.pdf'), undefined, 'and are not recorded as stored')
  t.match((await app.inject('/metrics')).body, /spaces_proxy_store_errors_total\{operation="\w+Command",code="[^"]+"\} [1-9]/, 'store errors are counted by code')

  if (tcp) await tcp.up()
  else peer('start')
  let status = 0
  for (let i = 0; i < 60 && status !== 200; i++) {
    status = (await app.inject('/ready')).statusCode
    if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 500))
  }
  t.equal(status, 200, 'ready again once the S3 server is back')
})
