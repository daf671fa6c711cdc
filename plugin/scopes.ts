// The scope grammar (`system:action`, `*` wildcards), with no imports: the policy decides with it,
// and the console bundles the same rule to shape its screens (the server stays the authority).

// Only these actions can come from a scope; purge, audit and usage are role-only, so a broad
// `*:*` scope handed to an integration can never empty the trash or read the audit log.
const SCOPE_ACTIONS: ReadonlySet<string> = new Set(['read', 'write', 'delete'])

/** True when `scope` is a well-formed `system:action` that covers `action` on `system` (undefined = org-wide). */
export function scopeGrants(scope: string, action: string, system: string | undefined): boolean {
  const parts = scope.split(':')
  if (parts.length !== 2) return false
  const [scopeSystem, scopeAction] = parts as [string, string]
  if (scopeSystem.length === 0) return false
  if (scopeAction !== '*' && !SCOPE_ACTIONS.has(scopeAction)) return false
  if (scopeAction !== '*' && scopeAction !== action) return false
  // An org-wide target spans every system, so only a system wildcard covers it.
  if (scopeSystem === '*') return true
  return system !== undefined && scopeSystem === system
}
