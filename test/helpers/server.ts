// The sidecar built from an environment, exactly as `spaces-proxy serve` builds it, with its
// logs captured so tests can grep them.
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { build, type BuildOverrides } from '../../server/app.js'
import { loadConfig, type ServerConfig } from '../../server/config.js'
import { loggerOptions } from '../../server/logging.js'
import { createTestBucket } from './s3.js'
import { tempDir } from './temp.js'

export const JWT_SECRET = 'test-secret-0123456789-0123456789-abcdef'

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface TestServer {
  app: FastifyInstance
  config: ServerConfig
  /** Every log line the server wrote. */
  logs: string[]
  token(claims: Record<string, unknown>, options?: { expiresIn?: string | number }): string
  auth(claims: Record<string, unknown>): { authorization: string }
}

/** Builds the sidecar on a temp data dir; `env` adds to (or overrides) the defaults. */
export async function buildServer(
  t: Teardown,
  env: Record<string, string> = {},
  overrides: Pick<BuildOverrides, 'onRoute'> = {},
): Promise<TestServer> {
  const dir = tempDir('fastify-spaces-server-')
  const config = loadConfig({
    JWT_SECRET,
    LEDGER_PATH: join(dir, 'ledger.db'),
    DATA_DIR: join(dir, 'data'),
    LOG_LEVEL: 'debug',
    SWEEP_INTERVAL_SECONDS: '0',
    ...env,
  })
  const logs: string[] = []
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(...String(chunk).split('\n').filter(Boolean))
      done()
    },
  })
  const app = await build(config, { ...overrides, logger: { ...loggerOptions(config.logLevel), stream: sink } })
  t.teardown(() => app.close())
  await app.ready()
  const token = (claims: Record<string, unknown>, options?: { expiresIn?: string | number }) =>
    app.jwt.sign(claims, options as never)
  return { app, config, logs, token, auth: (claims) => ({ authorization: `Bearer ${token(claims)}` }) }
}

/** Environment that points the sidecar at a bucket on the test S3 server. */
export function spacesEnv(bucket: {
  name: string
  connection: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string; forcePathStyle?: boolean }
}) {
  return {
    SPACES_ENDPOINT: bucket.connection.endpoint,
    SPACES_REGION: bucket.connection.region,
    SPACES_BUCKET: bucket.name,
    SPACES_ACCESS_KEY: bucket.connection.accessKeyId,
    SPACES_SECRET_KEY: bucket.connection.secretAccessKey,
    SPACES_FORCE_PATH_STYLE: String(bucket.connection.forcePathStyle ?? true),
  }
}

/** The sidecar on a fresh bucket of the test S3 server, listening on a loopback port. */
export async function listeningOnBucket(t: Teardown, label: string): Promise<TestServer & { base: string }> {
  const server = await buildServer(t, spacesEnv(await createTestBucket(t, label)))
  await server.app.listen({ host: '127.0.0.1', port: 0 })
  const address = server.app.server.address() as { port: number }
  return { ...server, base: `http://127.0.0.1:${address.port}` }
}
