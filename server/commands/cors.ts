// `cors apply` / `cors show`: the bucket's CORS rule, which browsers need for direct (presigned)
// downloads and uploads. Proxy-mode traffic never touches it: the sidecar's own CORS covers that.
import { GetBucketCorsCommand, PutBucketCorsCommand, type CORSRule, type S3Client } from '@aws-sdk/client-s3'
import { S3Store } from '../../plugin/drivers/s3.js'
import type { ServerConfig } from '../config.js'
import type { Command } from './types.js'
import { cliConfig, parseCommandArgs } from './context.js'

const LOCAL_NOTE =
  "No SPACES_* set: the embedded local-disk store has no bucket CORS; the sidecar's own CORS_ORIGINS apply.\n"

/**
 * The rule `cors apply` sets: GET and HEAD for downloads, PUT for direct browser uploads and for
 * the parts of presigned multipart uploads, whose ETag the browser must read (Uppy's multipart mode).
 */
export function corsRule(origins: readonly string[]): CORSRule {
  return {
    AllowedOrigins: [...origins],
    AllowedMethods: ['GET', 'HEAD', 'PUT'],
    AllowedHeaders: ['*'],
    // Download UIs read these: ETag for caching, the ranges for resumable downloads, the disposition for the name.
    ExposeHeaders: ['ETag', 'Content-Length', 'Content-Range', 'Content-Disposition', 'Accept-Ranges'],
    MaxAgeSeconds: 3000,
  }
}

function sameSet(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  const left = new Set(a ?? [])
  const right = new Set(b ?? [])
  return left.size === right.size && [...left].every((item) => right.has(item))
}

/** True when one of the bucket's rules is the expected one (servers may reorder the lists). */
export function corsMatches(rules: readonly CORSRule[] | undefined, expected: CORSRule): boolean {
  return (rules ?? []).some(
    (rule) =>
      sameSet(rule.AllowedOrigins, expected.AllowedOrigins) &&
      sameSet(rule.AllowedMethods, expected.AllowedMethods) &&
      sameSet(rule.AllowedHeaders, expected.AllowedHeaders) &&
      sameSet(rule.ExposeHeaders, expected.ExposeHeaders) &&
      rule.MaxAgeSeconds === expected.MaxAgeSeconds,
  )
}

/** The bucket's CORS rules, or undefined when it has none. */
export async function getBucketCors(client: S3Client, bucket: string): Promise<CORSRule[] | undefined> {
  try {
    const out = await client.send(new GetBucketCorsCommand({ Bucket: bucket }))
    return out.CORSRules ?? []
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchCORSConfiguration') return undefined
    throw err
  }
}

function s3Error(err: unknown): Error {
  const e = err as { name?: string; message?: string }
  return new Error(`${e.name ?? 'Error'}${e.message && e.message !== 'UnknownError' ? `: ${e.message}` : ''}`)
}

/** Runs `fn` with a client for the configured bucket, or prints the local-disk note. */
async function withBucket(
  fn: (client: S3Client, bucket: string, config: ServerConfig) => Promise<number>,
): Promise<number> {
  const config = cliConfig()
  if (!config.spaces) {
    process.stdout.write(LOCAL_NOTE)
    return 0
  }
  const store = new S3Store({ connection: config.spaces, partSize: 5 * 1024 * 1024, queueSize: 1 })
  try {
    return await fn(store.client, store.bucket, config)
  } catch (err) {
    throw s3Error(err)
  } finally {
    await store.close()
  }
}

const applyUsage = [
  'Usage: spaces-proxy cors apply',
  '',
  'Sets the bucket CORS rule from CORS_ORIGINS (comma-separated): GET, HEAD and PUT (presigned uploads',
  'and multipart parts) from those',
  'origins, any request header, ETag/Content-Length/Content-Range/Content-Disposition/Accept-Ranges',
  'exposed, MaxAgeSeconds 3000. It replaces the bucket\'s CORS configuration, and prints it.',
].join('\n')

export const corsApplyCommand: Command = {
  summary: 'set the bucket CORS rule from CORS_ORIGINS',
  usage: applyUsage,
  async run(args) {
    if (!parseCommandArgs(args, { options: {} }, applyUsage)) return 2
    return withBucket(async (client, bucket, config) => {
      const origins = config.corsOrigins
      if (origins.length === 0) {
        process.stderr.write(
          'CORS_ORIGINS is empty: set it to the origins of your web app (e.g. CORS_ORIGINS=https://app.example.com), then run this again.\n',
        )
        return 1
      }
      const configuration = { CORSRules: [corsRule(origins)] }
      await client.send(new PutBucketCorsCommand({ Bucket: bucket, CORSConfiguration: configuration }))
      process.stdout.write(`Applied to bucket ${bucket}:\n${JSON.stringify(configuration, null, 2)}\n`)
      return 0
    })
  },
}

const showUsage = [
  'Usage: spaces-proxy cors show',
  '',
  "Prints the bucket's current CORS configuration as JSON, or says it has none.",
].join('\n')

export const corsShowCommand: Command = {
  summary: "print the bucket's CORS configuration",
  usage: showUsage,
  async run(args) {
    if (!parseCommandArgs(args, { options: {} }, showUsage)) return 2
    return withBucket(async (client, bucket) => {
      const rules = await getBucketCors(client, bucket)
      if (rules === undefined) {
        process.stdout.write(`Bucket ${bucket} has no CORS configuration; \`spaces-proxy cors apply\` sets one.\n`)
      } else {
        process.stdout.write(`${JSON.stringify({ CORSRules: rules }, null, 2)}\n`)
      }
      return 0
    })
  },
}
