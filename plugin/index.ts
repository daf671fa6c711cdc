// fastify-spaces: registers the storage service as `app.storage` and, unless `routes: false`,
// the /files, /trash, /signed-urls, /uploads and /audit routes.
import { randomBytes } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Ledger } from './ledger/types.js'
import type { FastifySpacesOptions } from './options.js'
import { createAccess } from './access.js'
import { S3Store } from './drivers/s3.js'
import { ConfigInvalidError, errors } from './errors.js'
import { InflightWork } from './inflight.js'
import { openLedger } from './ledger/open.js'
import { resolveOptions, validateConnection } from './options.js'
import { spacesRoutes } from './routes/index.js'
import { Storage } from './storage.js'
import { startSweep } from './sweep.js'
import './types.js'

export interface FastifySpacesPluginOptions extends FastifySpacesOptions {
  /** Where the routes go, e.g. `/v1` (fastify-plugin leaves register's prefix to us). */
  prefix?: string
}

function isLedger(value: FastifySpacesOptions['ledger']): value is Ledger {
  return typeof (value as Ledger).appendAudit === 'function'
}

async function fastifySpaces(app: FastifyInstance, options: FastifySpacesPluginOptions): Promise<void> {
  const resolved = resolveOptions(options, () => randomBytes(32))
  const store =
    options.store ??
    new S3Store({ connection: validateConnection(options.spaces!), partSize: resolved.partSize, queueSize: resolved.queueSize })
  const ownLedger = !isLedger(options.ledger)
  const ledger = isLedger(options.ledger) ? options.ledger : await openLedger(options.ledger)
  const access = createAccess(options)
  const storage = new Storage({ store, ledger, options: resolved, log: app.log, instanceId: options.instanceId, access })
  const work = new InflightWork()

  app.decorate('storage', storage)
  app.decorate('spacesErrors', errors)
  app.addHook('onClose', async () => {
    // Handlers cut off by a shutdown still clean up and audit: the ledger closes after them.
    // onClose hooks run last-registered first, so a host that closes its own ledger in a hook
    // registered before this plugin closes it after this wait too.
    await work.idle()
    // Close only what this plugin opened; a store or ledger passed in belongs to the caller.
    if (!options.store) await store.close()
    if (ownLedger) await ledger.close()
  })
  // Registered after the close hook above, so it stops first: the ledger closes last.
  if (resolved.sweep) startSweep(app, storage, resolved.sweep, app.log)
  if (resolved.routes) {
    await app.register(spacesRoutes, { prefix: options.prefix, storage, access, work })
  }
  if (options.console) await registerConsole(app, options, resolved.systems, storage.store.multipart !== undefined)
}

/** Loaded only when asked for, so hosts that leave the console off never read its module or assets. */
async function registerConsole(
  app: FastifyInstance,
  options: FastifySpacesPluginOptions,
  systems: readonly string[],
  resumable: boolean,
) {
  if (options.routes === false) throw new ConfigInvalidError('`console` drives the HTTP routes; it needs `routes` on')
  const prefix = options.prefix ?? ''
  const path = (typeof options.console === 'object' ? options.console.path : undefined) ?? `${prefix}/console`
  if (!path.startsWith('/')) throw new ConfigInvalidError(`console.path must start with "/" (got "${path}")`)
  const { spacesConsole } = await import('./console/index.js')
  await app.register(spacesConsole, { prefix: path, api: `${app.prefix}${prefix}`, systems, resumable })
}

export const spaces = fp(fastifySpaces, { fastify: '5.x', name: 'fastify-spaces' })
export default spaces

export * from './errors.js'
export type { FastifySpacesOptions, SpacesConnection, SignedUrlOptions, Authorize, ResolvedOptions } from './options.js'
export { validateConnection, spacesRegion } from './options.js'
export type * from './drivers/types.js'
export { S3Store, createS3Client, type S3StoreOptions } from './drivers/s3.js'
export { LocalDiskStore, type LocalDiskStoreOptions } from './drivers/local.js'
export type * from './ledger/types.js'
export { SqliteLedger, type SqliteLedgerOptions } from './ledger/sqlite.js'
export { PostgresLedger, type PostgresLedgerOptions } from './ledger/postgres.js'
export { openLedger, type LedgerLocation } from './ledger/open.js'
export type { SweepOptions } from './sweep.js'
export { Storage, type UploadInput, type StorageLogger, type StaleRule, type StagedUpload, type Leftovers } from './storage.js'
export type { RequestScope, CallerUploadInput } from './caller.js'
export type { DirectUploads, DirectUploadStart, Completion } from './uploads/direct.js'
export type { BrowserMultipart, MultipartStart, MultipartHandle } from './uploads/multipart.js'
export type { ResumableUploads, ResumableStart, AppendInput, AppendResult, ChecksumAlgorithm } from './uploads/resumable.js'
export type { S3Multipart, Send } from './drivers/s3-multipart.js'
export type { S3Presigner, PresignerOptions, PresignInput } from './drivers/s3-presigner.js'
export type { Access, AuditNote } from './access.js'
export { decide, identityFromClaims, type Identity, type Action, type Target, type Decision } from './policy.js'
export { buildKey, parseKey, DEFAULT_SYSTEMS, type KeyParts, type KeyRules } from './keys.js'
export { errorHandler } from './error-handler.js'
