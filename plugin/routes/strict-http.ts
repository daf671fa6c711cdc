// HTTP details the routes are strict about, checked before a handler runs:
// - a PUT stores a whole file, so a partial PUT (`Content-Range`) is refused (RFC 9110 §14.4);
// - a JSON body with properties the route does not know is refused and they are named, where
//   Ajv's `removeAdditional` would drop them and the client would think they were kept. Nested
//   objects count too (`metadata.caption`), wherever their schema closes them.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { BadRequestError } from '../errors.js'

interface ObjectSchema {
  additionalProperties?: unknown
  properties?: Record<string, ObjectSchema>
  items?: ObjectSchema
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

/** The paths (`metadata.caption`, `parts[2].Size`) of properties that a closed object schema does not list. */
export function unknownProperties(schema: ObjectSchema | undefined, value: unknown, path = ''): string[] {
  if (!schema) return []
  if (Array.isArray(value)) return schema.items ? value.flatMap((item, i) => unknownProperties(schema.items, item, `${path}[${i}]`)) : []
  if (!isObject(value)) return []
  const known = schema.properties ?? {}
  return Object.entries(value).flatMap(([name, child]) => {
    const at = path ? `${path}.${name}` : name
    if (Object.hasOwn(known, name)) return unknownProperties(known[name], child, at)
    return schema.additionalProperties === false ? [at] : []
  })
}

/** Refuses a JSON body with properties its schema does not list, naming them. */
export function refuseUnknownProperties(schema: unknown, body: unknown): void {
  const unknown = unknownProperties(schema as ObjectSchema | undefined, body)
  if (unknown.length > 0) {
    throw new BadRequestError(`body has unknown properties: ${unknown.map((name) => JSON.stringify(name)).join(', ')}`)
  }
}

export function registerStrictHttp(app: FastifyInstance): void {
  // Callback style: it runs on every request, and an async hook costs a promise and a tick.
  app.addHook('preValidation', (request: FastifyRequest, _reply, done) => {
    if (request.method === 'PUT' && request.headers['content-range'] !== undefined) {
      return done(new BadRequestError('Content-Range is not allowed on PUT: send the whole file in one request'))
    }
    try {
      refuseUnknownProperties(request.routeOptions.schema?.body, request.body)
    } catch (err) {
      return done(err as Error)
    }
    done()
  })
}
