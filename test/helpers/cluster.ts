// Several sidecars as separate processes (`spaces-proxy serve`) on one PostgreSQL ledger and one
// bucket, as a platform runs them behind a load balancer.
import { createSigner } from 'fast-jwt'
import type { TestBucket } from './s3.js'
import { startCliServer, type RunningServer } from './cli.js'
import { freshSchema } from './pg.js'
import { JWT_SECRET, spacesEnv } from './server.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface Instance extends RunningServer {
  name: string
  url: string
}

export interface Cluster {
  env: Record<string, string>
  schema: string
  instances: Instance[]
  token(claims: Record<string, unknown>): string
  start(name: string): Promise<Instance>
}

/** Starts `names.length` sidecars on a fresh schema; each is killed at teardown. */
export async function startCluster(t: Teardown, bucket: TestBucket, names: string[], extra: Record<string, string> = {}): Promise<Cluster> {
  const { schema, url } = await freshSchema(t, 'cluster')
  const env = {
    ...spacesEnv(bucket),
    JWT_SECRET,
    LEDGER_URL: url,
    LEDGER_POOL_MAX: '5',
    LOG_LEVEL: 'info', // startCliServer waits for the "Server listening" line
    SWEEP_INTERVAL_SECONDS: '0',
    ...extra,
  }
  const sign = createSigner({ key: JWT_SECRET, expiresIn: 600_000 })
  const instances: Instance[] = []
  async function start(name: string): Promise<Instance> {
    const server = await startCliServer(env)
    t.teardown(() => server.child.kill('SIGKILL'))
    const instance = { ...server, name, url: `http://127.0.0.1:${server.port}` }
    instances.push(instance)
    return instance
  }
  // One at a time first, so the schema is created once; later ones would wait on its lock anyway.
  await start(names[0]!)
  await Promise.all(names.slice(1).map(start))
  return { env, schema, instances, token: (claims) => sign(claims), start }
}
