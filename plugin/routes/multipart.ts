// Presigned S3 multipart for browser uploads, in the JSON shape of Uppy Companion's S3 endpoints,
// so Uppy's @uppy/aws-s3 multipart mode talks to it unchanged:
//   POST   /uploads/multipart                          create          -> { key, uploadId }
//   GET    /uploads/multipart/:uploadId/:partNumber    sign a part     -> { url, expires }
//   GET    /uploads/multipart/:uploadId                list parts      -> [{ PartNumber, Size, ETag }]
//   POST   /uploads/multipart/:uploadId/complete       complete        -> file record + { location }
//   DELETE /uploads/multipart/:uploadId                abort           -> {}
// (each with ?key=). They take a bearer token. Uppy 6 sends no headers of its own to a Companion
// endpoint, so POST /uploads/multipart/sessions mints a short-lived endpoint URL that carries a
// sealed token instead: the same routes under /uploads/multipart/session/{token}/s3/multipart.
import { hkdfSync } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { RouteDeps } from './deps.js'
import type { Identity } from '../policy.js'
import { BadRequestError } from '../errors.js'
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

const handleParams = {
  type: 'object',
  required: ['uploadId'],
  properties: { uploadId: { type: 'string', maxLength: 64 }, partNumber: { type: 'integer' }, token: { type: 'string' } },
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

  /** Registers the five operations under `base`, each finding its caller with `who`. */
  function operations(base: string, who: (request: FastifyRequest) => Promise<Caller>, isPublic: boolean) {
    const config = (operation: string, audit?: 'sign' | 'upload_complete') => ({ operation, audit, public: isPublic })
    const tags = ['multipart uploads']

    app.post<{ Body: CreateBody; Params: { token?: string } }>(
      base,
      { config: config('storage.object.multipart_create', 'sign'), schema: { summary: 'Start a presigned multipart upload (Companion: POST /s3/multipart)', tags, ...createSchema } },
      async (request, reply) => {
        const caller = await who(request)
        const meta = request.body.metadata ?? {}
        const target = caller.target ?? { system: String(meta.system ?? ''), objectType: String(meta.objectType ?? ''), objectId: String(meta.objectId ?? '') }
        const key = uploadKey(deps, caller.org, { ...target, filename: typeof meta.name === 'string' && meta.name ? meta.name : request.body.filename })
        access.note(request, { key, ttl: defaultTtl, actor: isPublic ? caller : undefined })
        if (!caller.target) await access.require(request, 'write', { orgId: caller.org, system: target.system, key })
        const handle = await storage.multipart.create({
          parts: storage.parseKey(key),
          contentType: request.body.type || 'application/octet-stream',
          size: declaredSize(request.body),
          actor: caller.sub,
        })
        return reply.code(201).send(handle)
      },
    )

    app.get<{ Params: { uploadId: string; partNumber: number; token?: string }; Querystring: { key: string } }>(
      `${base}/:uploadId/:partNumber`,
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
      async (request) => {
        const caller = await who(request)
        access.quiet(request)
        const signed = await storage.multipart.signPart({ key: request.query.key, uploadId: request.params.uploadId }, caller.sub, request.params.partNumber, defaultTtl)
        return { url: signed.url, expires: defaultTtl }
      },
    )

    app.get<{ Params: { uploadId: string; token?: string }; Querystring: { key: string } }>(
      `${base}/:uploadId`,
      {
        config: config('storage.object.multipart_list_parts', 'sign'),
        schema: { summary: 'The parts uploaded so far (Companion: GET /s3/multipart/{uploadId})', tags, params: handleParams, querystring: keyQuery, response: { 200: partsSchema, ...uploadErrors } },
      },
      async (request) => {
        const caller = await who(request)
        access.quiet(request)
        const parts = await storage.multipart.listParts({ key: request.query.key, uploadId: request.params.uploadId }, caller.sub)
        return parts.map((p) => ({ PartNumber: p.partNumber, Size: p.size, ETag: p.etag }))
      },
    )

    app.post<{ Params: { uploadId: string; token?: string }; Querystring: { key: string }; Body: { parts: Array<{ PartNumber: number; ETag: string }> } }>(
      `${base}/:uploadId/complete`,
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
      async (request, reply) => {
        const caller = await who(request)
        access.note(request, { key: request.query.key, actor: isPublic ? caller : undefined })
        const named = request.body.parts.map((p) => ({ partNumber: p.PartNumber, etag: p.ETag }))
        const { record, existing } = await storage.multipart.complete({ key: request.query.key, uploadId: request.params.uploadId }, caller.sub, named)
        access.note(request, { key: record.key, bytes: record.size, sha256: record.sha256 })
        const location = `${request.protocol}://${request.host}${request.url.slice(0, request.url.indexOf('/uploads/'))}/files/${record.key.split('/').map(encodeURIComponent).join('/')}`
        return reply.code(existing ? 200 : 201).send({ ...record, location })
      },
    )

    app.delete<{ Params: { uploadId: string; token?: string }; Querystring: { key: string } }>(
      `${base}/:uploadId`,
      {
        config: config('storage.object.multipart_abort', 'upload_complete'),
        schema: { summary: 'Abort: the parts are removed (Companion: DELETE /s3/multipart/{uploadId})', tags, params: handleParams, querystring: keyQuery, response: { 200: { type: 'object' }, ...uploadErrors } },
      },
      async (request) => {
        const caller = await who(request)
        access.note(request, { key: request.query.key, status: 499, errorCode: 'FST_SPACES_UPLOAD_ABORTED', actor: isPublic ? caller : undefined })
        await storage.multipart.abort({ key: request.query.key, uploadId: request.params.uploadId }, caller.sub)
        return {}
      },
    )
  }

  const bearer = async (request: FastifyRequest): Promise<Caller> => {
    const identity: Identity = await access.identity(request)
    return { sub: identity.sub, org: identity.org }
  }
  operations('/uploads/multipart', bearer, false)

  // Sessions: the browser gets an endpoint URL that stands for the caller and one upload target.
  const session = async (request: FastifyRequest): Promise<Caller> => {
    const claims = verifySignedToken(secret, (request.params as { token: string }).token)
    const [org, system, objectType, objectId] = claims.key.split('/') as [string, string, string, string]
    return { sub: claims.sub, org: claims.org, target: { system, objectType, objectId } }
  }
  operations('/uploads/multipart/session/:token/s3/multipart', session, true)

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
