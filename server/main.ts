// Runs the sidecar: listen, and on SIGTERM/SIGINT stop taking requests, let uploads in flight
// finish until the deadline, abort the rest (their multipart uploads are aborted too), wait for
// the aborted handlers to clean up and write their audit events, close the ledger last, exit 0.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { build } from './app.js'
import type { ServerConfig } from './config.js'
import { devBanner } from './dev-banner.js'

/** After the deadline, how long aborted handlers get to abort their uploads and write their audit. */
export const CLEANUP_GRACE_MS = 10_000

/**
 * Keeps the requests in flight, so a shutdown past its deadline can cut them off cleanly. The
 * hooks run on every request: callback style, they cost no promise and no extra tick.
 */
export function trackRequests(app: FastifyInstance): () => number {
  const inflight = new Set<FastifyRequest>()
  app.addHook('onRequest', (request, _reply, done) => {
    inflight.add(request)
    done()
  })
  app.addHook('onResponse', (request, _reply, done) => {
    inflight.delete(request)
    done()
  })
  app.addHook('onRequestAbort', (request, done) => {
    inflight.delete(request)
    done()
  })
  return () => {
    for (const request of inflight) request.raw.destroy()
    return inflight.size
  }
}

export async function serve(config: ServerConfig): Promise<FastifyInstance> {
  const app = await build(config)
  const abortAll = trackRequests(app)
  await app.listen({ host: config.host, port: config.port })
  if (config.jwt.ephemeral) process.stdout.write(devBanner(app, config))

  let stopping = false
  async function shutdown(signal: string): Promise<void> {
    if (stopping) return
    stopping = true
    app.log.info({ signal, deadlineMs: config.timeouts.shutdown }, 'shutting down: finishing requests in flight')
    const deadline = setTimeout(() => {
      const cut = abortAll()
      app.log.warn({ aborted: cut }, 'shutdown deadline reached: aborting requests still in flight')
    }, config.timeouts.shutdown)
    deadline.unref()
    // A store that does not answer the aborts must not keep the process from ever exiting.
    const hardStop = setTimeout(() => {
      app.log.error({ graceMs: CLEANUP_GRACE_MS }, 'shutdown: aborted requests did not finish cleaning up; exiting')
      process.exit(1)
    }, config.timeouts.shutdown + CLEANUP_GRACE_MS)
    hardStop.unref()
    try {
      await app.close()
      process.exitCode = 0
    } catch (err) {
      app.log.error({ err }, 'shutdown failed')
      process.exitCode = 1
    } finally {
      clearTimeout(deadline)
      clearTimeout(hardStop)
    }
  }
  process.once('SIGTERM', () => void shutdown('SIGTERM'))
  process.once('SIGINT', () => void shutdown('SIGINT'))
  return app
}
