// A client that hangs up mid-upload is not a server error: nothing is stored, the attempt is
// audited as aborted, and the log says so at info level, never as an error-level
// FST_SPACES_INTERNAL (which pages someone at night).
import { test } from 'tap'
import { buildServer, spacesEnv } from './helpers/server.js'
import { createTestBucket } from './helpers/s3.js'
import { patternStream, sendAndAbort } from './helpers/http.js'
import { assertStored } from './helpers/invariants.js'

const MIB = 1024 * 1024

test('a PUT and a form upload abandoned halfway: nothing stored, audited, no error logged', async (t) => {
  const bucket = await createTestBucket(t, 'hangup')
  const { app, token, logs } = await buildServer(t, spacesEnv(bucket))
  await app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/v1/files`
  const authorization = `Bearer ${token({ sub: 'medic', org: 'org-1', scope: 'epcr:*' })}`
  const key = 'org-1/epcr/document/hangup/scan.tiff'

  await sendAndAbort(`${base}/${key}`, { method: 'PUT', headers: { authorization, 'content-length': 30 * MIB }, body: patternStream(30 * MIB), abortAfter: 12 * MIB })
  const boundary = 'hangupboundary'
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="form.tiff"\r\nContent-Type: image/tiff\r\n\r\n`
  const form = (async function* () {
    yield Buffer.from(head)
    yield* patternStream(30 * MIB)
  })()
  await sendAndAbort(`${base}/org-1/epcr/document/hangup`, {
    method: 'POST',
    headers: { authorization, 'content-type': `multipart/form-data; boundary=${boundary}` },
    body: (await import('node:stream')).Readable.from(form),
    abortAfter: 12 * MIB,
  })

  await assertStored(t, bucket, app.storage.ledger, { live: [], trash: [] }, 'after the hang-ups')
  let events: Array<{ key: string | null; errorCode: string | null }> = []
  for (let i = 0; i < 50 && events.length < 2; i++) {
    events = (await app.storage.ledger.queryAudit({ action: 'upload' }, { limit: 10 })).items
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.same(events.map((e) => e.errorCode), ['CLIENT_ABORTED', 'CLIENT_ABORTED'], 'both attempts are audited as aborted')
  const errors = logs.filter((line) => /"level":(50|60)/.test(line))
  t.same(errors, [], 'nothing logged at error level')
  t.notMatch(logs.join('\n'), /FST_SPACES_INTERNAL/, 'and nothing called an internal error')
  t.ok(logs.some((line) => line.includes('"level":30') && line.includes('CLIENT_ABORTED')), 'the hang-up is logged at info')
})
