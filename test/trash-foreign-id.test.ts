// Another org's trash id must look exactly like an unknown one: the same status, code and
// message for restore and purge, and nothing of the other org (key, filename) in the caller's
// audit events.
import { test } from 'tap'
import { randomUUID } from 'node:crypto'
import { buildServer } from './helpers/server.js'

const FOREIGN_KEY = 'org-2/epcr/document/chart-9/Jane-Doe-chart.pdf'
const OWNER = { sub: 'org2-admin', org: 'org-2', roles: ['admin'] }
const PROBER = { sub: 'prober', org: 'org-1', roles: ['admin'] }

test('restore and purge of another org\'s trash id answer as an unknown id and audit no foreign key', async (t) => {
  const { app, auth } = await buildServer(t)
  const put = await app.inject({ method: 'PUT', url: `/v1/files/${FOREIGN_KEY}`, headers: auth(OWNER), payload: 'chart' })
  t.equal(put.statusCode, 201)
  const { trashId } = (await app.inject({ method: 'DELETE', url: `/v1/files/${FOREIGN_KEY}`, headers: auth(OWNER) })).json()
  const unknownId = randomUUID()

  for (const [method, path] of [['POST', '/restore'], ['DELETE', '']] as const) {
    const foreign = await app.inject({ method, url: `/v1/trash/${trashId}${path}`, headers: auth(PROBER) })
    const unknown = await app.inject({ method, url: `/v1/trash/${unknownId}${path}`, headers: auth(PROBER) })
    const shape = (res: typeof foreign, id: string) => ({ ...res.json(), message: res.json().message.replace(id, '<id>') })
    t.equal(foreign.statusCode, 404, `${method} of a foreign id`)
    t.same(shape(foreign, trashId), shape(unknown, unknownId), `${method}: foreign and unknown ids answer alike`)
    t.equal(foreign.json().code, 'FST_SPACES_TRASH_NOT_FOUND')
  }

  const probes = (await app.storage.ledger.queryAudit({ actor: 'prober' }, { limit: 10 })).items
  t.equal(probes.length, 4, 'every attempt is audited')
  for (const event of probes) {
    t.equal(event.key, null, `${event.action}: no key recorded`)
    t.notMatch(JSON.stringify(event), /Jane-Doe|org-2/, `${event.action}: nothing of the other org in the event`)
    t.match(event, { result: 'error', status: 404, errorCode: 'FST_SPACES_TRASH_NOT_FOUND', org: 'org-1' })
  }
  const restore = await app.inject({ method: 'POST', url: `/v1/trash/${trashId}/restore`, headers: auth(OWNER) })
  t.equal(restore.statusCode, 200, 'the owner can still restore it')
})
