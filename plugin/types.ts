// Public types merged into Fastify's, so host apps get `app.storage` and route config typed.
import type { errors } from './errors.js'
import type { AuditAction } from './ledger/types.js'
import type { Storage } from './storage.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The storage service: the same operations the routes use, for hosts writing their own. */
    storage: Storage
    /** The plugin's error classes, to match on `instanceof` or `code`. */
    spacesErrors: typeof errors
  }
  interface FastifyContextConfig {
    /** Dotted operation name, e.g. `storage.object.upload`: the key for logs and metrics. */
    operation?: string
    /** The audit action this route records, if any. */
    audit?: AuditAction
    /** Served without a bearer token (the URL carries its own signature). */
    public?: boolean
  }
}
