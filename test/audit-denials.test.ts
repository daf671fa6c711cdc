// Every denial is audited, including reads of the audit trail and of usage: who tried, which
// org's trail they asked for, and that they were refused. Allowed reads are recorded too.
import { test } from 'tap'
import { buildServer } from './helpers/server.js'

const CLERK = { sub: 'clerk', org: 'org-1', scope: 'epcr:read' }
const AUDITOR = { sub: 'auditor', org: 'org-1', roles: ['auditor'] }
const OTHER_AUDITOR = { sub: 'outsider', org: 'org-2', roles: ['auditor'] }

test('denied and allowed reads of /audit, /audit/verify and /usage are audited', async (t) => {
  const { app, auth } = await buildServer(t)
  const attempts: Array<[string, Record<string, unknown>, string, number, string, string | null]> = [
    ['/v1/audit', CLERK, 'audit_read', 403, 'clerk', 'org-1/'],
    ['/v1/audit/verify', CLERK, 'audit_verify', 403, 'clerk', null],
    ['/v1/usage', CLERK, 'usage_read', 403, 'clerk', 'org-1/'],
    ['/v1/audit?orgId=org-1', OTHER_AUDITOR, 'audit_read', 403, 'outsider', 'org-1/'],
    ['/v1/usage?orgId=org-1', OTHER_AUDITOR, 'usage_read', 403, 'outsider', 'org-1/'],
    ['/v1/audit', AUDITOR, 'audit_read', 200, 'auditor', 'org-1/'],
    ['/v1/audit/verify', AUDITOR, 'audit_verify', 200, 'auditor', null],
    ['/v1/usage', AUDITOR, 'usage_read', 200, 'auditor', 'org-1/'],
  ]
  for (const [url, claims, , status] of attempts) {
    const res = await app.inject({ method: 'GET', url, headers: auth(claims) })
    t.equal(res.statusCode, status, `${url} as ${claims.sub}`)
    if (status === 403) t.equal(res.json().code, 'FST_SPACES_FORBIDDEN')
  }
  const unauthenticated = await app.inject({ method: 'GET', url: '/v1/audit' })
  t.equal(unauthenticated.statusCode, 401)

  const events = (await app.storage.ledger.queryAudit({}, { limit: 100 })).items.reverse()
  t.same(
    events.map((e) => [e.action, e.status, e.actor, e.key, e.result]),
    [
      ...attempts.map(([, , action, status, actor, key]) => [action, status, actor, key, status === 403 ? 'denied' : 'ok']),
      ['audit_read', 401, null, null, 'denied'],
    ],
    'one event per attempt, in order, with the outcome',
  )
  const outsider = events.find((e) => e.actor === 'outsider')!
  t.equal(outsider.org, 'org-2', "a cross-org attempt is filed under the caller's org")
  const filtered = await app.inject({ method: 'GET', url: '/v1/audit?action=audit_read', headers: auth(AUDITOR) })
  t.same(
    filtered.json().items.map((e: { actor: string; result: string }) => [e.actor, e.result]),
    [['auditor', 'ok'], ['clerk', 'denied']],
    "the new actions can be filtered on, within the caller's org",
  )
})
