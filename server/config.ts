// The sidecar's configuration: read once from the environment (and .env), checked against one
// schema, and handed down as typed options. Nothing else in the project reads process.env.
import { randomBytes } from 'node:crypto'
import envSchema from 'env-schema'
import { DEFAULT_SYSTEMS } from '../plugin/keys.js'
import { validateConnection, type SpacesConnection } from '../plugin/options.js'
import { ConfigInvalidError, ConfigMissingError } from '../plugin/errors.js'
import { isPostgresUrl } from '../plugin/ledger/open.js'

/** The schema: `.env.example` lists these keys, one for one. */
export const envJsonSchema = {
  type: 'object',
  properties: {
    NODE_ENV: { type: 'string', default: 'development' },
    HOST: { type: 'string', default: '127.0.0.1' },
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 8080 },
    LOG_LEVEL: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
    TRUST_PROXY: { type: 'boolean', default: false },

    SPACES_ENDPOINT: { type: 'string', default: '' },
    SPACES_REGION: { type: 'string', default: '' },
    SPACES_BUCKET: { type: 'string', default: '' },
    SPACES_ACCESS_KEY: { type: 'string', default: '' },
    SPACES_SECRET_KEY: { type: 'string', default: '' },
    SPACES_CDN_ENDPOINT: { type: 'string', default: '' },
    SPACES_FORCE_PATH_STYLE: { type: 'boolean', default: false },

    JWT_SECRET: { type: 'string', default: '' },
    JWT_PUBLIC_KEY: { type: 'string', default: '' },
    JWT_ISSUER: { type: 'string', default: '' },
    JWT_AUDIENCE: { type: 'string', default: '' },
    JWT_TTL_MAX: { type: 'integer', minimum: 60, default: 43_200 },
    SIGNING_SECRET: { type: 'string', default: '' },

    CORS_ORIGINS: { type: 'string', default: '' },
    LEDGER_PATH: { type: 'string', default: './data/ledger.db' },
    LEDGER_URL: { type: 'string', default: '' },
    LEDGER_POOL_MAX: { type: 'integer', minimum: 1, default: 10 },
    DATA_DIR: { type: 'string', default: './data' },

    MAX_UPLOAD_BYTES: { type: 'integer', minimum: 1, default: 5 * 1024 ** 3 },
    DATE_PREFIX: { type: 'boolean', default: true },
    ALLOWED_CONTENT_TYPES: { type: 'string', default: '' },
    SYSTEMS: { type: 'string', default: DEFAULT_SYSTEMS.join(',') },

    SIGNED_URL_TTL: { type: 'integer', minimum: 1, default: 600 },
    SIGNED_URL_TTL_MIN: { type: 'integer', minimum: 1, default: 300 },
    SIGNED_URL_TTL_MAX: { type: 'integer', minimum: 1, default: 900 },

    TRASH_RETENTION_DAYS: { type: 'integer', minimum: 1, default: 30 },
    UPLOAD_EXPIRY_SECONDS: { type: 'integer', minimum: 60, default: 86_400 },
    SWEEP_INTERVAL_SECONDS: { type: 'integer', minimum: 0, default: 3600 },
    INSTANCE_LEASE_SECONDS: { type: 'number', exclusiveMinimum: 0, default: 30 },

    CONNECTION_TIMEOUT_MS: { type: 'integer', minimum: 0, default: 60_000 },
    REQUEST_TIMEOUT_MS: { type: 'integer', minimum: 0, default: 3_600_000 },
    KEEP_ALIVE_TIMEOUT_MS: { type: 'integer', minimum: 0, default: 72_000 },
    SHUTDOWN_TIMEOUT_MS: { type: 'integer', minimum: 0, default: 30_000 },

    CONSOLE: { type: 'boolean', default: true },
  },
} as const

interface RawEnv {
  NODE_ENV: string
  HOST: string
  PORT: number
  LOG_LEVEL: string
  TRUST_PROXY: boolean
  SPACES_ENDPOINT: string
  SPACES_REGION: string
  SPACES_BUCKET: string
  SPACES_ACCESS_KEY: string
  SPACES_SECRET_KEY: string
  SPACES_CDN_ENDPOINT: string
  SPACES_FORCE_PATH_STYLE: boolean
  JWT_SECRET: string
  JWT_PUBLIC_KEY: string
  JWT_ISSUER: string
  JWT_AUDIENCE: string
  JWT_TTL_MAX: number
  SIGNING_SECRET: string
  CORS_ORIGINS: string
  LEDGER_PATH: string
  LEDGER_URL: string
  LEDGER_POOL_MAX: number
  DATA_DIR: string
  MAX_UPLOAD_BYTES: number
  DATE_PREFIX: boolean
  ALLOWED_CONTENT_TYPES: string
  SYSTEMS: string
  SIGNED_URL_TTL: number
  SIGNED_URL_TTL_MIN: number
  SIGNED_URL_TTL_MAX: number
  TRASH_RETENTION_DAYS: number
  UPLOAD_EXPIRY_SECONDS: number
  SWEEP_INTERVAL_SECONDS: number
  INSTANCE_LEASE_SECONDS: number
  CONNECTION_TIMEOUT_MS: number
  REQUEST_TIMEOUT_MS: number
  KEEP_ALIVE_TIMEOUT_MS: number
  SHUTDOWN_TIMEOUT_MS: number
  CONSOLE: boolean
}

export interface JwtConfig {
  /** HS256 secret, or a PEM public key for RS256/ES256. */
  secret?: string
  publicKey?: string
  issuer?: string
  audience?: string
  /** Longest lifetime (exp minus iat, or minus now) a token may claim, in seconds. */
  maxTtlSeconds: number
  /** True when the secret was made up at boot (development only): tokens die with the process. */
  ephemeral: boolean
}

export interface ServerConfig {
  production: boolean
  host: string
  port: number
  logLevel: string
  trustProxy: boolean
  /** Undefined: the embedded local-disk store under dataDir. */
  spaces?: SpacesConnection
  dataDir: string
  ledgerPath: string
  /** A PostgreSQL ledger (`postgres://…`) instead of the SQLite file at ledgerPath. */
  ledgerUrl?: string
  ledgerPoolMax: number
  jwt: JwtConfig
  signingSecret: string
  corsOrigins: string[]
  maxUploadBytes: number
  datePrefix: boolean
  /** Exact types or `type/*`; undefined allows any. */
  allowedContentTypes?: string[]
  systems: string[]
  signedUrls: { defaultTtl: number; minTtl: number; maxTtl: number }
  trashRetentionDays: number
  /** Unfinished resumable (tus) and browser multipart uploads are removed this long after their last progress. */
  uploadExpirySeconds: number
  sweepIntervalSeconds: number
  /** How long an instance's lease lives without renewal (renewed every third of it). */
  instanceLeaseSeconds: number
  timeouts: { connection: number; request: number; keepAlive: number; shutdown: number }
  /** Serve the compliance console at /console. */
  console: boolean
}

/**
 * Seconds after which an upload no request can still be streaming is abandoned: the longest
 * request plus a minute for clocks and stragglers (a day when requests have no time limit).
 */
export function abandonedAfterSeconds(config: Pick<ServerConfig, 'timeouts'>): number {
  return config.timeouts.request > 0 ? Math.ceil(config.timeouts.request / 1000) + 60 : 86_400
}

const SPACES_KEYS = ['SPACES_ENDPOINT', 'SPACES_REGION', 'SPACES_BUCKET', 'SPACES_ACCESS_KEY', 'SPACES_SECRET_KEY'] as const

function list(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0)
}

/** A PEM in an env var often arrives with literal "\n"s. */
function pem(value: string): string {
  return value.includes('\\n') ? value.replaceAll('\\n', '\n') : value
}

function ledgerUrl(value: string): string | undefined {
  if (value === '') return undefined
  if (!isPostgresUrl(value)) {
    throw new ConfigInvalidError('LEDGER_URL must be a PostgreSQL URL like postgres://user:password@host:5432/database')
  }
  return value
}

export interface LoadOptions {
  /** Load `.env` from the working directory (the CLI does; tests don't). */
  dotenv?: boolean
}

/** Reads and checks the environment; throws an error naming the variable and the fix. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, options: LoadOptions = {}): ServerConfig {
  let raw: RawEnv
  try {
    raw = envSchema<RawEnv>({ schema: envJsonSchema, data: env, dotenv: options.dotenv ?? false })
  } catch (err) {
    throw new ConfigInvalidError(`${(err as Error).message}; see .env.example`)
  }
  const production = raw.NODE_ENV === 'production'
  const setSpaces = SPACES_KEYS.filter((key) => raw[key] !== '')
  let spaces: SpacesConnection | undefined
  if (setSpaces.length > 0 || production) {
    spaces = validateConnection({
      endpoint: raw.SPACES_ENDPOINT,
      region: raw.SPACES_REGION,
      bucket: raw.SPACES_BUCKET,
      accessKeyId: raw.SPACES_ACCESS_KEY,
      secretAccessKey: raw.SPACES_SECRET_KEY,
      cdnEndpoint: raw.SPACES_CDN_ENDPOINT || undefined,
      forcePathStyle: raw.SPACES_FORCE_PATH_STYLE,
    })
  }

  if (raw.JWT_SECRET && raw.JWT_PUBLIC_KEY) {
    throw new ConfigInvalidError('set JWT_SECRET (HS256) or JWT_PUBLIC_KEY (RS256/ES256), not both')
  }
  if (raw.JWT_SECRET && raw.JWT_SECRET.length < 32) {
    throw new ConfigInvalidError('JWT_SECRET must be at least 32 characters; make one with `openssl rand -hex 32`')
  }
  const hasJwt = Boolean(raw.JWT_SECRET || raw.JWT_PUBLIC_KEY)
  if (!hasJwt && production) {
    throw new ConfigMissingError('NODE_ENV=production needs JWT_SECRET or JWT_PUBLIC_KEY to verify bearer tokens')
  }
  const jwt: JwtConfig = {
    secret: raw.JWT_SECRET || (raw.JWT_PUBLIC_KEY ? undefined : randomBytes(32).toString('hex')),
    publicKey: raw.JWT_PUBLIC_KEY ? pem(raw.JWT_PUBLIC_KEY) : undefined,
    issuer: raw.JWT_ISSUER || undefined,
    audience: raw.JWT_AUDIENCE || undefined,
    maxTtlSeconds: raw.JWT_TTL_MAX,
    ephemeral: !hasJwt,
  }
  if (raw.SIGNING_SECRET && raw.SIGNING_SECRET.length < 32) {
    throw new ConfigInvalidError('SIGNING_SECRET must be at least 32 characters; make one with `openssl rand -hex 32`')
  }

  return {
    production,
    host: raw.HOST,
    port: raw.PORT,
    logLevel: raw.LOG_LEVEL,
    trustProxy: raw.TRUST_PROXY,
    spaces,
    dataDir: raw.DATA_DIR,
    ledgerPath: raw.LEDGER_PATH,
    ledgerUrl: ledgerUrl(raw.LEDGER_URL),
    ledgerPoolMax: raw.LEDGER_POOL_MAX,
    jwt,
    // Proxy-mode URLs outlive no restart unless a secret is set; derive one from JWT_SECRET when there is one.
    signingSecret: raw.SIGNING_SECRET || (jwt.secret ? `signed-urls:${jwt.secret}` : randomBytes(32).toString('hex')),
    corsOrigins: list(raw.CORS_ORIGINS),
    maxUploadBytes: raw.MAX_UPLOAD_BYTES,
    datePrefix: raw.DATE_PREFIX,
    allowedContentTypes: raw.ALLOWED_CONTENT_TYPES ? list(raw.ALLOWED_CONTENT_TYPES.toLowerCase()) : undefined,
    systems: list(raw.SYSTEMS),
    signedUrls: { defaultTtl: raw.SIGNED_URL_TTL, minTtl: raw.SIGNED_URL_TTL_MIN, maxTtl: raw.SIGNED_URL_TTL_MAX },
    trashRetentionDays: raw.TRASH_RETENTION_DAYS,
    uploadExpirySeconds: raw.UPLOAD_EXPIRY_SECONDS,
    sweepIntervalSeconds: raw.SWEEP_INTERVAL_SECONDS,
    instanceLeaseSeconds: raw.INSTANCE_LEASE_SECONDS,
    timeouts: {
      connection: raw.CONNECTION_TIMEOUT_MS,
      request: raw.REQUEST_TIMEOUT_MS,
      keepAlive: raw.KEEP_ALIVE_TIMEOUT_MS,
      shutdown: raw.SHUTDOWN_TIMEOUT_MS,
    },
    console: raw.CONSOLE,
  }
}
