// Short-lived GET URLs: `direct` ones go straight to the store (or its CDN); `proxy` ones come back
// through /signed/{token}, which needs no bearer token and is audited when used.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { RouteDeps } from './deps.js'
import { InvalidExpiryError } from '../errors.js'
import { createSignedToken, verifySignedToken } from '../signed-token.js'
import { directDownloadUrl, sendFile, type Disposition } from './send-file.js'
import { documentTokenPath, errorResponses, fileBodySchema, fileHeaders, publicErrorResponses, signedUrlSchema } from '../schemas.js'

interface SignBody {
  key: string
  expiresIn?: number
  mode?: 'direct' | 'proxy'
  disposition?: Disposition
}

/** The absolute URL of this plugin's /signed route, as the client reached us. */
function proxyUrl(request: FastifyRequest, prefix: string, token: string): string {
  return `${request.protocol}://${request.host}${prefix}/signed/${token}`
}

export async function signedRoutes(app: FastifyInstance, { storage, access }: RouteDeps): Promise<void> {
  const { minTtl, maxTtl, defaultTtl, secret, defaultMode } = storage.options.signedUrls

  app.post<{ Body: SignBody }>(
    '/signed-urls',
    {
      config: { operation: 'storage.object.sign', audit: 'sign' },
      schema: {
        summary: 'Create a short-lived download URL',
        operationId: 'createSignedUrl',
        tags: ['signed-urls'],
        body: {
          type: 'object',
          required: ['key'],
          additionalProperties: false,
          properties: {
            key: { type: 'string' },
            expiresIn: { type: 'integer', description: `seconds, ${minTtl} to ${maxTtl}` },
            mode: { type: 'string', enum: ['direct', 'proxy'] },
            disposition: { type: 'string', enum: ['attachment', 'inline'] },
          },
        },
        response: { 201: signedUrlSchema, ...errorResponses(404) },
      },
    },
    async (request, reply) => {
      const { key, expiresIn = defaultTtl, mode = defaultMode, disposition = 'attachment' } = request.body
      const parts = storage.parseKey(key)
      access.note(request, { key: parts.key, ttl: expiresIn })
      if (!(expiresIn >= minTtl && expiresIn <= maxTtl)) throw new InvalidExpiryError(minTtl, maxTtl)
      const identity = await access.require(request, 'read', { orgId: parts.orgId, system: parts.system, key: parts.key })
      const record = await storage.stat(parts.key)
      const expiresAt = Math.floor(Date.now() / 1000) + expiresIn
      let url: string
      if (mode === 'direct') {
        url = await directDownloadUrl(storage, record, { disposition, expiresIn })
      } else {
        const token = createSignedToken(secret, { key: parts.key, expiresAt, disposition, sub: identity.sub, org: identity.org })
        url = proxyUrl(request, app.prefix, token)
      }
      return reply.code(201).send({ url, method: 'GET', expiresAt: new Date(expiresAt * 1000).toISOString(), expiresIn })
    },
  )

  // A wildcard, not a :param: tokens outgrow the router's 100-character parameter limit.
  app.get<{ Params: { '*': string } }>(
    '/signed/*',
    {
      exposeHeadRoute: false,
      // No bearer token: the URL itself is the credential. Hosts skip their auth hook on `public`.
      config: { operation: 'storage.object.signed_download', audit: 'download', public: true, swaggerTransform: documentTokenPath },
      schema: {
        summary: 'Serve a proxy-mode signed URL',
        operationId: 'getSignedFile',
        tags: ['signed-urls'],
        security: [],
        params: { type: 'object', properties: { '*': { type: 'string', maxLength: 4096 } } },
        response: {
          200: { ...fileBodySchema, headers: fileHeaders },
          206: { ...fileBodySchema, description: 'The requested range', headers: { ...fileHeaders, 'content-range': { type: 'string' } } },
          304: { type: 'null', description: 'Not modified (If-None-Match)', headers: { etag: { type: 'string' } } },
          ...publicErrorResponses(400, 403, 404, 416, 502, 503),
        },
      },
    },
    async (request, reply) => {
      let claims
      try {
        claims = verifySignedToken(secret, request.params['*'])
      } catch (err) {
        const expired = (err as { expiredClaims?: { key: string; sub: string; org: string } }).expiredClaims
        if (expired) access.note(request, { key: expired.key, actor: { sub: expired.sub, org: expired.org } })
        throw err
      }
      access.note(request, { key: claims.key, actor: { sub: claims.sub, org: claims.org } })
      const record = await storage.stat(claims.key)
      await sendFile(storage, request, reply, record, {
        disposition: claims.disposition,
        beforeSend: (bytes) => access.note(request, { bytes, sha256: record.sha256 }),
      })
      return reply
    },
  )
}
