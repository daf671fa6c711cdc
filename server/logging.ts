// Logger settings: request ids, and nothing that identifies a patient or grants access.
// Filenames can hold patient names and signed-URL paths carry credentials, so requests are
// logged by route pattern (`/v1/files/*`), never by their URL.
import type { FastifyRequest } from 'fastify'

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
