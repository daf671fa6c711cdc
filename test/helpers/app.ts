// Builds a plain Fastify app with the plugin on a real bucket and a real SQLite ledger file.
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { spaces, type FastifySpacesPluginOptions } from '../../plugin/index.js'
import type { Identity } from '../../plugin/policy.js'
import type { TestBucket } from './s3.js'
import { tempDir } from './temp.js'

export const ADMIN: Identity = { sub: 'user-admin', org: 'org-1', roles: ['admin'], scopes: [] }

interface Teardown {
  teardown(fn: () => unknown): void
}

export function tempLedgerPath(): string {
  return join(tempDir('fastify-spaces-ledger-'), 'ledger.db')
}

/** The plugin in a bare app; every request acts as `identity` unless it sends x-test-org. */
export async function buildPluginApp(
  t: Teardown,
  bucket: TestBucket,
  options: Partial<FastifySpacesPluginOptions> = {},
  identity: Identity = ADMIN,
): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(spaces, {
    spaces: bucket.connection,
    ledger: { path: tempLedgerPath() },
    identify: (request) => {
      const org = request.headers['x-test-org']
      return typeof org === 'string' ? { ...identity, org } : identity
    },
    ...options,
  })
  t.teardown(() => app.close())
  return app
}
