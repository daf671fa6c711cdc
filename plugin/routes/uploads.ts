// Direct browser uploads: a presigned PUT to a staging key that binds type and length, then a
// completion that checks what actually arrived before the ledger records it and moves it into place.
import type { FastifyInstance } from 'fastify'
import type { RouteDeps } from './deps.js'
import { buildKey, datedFilename, uploadFilename } from '../keys.js'
import { contentTypeSchema, directUploadSchema, errorResponses, fileRecordSchema, uploadTargetProperties } from '../schemas.js'

export interface UploadTarget {
  system: string
  objectType: string
  objectId: string
  filename: string
}

interface UploadBody extends UploadTarget {
  contentType: string
  size: number
}

/** The key an upload of `filename` gets in the caller's org: the client's directory part dropped, date-prefixed. */
export function uploadKey(deps: RouteDeps, orgId: string, target: UploadTarget): string {
  const filename = uploadFilename(target.filename)
  const named = deps.storage.options.datePrefix ? datedFilename(filename, new Date()) : filename
  return buildKey({ orgId, system: target.system, objectType: target.objectType, objectId: target.objectId, filename: named }, deps.storage.options)
}

export async function uploadRoutes(app: FastifyInstance, deps: RouteDeps): Promise<void> {
  const { storage, access } = deps
  const { defaultTtl } = storage.options.signedUrls

  app.post<{ Body: UploadBody }>(
    '/uploads',
    {
      config: { operation: 'storage.object.presign_upload', audit: 'sign' },
      schema: {
        summary: 'Presigned PUT for a direct browser upload',
        description:
          'Reserves the key and returns a URL that accepts exactly this type and length. Asked again by the same user for the same pending key, it returns a fresh URL for the same reservation.',
        operationId: 'createDirectUpload',
        tags: ['uploads'],
        body: {
          type: 'object',
          required: ['system', 'objectType', 'objectId', 'filename', 'contentType', 'size'],
          additionalProperties: false,
          properties: {
            ...uploadTargetProperties,
            filename: { type: 'string', maxLength: 1024 },
            contentType: contentTypeSchema,
            size: { type: 'integer', minimum: 0 },
          },
        },
        response: { 201: directUploadSchema, ...errorResponses(409, 413, 415) },
      },
    },
    async (request, reply) => {
      const body = request.body
      const identity = await access.identity(request)
      const key = uploadKey(deps, identity.org, body)
      access.note(request, { key, ttl: defaultTtl, bytes: body.size })
      await access.require(request, 'write', { orgId: identity.org, system: body.system, key })
      const signed = await storage.direct.start({
        parts: storage.parseKey(key),
        contentType: body.contentType,
        size: body.size,
        actor: identity.sub,
        expiresIn: defaultTtl,
      })
      return reply.code(201).send({ key, url: signed.url, method: 'PUT', headers: signed.headers, expiresAt: signed.expiresAt.toISOString() })
    },
  )

  app.post<{ Body: { key: string } }>(
    '/uploads/complete',
    {
      config: { operation: 'storage.object.upload_complete', audit: 'upload_complete' },
      schema: {
        summary: 'Record a direct upload once the object matches what was asked',
        description: '201 when this call recorded it; 200 with the same record when an earlier or concurrent completion did.',
        operationId: 'completeDirectUpload',
        tags: ['uploads'],
        body: { type: 'object', required: ['key'], additionalProperties: false, properties: { key: { type: 'string' } } },
        response: { 200: fileRecordSchema, 201: fileRecordSchema, ...errorResponses(409) },
      },
    },
    async (request, reply) => {
      const parts = storage.parseKey(request.body.key)
      access.note(request, { key: parts.key })
      const identity = await access.require(request, 'write', { orgId: parts.orgId, system: parts.system, key: parts.key })
      const { record, existing } = await storage.direct.complete({ key: parts.key, actor: identity.sub })
      access.note(request, { bytes: record.size, sha256: record.sha256 })
      return reply.code(existing ? 200 : 201).send(record)
    },
  )
}
