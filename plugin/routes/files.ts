// /files: upload (PUT raw body, POST multipart), download, head, soft delete, list.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { RouteDeps } from './deps.js'
import { PayloadTooLargeError } from '../errors.js'
import { validateSegment, validateSystem } from '../keys.js'
import { storeParts } from './multipart-upload.js'
import { directDownloadUrl, sendFile } from './send-file.js'
import { earlierUpload, retryHeaders } from '../uploads/retry.js'
import { filterAllowed, pageQuery, type PageQuery } from './paging.js'
import {
  documentBody,
  documentKeyPath,
  errorResponses,
  fileBodySchema,
  fileHeaders,
  fileRecordSchema,
  multipartUploadBody,
  pageSchema,
  rawUploadBody,
  retryHeadersSchema,
  softDeleteSchema,
} from '../schemas.js'

/** What a form upload answers: one record per file part, in order. */
const storedFiles = {
  type: 'object',
  required: ['files'],
  properties: { files: { type: 'array', items: fileRecordSchema } },
} as const

interface KeyParams {
  '*': string
}

const keyParams = {
  type: 'object',
  properties: { '*': { type: 'string', description: '{orgId}/{system}/{objectType}/{objectId}/{filename}' } },
} as const

/** A boolean query flag: `1`/`true` or `0`/`false`; undefined when absent (or anything else). */
function flag(value: string | undefined): boolean | undefined {
  if (value === '1' || value === 'true') return true
  if (value === '0' || value === 'false') return false
  return undefined
}

/** Fires when the client goes away before the request is done, so uploads can stop and clean up. */
export function abortSignalFor(request: FastifyRequest): AbortSignal {
  const controller = new AbortController()
  request.raw.once('close', () => {
    if (!request.raw.complete) controller.abort()
  })
  return controller.signal
}

export async function fileRoutes(app: FastifyInstance, { storage, access }: RouteDeps): Promise<void> {
  const { maxUploadBytes } = storage.options
  const { minTtl } = storage.options.signedUrls

  // Raw-body uploads bypass every body parser: the request stream goes straight to the store.
  app.register(async (raw) => {
    raw.removeAllContentTypeParsers()
    raw.addContentTypeParser('*', (_request, _payload, done) => done(null))
    raw.put<{ Params: KeyParams; Querystring: { overwrite?: boolean } }>(
      '/files/*',
      {
        config: { operation: 'storage.object.upload', audit: 'upload', swaggerTransform: documentKeyPath(rawUploadBody) },
        schema: {
          summary: 'Upload a file as the raw request body (curl -T)',
          operationId: 'uploadFile',
          tags: ['files'],
          params: keyParams,
          querystring: { type: 'object', properties: { overwrite: { type: 'boolean', default: false } } },
          headers: retryHeadersSchema,
          response: {
            200: {
              ...fileRecordSchema,
              description: 'A retry of a stored upload (same Idempotency-Key, or a Repr-Digest of the same bytes): the existing record',
              headers: { location: { type: 'string', description: 'The file URL' } },
            },
            201: { ...fileRecordSchema, headers: { location: { type: 'string', description: 'The file URL' } } },
            ...errorResponses(409, 413, 415),
          },
        },
      },
      async (request, reply) => {
        const parts = storage.parseKey(request.params['*'])
        access.note(request, { key: parts.key })
        const identity = await access.require(request, 'write', { orgId: parts.orgId, system: parts.system, key: parts.key })
        const declared = Number(request.headers['content-length'])
        if (declared > maxUploadBytes) throw new PayloadTooLargeError(maxUploadBytes)
        const retry = retryHeaders(request.headers)
        const earlier = await earlierUpload(storage.ledger, { key: parts.key, actor: identity.sub, ...retry })
        if (earlier) {
          // A retry of a stored upload: its body is not needed again.
          if (!request.raw.complete) reply.header('connection', 'close')
          access.note(request, { bytes: earlier.size, sha256: earlier.sha256 })
          return reply.code(200).header('location', `${request.url.split('?')[0]}`).send(earlier)
        }
        const record = await storage.upload({
          idempotencyKey: retry.idempotencyKey,
          expectedSha256: retry.sha256,
          key: parts.key,
          body: request.raw,
          contentType: request.headers['content-type'] ?? 'application/octet-stream',
          actor: identity.sub,
          overwrite: request.query.overwrite === true,
          signal: abortSignalFor(request),
        })
        access.note(request, { key: record.key, bytes: record.size, sha256: record.sha256 })
        return reply.code(201).header('location', `${request.url.split('?')[0]}`).send(record)
      },
    )
  })

  app.post<{ Params: { orgId: string; system: string; objectType: string; objectId: string }; Querystring: { overwrite?: boolean } }>(
    '/files/:orgId/:system/:objectType/:objectId',
    {
      config: { operation: 'storage.object.upload', audit: 'upload', swaggerTransform: documentBody(multipartUploadBody) },
      schema: {
        summary: 'Upload one or more files as multipart/form-data (curl -F file=@x.pdf)',
        operationId: 'uploadFiles',
        tags: ['files'],
        consumes: ['multipart/form-data'],
        querystring: { type: 'object', properties: { overwrite: { type: 'boolean', default: false } } },
        headers: { type: 'object', properties: { 'idempotency-key': retryHeadersSchema.properties['idempotency-key'] } },
        response: {
          200: { ...storedFiles, description: 'A retry (same Idempotency-Key) of a form whose files are all stored: their records' },
          201: { ...storedFiles, description: 'Every file stored' },
          ...errorResponses(409, 413, 415),
        },
      },
    },
    async (request, reply) => {
      const { params } = request
      const orgId = validateSegment('orgId', params.orgId)
      const system = validateSystem(params.system, storage.options)
      const folder = {
        orgId,
        system,
        objectType: validateSegment('objectType', params.objectType),
        objectId: validateSegment('objectId', params.objectId),
      }
      const identity = await access.require(request, 'write', { orgId, system })
      const { files, stored } = await storeParts(request, { storage, access }, {
        folder,
        actor: identity.sub,
        overwrite: request.query.overwrite === true,
        signal: abortSignalFor(request),
        idempotencyKey: retryHeaders(request.headers).idempotencyKey,
      })
      return reply.code(stored === 0 ? 200 : 201).send({ files })
    },
  )

  app.get<{ Params: KeyParams; Querystring: { inline?: string; redirect?: string } }>(
    '/files/*',
    {
      exposeHeadRoute: false,
      config: { operation: 'storage.object.download', audit: 'download', swaggerTransform: documentKeyPath() },
      schema: {
        summary: 'Download a file (Range, If-None-Match supported), or a redirect to a direct URL',
        operationId: 'downloadFile',
        tags: ['files'],
        params: keyParams,
        querystring: {
          type: 'object',
          properties: {
            inline: { type: 'string', description: '1 or true: Content-Disposition inline' },
            redirect: {
              type: 'string',
              description: `1 or true: 302 to a direct URL that lives ${minTtl} s (audited as a sign); 0 or false: stream`,
            },
          },
        },
        headers: {
          type: 'object',
          properties: {
            range: { type: 'string', description: 'bytes=start-end: one range, answered with 206' },
            'if-none-match': { type: 'string', description: 'An ETag: 304 when it still matches' },
            'if-range': { type: 'string', description: 'An ETag: the range applies only while it matches' },
          },
        },
        response: {
          200: { ...fileBodySchema, headers: fileHeaders },
          206: { ...fileBodySchema, description: 'The requested range', headers: { ...fileHeaders, 'content-range': { type: 'string' } } },
          302: {
            type: 'null',
            description: 'With ?redirect=1 (or the redirectDownloads option): a short-lived direct URL to the file',
            headers: { location: { type: 'string' } },
          },
          304: { type: 'null', description: 'Not modified (If-None-Match)', headers: { etag: { type: 'string' } } },
          ...errorResponses(404, 416),
        },
      },
    },
    async (request, reply) => {
      const parts = storage.parseKey(request.params['*'])
      access.note(request, { key: parts.key })
      await access.require(request, 'read', { orgId: parts.orgId, system: parts.system, key: parts.key })
      const record = await storage.stat(parts.key)
      const disposition = flag(request.query.inline) ? 'inline' : 'attachment'
      if (flag(request.query.redirect) ?? storage.options.redirectDownloads) {
        // The bytes go straight from the store: what the audit records is the URL handed out.
        access.note(request, { action: 'sign', ttl: minTtl })
        const url = await directDownloadUrl(storage, record, { disposition, expiresIn: minTtl })
        return reply.code(302).header('location', url).header('cache-control', 'private, no-store').send()
      }
      await sendFile(storage, request, reply, record, {
        disposition,
        beforeSend: (bytes) => access.note(request, { key: parts.key, bytes, sha256: record.sha256 }),
      })
      return reply
    },
  )

  app.head<{ Params: KeyParams }>(
    '/files/*',
    {
      config: { operation: 'storage.object.head', audit: 'head', swaggerTransform: documentKeyPath(), swagger: { exposeHeadRoute: true } },
      schema: {
        summary: 'File headers only',
        operationId: 'headFile',
        tags: ['files'],
        params: keyParams,
        response: { 200: { type: 'null', description: 'The file exists', headers: fileHeaders }, ...errorResponses(404) },
      },
    },
    async (request, reply) => {
      const parts = storage.parseKey(request.params['*'])
      access.note(request, { key: parts.key })
      await access.require(request, 'read', { orgId: parts.orgId, system: parts.system, key: parts.key })
      const record = await storage.stat(parts.key)
      await sendFile(storage, request, reply, record, { disposition: 'attachment', headOnly: true })
      return reply
    },
  )

  app.delete<{ Params: KeyParams }>(
    '/files/*',
    {
      config: { operation: 'storage.object.delete', audit: 'soft_delete', swaggerTransform: documentKeyPath() },
      schema: {
        summary: 'Soft delete: move the file to trash',
        operationId: 'deleteFile',
        tags: ['files'],
        params: keyParams,
        response: { 200: softDeleteSchema, ...errorResponses(404) },
      },
    },
    async (request) => {
      const parts = storage.parseKey(request.params['*'])
      access.note(request, { key: parts.key })
      const identity = await access.require(request, 'delete', { orgId: parts.orgId, system: parts.system, key: parts.key })
      const trashed = await storage.softDelete(parts.key, identity.sub)
      access.note(request, { key: parts.key, bytes: trashed.size, sha256: trashed.sha256 })
      return { key: trashed.key, trashId: trashed.trashId, deletedAt: trashed.deletedAt, purgeAfter: trashed.purgeAfter }
    },
  )

  app.get<{ Querystring: PageQuery & { orgId?: string; system?: string; objectType?: string; objectId?: string } }>(
    '/files',
    {
      config: { operation: 'storage.object.list', audit: 'list' },
      schema: {
        summary: 'List live files',
        operationId: 'listFiles',
        tags: ['files'],
        querystring: {
          type: 'object',
          properties: {
            orgId: { type: 'string' },
            system: { type: 'string' },
            objectType: { type: 'string' },
            objectId: { type: 'string' },
            ...pageQuery,
          },
        },
        response: { 200: pageSchema(fileRecordSchema, 'Live files, by key'), ...errorResponses() },
      },
    },
    async (request) => {
      const identity = await access.identity(request)
      const q = request.query
      const orgId = validateSegment('orgId', q.orgId ?? identity.org)
      const system = q.system === undefined ? undefined : validateSystem(q.system, storage.options)
      if (system) await access.require(request, 'read', { orgId, system })
      else if (orgId !== identity.org) await access.require(request, 'read', { orgId })
      const page = await storage.ledger.listLive(
        {
          orgId,
          system,
          objectType: q.objectType === undefined ? undefined : validateSegment('objectType', q.objectType),
          objectId: q.objectId === undefined ? undefined : validateSegment('objectId', q.objectId),
        },
        { limit: q.limit, cursor: q.cursor },
      )
      access.note(request, { key: `${orgId}/${system ? `${system}/` : ''}` })
      return { ...page, items: await filterAllowed(access, request, 'read', storage, page.items) }
    },
  )
}
