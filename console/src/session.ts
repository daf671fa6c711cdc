// The signed-in user: the bearer token (in sessionStorage only, so it dies with the tab) and
// what its claims say. Claims are decoded here, never verified: they shape the screens, and the
// server decides every request.
import { scopeGrants } from '../../plugin/scopes.js'

const STORAGE_KEY = 'fastify-spaces.console.token'

export type FileAction = 'read' | 'write' | 'delete'

export interface Session {
  token: string
  sub: string
  org: string
  roles: string[]
  scopes: string[]
  /** Seconds since the epoch, when the token says. */
  expiresAt?: number
}

function base64UrlDecode(part: string): string {
  const base64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=')
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))
  return new TextDecoder().decode(bytes)
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []
}

/** Reads a JWT's claims; throws a message for the sign-in form when it is not one. */
export function sessionFromToken(raw: string): Session {
  const token = raw.trim().replace(/^Bearer\s+/i, '')
  const parts = token.split('.')
  if (parts.length !== 3) throw new Error('This is not a JWT: it should have three dot-separated parts.')
  let claims: Record<string, unknown>
  try {
    claims = JSON.parse(base64UrlDecode(parts[1]!)) as Record<string, unknown>
  } catch {
    throw new Error('The token’s claims could not be read.')
  }
  if (typeof claims.sub !== 'string' || typeof claims.org !== 'string') {
    throw new Error('The token has no sub or org claim, so the server would refuse it.')
  }
  const scope = claims.scope ?? claims.scp
  const scopes = typeof scope === 'string' ? scope.split(/\s+/).filter(Boolean) : strings(scope)
  const session: Session = { token, sub: claims.sub, org: claims.org, roles: strings(claims.roles), scopes }
  if (typeof claims.exp === 'number') {
    session.expiresAt = claims.exp
    if (claims.exp * 1000 <= Date.now()) throw new Error('This token has expired; ask for a new one.')
  }
  return session
}

export function loadSession(): Session | undefined {
  const token = sessionStorage.getItem(STORAGE_KEY)
  if (!token) return undefined
  try {
    return sessionFromToken(token)
  } catch {
    sessionStorage.removeItem(STORAGE_KEY)
    return undefined
  }
}

export function saveSession(session: Session): void {
  sessionStorage.setItem(STORAGE_KEY, session.token)
}

export function clearSession(): void {
  sessionStorage.removeItem(STORAGE_KEY)
}

export const isAdmin = (s: Session): boolean => s.roles.includes('admin')

/** Audit log and usage: admins and auditors of the org. */
export const canAudit = (s: Session): boolean => isAdmin(s) || s.roles.includes('auditor')

export const canPurge = isAdmin

/** What the policy would say about `action` on `system` of the token's own org. */
export function can(s: Session, action: FileAction, system: string): boolean {
  return isAdmin(s) || s.scopes.some((scope) => scopeGrants(scope, action, system))
}

/** The systems on which the token may do `action`. */
export function systemsFor(s: Session, action: FileAction, systems: readonly string[]): string[] {
  return systems.filter((system) => can(s, action, system))
}
