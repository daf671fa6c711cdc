// HTTP details the routes are strict about, checked before a handler runs:
// - a PUT stores a whole file, so a partial PUT (`Content-Range`) is refused (RFC 9110 §14.4);
// - a JSON body with properties the route does not know is refused and they are named, where
//   Ajv's `removeAdditional` would drop them and the client would think they were kept.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { BadRequestError } from '../errors.js'

interface ObjectSchema {
  additionalProperties?: unknown
  properties?: Record<string, unknown>
}

function unknownProperties(request: FastifyRequest): string[] {
  const schema = request.routeOptions.schema?.body as ObjectSchema | undefined
  const body = request.body
  if (schema?.additionalProperties !== false || !body || typeof body !== 'object' || Array.isArray(body)) return []
  const known = schema.properties ?? {}
  return Object.keys(body).filter((name) => !Object.hasOwn(known, name))
}

export function registerStrictHttp(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    if (request.method === 'PUT' && request.headers['content-range'] !== undefined) {
      throw new BadRequestError('Content-Range is not allowed on PUT: send the whole file in one request')
    }
    const unknown = unknownProperties(request)
    if (unknown.length > 0) {
      throw new BadRequestError(`body has unknown properties: ${unknown.map((name) => JSON.stringify(name)).join(', ')}`)
    }
  })
}
