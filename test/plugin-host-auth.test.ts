// Inside a host app: identity defaults to request.user as @fastify/jwt sets it, and the host can
// replace the policy with authorize(request, action, key). Denials are 403 and audited.
import { test } from 'tap'
import Fastify from 'fastify'
import jwt from '@fastify/jwt'
import { spaces } from '../plugin/index.js'
import { tempLedgerPath } from './helpers/app.js'
import { createTestBucket } from './helpers/s3.js'

const SECRET = 'host-app-secret-host-app-secret-0123'
const KEY = 'org-7/workspace/doc/d-1/notes.txt'

test('identity from request.user, policy from the host', async (t) => {
  const bucket = await createTestBucket(t, 'host')
  const app = Fastify()
  await app.register(jwt, { secret: SECRET })
  app.addHook('onRequest', async (request) => {
    if (request.headers.authorization && !request.routeOptions.config.public) await request.jwtVerify()
  })
  const asked: string[] = []
  await app.register(spaces, {
    spaces: bucket.connection,
    ledger: { path: tempLedgerPath() },
    prefix: '/storage',
    // The host's own rule: nobody deletes through this app; everything else follows the token's org.
    authorize: (request, action, key) => {
      asked.push(`${action} ${key}`)
      const org = (request.user as { org: string }).org
      return action !== 'delete' && key.startsWith(`${org}/`)
    },
  })
  t.teardown(() => app.close())
  const bearer = (claims: object) => ({ authorization: `Bearer ${app.jwt.sign(claims)}` })
  const user = bearer({ sub: 'writer', org: 'org-7' })

  t.equal((await app.inject({ method: 'PUT', url: `/storage/files/${KEY}`, payload: 'notes' })).statusCode, 401, 'no token, no identity')
  const put = await app.inject({ method: 'PUT', url: `/storage/files/${KEY}`, headers: user, payload: 'notes' })
  t.equal(put.statusCode, 201, put.body)
  t.equal(put.json().createdBy, 'writer', 'the actor is the token subject')
  t.equal((await app.inject({ method: 'GET', url: `/storage/files/${KEY}`, headers: user })).body, 'notes')

  const del = await app.inject({ method: 'DELETE', url: `/storage/files/${KEY}`, headers: user })
  t.equal(del.statusCode, 403, "the host's policy refuses deletes")
  t.equal(del.json().code, 'FST_SPACES_FORBIDDEN')
  const other = await app.inject({ method: 'GET', url: `/storage/files/${KEY}`, headers: bearer({ sub: 'x', org: 'org-8' }) })
  t.equal(other.statusCode, 403)
  t.same(asked, [`write ${KEY}`, `read ${KEY}`, `delete ${KEY}`, `read ${KEY}`], 'authorize is asked with action and key')

  const denied = (await app.storage.ledger.queryAudit({ key: KEY }, { limit: 10 })).items.filter((e) => e.result === 'denied')
  t.same(denied.map((e) => `${e.action}:${e.actor}:${e.status}`), ['download:x:403', 'soft_delete:writer:403', 'upload:null:401'])
})
