// Three sidecars (separate processes) on one PostgreSQL ledger and one bucket: any instance serves
// any request and sees the others' writes, one key has one winner however the uploads are spread,
// and the audit trail stays one chain that verifies, and names the event someone edits.
import t from 'tap'
import { runCli } from './helpers/cli.js'
import { startCluster } from './helpers/cluster.js'
import { pgExec } from './helpers/pg.js'
import { createTestBucket } from './helpers/s3.js'

const ADMIN = { sub: 'medic-admin', org: 'org-1', roles: ['admin'] }
const KEY = 'org-1/epcr/document/epcr-456/report.pdf'

t.test('three sidecars, one ledger, one bucket', async (t) => {
  const bucket = await createTestBucket(t, 'cluster')
  const cluster = await startCluster(t, bucket, ['A', 'B', 'C'])
  const [a, b, c] = cluster.instances.sort((x, y) => x.name.localeCompare(y.name)) as [typeof cluster.instances[0], typeof cluster.instances[0], typeof cluster.instances[0]]
  const authorization = `Bearer ${cluster.token(ADMIN)}`
  const call = (instance: { url: string; name: string }, method: string, path: string, init: { body?: string | Buffer; headers?: Record<string, string> } = {}) =>
    fetch(`${instance.url}${path}`, { method, body: init.body, headers: { authorization, 'x-request-id': `${instance.name}-${method}-${Date.now()}`, ...init.headers } })

  await t.test('upload on A, download on B, delete on C, restore on A, purge on B', async (t) => {
    const body = Buffer.from('%PDF-1.7 run report')
    t.equal((await call(a, 'PUT', `/v1/files/${KEY}`, { body })).status, 201)
    const download = await call(b, 'GET', `/v1/files/${KEY}`)
    t.equal(download.status, 200)
    t.same(Buffer.from(await download.arrayBuffer()), body, 'B serves what A stored')
    const deleted = await call(c, 'DELETE', `/v1/files/${KEY}`)
    t.equal(deleted.status, 200)
    const { trashId } = (await deleted.json()) as { trashId: string }
    t.equal((await call(a, 'GET', `/v1/files/${KEY}`)).status, 404, 'A sees C\'s delete')
    t.equal((await call(a, 'POST', `/v1/trash/${trashId}/restore`)).status, 200, 'A restores what C deleted')
    t.equal((await call(b, 'GET', `/v1/files/${KEY}`)).status, 200, 'B sees A\'s restore')
    t.equal((await call(c, 'DELETE', `/v1/files/${KEY}`)).status, 200)
    const again = ((await (await call(a, 'GET', '/v1/trash')).json()) as { items: Array<{ trashId: string }> }).items[0]!.trashId
    t.equal((await call(b, 'DELETE', `/v1/trash/${again}`)).status, 200, 'B purges')
    t.equal((await call(c, 'POST', `/v1/trash/${again}/restore`)).status, 404, 'and C sees it gone')
    t.same(await bucket.keys(), [], 'nothing is left in the bucket')
  })

  await t.test('a proxy URL signed on A is served by B; a direct upload started on A completes on C', async (t) => {
    t.equal((await call(a, 'PUT', `/v1/files/${KEY}`, { body: 'signed' })).status, 201)
    const signed = await call(a, 'POST', '/v1/signed-urls', { body: JSON.stringify({ key: KEY, mode: 'proxy' }), headers: { 'content-type': 'application/json' } })
    const { url } = (await signed.json()) as { url: string }
    const onB = new URL(url)
    onB.port = String(b.port)
    const served = await fetch(onB)
    t.equal(served.status, 200)
    t.equal(await served.text(), 'signed')

    const started = await call(a, 'POST', '/v1/uploads', {
      body: JSON.stringify({ system: 'epcr', objectType: 'document', objectId: 'epcr-9', filename: 'scan.pdf', contentType: 'application/pdf', size: 5 }),
      headers: { 'content-type': 'application/json' },
    })
    t.equal(started.status, 201)
    const upload = (await started.json()) as { key: string; url: string; headers: Record<string, string> }
    t.equal((await fetch(upload.url, { method: 'PUT', body: 'hello', headers: upload.headers })).status, 200)
    const completed = await call(c, 'POST', '/v1/uploads/complete', { body: JSON.stringify({ key: upload.key }), headers: { 'content-type': 'application/json' } })
    t.equal(completed.status, 201, await completed.clone().text())
  })

  await t.test('30 uploads of one key spread over the three: one 201, 29 409, one object', async (t) => {
    const key = 'org-1/epcr/document/race/one.pdf'
    const statuses = await Promise.all(
      Array.from({ length: 30 }, (_, i) => call([a, b, c][i % 3]!, 'PUT', `/v1/files/${key}`, { body: `body-${i}` }).then((r) => r.status)),
    )
    t.equal(statuses.filter((s) => s === 201).length, 1, statuses.join(','))
    t.equal(statuses.filter((s) => s === 409).length, 29)
    t.same(await bucket.keys('org-1/epcr/document/race/'), [key])
  })

  await t.test('the chain holds events from all three, verifies, and names an edited event', async (t) => {
    for (const instance of [a, b, c]) {
      const page = (await (await call(instance, 'GET', `/v1/audit?limit=1000`)).json()) as { items: Array<{ requestId: string }> }
      for (const name of ['A', 'B', 'C']) t.ok(page.items.some((e) => e.requestId.startsWith(`${name}-`)), `${instance.name} sees ${name}'s events`)
    }
    const verify = await runCli(['audit', 'verify'], cluster.env)
    t.equal(verify.code, 0, verify.stdout + verify.stderr)
    const route = (await (await call(b, 'GET', '/v1/audit/verify')).json()) as { ok: boolean; events: number }
    t.match(route, { ok: true })
    t.match(verify.stdout, new RegExp(`audit chain ok: ${route.events} events`))

    const { rows } = await pgExec(`SELECT seq, id FROM ${cluster.schema}.audit WHERE action = 'download' ORDER BY seq LIMIT 1`)
    await pgExec(`SET search_path = ${cluster.schema}; DROP TRIGGER audit_no_update ON audit;
      UPDATE audit SET actor = 'someone-else' WHERE seq = ${rows[0].seq}`)
    const tampered = await runCli(['audit', 'verify'], cluster.env)
    t.equal(tampered.code, 1)
    t.match(tampered.stdout, `BROKEN at event seq ${rows[0].seq} (id ${rows[0].id})`)
  })
})
