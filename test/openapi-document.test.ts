// The OpenAPI document at /docs/json describes every route the sidecar serves, with its success
// and error responses and its request body, so a generated client is a useful one. A route added
// later without schemas fails here.
import { test } from 'tap'
import type { RouteOptions } from 'fastify'
import { buildServer } from './helpers/server.js'

interface Operation {
  operationId?: string
  security?: unknown[]
  requestBody?: { content: Record<string, { schema?: unknown }> }
  responses: Record<string, { description: string; content?: Record<string, { schema?: Schema }> }>
}
interface Schema {
  type?: string
  required?: string[]
  properties?: Record<string, unknown>
}
type Document = { paths: Record<string, Record<string, Operation>> }

const KEY_PATH = '/v1/files/{orgId}/{system}/{objectType}/{objectId}/{filename}'
/** Operations that take no request body although their method could carry one. */
const BODILESS = new Set(['restoreTrash'])

async function documentAndRoutes(t: { teardown(fn: () => unknown): void }) {
  const routes: RouteOptions[] = []
  const server = await buildServer(t, {}, { onRoute: (route) => void routes.push(route) })
  const doc = (await server.app.inject({ method: 'GET', url: '/docs/json' })).json() as Document
  return { doc, routes }
}

function operations(doc: Document): Array<{ method: string; path: string; op: Operation }> {
  return Object.entries(doc.paths).flatMap(([path, byMethod]) =>
    Object.entries(byMethod).map(([method, op]) => ({ method: method.toUpperCase(), path, op })),
  )
}

/** Where a route shows in the document: its own transform's URL, or its :params as {params}. */
function documentedPath(route: RouteOptions): string {
  const transform = route.config?.swaggerTransform
  const url = transform ? transform({ schema: route.schema ?? {}, url: route.url, route, openapiObject: {} } as never).url : route.url
  return url.replace(/:([A-Za-z]+)/g, '{$1}')
}

test('every route the sidecar serves is in the document', async (t) => {
  const { doc, routes } = await documentAndRoutes(t)
  const gets = new Map(routes.filter((r) => r.method === 'GET').map((r) => [r.url, r.handler]))
  const served = routes.filter(
    (route) =>
      !route.schema?.hide &&
      // Fastify's implicit HEAD twin of a GET shares its handler; an explicit HEAD does not.
      !(route.method === 'HEAD' && gets.get(route.url) === route.handler),
  )
  t.ok(served.length >= 19, `${served.length} routes to document`)
  for (const route of served) {
    const path = documentedPath(route)
    t.ok(doc.paths[path]?.[String(route.method).toLowerCase()], `${route.method} ${route.url} is documented as ${path}`)
  }
  for (const [method, path] of [['HEAD', KEY_PATH], ['GET', '/health'], ['GET', '/ready'], ['GET', '/metrics']]) {
    t.ok(doc.paths[path!]?.[method!.toLowerCase()], `${method} ${path}`)
  }
})

test('keys are the five segments of the layout, never a wildcard', async (t) => {
  const { doc } = await documentAndRoutes(t)
  const paths = Object.keys(doc.paths)
  t.same(paths.filter((path) => path.includes('*')), [], 'no wildcard path')
  t.same(Object.keys(doc.paths[KEY_PATH]!).sort(), ['delete', 'get', 'head', 'put'])
  for (const op of Object.values(doc.paths[KEY_PATH]!)) {
    const names = (op as Operation & { parameters: Array<{ in: string; name: string }> }).parameters
      .filter((p) => p.in === 'path')
      .map((p) => p.name)
    t.same(names, ['orgId', 'system', 'objectType', 'objectId', 'filename'], `${op.operationId}: path parameters`)
  }
})

test('every operation has a name, a described success, its errors in the error shape, and its body', async (t) => {
  const { doc } = await documentAndRoutes(t)
  const ids = new Set<string>()
  for (const { method, path, op } of operations(doc)) {
    const name = `${method} ${path}`
    t.ok(op.operationId && !ids.has(op.operationId), `${name}: a unique operationId`)
    ids.add(op.operationId!)
    const statuses = Object.keys(op.responses)
    const success = statuses.filter((s) => /^[23]/.test(s))
    t.ok(success.length > 0, `${name}: a success response`)
    for (const status of statuses) {
      t.not(op.responses[status]!.description, 'Default Response', `${name} ${status}: described`)
    }
    const errors = statuses.filter((s) => /^[45]/.test(s))
    t.ok(errors.length > 0, `${name}: error responses`)
    const behindToken = op.security === undefined || op.security.length > 0
    if (behindToken) t.ok(errors.includes('401') && errors.includes('403'), `${name}: 401 and 403`)
    for (const status of errors) {
      const schema = op.responses[status]!.content?.['application/json']?.schema
      t.same(schema?.required, ['statusCode', 'code', 'error', 'message'], `${name} ${status}: the error shape`)
    }
    const takesBody = ['PUT', 'POST', 'PATCH'].includes(method) && !BODILESS.has(op.operationId!)
    t.equal(Boolean(op.requestBody), takesBody, `${name}: ${takesBody ? 'a request body' : 'no request body'}`)
  }
  const put = doc.paths[KEY_PATH]!.put!
  t.ok(put.requestBody?.content['*/*'], 'PUT takes the raw file')
  const post = doc.paths['/v1/files/{orgId}/{system}/{objectType}/{objectId}']!.post!
  t.ok(post.requestBody?.content['multipart/form-data'], 'POST takes a multipart form')
  t.ok(doc.paths['/v1/signed-urls']!.post!.requestBody?.content['application/json'], 'signing takes JSON')
  t.ok(put.responses['201']!.content?.['application/json'], 'an upload answers 201 with the file record')
})
