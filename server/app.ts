// Builds the sidecar: the plugin's routes under /v1 behind bearer tokens, CORS, the ledger, the
// operations routes and the docs. It never listens: main.ts does, and tests use inject or listen.
import { hkdfSync, randomUUID } from 'node:crypto'
import { join } from 'node:path'
import cors from '@fastify/cors'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import Fastify, { type FastifyInstance, type FastifyServerOptions, type RouteOptions } from 'fastify'
import { spaces } from '../plugin/index.js'
import { LocalDiskStore } from '../plugin/drivers/local.js'
import { S3Store } from '../plugin/drivers/s3.js'
import { DEFAULT_QUEUE_SIZE, partSizeFor, type FastifySpacesOptions } from '../plugin/options.js'
import type { ObjectStore } from '../plugin/drivers/types.js'
import { errorHandler } from '../plugin/error-handler.js'
import { RouteNotFoundError } from '../plugin/errors.js'
import { openLedger } from '../plugin/ledger/open.js'
import { TUS_REQUEST_HEADERS, TUS_RESPONSE_HEADERS } from '../plugin/tus/protocol.js'
import type { Ledger } from '../plugin/ledger/types.js'
import type { LedgerLocation } from '../plugin/ledger/open.js'
import { registerJwt, requireBearer } from './auth.js'
import { abandonedAfterSeconds, type ServerConfig } from './config.js'
import { registerConsole } from './console.js'
import { frameworkRequestLogsOff, logRequests, loggerOptions } from './logging.js'
import { registerMetrics } from './metrics.js'
import { registerOpsRoutes } from './ops-routes.js'
import { clientErrorHandler, frameworkErrors, registerProtocolErrors } from './protocol-errors.js'

export interface BuildOverrides {
  /** Logger settings or instance; tests pass a stream to capture lines. */
  logger?: FastifyServerOptions['logger']
  loggerInstance?: FastifyServerOptions['loggerInstance']
  /** Told of every route as it is added (the OpenAPI test checks each one is documented). */
  onRoute?: (route: RouteOptions) => void
}

const MIB = 1024 * 1024
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/
/**
 * Bytes a connection's streams buffer before they push back (Node 20's default is 16 KiB). Socket
 * reads arrive in 64 KiB chunks, so at 16 KiB every chunk of an upload or download stopped and
 * restarted the stream; 256 KiB lets a few pass. At most this much more memory per busy connection.
 */
const SOCKET_HIGH_WATER_MARK = 256 * 1024

export function createStore(config: ServerConfig, onError?: (operation: string, code: string) => void): ObjectStore {
  if (!config.spaces) return new LocalDiskStore({ root: join(config.dataDir, 'objects') })
  return new S3Store({ connection: config.spaces, partSize: partSizeFor(config.maxUploadBytes), queueSize: DEFAULT_QUEUE_SIZE, onError })
}

/** The plugin options the sidecar's configuration stands for (the CLI opens storage with them too). */
export function pluginOptions(config: ServerConfig, store: ObjectStore, ledger: Ledger): FastifySpacesOptions {
  return {
    store,
    ledger,
    systems: config.systems,
    maxUploadBytes: config.maxUploadBytes,
    datePrefix: config.datePrefix,
    allowedContentTypes: config.allowedContentTypes,
    trashRetentionDays: config.trashRetentionDays,
    sweep: {
      intervalSeconds: config.sweepIntervalSeconds,
      leaseSeconds: config.instanceLeaseSeconds,
      orphanedUploadSeconds: abandonedAfterSeconds(config),
    },
    uploadExpirySeconds: config.uploadExpirySeconds,
    signedUrls: { ...config.signedUrls, secret: signingKey(config.signingSecret) },
  }
}

/** Where the configured ledger lives: PostgreSQL when LEDGER_URL is set, else the SQLite file. */
export function ledgerLocation(config: ServerConfig, onIdleError?: (err: Error) => void): LedgerLocation {
  if (!config.ledgerUrl) return { path: config.ledgerPath }
  return { url: config.ledgerUrl, max: config.ledgerPoolMax, onIdleError }
}

/** Separate keys for separate jobs: proxy-URL signatures never reuse the JWT secret itself. */
function signingKey(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'fastify-spaces', 'proxy signed urls', 32))
}

export async function build(config: ServerConfig, overrides: BuildOverrides = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...(overrides.loggerInstance
      ? { loggerInstance: overrides.loggerInstance }
      : { logger: overrides.logger ?? loggerOptions(config.logLevel) }),
    ...frameworkRequestLogsOff(),
    // An upstream X-Request-Id is kept for correlation only if it looks like one: it goes into
    // logs and the audit trail, so arbitrary client text must not.
    requestIdHeader: false,
    genReqId: (request) => {
      const given = request.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    // Node answers a missing Host with a bare 400 of its own; registerProtocolErrors answers it
    // in the API's shape instead.
    http: { highWaterMark: SOCKET_HIGH_WATER_MARK, requireHostHeader: false },
    trustProxy: config.trustProxy,
    connectionTimeout: config.timeouts.connection,
    keepAliveTimeout: config.timeouts.keepAlive,
    requestTimeout: config.timeouts.request,
    bodyLimit: 1 * MIB,
    // Key segments may be 128 characters, percent-encoded up to three times that; the key rules,
    // not the router, decide what is too long (a 400 that says which segment).
    routerOptions: { maxParamLength: 512 },
    // Our own 503 (registerProtocolErrors) carries the API's error shape; Fastify's does not.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    clientErrorHandler,
    frameworkErrors,
  })
  if (overrides.onRoute) app.addHook('onRoute', overrides.onRoute)
  logRequests(app)
  app.setErrorHandler(errorHandler(config.maxUploadBytes))
  registerProtocolErrors(app)
  // The path is not echoed: it may hold a filename or a signed-URL token.
  app.setNotFoundHandler((request) => {
    throw new RouteNotFoundError(`for ${request.method} here`)
  })

  // The document covers every route registered after it, /metrics included.
  await app.register(swagger, {
    openapi: {
      info: { title: 'fastify-spaces', version: '0.1.0', description: 'Private document storage on DigitalOcean Spaces' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }],
      tags: [
        { name: 'files', description: 'Upload, download, list and soft-delete files' },
        { name: 'trash', description: 'Soft-deleted files: restore or purge' },
        { name: 'signed-urls', description: 'Short-lived links that need no token' },
        { name: 'uploads', description: 'Direct browser uploads to the bucket' },
        { name: 'multipart-uploads', description: 'Presigned multipart uploads of any size, in the shape Uppy (@uppy/aws-s3) expects of Companion' },
        { name: 'tus', description: 'Resumable uploads (tus 1.0.0): tus-js-client, @uppy/tus' },
        { name: 'audit', description: 'The audit trail and usage' },
        { name: 'operations', description: 'Probes and metrics' },
      ],
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })

  const metrics = registerMetrics(app)
  const store = createStore(config, (operation, code) => metrics.storeErrors.inc({ operation, code }))
  const ledger: Ledger = await openLedger(ledgerLocation(config, (err) => app.log.warn({ err }, 'a pooled ledger connection failed')))
  app.addHook('onClose', async () => {
    await store.close()
    await ledger.close()
  })
  if (!config.spaces) {
    app.log.warn({ dataDir: config.dataDir }, 'no SPACES_* set: using the embedded local-disk store (development only)')
  }

  await app.register(cors, {
    origin: config.corsOrigins.length > 0 ? config.corsOrigins : false,
    methods: ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE'],
    // tus clients (tus-js-client, Uppy) send and read the protocol's headers; retries send their keys.
    allowedHeaders: ['Authorization', 'Content-Type', 'Range', 'If-None-Match', 'If-Range', 'X-Request-Id', 'Idempotency-Key', 'Repr-Digest', ...TUS_REQUEST_HEADERS],
    exposedHeaders: ['ETag', 'Content-Range', 'Content-Disposition', 'Content-Length', 'Accept-Ranges', 'Location', 'X-Request-Id', ...TUS_RESPONSE_HEADERS],
    maxAge: 3000,
  })
  await registerJwt(app, config.jwt)
  registerOpsRoutes(app, { store, ledger })

  await app.register(async (v1) => {
    v1.addHook('onRequest', requireBearer(config.jwt))
    await v1.register(spaces, pluginOptions(config, store, ledger))
    // The CLI, tests and embedding code reach the same storage service from the root instance.
    app.decorate('storage', v1.storage)
  }, { prefix: '/v1' })
  if (config.console) await registerConsole(app, config)
  return app
}
