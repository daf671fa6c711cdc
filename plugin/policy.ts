// The access policy: who may do what, to which org and system. Pure, so every rule is testable
// without a server. Every route asks decide(); nothing else grants access.
import { UnauthorizedError } from './errors.js'
import { validateSegment } from './keys.js'
import { scopeGrants } from './scopes.js'

export interface Identity {
  sub: string
  org: string
  roles: string[]
  scopes: string[]
}

/**
 * read: download, head, list, sign. write: upload. delete: soft delete and restore.
 * purge: hard delete from trash. audit: read the audit log. usage: read usage totals.
 */
export type Action = 'read' | 'write' | 'delete' | 'purge' | 'audit' | 'usage'

/** `system` absent means org-wide, e.g. a list across every system. */
export interface Target {
  orgId: string
  system?: string
}

export type Decision = { allow: true } | { allow: false; reason: string }

function allow(): Decision {
  return { allow: true }
}

function deny(reason: string): Decision {
  return { allow: false, reason }
}

// Identities may come from a host app's identify() rather than identityFromClaims, so decide()
// treats every field as untrusted and fails closed instead of throwing.
function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []
}

function nonEmpty(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0
}

export function decide(identity: Identity, action: Action, target: Target): Decision {
  const sub: unknown = identity?.sub
  const org: unknown = identity?.org
  const orgId: unknown = target?.orgId
  if (!nonEmpty(sub)) return deny('no subject')
  if (!nonEmpty(org)) return deny('no organization')
  if (!nonEmpty(orgId) || orgId !== org) return deny('other organization')

  const roles = stringList(identity.roles)
  if (roles.includes('admin')) return allow()

  switch (action) {
    case 'audit':
    case 'usage':
      return roles.includes('auditor') ? allow() : deny(`${action} requires the auditor or admin role`)
    case 'purge':
      return deny('purge requires the admin role')
    case 'read':
    case 'write':
    case 'delete': {
      const system = typeof target.system === 'string' ? target.system : undefined
      // The auditor role grants nothing on file content; explicit scopes still apply to auditors.
      if (stringList(identity.scopes).some((s) => scopeGrants(s, action, system))) return allow()
      return deny(`missing scope ${system ?? '*'}:${action}`)
    }
    default:
      return deny('unknown action')
  }
}

/**
 * The systems in the identity's own org on which it may perform `action`: '*' when the grant is
 * org-wide (so a list need not be filtered), else the allowed subset of `allSystems` (maybe empty).
 */
export function grantedSystems(identity: Identity, action: Action, allSystems: readonly string[]): string[] | '*' {
  const orgId = identity?.org
  if (decide(identity, action, { orgId }).allow) return '*'
  return allSystems.filter((system) => decide(identity, action, { orgId, system }).allow)
}

function claimList(value: unknown, name: string): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new UnauthorizedError(`token ${name} must be an array of strings`)
  }
  return [...value]
}

function claimScopes(value: unknown, name: string): string[] {
  if (typeof value === 'string') return value.split(/\s+/).filter((s) => s.length > 0)
  if (value === undefined) return []
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new UnauthorizedError(`token ${name} must be a space-separated string or an array of strings`)
  }
  return value.filter((s) => s.length > 0)
}

/**
 * Builds an Identity from verified JWT claims. A claim of the wrong shape is a 401 rather than
 * "no grants", so a misconfigured issuer shows up as an error instead of silent denials.
 * `scope` wins over `scp` when both are present (`scp` is what Azure AD and Okta issue).
 */
export function identityFromClaims(claims: unknown): Identity {
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
    throw new UnauthorizedError('token has no claims')
  }
  const c = claims as Record<string, unknown>
  if (!nonEmpty(c.sub)) throw new UnauthorizedError('token lacks sub')
  if (c.org === undefined || c.org === null || c.org === '') throw new UnauthorizedError('token lacks org')
  let org: string
  try {
    org = validateSegment('orgId', c.org)
  } catch {
    throw new UnauthorizedError('token org is not a valid organization id')
  }
  const scopes = c.scope !== undefined ? claimScopes(c.scope, 'scope') : claimScopes(c.scp, 'scp')
  return { sub: c.sub, org, roles: claimList(c.roles, 'roles'), scopes }
}
