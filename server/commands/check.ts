// `check`: the guide's "Test Your Configuration", step by step. It reads the environment itself
// rather than stopping at the first error loadConfig throws, so one run shows everything that is
// wrong, each with the guide's troubleshooting line, and probes the bucket the way the sidecar
// will use it: list, write, read back, delete, and the CORS rule browsers need.
import { randomUUID } from 'node:crypto'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { S3Store } from '../../plugin/drivers/s3.js'
import { isBaseUrl, spacesRegion, type SpacesConnection } from '../../plugin/options.js'
import { loadConfig } from '../config.js'
import type { Command } from './types.js'
import { corsMatches, corsRule, getBucketCors } from './cors.js'
import { mergedEnv, parseCommandArgs } from './context.js'

const SPACES_VARS = ['SPACES_ENDPOINT', 'SPACES_REGION', 'SPACES_BUCKET', 'SPACES_ACCESS_KEY', 'SPACES_SECRET_KEY'] as const

/** The guide's troubleshooting lines, plus a few for cases it does not name. */
const HINT = {
  vars: 'All SPACES_* variables are set in .env',
  slash: 'No trailing slashes in SPACES_ENDPOINT',
  endpoint: 'SPACES_ENDPOINT is a URL like https://nyc3.digitaloceanspaces.com',
  region: 'Region matches endpoint region',
  keys: 'Access keys are correct (copy/paste, no extra spaces)',
  bucket: 'Bucket name matches SPACES_BUCKET',
  denied: 'Access key has permission for this bucket (Spaces keys can be limited to some buckets), and Bucket name matches SPACES_BUCKET',
  write: 'Access key has write permissions',
  reach: 'SPACES_ENDPOINT is reachable from this machine (network, DNS, firewall)',
  cors: 'run `spaces-proxy cors apply`',
} as const

class Steps {
  failures = 0
  constructor(private readonly out: (text: string) => void) {}
  ok(text: string): void {
    this.out(`✓ ${text}\n`)
  }
  fail(text: string, hint?: string): void {
    this.failures++
    this.out(`✗ ${text}\n${hint ? `  Check: ${hint}\n` : ''}`)
  }
  warn(text: string, hint?: string): void {
    this.out(`⚠ ${text}\n${hint ? `  Check: ${hint}\n` : ''}`)
  }
  skip(...names: string[]): void {
    for (const name of names) this.out(`- ${name}: skipped\n`)
  }
}

/** The S3 error code, or the socket error code for a failed connection. */
function codeOf(err: unknown): string {
  const e = (err ?? {}) as { Code?: string; name?: string; code?: string }
  return e.Code ?? (e.name && e.name !== 'Error' ? e.name : undefined) ?? e.code ?? 'Error'
}

/** Steps 1-3 and the rest of the settings; returns whether the bucket can be tried. */
function checkSettings(env: NodeJS.ProcessEnv, steps: Steps): boolean {
  const missing = SPACES_VARS.filter((name) => !env[name])
  if (missing.length > 0) steps.fail(`not set: ${missing.join(', ')}`, HINT.vars)
  else steps.ok('all SPACES_* variables are set')

  const endpoint = env.SPACES_ENDPOINT ?? ''
  const region = env.SPACES_REGION ?? ''
  let endpointOk = false
  if (!endpoint) steps.skip('endpoint format')
  else if (endpoint.endsWith('/')) steps.fail(`SPACES_ENDPOINT "${endpoint}" ends with a slash`, HINT.slash)
  else if (!isBaseUrl(endpoint)) steps.fail(`SPACES_ENDPOINT "${endpoint}" is not a base URL`, HINT.endpoint)
  else {
    steps.ok(`endpoint ${endpoint}`)
    endpointOk = true
  }

  if (!endpointOk || !region) steps.skip('region')
  else {
    const inHost = spacesRegion(endpoint)
    if (inHost !== undefined && inHost !== region) {
      steps.fail(`SPACES_REGION "${region}" does not match the endpoint's region "${inHost}" (set SPACES_REGION=${inHost})`, HINT.region)
    } else {
      steps.ok(inHost ? `region ${region} matches the endpoint` : `region ${region} (not a digitaloceanspaces.com endpoint, so not compared)`)
    }
  }

  const spaced = (['SPACES_ACCESS_KEY', 'SPACES_SECRET_KEY'] as const).filter((k) => env[k] && env[k]!.trim() !== env[k])
  if (spaced.length > 0) steps.fail(`${spaced.join(' and ')} ha${spaced.length > 1 ? 've' : 's'} leading or trailing spaces`, HINT.keys)
  const spacesOk = steps.failures === 0

  // Everything else the sidecar reads (JWT, limits, CDN endpoint): only meaningful once SPACES_* pass.
  if (!spacesOk) steps.skip('rest of the configuration')
  else {
    try {
      loadConfig(env)
      steps.ok('the rest of the configuration loads')
    } catch (err) {
      steps.fail((err as Error).message)
    }
  }
  return spacesOk
}

/** Step 4: one authenticated request tells bad keys from a missing bucket. */
async function checkAccess(client: S3Client, c: SpacesConnection, steps: Steps): Promise<boolean> {
  try {
    await client.send(new ListObjectsV2Command({ Bucket: c.bucket, MaxKeys: 1 }))
    steps.ok('credentials accepted')
    steps.ok(`bucket "${c.bucket}" exists and can be listed`)
    return true
  } catch (err) {
    const code = codeOf(err)
    if (code === 'InvalidAccessKeyId') steps.fail(`credentials rejected: unknown access key (${code})`, HINT.keys)
    else if (code === 'SignatureDoesNotMatch') steps.fail(`credentials rejected: the secret key does not match (${code})`, HINT.keys)
    else if (code === 'NoSuchBucket') {
      steps.ok('credentials accepted')
      steps.fail(`bucket "${c.bucket}" does not exist (${code})`, HINT.bucket)
      return false
    } else if (code === 'AccessDenied') steps.fail(`access to bucket "${c.bucket}" denied (${code})`, HINT.denied)
    else if (/^(ECONN|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|TimeoutError)/.test(code)) {
      steps.fail(`endpoint ${c.endpoint} unreachable (${code})`, HINT.reach)
    } else steps.fail(`listing bucket "${c.bucket}" failed (${code})`)
    steps.skip('bucket')
    return false
  }
}

/** Step 5: write, read back and delete a probe object, then make sure it is gone. */
async function checkReadWrite(client: S3Client, bucket: string, steps: Steps): Promise<void> {
  const Key = `.probe/${randomUUID()}`
  const body = Buffer.from(`spaces-proxy check ${new Date().toISOString()}\n`)
  try {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: body, ContentType: 'text/plain', ContentLength: body.length }))
    steps.ok(`wrote probe object ${Key}`)
  } catch (err) {
    steps.fail(`cannot write to the bucket (${codeOf(err)})`, HINT.write)
    return steps.skip('read back', 'delete')
  }
  try {
    const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key }))
    const read = Buffer.from((await out.Body?.transformToByteArray()) ?? [])
    if (read.equals(body)) steps.ok(`read it back: ${read.length} bytes, identical`)
    else steps.fail(`read back ${read.length} bytes that differ from the ${body.length} written`)
  } catch (err) {
    steps.fail(`cannot read the probe object back (${codeOf(err)})`, HINT.keys)
  }
  try {
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key }))
    const left = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: Key, MaxKeys: 1 }))
    if ((left.KeyCount ?? left.Contents?.length ?? 0) === 0) steps.ok('deleted it, and it is gone')
    else steps.fail(`the probe object ${Key} is still there after its delete`, HINT.write)
  } catch (err) {
    steps.fail(`cannot delete the probe object ${Key} (${codeOf(err)}); remove it by hand`, HINT.write)
  }
}

/** Step 6: the rule `cors apply` would set. Without CORS_ORIGINS a missing rule is only a warning. */
async function checkCors(client: S3Client, bucket: string, origins: string[], steps: Steps): Promise<void> {
  let rules
  try {
    rules = await getBucketCors(client, bucket)
  } catch (err) {
    return steps.fail(`cannot read the bucket CORS configuration (${codeOf(err)})`)
  }
  if (origins.length === 0) {
    if (rules === undefined) {
      steps.warn('the bucket has no CORS rule, and CORS_ORIGINS is empty: browsers cannot use direct (presigned) URLs', `set CORS_ORIGINS, then ${HINT.cors}`)
    } else steps.ok('the bucket has a CORS configuration (CORS_ORIGINS is empty; `spaces-proxy cors show` prints it)')
  } else if (corsMatches(rules, corsRule(origins))) steps.ok('the bucket CORS rule matches CORS_ORIGINS')
  else steps.fail(rules === undefined ? 'the bucket has no CORS rule' : 'the bucket CORS rule does not match CORS_ORIGINS', HINT.cors)
}

async function checkLocal(env: NodeJS.ProcessEnv, steps: Steps): Promise<void> {
  if (env.NODE_ENV === 'production') return steps.fail('no SPACES_* set, and NODE_ENV=production needs a bucket', HINT.vars)
  const dataDir = resolve(env.DATA_DIR || './data')
  process.stdout.write(`No SPACES_* set: the sidecar will run on the embedded local-disk store under ${dataDir} (development only).\n`)
  const probe = join(dataDir, `.probe-${randomUUID()}`)
  try {
    await mkdir(dataDir, { recursive: true })
    await writeFile(probe, 'probe')
    await rm(probe)
    steps.ok(`DATA_DIR ${dataDir} is writable`)
  } catch (err) {
    steps.fail(`DATA_DIR ${dataDir} is not writable: ${(err as Error).message}`, 'DATA_DIR is a directory this user can write')
  }
  try {
    loadConfig(env)
    steps.ok('the configuration loads')
  } catch (err) {
    steps.fail((err as Error).message)
  }
}

const usage = [
  'Usage: spaces-proxy check',
  '',
  'Tests the configuration in the environment and .env, as the setup guide describes: the SPACES_*',
  'settings, the credentials, the bucket, a write, read back and delete of a probe object under',
  '.probe/, and the bucket CORS rule against CORS_ORIGINS. Every failure says what to check.',
  'Exits 0 when everything passes (warnings allowed), 1 otherwise.',
].join('\n')

export const checkCommand: Command = {
  summary: 'test the Spaces configuration end to end',
  usage,
  async run(args) {
    if (!parseCommandArgs(args, { options: {} }, usage)) return 2
    const env = mergedEnv()
    const steps = new Steps((text) => process.stdout.write(text))
    if (SPACES_VARS.every((name) => !env[name])) await checkLocal(env, steps)
    else if (!checkSettings(env, steps)) steps.skip('credentials', 'bucket', 'write, read back, delete', 'bucket CORS')
    else {
      const connection: SpacesConnection = {
        endpoint: env.SPACES_ENDPOINT!,
        region: env.SPACES_REGION!,
        bucket: env.SPACES_BUCKET!,
        accessKeyId: env.SPACES_ACCESS_KEY!,
        secretAccessKey: env.SPACES_SECRET_KEY!,
        forcePathStyle: /^(true|1)$/i.test(env.SPACES_FORCE_PATH_STYLE ?? ''),
      }
      const store = new S3Store({ connection, partSize: 5 * 1024 * 1024, queueSize: 1, requestTimeout: 20_000 })
      try {
        if (await checkAccess(store.client, connection, steps)) {
          await checkReadWrite(store.client, store.bucket, steps)
          const origins = (env.CORS_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean)
          await checkCors(store.client, store.bucket, origins, steps)
        } else steps.skip('write, read back, delete', 'bucket CORS')
      } finally {
        await store.close()
      }
    }
    process.stdout.write(steps.failures === 0 ? '\nAll checks passed.\n' : `\n${steps.failures} check(s) failed.\n`)
    return steps.failures === 0 ? 0 : 1
  },
}
