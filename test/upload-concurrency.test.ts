// Twenty clients upload to one key at once: exactly one wins, the others get 409, and the
// bucket holds one object with the winner's bytes.
import { test } from 'tap'
import { createHash } from 'node:crypto'
import { GetObjectCommand } from '@aws-sdk/client-s3'
import { buildServer, spacesEnv } from './helpers/server.js'
import { createTestBucket } from './helpers/s3.js'

const KEY = 'org-1/communications/email-attachment/msg-101/attachment.jpg'

test('20 concurrent uploads to one key: one 201, nineteen 409, one object', async (t) => {
  const bucket = await createTestBucket(t, 'race')
  const { app, auth } = await buildServer(t, spacesEnv(bucket))
  await app.listen({ host: '127.0.0.1', port: 0 })
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/v1/files/${KEY}`
  const headers = { ...auth({ sub: 'mailer', org: 'org-1', scope: 'communications:write' }), 'content-type': 'image/jpeg' }
  const bodies = Array.from({ length: 20 }, (_, i) => Buffer.alloc(256 * 1024 + i, i))

  const results = await Promise.all(
    bodies.map(async (body) => {
      const res = await fetch(url, { method: 'PUT', headers, body })
      return { status: res.status, json: (await res.json()) as { code?: string; sha256?: string } }
    }),
  )
  const created = results.filter((r) => r.status === 201)
  const conflicts = results.filter((r) => r.status === 409)
  t.equal(created.length, 1, 'exactly one upload wins')
  t.equal(conflicts.length, 19, 'the others get 409')
  for (const r of conflicts) t.ok(['FST_SPACES_UPLOAD_IN_PROGRESS', 'FST_SPACES_CONFLICT'].includes(r.json.code!), r.json.code)

  t.same(await bucket.keys(), [KEY], 'one object')
  const stored = await bucket.client.send(new GetObjectCommand({ Bucket: bucket.name, Key: KEY }))
  const sha256 = createHash('sha256').update(await stored.Body!.transformToByteArray()).digest('hex')
  t.equal(sha256, created[0]!.json.sha256, "the object is the winner's bytes")
  t.same(await bucket.incompleteUploads(), [])
  const events = (await app.storage.ledger.queryAudit({ key: KEY, action: 'upload' }, { limit: 50 })).items
  t.equal(events.length, 20, 'every attempt is audited')
  t.equal(events.filter((e) => e.result === 'ok').length, 1)
})
