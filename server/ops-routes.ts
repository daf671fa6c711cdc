// Liveness and readiness for orchestrators: /health says the process answers, /ready says it
// can do its job (the bucket answers HeadBucket and the ledger takes a write).
import type { FastifyInstance } from 'fastify'
import type { ObjectStore } from '../plugin/drivers/types.js'
import type { Ledger } from '../plugin/ledger/types.js'
import { NotReadyError } from '../plugin/errors.js'
import { errorSchema, publicErrorResponses } from '../plugin/schemas.js'

const READY_TIMEOUT_MS = 3000

/** What every route answers while the server closes (Fastify's return503OnClosing). */
export const SHUTTING_DOWN = { ...errorSchema, description: 'The server is shutting down' } as const

/**
 * Route options for probes and scrapes. They arrive every few seconds from orchestrators and
 * monitoring, not from browsers: no CORS, and logged only when something goes wrong.
 */
export const OPS_ROUTE = { logLevel: 'warn', config: { cors: false } } as const

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

export function registerOpsRoutes(app: FastifyInstance, deps: { store: ObjectStore; ledger: Ledger }): void {
  app.get(
    '/health',
    {
      ...OPS_ROUTE,
      schema: {
        summary: 'Liveness: the process answers',
        operationId: 'health',
        tags: ['operations'],
        security: [],
        response: {
          200: { type: 'object', description: 'Alive', required: ['status'], properties: { status: { type: 'string', enum: ['ok'] } } },
          503: SHUTTING_DOWN,
        },
      },
    },
    async () => ({ status: 'ok' }),
  )

  app.get(
    '/ready',
    {
      ...OPS_ROUTE,
      schema: {
        summary: 'Readiness: the bucket answers HeadBucket and the ledger takes a write',
        operationId: 'ready',
        tags: ['operations'],
        security: [],
        response: {
          200: {
            type: 'object',
            description: 'Ready to serve',
            required: ['status', 'store'],
            properties: { status: { type: 'string', enum: ['ready'] }, store: { type: 'string', description: 'The object store driver, e.g. s3' } },
          },
          ...publicErrorResponses(503),
        },
      },
    },
    async (_request, reply) => {
      const problems: string[] = []
      try {
        await withTimeout(deps.store.ping(), READY_TIMEOUT_MS, 'the bucket')
      } catch (err) {
        problems.push(`storage: ${(err as Error).message}`)
      }
      try {
        await withTimeout(deps.ledger.checkWritable(), READY_TIMEOUT_MS, 'the ledger')
      } catch (err) {
        problems.push(`ledger: ${(err as Error).message}`)
      }
      if (problems.length === 0) return { status: 'ready', store: deps.store.kind }
      reply.header('retry-after', '5')
      throw new NotReadyError(problems.join('; '))
    },
  )
}
