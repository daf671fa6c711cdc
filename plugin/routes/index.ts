// The plugin's HTTP surface, in its own encapsulated context: the error handler, the multipart
// parser and the audit hooks apply to these routes only, never to the host app's.
import multipart from '@fastify/multipart'
import type { FastifyInstance, RouteHandlerMethod } from 'fastify'
// Route schemas carry OpenAPI fields (summary, tags, swaggerTransform): @fastify/swagger's types
// allow them. A type-only import, kept out of the public declarations: hosts need not install it.
import type {} from '@fastify/swagger'
import type { RouteDeps, RoutesOptions } from './deps.js'
import { registerAuditHooks } from '../access.js'
import { errorHandler } from '../error-handler.js'
import { auditRoutes } from './audit.js'
import { fileRoutes } from './files.js'
import { MULTIPART_LIMITS } from './multipart-upload.js'
import { signedRoutes } from './signed.js'
import { registerStrictHttp } from './strict-http.js'
import { trashRoutes } from './trash.js'
import { uploadRoutes } from './uploads.js'
import { multipartRoutes } from './multipart.js'
import { tusRoutes } from './tus.js'

export async function spacesRoutes(app: FastifyInstance, { storage, access, work }: RoutesOptions): Promise<void> {
  // Pass only the dependencies down: the options object also carries our own `prefix`.
  const deps: RouteDeps = { storage, access }
  const { maxUploadBytes } = storage.options
  app.setErrorHandler(errorHandler(maxUploadBytes))
  // Every handler is tracked until it settles, even when its client has long gone. A GET's
  // implicit HEAD twin shares its handler, so it shares the tracked one too.
  const tracked = new WeakMap<RouteHandlerMethod, RouteHandlerMethod>()
  app.addHook('onRoute', (route) => {
    const handler = route.handler
    let wrapper = tracked.get(handler)
    if (!wrapper) {
      wrapper = function trackedHandler(request, reply) {
        return work.trackHandler(request, Promise.resolve().then(() => handler.call(this, request, reply)))
      }
      tracked.set(handler, wrapper)
      tracked.set(wrapper, wrapper)
    }
    route.handler = wrapper
  })
  registerAuditHooks(app, storage.ledger, access, work)
  registerStrictHttp(app)
  await app.register(multipart, {
    // Never buffered: each file part is streamed to the store as it arrives. busboy's own limit
    // sits one byte above ours: it truncates silently, while our meter fails the upload with 413.
    limits: { ...MULTIPART_LIMITS, fileSize: maxUploadBytes + 1 },
    throwFileSizeLimit: true,
  })
  await app.register(fileRoutes, deps)
  await app.register(trashRoutes, deps)
  await app.register(signedRoutes, deps)
  await app.register(uploadRoutes, deps)
  await app.register(multipartRoutes, deps)
  await app.register(tusRoutes, deps)
  await app.register(auditRoutes, deps)
}
