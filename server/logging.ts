// Logger settings: request ids, and nothing that identifies a patient or grants access.
// Filenames can hold patient names and signed-URL paths carry credentials, so requests are
// logged by route pattern (`/v1/files/*`), never by their URL.
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify'

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-amz-security-token"]',
  'res.headers["set-cookie"]',
  '*.authorization',
  '*.secretAccessKey',
  '*.accessKeyId',
  '*.token',
  '*.url',
]

export function loggerOptions(level: string) {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      req(request: FastifyRequest) {
        return {
          method: request.method,
          route: request.routeOptions?.url ?? '(no route)',
          operation: request.routeOptions?.config?.operation,
          remoteAddress: request.ip,
        }
      },
    },
  }
}

// Fastify 5.12 moved the switch into a log controller (the old option warns); earlier 5.x has only the option.
const { LogController } = Fastify as unknown as { LogController?: typeof Fastify.LogController }

/** Turns off Fastify's own request lines: logRequests writes one instead. */
export function frameworkRequestLogsOff(): Pick<FastifyServerOptions, 'logController' | 'disableRequestLogging'> {
  return LogController ? { logController: new LogController({ disableRequestLogging: true }) } : { disableRequestLogging: true }
}

/**
 * One line per request, when it completes: the route, the caller's address, the status and the
 * time taken. Fastify's default adds a second "incoming request" line, which doubled the logging
 * cost of every small request and said nothing the completion line does not.
 */
export function logRequests(app: FastifyInstance): void {
  app.addHook('onResponse', (request, reply, done) => {
    request.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed')
    done()
  })
}
