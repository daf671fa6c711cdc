// The sidecar's own packages are optional peers of fastify-spaces, so that plugin users never
// install them. The CLI checks them before loading anything that imports them, and says what to
// install instead of failing with ERR_MODULE_NOT_FOUND.
import { createRequire } from 'node:module'

/**
 * What the sidecar and its commands import beyond the plugin's own dependencies. The ledger's
 * driver (better-sqlite3, or pg with LEDGER_URL) is not here: it loads when the ledger opens, and
 * a missing one is FST_SPACES_LEDGER_DRIVER_MISSING, naming it.
 */
export const SIDECAR_PACKAGES = [
  'fastify',
  '@fastify/cors',
  '@fastify/jwt',
  '@fastify/swagger',
  '@fastify/swagger-ui',
  'env-schema',
  'prom-client',
] as const

function isInstalled(name: string): boolean {
  try {
    import.meta.resolve(name)
    return true
  } catch {
    return false
  }
}

/** Undefined when everything is there, else the message that names what to install. */
export function missingPackagesMessage(): string | undefined {
  const missing = SIDECAR_PACKAGES.filter((name) => !isInstalled(name))
  if (missing.length === 0) return undefined
  const { peerDependencies } = createRequire(import.meta.url)('fastify-spaces/package.json') as {
    peerDependencies: Record<string, string>
  }
  const specs = missing.map((name) => `'${name}@${peerDependencies[name]}'`)
  return [
    `spaces-proxy needs packages that the plugin alone does not: ${missing.join(', ')}.`,
    `Install them next to fastify-spaces:`,
    ``,
    `  npm install ${specs.join(' ')}`,
    ``,
  ].join('\n')
}
