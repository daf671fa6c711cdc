// Starts the benchmarks' server process (sidecar-child.ts) on a fresh bucket of the S3 peer, with
// an HS256 secret and a bearer token for it, a temporary ledger, and no background sweeps.
import { spawn, type ChildProcess } from 'node:child_process'
import { createHmac, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { TestBucket } from '../../test/helpers/s3.js'
import { profileArgs } from './bench.js'

export interface Sidecar {
  child: ChildProcess
  /** `http://127.0.0.1:PORT` of the sidecar and of the bare app. */
  sidecar: string
  bare: string
  /** `Bearer ...` for an admin of org-1, valid for an hour. */
  authorization: string
  stop(): Promise<void>
}

export async function startSidecar(
  bucket: TestBucket,
  options: { profileDir?: string; env?: Record<string, string> } = {},
): Promise<Sidecar> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-sidecar-'))
  const jwtSecret = randomBytes(32).toString('hex')
  const env = {
    ...process.env,
    JWT_SECRET: jwtSecret,
    LEDGER_PATH: join(dir, 'ledger.db'),
    DATA_DIR: join(dir, 'data'),
    SWEEP_INTERVAL_SECONDS: '0',
    SPACES_ENDPOINT: bucket.connection.endpoint,
    SPACES_REGION: bucket.connection.region,
    SPACES_BUCKET: bucket.name,
    SPACES_ACCESS_KEY: bucket.connection.accessKeyId,
    SPACES_SECRET_KEY: bucket.connection.secretAccessKey,
    SPACES_FORCE_PATH_STYLE: String(bucket.connection.forcePathStyle),
    ...options.env,
  }
  const script = fileURLToPath(new URL('./sidecar-child.ts', import.meta.url))
  const child = spawn(process.execPath, [...profileArgs(options.profileDir), '--import', 'tsx', script], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM')
      await once(child, 'exit')
    }
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    const ports = await new Promise<{ sidecar: number; bare: number }>((resolve, reject) => {
      let output = ''
      child.stdout!.on('data', (chunk) => {
        output += chunk
        const match = /^(\{.*\})\n/m.exec(output)
        if (match) resolve(JSON.parse(match[1]!))
      })
      child.once('exit', (code) => reject(new Error(`the sidecar exited with ${code} before listening`)))
    })
    // An HS256 bearer token, as an identity provider would issue it.
    const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
    const claims = { sub: 'bench', org: 'org-1', roles: ['admin'], exp: Math.floor(Date.now() / 1000) + 3600 }
    const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`
    return {
      child,
      sidecar: `http://127.0.0.1:${ports.sidecar}`,
      bare: `http://127.0.0.1:${ports.bare}`,
      authorization: `Bearer ${unsigned}.${createHmac('sha256', jwtSecret).update(unsigned).digest('base64url')}`,
      stop,
    }
  } catch (err) {
    await stop()
    throw err
  }
}
