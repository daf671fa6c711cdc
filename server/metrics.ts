// GET /metrics in Prometheus text: requests by operation, uploads and bytes, latencies, and
// errors by code (S3 failures show as FST_SPACES_STORAGE_*, ledger failures as FST_SPACES_LEDGER_ERROR).
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { FastifyInstance, onResponseHookHandler } from 'fastify'
import { OPS_ROUTE, SHUTTING_DOWN } from './ops-routes.js'

export interface Metrics {
  registry: Registry
  storeErrors: Counter<'operation' | 'code'>
}

export function registerMetrics(app: FastifyInstance): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'spaces_proxy_' })
  const requests = new Histogram({
    name: 'spaces_proxy_request_duration_seconds',
    help: 'Request latency by operation and status',
    labelNames: ['operation', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  })
  const uploads = new Counter({
    name: 'spaces_proxy_uploads_total',
    help: 'Upload requests by result',
    labelNames: ['result'] as const,
    registers: [registry],
  })
  const uploadBytes = new Counter({
    name: 'spaces_proxy_upload_bytes_total',
    help: 'Bytes received by upload requests (from Content-Length where sent)',
    registers: [registry],
  })
  const errors = new Counter({
    name: 'spaces_proxy_errors_total',
    help: 'Errors by code',
    labelNames: ['code'] as const,
    registers: [registry],
  })
  const storeErrors = new Counter({
    name: 'spaces_proxy_store_errors_total',
    help: 'Object-store (S3) request failures by S3 error code',
    labelNames: ['operation', 'code'] as const,
    registers: [registry],
  })

  app.addHook('onError', async (_request, _reply, error) => {
    errors.inc({ code: error.code ?? error.name })
  })
  // Only the plugin's operations are timed and counted, so probes and scrapes (and the host's
  // own routes) never run this hook: it is added to each operation's route, not to the root.
  const timers = new Map<string, { observe(seconds: number): void }>()
  const observe: onResponseHookHandler = (request, reply, done) => {
    const operation = request.routeOptions.config.operation!
    const status = reply.statusCode
    const key = `${operation} ${status}`
    let timer = timers.get(key)
    if (!timer) {
      timer = requests.labels({ operation, status: String(status) })
      timers.set(key, timer)
    }
    timer.observe(reply.elapsedTime / 1000)
    if (operation === 'storage.object.upload') {
      uploads.inc({ result: status < 400 ? 'ok' : 'error' })
      const length = Number(request.headers['content-length'])
      if (status < 400 && Number.isFinite(length)) uploadBytes.inc(length)
    }
    done()
  }
  app.addHook('onRoute', (route) => {
    if (!(route.config as { operation?: string } | undefined)?.operation) return
    const own = route.onResponse === undefined ? [] : Array.isArray(route.onResponse) ? route.onResponse : [route.onResponse]
    route.onResponse = [...own, observe]
  })
  app.get(
    '/metrics',
    {
      ...OPS_ROUTE,
      schema: {
        summary: 'Prometheus metrics',
        operationId: 'metrics',
        tags: ['operations'],
        security: [],
        response: {
          200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } },
          503: SHUTTING_DOWN,
        },
      },
    },
    async (_request, reply) => {
      reply.type(registry.contentType)
      return registry.metrics()
    },
  )
  return { registry, storeErrors }
}
