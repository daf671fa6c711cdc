// An overwrite (PUT ?overwrite=true) racing a DELETE of the same key, round after round. Each
// round must come out as one of the two orders, or as a DELETE refused while the key is being
// replaced (409, retry): never a 404 for the PUT, never a file lost, never trash bytes that do not
// match their record.
import { test } from 'tap'
import { createHash } from 'node:crypto'
import { GetObjectCommand } from '@aws-sdk/client-s3'
import { buildServer, spacesEnv } from './helpers/server.js'
import { createTestBucket } from './helpers/s3.js'
import { assertStored } from './helpers/invariants.js'
import { seeded, testSeed } from './helpers/seed.js'

const ROUNDS = 40
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex')
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

test(`overwrite racing delete, ${ROUNDS} rounds: one of the two orders every time, nothing lost`, async (t) => {
  const random = seeded(testSeed())
  t.comment(`seed ${random.seed} (replay with FUZZ_SEED=${random.seed})`)
  const bucket = await createTestBucket(t, 'race-od')
  const { app, token } = await buildServer(t, spacesEnv(bucket))
  await app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/v1`
  const headers = { authorization: `Bearer ${token({ sub: 'nurse', org: 'org-1', scope: 'epcr:*' })}` }
  const upload = { ...headers, 'content-type': 'application/pdf' }
  const outcomes: Record<string, number> = {}
  const live: string[] = []
  const trash: Array<{ key: string; sha256: string }> = []

  for (let round = 0; round < ROUNDS; round++) {
    const url = `${base}/files/org-1/epcr/document/race/round-${round}.pdf`
    const key = `org-1/epcr/document/race/round-${round}.pdf`
    const v1 = Buffer.from(`version one of round ${round} `.repeat(random.int(1, 2000)))
    const v2 = Buffer.from(`version two of round ${round} `.repeat(random.int(1, 2000)))
    t.equal((await fetch(url, { method: 'PUT', headers: upload, body: v1 })).status, 201)

    const [put, del] = await Promise.all([
      sleep(random.int(0, 12)).then(() => fetch(`${url}?overwrite=true`, { method: 'PUT', headers: upload, body: v2 })),
      sleep(random.chance(0.3) ? random.int(100, 300) : random.int(0, 20)).then(() => fetch(url, { method: 'DELETE', headers })),
    ])
    const putBody = (await put.json()) as { sha256?: string; code?: string }
    const delBody = (await del.json()) as { trashId?: string; code?: string }
    t.equal(put.status, 201, `round ${round}: the overwrite is stored (${putBody.code ?? ''})`)
    const trashOf = async (trashId: string) =>
      (await app.inject({ method: 'GET', url: `/v1/trash?limit=1000`, headers })).json().items.find((i: { trashId: string }) => i.trashId === trashId)

    let outcome: string
    if (del.status === 200) {
      const deleted = await trashOf(delBody.trashId!)
      if (deleted.sha256 === sha(v1)) {
        outcome = 'delete, then overwrite (creates)'
        live.push(key)
        trash.push({ key, sha256: sha(v1) })
      } else {
        t.equal(deleted.sha256, sha(v2), `round ${round}: a delete after the overwrite trashes the new file`)
        outcome = 'overwrite, then delete'
        trash.push({ key, sha256: sha(v1) }, { key, sha256: sha(v2) })
      }
    } else {
      t.equal(del.status, 409, `round ${round}: a delete that meets the overwrite is refused`)
      t.equal(delBody.code, 'FST_SPACES_UPLOAD_IN_PROGRESS')
      outcome = 'overwrite; delete refused while it ran (409)'
      live.push(key)
      trash.push({ key, sha256: sha(v1) })
    }
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1
    const get = await fetch(url, { headers })
    if (live.includes(key)) t.equal(sha(Buffer.from(await get.arrayBuffer())), sha(v2), `round ${round}: the live file is the overwrite`)
    else t.equal(get.status, 404, `round ${round}: nothing live after overwrite-then-delete`)
  }
  t.comment(JSON.stringify(outcomes))

  // Every version is somewhere it can be recovered from, and the trash bytes are what their records say.
  const rows = (await app.inject({ method: 'GET', url: '/v1/trash?limit=1000', headers })).json().items as Array<{ key: string; sha256: string; trashId: string }>
  t.same(
    rows.map((r) => `${r.key} ${r.sha256}`).sort(),
    trash.map((r) => `${r.key} ${r.sha256}`).sort(),
    'trash holds exactly the displaced and deleted versions',
  )
  for (const row of rows) {
    const object = await bucket.client.send(new GetObjectCommand({ Bucket: bucket.name, Key: `.trash/org-1/${row.trashId}` }))
    t.equal(sha(Buffer.from(await object.Body!.transformToByteArray())), row.sha256, `trash bytes of ${row.key} match their record`)
  }
  await assertStored(t, bucket, app.storage.ledger, { live, trash: rows.map((r) => `.trash/org-1/${r.trashId}`) }, 'after the races')
})
