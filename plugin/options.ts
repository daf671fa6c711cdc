// Plugin options: their types, defaults, and the register-time checks that turn the guide's
// troubleshooting section into errors that say what to fix.
import type { FastifyRequest } from 'fastify'
import type { ObjectStore } from './drivers/types.js'
import type { Ledger } from './ledger/types.js'
import { DEFAULT_SWEEP, type SweepOptions } from './sweep.js'
import type { Action, Identity } from './policy.js'
import {
  ConfigEndpointError,
  ConfigEndpointSlashError,
  ConfigInvalidError,
  ConfigMissingError,
  ConfigRegionMismatchError,
} from './errors.js'
import { DEFAULT_SYSTEMS } from './keys.js'

/** How to reach a Spaces bucket (or any S3-compatible one). */
export interface SpacesConnection {
  /** `https://{region}.digitaloceanspaces.com`, no trailing slash. */
  endpoint: string
  /** Must match the endpoint's region, e.g. `nyc3`. */
  region: string
  bucket: string
  accessKeyId: string
  secretAccessKey: string
  /** `https://{bucket}.{region}.cdn.digitaloceanspaces.com`: direct signed URLs use this host. */
  cdnEndpoint?: string
  /** Path-style addressing (`endpoint/bucket/key`); needed by most local S3 servers. */
  forcePathStyle?: boolean
}

export interface SignedUrlOptions {
  /** Seconds a signed URL lives when the client does not say. Default 600. */
  defaultTtl?: number
  /** Shortest and longest lifetimes a client may ask for. Default 300 and 900. */
  minTtl?: number
  maxTtl?: number
  /** HMAC key for proxy-mode URLs. Without it a random one is made at start (URLs die with the process). */
  secret?: string | Buffer
  /** `direct` (a presigned URL to the store) or `proxy` (through these routes). Default `direct` where the store can presign. */
  defaultMode?: 'direct' | 'proxy'
}

export type Authorize = (
  request: FastifyRequest,
  action: Action,
  key: string,
) => boolean | Promise<boolean>

export interface FastifySpacesOptions {
  /** The bucket to use. Give this or `store`. */
  spaces?: SpacesConnection
  /** A ready object-store driver (e.g. `LocalDiskStore`), instead of `spaces`. */
  store?: ObjectStore
  /**
   * The audit and soft-delete ledger: a `Ledger` (`SqliteLedger`, `PostgresLedger`: yours to
   * close), or where the plugin opens one itself (and closes it last): `{ path }` of a SQLite
   * file, or `{ url }` of a PostgreSQL database (`postgres://…`).
   */
  ledger: Ledger | { path: string } | { url: string }
  /**
   * Background upkeep: this instance's lease heartbeat, recovery of uploads whose instance died,
   * and the purge of expired trash. On by default; `false` turns it off (then renew
   * `storage.heartbeat()` yourself, or other instances take this one's uploads for abandoned).
   */
  sweep?: false | SweepOptions
  /** Names this instance on its uploads and lease. Default: a random UUID per registration. */
  instanceId?: string
  /** Allowed values of the key's system segment. */
  systems?: readonly string[]
  /** Largest upload in bytes; larger ones get 413 and leave nothing behind. Default 5 GiB. */
  maxUploadBytes?: number
  /** Content types uploads may have (exact or `type/*`). Default: any. Others get 415. */
  allowedContentTypes?: readonly string[]
  /** Prefix multipart (POST) uploads with `YYYYMMDD_`. Default true. */
  datePrefix?: boolean
  signedUrls?: SignedUrlOptions
  /** Days a soft-deleted file stays recoverable. Default 30. */
  trashRetentionDays?: number
  /** Register the HTTP routes. Default true; false leaves only the `storage` decorator. */
  routes?: boolean
  /**
   * `GET /files/{key}` answers 302 to a direct URL on the store (or its CDN) that lives
   * `signedUrls.minTtl` seconds, audited as a sign, instead of streaming the bytes through this
   * process; `?redirect=0` streams anyway. Needs a store that can presign. Default false: stream
   * unless the client asks with `?redirect=1`.
   */
  redirectDownloads?: boolean
  /** Who is calling. Default: `request.user` as @fastify/jwt sets it. */
  identify?: (request: FastifyRequest) => Identity | undefined | Promise<Identity | undefined>
  /** Replaces the built-in role and scope policy. */
  authorize?: Authorize
  /**
   * Serve the compliance console, a single page over these routes: `true` mounts it at
   * `{prefix}/console`, `{ path }` elsewhere. Off by default; its assets are read only when on.
   */
  console?: boolean | { path?: string }
  /** Multipart part size and parts in flight per upload: memory per upload is about (queue + 1) x part. */
  partSize?: number
  queueSize?: number
  /**
   * Seconds an unfinished resumable (tus) or browser multipart upload is kept after its last
   * progress; then the sweep aborts it and removes what it staged. Default 86400 (24 h).
   */
  uploadExpirySeconds?: number
}

export interface ResolvedOptions {
  systems: readonly string[]
  maxUploadBytes: number
  allowedContentTypes?: readonly string[]
  datePrefix: boolean
  signedUrls: Required<Omit<SignedUrlOptions, 'secret' | 'defaultMode'>> & {
    secret: Buffer
    defaultMode: 'direct' | 'proxy'
  }
  trashRetentionDays: number
  routes: boolean
  sweep: false | Required<SweepOptions>
  redirectDownloads: boolean
  partSize: number
  queueSize: number
  uploadExpirySeconds: number
}

const MIB = 1024 * 1024
const MIN_PART_SIZE = 5 * MIB
const MAX_PARTS = 10_000
/** Bytes per part: fewer requests per GiB than S3's 5 MiB minimum, and what lib-storage users pick. */
export const DEFAULT_PART_SIZE = 8 * MIB
/**
 * Parts in flight per upload. The part buffers are reused for the whole upload, so memory is
 * exactly (queue + 1) x part: 32 MiB with 8 MiB parts, under the 48 MiB an upload may add.
 */
export const DEFAULT_QUEUE_SIZE = 3
const SPACES_HOST = /^(?:[a-z0-9.-]+\.)?([a-z]{3}\d)\.(?:cdn\.)?digitaloceanspaces\.com$/

const CONNECTION_ENV: Record<keyof SpacesConnection, string> = {
  endpoint: 'SPACES_ENDPOINT',
  region: 'SPACES_REGION',
  bucket: 'SPACES_BUCKET',
  accessKeyId: 'SPACES_ACCESS_KEY',
  secretAccessKey: 'SPACES_SECRET_KEY',
  cdnEndpoint: 'SPACES_CDN_ENDPOINT',
  forcePathStyle: 'SPACES_FORCE_PATH_STYLE',
}

/** Checks a Spaces connection as the guide's troubleshooting section would. */
export function validateConnection(connection: Partial<SpacesConnection>): SpacesConnection {
  const required = ['endpoint', 'region', 'bucket', 'accessKeyId', 'secretAccessKey'] as const
  const missing = required.filter((name) => typeof connection[name] !== 'string' || connection[name] === '')
  if (missing.length > 0) {
    const names = missing.map((name) => `${CONNECTION_ENV[name]} (spaces.${name})`).join(', ')
    throw new ConfigMissingError(`set ${names}; all SPACES_* variables must be set`)
  }
  const { endpoint, region, accessKeyId, secretAccessKey } = connection as SpacesConnection
  checkBaseUrl(endpoint)
  const regionInHost = spacesRegion(endpoint)
  if (regionInHost !== undefined && regionInHost !== region) {
    throw new ConfigRegionMismatchError(region, new URL(endpoint).host, regionInHost)
  }
  for (const name of ['accessKeyId', 'secretAccessKey'] as const) {
    const value = connection[name] as string
    if (value.trim() !== value) {
      throw new ConfigInvalidError(
        `${CONNECTION_ENV[name]} has leading or trailing spaces; copy the key again without them`,
      )
    }
  }
  if (connection.cdnEndpoint) checkBaseUrl(connection.cdnEndpoint)
  return { ...(connection as SpacesConnection), accessKeyId, secretAccessKey }
}

/** The region a `*.digitaloceanspaces.com` host names, or undefined for other hosts. */
export function spacesRegion(url: string): string | undefined {
  return SPACES_HOST.exec(new URL(url).hostname)?.[1]
}

/** An http(s) origin with nothing after it, as SPACES_ENDPOINT and SPACES_CDN_ENDPOINT must be. */
export function isBaseUrl(value: string): boolean {
  try {
    const url = new URL(value)
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.pathname === '/' && !url.search
  } catch {
    return false
  }
}

function checkBaseUrl(value: string): void {
  if (value.endsWith('/')) throw new ConfigEndpointSlashError(value)
  if (!isBaseUrl(value)) throw new ConfigEndpointError(value)
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  const result = value ?? fallback
  if (!Number.isSafeInteger(result) || result <= 0) {
    throw new ConfigInvalidError(`${name} must be a positive integer (got ${String(value)})`)
  }
  return result
}

function nonNegativeInteger(name: string, value: number | undefined, fallback: number): number {
  const result = value ?? fallback
  if (!Number.isSafeInteger(result) || result < 0) {
    throw new ConfigInvalidError(`${name} must be a whole number, 0 or more (got ${String(value)})`)
  }
  return result
}

/** Seconds that may be fractional (short leases in tests). */
function positiveNumber(name: string, value: number | undefined, fallback: number): number {
  const result = value ?? fallback
  if (!Number.isFinite(result) || result <= 0) throw new ConfigInvalidError(`${name} must be a positive number (got ${String(value)})`)
  return result
}

/** An upload of unknown length has at most 10,000 parts: size them from the largest upload allowed. */
export function partSizeFor(maxUploadBytes: number, preferred = DEFAULT_PART_SIZE): number {
  return Math.max(preferred, MIN_PART_SIZE, Math.ceil(maxUploadBytes / MAX_PARTS))
}

export function resolveOptions(options: FastifySpacesOptions, randomSecret: () => Buffer): ResolvedOptions {
  if (!options.spaces === !options.store) {
    throw new ConfigMissingError('give the plugin either `spaces` (connection settings) or `store` (a driver)')
  }
  if (!options.ledger) {
    throw new ConfigInvalidError('`ledger` is required: a Ledger, { path } of a SQLite file or { url } of a PostgreSQL database')
  }
  const maxUploadBytes = positiveInteger('maxUploadBytes', options.maxUploadBytes, 5 * 1024 * MIB)
  const partSize = partSizeFor(maxUploadBytes, positiveInteger('partSize', options.partSize, DEFAULT_PART_SIZE))
  const signed = options.signedUrls ?? {}
  const minTtl = positiveInteger('signedUrls.minTtl', signed.minTtl, 300)
  const maxTtl = positiveInteger('signedUrls.maxTtl', signed.maxTtl, 900)
  const defaultTtl = positiveInteger('signedUrls.defaultTtl', signed.defaultTtl, 600)
  if (!(minTtl <= defaultTtl && defaultTtl <= maxTtl)) {
    throw new ConfigInvalidError(
      `signed URL lifetimes must satisfy min <= default <= max (got ${minTtl}, ${defaultTtl}, ${maxTtl})`,
    )
  }
  const systems = options.systems ?? DEFAULT_SYSTEMS
  if (systems.length === 0 || systems.some((s) => !/^[a-z0-9][a-z0-9-]{0,63}$/.test(s))) {
    throw new ConfigInvalidError('systems must be a non-empty list of lowercase names like "epcr"')
  }
  const redirectDownloads = options.redirectDownloads ?? false
  if (redirectDownloads && options.store && !options.store.presignGet) {
    throw new ConfigInvalidError('redirectDownloads needs a store that can presign URLs (S3 / Spaces)')
  }
  const secret = signed.secret === undefined ? randomSecret() : Buffer.from(signed.secret)
  if (secret.length < 32) throw new ConfigInvalidError('signedUrls.secret must be at least 32 bytes')
  return {
    systems,
    maxUploadBytes,
    allowedContentTypes: options.allowedContentTypes,
    datePrefix: options.datePrefix ?? true,
    signedUrls: {
      minTtl,
      maxTtl,
      defaultTtl,
      secret,
      defaultMode: signed.defaultMode ?? (options.store && !options.store.presignGet ? 'proxy' : 'direct'),
    },
    trashRetentionDays: positiveInteger('trashRetentionDays', options.trashRetentionDays, 30),
    routes: options.routes ?? true,
    sweep:
      options.sweep === false
        ? false
        : {
            intervalSeconds: nonNegativeInteger('sweep.intervalSeconds', options.sweep?.intervalSeconds, DEFAULT_SWEEP.intervalSeconds),
            leaseSeconds: positiveNumber('sweep.leaseSeconds', options.sweep?.leaseSeconds, DEFAULT_SWEEP.leaseSeconds),
            orphanedUploadSeconds: nonNegativeInteger(
              'sweep.orphanedUploadSeconds',
              options.sweep?.orphanedUploadSeconds,
              DEFAULT_SWEEP.orphanedUploadSeconds,
            ),
          },
    redirectDownloads,
    partSize,
    queueSize: positiveInteger('queueSize', options.queueSize, DEFAULT_QUEUE_SIZE),
    uploadExpirySeconds: positiveInteger('uploadExpirySeconds', options.uploadExpirySeconds, 86_400),
  }
}
