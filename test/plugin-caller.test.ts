// A host's own route that stores a file for its caller, `app.storage.upload(input, { request })`,
// goes through the same policy and audit trail as the plugin's routes: a token of another org
// cannot write through it, and every attempt is audited.
import { test } from 'tap'
import { Readable } from 'node:stream'
import Fastify from 'fastify'
import jwt from '@fastify/jwt'
import { spaces } from '../plugin/index.js'
import { tempLedgerPath } from './helpers/app.js'
import { createTestBucket } from './helpers/s3.js'

const SECRET = 'host-app-secret-host-app-secret-0123'

test('a host route uploads as its caller: policy first, audited either way', async (t) => {
  const bucket = await createTestBucket(t, 'caller')
  const app = Fastify()
  await app.register(jwt, { secret: SECRET })
  app.addHook('onRequest', async (request) => {
    if (request.headers.authorization) await request.jwtVerify()
  })
  await app.register(spaces, { spaces: bucket.connection, ledger: { path: tempLedgerPath() }, routes: false })
  t.teardown(() => app.close())
  let released = 0
  app.post<{ Params: { orgId: string; id: string } }>('/orgs/:orgId/reports/:id/pdf', async (request, reply) => {
    const body = Readable.from([`%PDF report ${request.params.id}`]).on('close', () => released++)
    const record = await app.storage.upload(
      { key: `${request.params.orgId}/epcr/document/${request.params.id}/report.pdf`, body, contentType: 'application/pdf' },
      { request },
    )
    return reply.code(201).send(record)
  })
  const as = (claims: object) => ({ authorization: `Bearer ${app.jwt.sign(claims)}` })
  const writer = as({ sub: 'writer', org: 'org-123', scope: 'epcr:write' })

  const intruder = await app.inject({ method: 'POST', url: '/orgs/org-123/reports/r-1/pdf', headers: as({ sub: 'mallory', org: 'org-999', roles: ['admin'] }) })
  t.equal(intruder.statusCode, 403, "another org's admin cannot write into org-123")
  t.equal(intruder.json().code, 'FST_SPACES_FORBIDDEN')
  t.same(await bucket.keys(), [], 'nothing stored')

  const anonymous = await app.inject({ method: 'POST', url: '/orgs/org-123/reports/r-1/pdf' })
  t.equal(anonymous.statusCode, 401)
  t.equal(anonymous.json().code, 'FST_SPACES_UNAUTHORIZED')

  const badKey = await app.inject({ method: 'POST', url: '/orgs/..%2Fx/reports/r-1/pdf', headers: writer })
  t.equal(badKey.statusCode, 400)
  t.equal(badKey.json().code, 'FST_SPACES_INVALID_KEY')

  const ok = await app.inject({ method: 'POST', url: '/orgs/org-123/reports/r-1/pdf', headers: writer })
  t.equal(ok.statusCode, 201, ok.body)
  t.match(ok.json(), { key: 'org-123/epcr/document/r-1/report.pdf', createdBy: 'writer', size: 15 })
  t.same(await bucket.keys(), ['org-123/epcr/document/r-1/report.pdf'])
  t.equal(released, 4, 'every body stream was released, read or not')

  const events = (await app.storage.ledger.queryAudit({ action: 'upload' }, { limit: 10 })).items.reverse()
  t.same(
    events.map((e) => [e.actor, e.org, e.key, e.result, e.status, e.errorCode]),
    [
      ['mallory', 'org-999', 'org-123/epcr/document/r-1/report.pdf', 'denied', 403, 'FST_SPACES_FORBIDDEN'],
      [null, null, 'org-123/epcr/document/r-1/report.pdf', 'denied', 401, 'FST_SPACES_UNAUTHORIZED'],
      ['writer', 'org-123', '../x/epcr/document/r-1/report.pdf', 'error', 400, 'FST_SPACES_INVALID_KEY'],
      ['writer', 'org-123', 'org-123/epcr/document/r-1/report.pdf', 'ok', 201, null],
    ],
  )
  t.match(events[3], { bytes: 15, sha256: ok.json().sha256, requestId: /\S/, ip: '127.0.0.1' }, 'the event carries what a route event does')
})

test('without { request } the call acts as the system: no policy, no audit', async (t) => {
  const bucket = await createTestBucket(t, 'caller')
  const app = Fastify()
  await app.register(spaces, { spaces: bucket.connection, ledger: { path: tempLedgerPath() }, routes: false })
  t.teardown(() => app.close())
  const record = await app.storage.upload({
    key: 'org-1/fax/inbound/f-1/page.tif',
    body: Readable.from(['tiff']),
    contentType: 'image/tiff',
    actor: 'fax-gateway',
  })
  t.equal(record.createdBy, 'fax-gateway')
  t.same((await app.storage.ledger.queryAudit({}, { limit: 10 })).items, [], 'no request, no event')
})
