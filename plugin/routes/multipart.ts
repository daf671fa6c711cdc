// Presigned S3 multipart for browser uploads, in the JSON shape of Uppy Companion's S3 endpoints,
// so Uppy's @uppy/aws-s3 multipart mode talks to it unchanged:
//   POST   /uploads/multipart                          create          -> { key, uploadId }
//   GET    /uploads/multipart/:uploadId/:partNumber    sign a part     -> { url, expires }
//   GET    /uploads/multipart/:uploadId                list parts      -> [{ PartNumber, Size, ETag }]
//   POST   /uploads/multipart/:uploadId/complete       complete        -> file record + { location }
//   DELETE /uploads/multipart/:uploadId                abort           -> {}
// (each with ?key=). They take a bearer token. Uppy 6 sends no headers of its own to a Companion
// endpoint, so POST /uploads/multipart/sessions mints a short-lived endpoint URL that carries a
// sealed token instead: the same operations under /uploads/multipart/session/{token}/s3/multipart
// (one wildcard route per method: the token is longer than a path parameter may be).
import { hkdfSync } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { MultipartHandle } from '../uploads/multipart.js'
import type { RouteDeps } from './deps.js'
import type { Identity } from '../policy.js'
import { BadRequestError, RouteNotFoundError } from '../errors.js'
import { createSignedToken, verifySignedToken } from '../signed-token.js'
import { contentTypeSchema, uploadKey } from './uploads.js'
import { errorSchema, fileRecordSchema, uploadErrors } from './schemas.js'

interface Target {
  system: string
  objectType: string
  objectId: string
}

interface CreateBody {
  filename: string
  type?: string
  metadata?: Partial<Target> & { name?: string; size?: number | string; [field: string]: unknown }
  size?: number
}

interface Caller {
  sub: string
  org: string
  /** A session fixes where its uploads go. */
  target?: Target
}

interface CompleteBody {
  parts: Array<{ PartNumber: number; ETag: string }>
}

/** Session calls come through one wildcard route, so their bodies are checked here rather than by a schema. */
function checkCreateBody(body: unknown): CreateBody {
  const b = (body ?? {}) as CreateBody
  if (typeof b.filename !== 'string' || b.filename.length === 0 || b.filename.length > 1024) throw new BadRequestError('body.filename is required')
  if (b.type !== undefined && (typeof b.type !== 'string' || !/^[\x21-\x7e][\x20-\x7e]{0,254}$/.test(b.type))) throw new BadRequestError('body.type must be a content type')
  if (b.metadata !== undefined && (typeof b.metadata !== 'object' || b.metadata === null)) throw new BadRequestError('body.metadata must be an object')
  return b
}

function checkCompleteBody(body: unknown): CompleteBody {
  const parts = (body as CompleteBody | undefined)?.parts
  const valid = Array.isArray(parts) && parts.length <= 10_000 && parts.every((p) => Number.isInteger(p?.PartNumber) && typeof p?.ETag === 'string')
  if (!valid) throw new BadRequestError('body.parts must be [{ PartNumber, ETag }]')
  return { parts }
}

const handleParams = {
  type: 'object',
  required: ['uploadId'],
  properties: { uploadId: { type: 'string', maxLength: 64 }, partNumber: { type: 'integer' } },
} as const
const keyQuery = { type: 'object', required: ['key'], properties: { key: { type: 'string', maxLength: 2048 } } } as const

const createSchema = {
  body: {
    type: 'object',
    required: ['filename'],
    properties: {
      filename: { type: 'string', minLength: 1, maxLength: 1024, description: "the file's name (Uppy sends its object key here; metadata.name wins)" },
      type: contentTypeSchema,
      size: { type: 'integer', minimum: 0, description: 'the file size, checked on completion' },
      metadata: {
        type: 'object',
        description: 'system, objectType, objectId (bearer calls), name, size: as Uppy sends file.meta',
        properties: {
          system: { type: 'string' },
          objectType: { type: 'string' },
          objectId: { type: 'string' },
          name: { type: 'string', maxLength: 1024 },
          size: { anyOf: [{ type: 'integer' }, { type: 'string' }] },
        },
      },
    },
  },
  response: {
    201: { type: 'object', required: ['key', 'uploadId'], properties: { key: { type: 'string' }, uploadId: { type: 'string' } } },
    ...uploadErrors,
  },
} as const

const partsSchema = {
  type: 'array',
  items: {
    type: 'object',
    required: ['PartNumber', 'Size', 'ETag'],
    properties: { PartNumber: { type: 'integer' }, Size: { type: 'integer' }, ETag: { type: 'string' } },
  },
} as const

const completeBody = {
  type: 'object',
  required: ['parts'],
  properties: {
    parts: {
      type: 'array',
      maxItems: 10_000,
      items: { type: 'object', required: ['PartNumber', 'ETag'], properties: { PartNumber: { type: 'integer' }, ETag: { type: 'string' } } },
    },
  },
} as const

const completed = {
  type: 'object',
  properties: { ...fileRecordSchema.properties, location: { type: 'string' } },
  required: [...fileRecordSchema.required, 'location'],
} as const

function sessionSecret(secret: Buffer): Buffer {
  // Its own key: a session token can never pass as a proxy download URL, nor the other way round.
  return Buffer.from(hkdfSync('sha256', secret, 'fastify-spaces', 'multipart upload sessions', 32))
}

function declaredSize(body: CreateBody): number | undefined {
  const size = body.size ?? body.metadata?.size
  if (size === undefined || size === '') return undefined
  const n = Number(size)
  if (!Number.isSafeInteger(n) || n < 0) throw new BadRequestError('size must be a whole number of bytes')
  return n
}

export async function multipartRoutes(app: FastifyInstance, deps: RouteDeps): Promise<void> {
  const { storage, access } = deps
  const { defaultTtl } = storage.options.signedUrls
  const secret = sessionSecret(storage.options.signedUrls.secret)

  /** The five operations, whoever the caller is (bearer or session). */
  const ops = {
    async create(request: FastifyRequest, reply: FastifyReply, caller: Caller, body: CreateBody) {
      const meta = body.metadata ?? {}
      const target = caller.target ?? { system: String(meta.system ?? ''), objectType: String(meta.objectType ?? ''), objectId: String(meta.objectId ?? '') }
      const key = uploadKey(deps, caller.org, { ...target, filename: typeof meta.name === 'string' && meta.name ? meta.name : body.filename })
      access.note(request, { key, ttl: defaultTtl })
      if (!caller.target) await access.require(request, 'write', { orgId: caller.org, system: target.system, key })
      const handle = await storage.multipart.create({
        parts: storage.parseKey(key),
        contentType: body.type || 'application/octet-stream',
        size: declaredSize(body),
        actor: caller.sub,
      })
      return reply.code(201).send(handle)
    },
    async signPart(request: FastifyRequest, reply: FastifyReply, caller: Caller, handle: MultipartHandle, partNumber: number) {
      access.quiet(request)
      const signed = await storage.multipart.signPart(handle, caller.sub, partNumber, defaultTtl)
      return reply.send({ url: signed.url, expires: defaultTtl })
    },
    async listParts(request: FastifyRequest, reply: FastifyReply, caller: Caller, handle: MultipartHandle) {
      access.quiet(request)
      const parts = await storage.multipart.listParts(handle, caller.sub)
      return reply.send(parts.map((p) => ({ PartNumber: p.partNumber, Size: p.size, ETag: p.etag })))
    },
    async complete(request: FastifyRequest, reply: FastifyReply, caller: Caller, handle: MultipartHandle, body: CompleteBody) {
      access.note(request, { key: handle.key })
      const named = body.parts.map((p) => ({ partNumber: p.PartNumber, etag: p.ETag }))
      const { record, existing } = await storage.multipart.complete(handle, caller.sub, named)
      access.note(request, { key: record.key, bytes: record.size, sha256: record.sha256 })
      const base = request.url.slice(0, request.url.indexOf('/uploads/'))
      const location = `${request.protocol}://${request.host}${base}/files/${record.key.split('/').map(encodeURIComponent).join('/')}`
      return reply.code(existing ? 200 : 201).send({ ...record, location })
    },
    async abort(request: FastifyRequest, reply: FastifyReply, caller: Caller, handle: MultipartHandle) {
      access.note(request, { key: handle.key, status: 499, errorCode: 'FST_SPACES_UPLOAD_ABORTED' })
      await storage.multipart.abort(handle, caller.sub)
      return reply.send({})
    },
  }

  const bearer = async (request: FastifyRequest): Promise<Caller> => {
    const identity: Identity = await access.identity(request)
    return { sub: identity.sub, org: identity.org }
  }
  const tags = ['multipart uploads']
  const config = (operation: string, audit: 'sign' | 'upload_complete') => ({ operation, audit })
  type Handle = { Params: { uploadId: string }; Querystring: { key: string } }
  const handleOf = (request: FastifyRequest<Handle>): MultipartHandle => ({ key: request.query.key, uploadId: request.params.uploadId })

  app.post<{ Body: CreateBody }>(
    '/uploads/multipart',
    { config: config('storage.object.multipart_create', 'sign'), schema: { summary: 'Start a presigned multipart upload (Companion: POST /s3/multipart)', tags, ...createSchema } },
    async (request, reply) => ops.create(request, reply, await bearer(request), request.body),
  )
  app.get<Handle & { Params: { partNumber: number } }>(
    '/uploads/multipart/:uploadId/:partNumber',
    {
      config: config('storage.object.multipart_sign_part', 'sign'),
      schema: {
        summary: 'A presigned URL for one part (Companion: GET /s3/multipart/{uploadId}/{partNumber})',
        tags,
        params: handleParams,
        querystring: keyQuery,
        response: { 200: { type: 'object', required: ['url', 'expires'], properties: { url: { type: 'string' }, expires: { type: 'integer' } } }, ...uploadErrors },
      },
    },
    async (request, reply) => ops.signPart(request, reply, await bearer(request), handleOf(request), request.params.partNumber),
  )
  app.get<Handle>(
    '/uploads/multipart/:uploadId',
    {
      config: config('storage.object.multipart_list_parts', 'sign'),
      schema: { summary: 'The parts uploaded so far (Companion: GET /s3/multipart/{uploadId})', tags, params: handleParams, querystring: keyQuery, response: { 200: partsSchema, ...uploadErrors } },
    },
    async (request, reply) => ops.listParts(request, reply, await bearer(request), handleOf(request)),
  )
  app.post<Handle & { Body: CompleteBody }>(
    '/uploads/multipart/:uploadId/complete',
    {
      config: config('storage.object.multipart_complete', 'upload_complete'),
      schema: {
        summary: 'Assemble, check, hash and record the upload (Companion: POST /s3/multipart/{uploadId}/complete)',
        description: '201 when this call recorded it; 200 with the same record when an earlier or concurrent completion did.',
        tags,
        params: handleParams,
        querystring: keyQuery,
        body: completeBody,
        response: { 200: completed, 201: completed, ...uploadErrors },
      },
    },
    async (request, reply) => ops.complete(request, reply, await bearer(request), handleOf(request), request.body),
  )
  app.delete<Handle>(
    '/uploads/multipart/:uploadId',
    {
      config: config('storage.object.multipart_abort', 'upload_complete'),
      schema: { summary: 'Abort: the parts are removed (Companion: DELETE /s3/multipart/{uploadId})', tags, params: handleParams, querystring: keyQuery, response: { 200: { type: 'object' }, ...uploadErrors } },
    },
    async (request, reply) => ops.abort(request, reply, await bearer(request), handleOf(request)),
  )

  // Sessions: the same operations under an endpoint URL that stands for one caller and target.
  const sessionPath = /^([\w-]+\.[\w-]+)\/s3\/multipart(?:\/([\w-]{1,64})(?:\/(complete|\d{1,5}))?)?$/
  async function session(request: FastifyRequest<{ Params: { '*': string }; Querystring: { key?: string } }>, reply: FastifyReply) {
    const match = sessionPath.exec(request.params['*'])
    if (!match) throw new RouteNotFoundError(`for ${request.method} here`)
    const [, token, uploadId, step] = match as unknown as [string, string, string | undefined, string | undefined]
    const claims = verifySignedToken(secret, token)
    const [, system, objectType, objectId] = claims.key.split('/') as [string, string, string, string]
    const caller: Caller = { sub: claims.sub, org: claims.org, target: { system, objectType, objectId } }
    access.note(request, { actor: caller })
    if (uploadId === undefined) {
      if (request.method !== 'POST') throw new RouteNotFoundError(`for ${request.method} here`)
      return ops.create(request, reply, caller, checkCreateBody(request.body))
    }
    const handle = { uploadId, key: String(request.query.key ?? '') }
    if (request.method === 'GET' && step && step !== 'complete') return ops.signPart(request, reply, caller, handle, Number(step))
    if (request.method === 'GET' && !step) return ops.listParts(request, reply, caller, handle)
    if (request.method === 'POST' && step === 'complete') return ops.complete(request, reply, caller, handle, checkCompleteBody(request.body))
    if (request.method === 'DELETE' && !step) return ops.abort(request, reply, caller, handle)
    throw new RouteNotFoundError(`for ${request.method} here`)
  }
  const sessionSchema = {
    summary: 'The multipart operations for an Uppy companionEndpoint from POST /uploads/multipart/sessions',
    description: '{token}/s3/multipart[/{uploadId}[/{partNumber}|/complete]], as Uppy Companion serves them; no bearer token.',
    tags,
    querystring: { type: 'object', properties: { key: { type: 'string', maxLength: 2048 } } },
  }
  for (const method of ['GET', 'POST', 'DELETE'] as const) {
    app.route<{ Params: { '*': string }; Querystring: { key?: string } }>({
      method,
      url: '/uploads/multipart/session/*',
      config: { operation: 'storage.object.multipart_session_call', audit: method === 'POST' ? 'upload_complete' : 'sign', public: true },
      schema: sessionSchema,
      handler: session,
    })
  }

  app.post<{ Body: Target & { expiresIn?: number } }>(
    '/uploads/multipart/sessions',
    {
      config: { operation: 'storage.object.multipart_session', audit: 'sign' },
      schema: {
        summary: 'An upload endpoint for Uppy (@uppy/aws-s3 companionEndpoint) that stands for this caller',
        description: 'The endpoint carries a sealed, expiring token: Uppy sends no Authorization header of its own.',
        tags: ['multipart uploads'],
        body: {
          type: 'object',
          required: ['system', 'objectType', 'objectId'],
          additionalProperties: false,
          properties: {
            system: { type: 'string' },
            objectType: { type: 'string' },
            objectId: { type: 'string' },
            expiresIn: { type: 'integer', minimum: 60, description: 'seconds; default 3600, at most UPLOAD_EXPIRY_SECONDS' },
          },
        },
        response: {
          201: {
            type: 'object',
            required: ['companionEndpoint', 'expiresAt'],
            properties: { companionEndpoint: { type: 'string' }, expiresAt: { type: 'string', format: 'date-time' } },
          },
          400: errorSchema,
          401: errorSchema,
          403: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const identity = await access.identity(request)
      const { system, objectType, objectId } = request.body
      // Checks the segments: a session for a target no key could have is refused now, not later.
      const probe = uploadKey(deps, identity.org, { system, objectType, objectId, filename: 'x' })
      const prefix = probe.slice(0, probe.lastIndexOf('/') + 1)
      access.note(request, { key: prefix })
      await access.require(request, 'write', { orgId: identity.org, system, key: prefix })
      const expiresIn = Math.min(request.body.expiresIn ?? 3600, storage.options.uploadExpirySeconds)
      const expiresAt = Math.floor(Date.now() / 1000) + expiresIn
      access.note(request, { ttl: expiresIn })
      const token = createSignedToken(secret, { key: `${identity.org}/${system}/${objectType}/${objectId}`, expiresAt, disposition: 'attachment', sub: identity.sub, org: identity.org })
      const base = `${request.protocol}://${request.host}${request.url.slice(0, request.url.indexOf('/uploads/multipart/sessions'))}`
      return reply.code(201).send({ companionEndpoint: `${base}/uploads/multipart/session/${token}`, expiresAt: new Date(expiresAt * 1000).toISOString() })
    },
  )
}
