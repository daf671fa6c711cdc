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
// Bodies are strict as everywhere (unknown properties are a 400 that names them): they list
// exactly what Uppy sends, including the file.meta fields it adds itself (name, type, relativePath).
import { hkdfSync } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { MultipartHandle } from '../uploads/multipart.js'
import type { RouteDeps } from './deps.js'
import type { Identity } from '../policy.js'
import { BadRequestError, RouteNotFoundError } from '../errors.js'
import { createSignedToken, verifySignedToken } from '../signed-token.js'
import { uploadKey } from './uploads.js'
import { completedUploadSchema, contentTypeSchema, errorResponses, uploadTargetProperties } from '../schemas.js'
import { refuseUnknownProperties } from './strict-http.js'

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
  refuseUnknownProperties(createBody, body)
  const b = (body ?? {}) as CreateBody
  if (typeof b.filename !== 'string' || b.filename.length === 0 || b.filename.length > 1024) throw new BadRequestError('body.filename is required')
  if (b.type !== undefined && (typeof b.type !== 'string' || !/^[\x21-\x7e][\x20-\x7e]{0,254}$/.test(b.type))) throw new BadRequestError('body.type must be a content type')
  if (b.metadata !== undefined && (typeof b.metadata !== 'object' || b.metadata === null)) throw new BadRequestError('body.metadata must be an object')
  return b
}

function checkCompleteBody(body: unknown): CompleteBody {
  refuseUnknownProperties(completeBody, body)
  const parts = (body as CompleteBody | undefined)?.parts
  const valid = Array.isArray(parts) && parts.length <= 10_000 && parts.every((p) => Number.isInteger(p?.PartNumber) && typeof p?.ETag === 'string')
  if (!valid) throw new BadRequestError('body.parts must be [{ PartNumber, ETag }]')
  return { parts }
}

const handleParams = {
  type: 'object',
  required: ['uploadId'],
  properties: {
    uploadId: { type: 'string', maxLength: 64, description: 'From the create call' },
    partNumber: { type: 'integer', description: '1 to 10,000' },
  },
} as const
const keyQuery = {
  type: 'object',
  required: ['key'],
  properties: { key: { type: 'string', maxLength: 2048, description: 'From the create call' } },
} as const

/** Companion's create body, as Uppy sends it: `{ filename, type, metadata: file.meta }`. */
const createBody = {
  type: 'object',
  required: ['filename'],
  additionalProperties: false,
  properties: {
    filename: { type: 'string', minLength: 1, maxLength: 1024, description: "The file's name (Uppy sends its object key here; metadata.name wins)" },
    type: { ...contentTypeSchema, description: 'The content type stored with the file' },
    size: { type: 'integer', minimum: 0, description: 'The file size, checked on completion' },
    metadata: {
      type: 'object',
      description: "Uppy's file.meta: where the file goes (bearer calls) and the fields Uppy adds itself",
      additionalProperties: false,
      properties: {
        ...uploadTargetProperties,
        name: { type: 'string', maxLength: 1024, description: "The file's name" },
        size: { anyOf: [{ type: 'integer' }, { type: 'string' }], description: 'The file size, if the top-level size is not given' },
        type: { type: 'string', maxLength: 255, description: "Uppy's copy of the file type: the top-level type is the one stored" },
        relativePath: { type: 'string', nullable: true, maxLength: 4096, description: 'Set by Uppy for files from a dropped folder: not kept (keys have no folders)' },
      },
    },
  },
} as const

const createSchema = {
  body: createBody,
  response: {
    201: {
      type: 'object',
      description: 'The upload started: pass key and uploadId to the other calls',
      required: ['key', 'uploadId'],
      properties: { key: { type: 'string' }, uploadId: { type: 'string' } },
    },
    ...errorResponses(409, 413, 415),
  },
} as const

const partsSchema = {
  type: 'array',
  description: 'The parts the store holds so far',
  items: {
    type: 'object',
    required: ['PartNumber', 'Size', 'ETag'],
    properties: { PartNumber: { type: 'integer' }, Size: { type: 'integer' }, ETag: { type: 'string' } },
  },
} as const

/** Companion's complete body, as Uppy sends it. */
const completeBody = {
  type: 'object',
  required: ['parts'],
  additionalProperties: false,
  properties: {
    parts: {
      type: 'array',
      maxItems: 10_000,
      items: {
        type: 'object',
        required: ['PartNumber', 'ETag'],
        additionalProperties: false,
        properties: { PartNumber: { type: 'integer' }, ETag: { type: 'string' } },
      },
    },
  },
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
  const tags = ['multipart-uploads']
  const config = (operation: string, audit: 'sign' | 'upload_complete') => ({ operation, audit })
  type Handle = { Params: { uploadId: string }; Querystring: { key: string } }
  const handleOf = (request: FastifyRequest<Handle>): MultipartHandle => ({ key: request.query.key, uploadId: request.params.uploadId })

  app.post<{ Body: CreateBody }>(
    '/uploads/multipart',
    {
      config: config('storage.object.multipart_create', 'sign'),
      schema: { summary: 'Start a presigned multipart upload (Companion: POST /s3/multipart)', operationId: 'createMultipartUpload', tags, ...createSchema },
    },
    async (request, reply) => ops.create(request, reply, await bearer(request), request.body),
  )
  app.get<Handle & { Params: { partNumber: number } }>(
    '/uploads/multipart/:uploadId/:partNumber',
    {
      config: config('storage.object.multipart_sign_part', 'sign'),
      schema: {
        summary: 'A presigned URL for one part (Companion: GET /s3/multipart/{uploadId}/{partNumber})',
        operationId: 'signMultipartPart',
        tags,
        params: handleParams,
        querystring: keyQuery,
        response: {
          200: {
            type: 'object',
            description: 'PUT the part to url; the store answers with its ETag',
            required: ['url', 'expires'],
            properties: { url: { type: 'string', format: 'uri' }, expires: { type: 'integer', description: 'Seconds' } },
          },
          ...errorResponses(404, 409),
        },
      },
    },
    async (request, reply) => ops.signPart(request, reply, await bearer(request), handleOf(request), request.params.partNumber),
  )
  app.get<Handle>(
    '/uploads/multipart/:uploadId',
    {
      config: config('storage.object.multipart_list_parts', 'sign'),
      schema: {
        summary: 'The parts uploaded so far (Companion: GET /s3/multipart/{uploadId})',
        operationId: 'listMultipartParts',
        tags,
        params: handleParams,
        querystring: keyQuery,
        response: { 200: partsSchema, ...errorResponses(404) },
      },
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
        operationId: 'completeMultipartUpload',
        tags,
        params: handleParams,
        querystring: keyQuery,
        body: completeBody,
        response: {
          200: { ...completedUploadSchema, description: 'An earlier or concurrent completion recorded it: the same record' },
          201: completedUploadSchema,
          ...errorResponses(404, 409, 413),
        },
      },
    },
    async (request, reply) => ops.complete(request, reply, await bearer(request), handleOf(request), request.body),
  )
  app.delete<Handle>(
    '/uploads/multipart/:uploadId',
    {
      config: config('storage.object.multipart_abort', 'upload_complete'),
      schema: {
        summary: 'Abort: the parts are removed (Companion: DELETE /s3/multipart/{uploadId})',
        operationId: 'abortMultipartUpload',
        tags,
        params: handleParams,
        querystring: keyQuery,
        response: { 200: { type: 'object', description: 'Aborted: nothing of the upload is left', properties: {} }, ...errorResponses(404) },
      },
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
    // Left out of the OpenAPI document: only Uppy builds these paths, under an endpoint it is
    // given, and one wildcard route per method cannot be documented as the five operations it
    // serves. The document has those operations as the bearer routes above (same bodies, same
    // answers), and createMultipartSession's description names the paths.
    hide: true,
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
        description:
          'The endpoint carries a sealed, expiring token, since Uppy sends no Authorization header of its own. ' +
          'Under it, Uppy calls the five operations of the multipart-uploads routes without a bearer token, as Companion serves them: ' +
          'POST {companionEndpoint}/s3/multipart, GET …/s3/multipart/{uploadId}/{partNumber}, GET …/s3/multipart/{uploadId}, ' +
          'POST …/s3/multipart/{uploadId}/complete and DELETE …/s3/multipart/{uploadId} (the last four with ?key=). ' +
          'Their uploads go to the target named here.',
        operationId: 'createMultipartSession',
        tags,
        body: {
          type: 'object',
          required: ['system', 'objectType', 'objectId'],
          additionalProperties: false,
          properties: {
            ...uploadTargetProperties,
            expiresIn: { type: 'integer', minimum: 60, description: 'seconds; default 3600, at most UPLOAD_EXPIRY_SECONDS' },
          },
        },
        response: {
          201: {
            type: 'object',
            description: "Give companionEndpoint to @uppy/aws-s3; it works until expiresAt",
            required: ['companionEndpoint', 'expiresAt'],
            properties: { companionEndpoint: { type: 'string', format: 'uri' }, expiresAt: { type: 'string', format: 'date-time' } },
          },
          ...errorResponses(),
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
