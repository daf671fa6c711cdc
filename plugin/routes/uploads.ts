// Direct browser uploads: a presigned PUT that binds type and length, then a completion call that
// checks what actually arrived before the ledger records it.
import type { FastifyInstance } from 'fastify'
import type { RouteDeps } from './deps.js'
import { BadRequestError, ConflictError, PayloadTooLargeError } from '../errors.js'
import { buildKey, datedFilename, uploadFilename } from '../keys.js'
import { directUploadSchema, errorResponses, fileRecordSchema } from '../schemas.js'

interface UploadBody {
  system: string
  objectType: string
  objectId: string
  filename: string
  contentType: string
  size: number
}

export async function uploadRoutes(app: FastifyInstance, { storage, access }: RouteDeps): Promise<void> {
  const { defaultTtl } = storage.options.signedUrls

  app.post<{ Body: UploadBody }>(
    '/uploads',
    {
      config: { operation: 'storage.object.presign_upload', audit: 'sign' },
      schema: {
        summary: 'Presigned PUT for a direct browser upload',
        operationId: 'createDirectUpload',
        tags: ['uploads'],
        body: {
          type: 'object',
          required: ['system', 'objectType', 'objectId', 'filename', 'contentType', 'size'],
          additionalProperties: false,
          properties: {
            system: { type: 'string' },
            objectType: { type: 'string' },
            objectId: { type: 'string' },
            filename: { type: 'string', maxLength: 1024 },
            contentType: { type: 'string', minLength: 1, maxLength: 255 },
            size: { type: 'integer', minimum: 0 },
          },
        },
        response: { 201: directUploadSchema, ...errorResponses(409, 413, 415) },
      },
    },
    async (request, reply) => {
      const body = request.body
      const identity = await access.identity(request)
      const filename = uploadFilename(body.filename)
      const named = storage.options.datePrefix ? datedFilename(filename, new Date()) : filename
      const key = buildKey({ orgId: identity.org, ...body, filename: named }, storage.options)
      access.note(request, { key, ttl: defaultTtl, bytes: body.size })
      await access.require(request, 'write', { orgId: identity.org, system: body.system, key })
      if (!storage.store.presignPut) throw new BadRequestError('this store takes uploads through PUT /files only')
      if (body.size > storage.options.maxUploadBytes) throw new PayloadTooLargeError(storage.options.maxUploadBytes)
      storage.checkContentType(body.contentType)
      if (await storage.ledger.getLive(key)) throw new ConflictError()
      await storage.expectDirectUpload({ key, contentType: body.contentType, size: body.size, actor: identity.sub })
      const signed = await storage.store.presignPut({ key, expiresIn: defaultTtl, contentType: body.contentType, contentLength: body.size })
      const expiresAt = new Date(Date.now() + defaultTtl * 1000).toISOString()
      return reply.code(201).send({ key, url: signed.url, method: 'PUT', headers: signed.headers, expiresAt })
    },
  )

  app.post<{ Body: { key: string } }>(
    '/uploads/complete',
    {
      config: { operation: 'storage.object.upload_complete', audit: 'upload_complete' },
      schema: {
        summary: 'Record a direct upload once the object matches what was asked',
        operationId: 'completeDirectUpload',
        tags: ['uploads'],
        body: { type: 'object', required: ['key'], additionalProperties: false, properties: { key: { type: 'string' } } },
        response: { 201: fileRecordSchema, ...errorResponses(409) },
      },
    },
    async (request, reply) => {
      const parts = storage.parseKey(request.body.key)
      access.note(request, { key: parts.key })
      const identity = await access.require(request, 'write', { orgId: parts.orgId, system: parts.system, key: parts.key })
      const record = await storage.completeDirectUpload({ key: parts.key, actor: identity.sub })
      access.note(request, { bytes: record.size, sha256: record.sha256 })
      return reply.code(201).send(record)
    },
  )
}
