import t from 'tap'
import { decide, grantedSystems, identityFromClaims } from '../plugin/policy.js'
import type { Action, Identity, Target } from '../plugin/policy.js'
import { UnauthorizedError } from '../plugin/errors.js'
import { DEFAULT_SYSTEMS } from '../plugin/keys.js'

const ORG = 'org-1'
const OTHER = 'org-2'

function id(partial: Partial<Identity>): Identity {
  return { sub: 'user-1', org: ORG, roles: [], scopes: [], ...partial }
}

const tokens = {
  admin: id({ roles: ['admin'] }),
  otherAdmin: id({ org: OTHER, roles: ['admin'] }),
  auditor: id({ roles: ['auditor'] }),
  auditorReader: id({ roles: ['auditor'], scopes: ['billing:read'] }),
  billingReader: id({ scopes: ['billing:read'] }),
  billingAll: id({ scopes: ['billing:*'] }),
  allRead: id({ scopes: ['*:read'] }),
  allAll: id({ scopes: ['*:*'] }),
  mixed: id({ scopes: ['epcr:write', 'fax:delete', 'openid', 'profile'] }),
  malformed: id({
    scopes: [
      'billing',
      'billing:',
      ':read',
      ':',
      'billing:read:extra',
      'billing:purge',
      'billing:audit',
      '*:usage',
      'billing:Read',
      'billing :read',
      '',
      '**:read',
    ],
  }),
  unknownRoles: id({ roles: ['superuser', 'Admin', 'root', 'auditors'], scopes: [] }),
  none: id({}),
  emptySub: id({ sub: '', roles: ['admin'] }),
  emptyOrg: id({ org: '', roles: ['admin'] }),
  // Host apps may hand decide() anything; a string is not a role list even though 'admin'.includes('admin').
  rolesString: id({ roles: 'admin' as unknown as string[] }),
  scopesString: id({ scopes: '*:*' as unknown as string[] }),
  nullFields: { sub: null, org: null, roles: null, scopes: null } as unknown as Identity,
} satisfies Record<string, Identity>

type Token = keyof typeof tokens
type Case = [Token, Action, Target, boolean, RegExp?]

const own = (system?: string): Target => (system === undefined ? { orgId: ORG } : { orgId: ORG, system })
const other = (system?: string): Target => (system === undefined ? { orgId: OTHER } : { orgId: OTHER, system })

const cases: Case[] = [
  // No grant crosses orgs, not even admin's.
  ['admin', 'read', other('billing'), false, /other organization/],
  ['admin', 'purge', other(), false, /other organization/],
  ['admin', 'audit', other(), false, /other organization/],
  ['otherAdmin', 'read', own('billing'), false, /other organization/],
  ['otherAdmin', 'usage', own(), false, /other organization/],
  ['allAll', 'read', other('billing'), false, /other organization/],
  ['auditor', 'audit', other(), false, /other organization/],
  ['billingReader', 'read', { orgId: '' }, false, /other organization/],
  ['billingReader', 'read', { orgId: 'ORG-1', system: 'billing' }, false, /other organization/],
  // Admin: everything in its own org.
  ['admin', 'read', own('billing'), true],
  ['admin', 'write', own('epcr'), true],
  ['admin', 'delete', own('fax'), true],
  ['admin', 'purge', own(), true],
  ['admin', 'audit', own(), true],
  ['admin', 'usage', own(), true],
  ['admin', 'read', own(), true],
  ['otherAdmin', 'purge', other(), true],
  // Exact scopes.
  ['billingReader', 'read', own('billing'), true],
  ['billingReader', 'write', own('billing'), false, /missing scope billing:write/],
  ['billingReader', 'delete', own('billing'), false, /missing scope billing:delete/],
  ['billingReader', 'read', own('epcr'), false, /missing scope epcr:read/],
  ['billingReader', 'read', own(), false, /missing scope \*:read/],
  ['mixed', 'write', own('epcr'), true],
  ['mixed', 'read', own('epcr'), false, /missing scope epcr:read/],
  ['mixed', 'delete', own('fax'), true],
  ['mixed', 'delete', own('epcr'), false, /missing scope epcr:delete/],
  // Wildcards on either side.
  ['billingAll', 'read', own('billing'), true],
  ['billingAll', 'write', own('billing'), true],
  ['billingAll', 'delete', own('billing'), true],
  ['billingAll', 'read', own('fax'), false, /missing scope fax:read/],
  ['billingAll', 'read', own(), false, /missing scope \*:read/],
  ['allRead', 'read', own('billing'), true],
  ['allRead', 'read', own('app-builder'), true],
  ['allRead', 'read', own(), true],
  ['allRead', 'write', own('billing'), false, /missing scope billing:write/],
  ['allAll', 'write', own('fax'), true],
  ['allAll', 'delete', own(), true],
  // Scopes never grant role-only actions.
  ['allAll', 'purge', own(), false, /admin/],
  ['allAll', 'audit', own(), false, /auditor or admin/],
  ['allAll', 'usage', own(), false, /auditor or admin/],
  ['billingAll', 'purge', own('billing'), false, /admin/],
  // Auditor: audit log and usage, but no file content.
  ['auditor', 'audit', own(), true],
  ['auditor', 'usage', own(), true],
  ['auditor', 'read', own('billing'), false, /missing scope billing:read/],
  ['auditor', 'read', own(), false, /missing scope/],
  ['auditor', 'write', own('billing'), false, /missing scope/],
  ['auditor', 'delete', own('billing'), false, /missing scope/],
  ['auditor', 'purge', own(), false, /admin/],
  // ...though explicit scopes still apply to an auditor.
  ['auditorReader', 'read', own('billing'), true],
  ['auditorReader', 'write', own('billing'), false, /missing scope/],
  ['billingReader', 'audit', own(), false, /auditor or admin/],
  ['billingReader', 'usage', own(), false, /auditor or admin/],
  // Malformed scopes and unknown roles grant nothing.
  ['malformed', 'read', own('billing'), false, /missing scope/],
  ['malformed', 'read', own(), false, /missing scope/],
  ['malformed', 'purge', own(), false, /admin/],
  ['malformed', 'usage', own(), false, /auditor or admin/],
  ['unknownRoles', 'read', own('billing'), false, /missing scope/],
  ['unknownRoles', 'purge', own(), false, /admin/],
  ['unknownRoles', 'audit', own(), false, /auditor or admin/],
  ['none', 'read', own('billing'), false, /missing scope/],
  ['none', 'usage', own(), false, /auditor or admin/],
  // Empty or wrongly typed identity fields fail closed.
  ['emptySub', 'read', own('billing'), false, /no subject/],
  ['emptyOrg', 'read', { orgId: '', system: 'billing' }, false, /no organization/],
  ['emptyOrg', 'purge', { orgId: '' }, false, /no organization/],
  ['rolesString', 'purge', own(), false, /admin/],
  ['scopesString', 'read', own('billing'), false, /missing scope/],
  ['nullFields', 'read', { orgId: null as unknown as string }, false, /no subject/],
]

t.test('decide', async (t) => {
  t.ok(cases.length >= 50, `table has ${cases.length} cases`)
  for (const [token, action, target, allow, reason] of cases) {
    const label = `${token} ${action} ${target.orgId}/${target.system ?? '(org-wide)'} -> ${allow ? 'allow' : 'deny'}`
    const decision = decide(tokens[token], action, target)
    t.equal(decision.allow, allow, label)
    if (!decision.allow) {
      t.match(decision.reason, reason ?? /./, `${label}: reason "${decision.reason}"`)
      t.notMatch(decision.reason, /secret|token|Bearer/i, `${label}: reason leaks nothing`)
    }
  }
})

t.test('decide never throws on garbage', async (t) => {
  const garbage = [undefined, null, 42, 'admin', {}, { sub: 'u', org: ORG, roles: [1, null], scopes: [{}, 7] }]
  for (const g of garbage) {
    t.doesNotThrow(() => {
      const d = decide(g as unknown as Identity, 'read', { orgId: ORG, system: 'billing' })
      t.equal(d.allow, false, `garbage ${JSON.stringify(g)} denied`)
    })
  }
  t.equal(decide(tokens.admin, 'nuke' as Action, own()).allow, true, 'admin short-circuits before the action')
  t.same(decide(tokens.none, 'nuke' as Action, own()), { allow: false, reason: 'unknown action' })
})

t.test('grantedSystems', async (t) => {
  const all = DEFAULT_SYSTEMS
  t.equal(grantedSystems(tokens.admin, 'read', all), '*')
  t.equal(grantedSystems(tokens.allRead, 'read', all), '*')
  t.same(grantedSystems(tokens.allRead, 'write', all), [])
  t.same(grantedSystems(tokens.billingReader, 'read', all), ['billing'])
  t.same(grantedSystems(id({ scopes: ['billing:read', 'fax:*', 'epcr:write'] }), 'read', all), ['billing', 'fax'])
  t.same(grantedSystems(tokens.billingReader, 'read', ['epcr']), [], 'only systems from the list')
  t.same(grantedSystems(tokens.auditor, 'read', all), [])
  t.equal(grantedSystems(tokens.auditor, 'audit', all), '*')
  t.same(grantedSystems(tokens.allAll, 'purge', all), [])
  t.same(grantedSystems(tokens.emptyOrg, 'read', all), [])
  t.same(grantedSystems(tokens.malformed, 'read', all), [])
})

t.test('identityFromClaims', async (t) => {
  t.same(identityFromClaims({ sub: 'u1', org: 'org-1' }), { sub: 'u1', org: 'org-1', roles: [], scopes: [] })
  t.same(
    identityFromClaims({
      sub: 'u1',
      org: 'org_1.a',
      roles: ['admin', 'auditor'],
      scope: '  billing:read\tepcr:write \n fax:*  ',
      iat: 1,
      extra: 'ignored',
    }),
    { sub: 'u1', org: 'org_1.a', roles: ['admin', 'auditor'], scopes: ['billing:read', 'epcr:write', 'fax:*'] },
  )
  t.same(identityFromClaims({ sub: 'u', org: 'o', scope: ['billing:read', '*:*'] }).scopes, ['billing:read', '*:*'])
  t.same(identityFromClaims({ sub: 'u', org: 'o', scp: ['epcr:read'] }).scopes, ['epcr:read'])
  t.same(identityFromClaims({ sub: 'u', org: 'o', scp: 'epcr:read fax:write' }).scopes, ['epcr:read', 'fax:write'])
  t.same(identityFromClaims({ sub: 'u', org: 'o', scope: 'billing:read', scp: '*:*' }).scopes, ['billing:read'], 'scope wins over scp')
  t.same(identityFromClaims({ sub: 'u', org: 'o', scope: '' }).scopes, [])
  t.same(identityFromClaims({ sub: 'u', org: 'o', roles: [] }).roles, [])
  const roles = ['admin']
  const identity = identityFromClaims({ sub: 'u', org: 'o', roles })
  roles.push('x')
  t.same(identity.roles, ['admin'], 'roles are copied, not shared with the claims')

  const bad: Array<[string, unknown, RegExp]> = [
    ['null claims', null, /no claims/],
    ['string claims', 'sub', /no claims/],
    ['array claims', [], /no claims/],
    ['missing sub', { org: 'o' }, /token lacks sub/],
    ['empty sub', { sub: '', org: 'o' }, /token lacks sub/],
    ['numeric sub', { sub: 42, org: 'o' }, /token lacks sub/],
    ['missing org', { sub: 'u' }, /token lacks org/],
    ['empty org', { sub: 'u', org: '' }, /token lacks org/],
    ['traversal org', { sub: 'u', org: '../x' }, /org is not a valid/],
    ['dot org', { sub: 'u', org: '.trash' }, /org is not a valid/],
    ['dotdot org', { sub: 'u', org: '..' }, /org is not a valid/],
    ['slash org', { sub: 'u', org: 'a/b' }, /org is not a valid/],
    ['long org', { sub: 'u', org: 'a'.repeat(129) }, /org is not a valid/],
    ['numeric org', { sub: 'u', org: 123 }, /org is not a valid/],
    ['roles string', { sub: 'u', org: 'o', roles: 'admin' }, /roles must be an array of strings/],
    ['roles object', { sub: 'u', org: 'o', roles: { admin: true } }, /roles must be an array/],
    ['roles with number', { sub: 'u', org: 'o', roles: ['admin', 1] }, /roles must be an array of strings/],
    ['roles null', { sub: 'u', org: 'o', roles: null }, /roles must be an array/],
    ['scope number', { sub: 'u', org: 'o', scope: 5 }, /scope must be/],
    ['scope with object', { sub: 'u', org: 'o', scope: ['a:read', {}] }, /scope must be/],
    ['scp number', { sub: 'u', org: 'o', scp: true }, /scp must be/],
  ]
  for (const [name, claims, message] of bad) {
    let thrown: unknown
    try {
      identityFromClaims(claims)
    } catch (err) {
      thrown = err
    }
    t.ok(thrown instanceof UnauthorizedError, `${name}: throws UnauthorizedError`)
    t.match(thrown, { statusCode: 401, code: 'FST_SPACES_UNAUTHORIZED', message }, `${name}: 401 with reason`)
  }
})
