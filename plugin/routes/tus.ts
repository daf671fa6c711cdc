// tus 1.0.0 at /uploads/tus: resumable uploads for flaky networks (tus-js-client, Uppy's @uppy/tus).
// One handler per method over the storage service's resumable uploads; see plugin/tus/.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { RouteDeps } from './deps.js'
import { UnsupportedTusVersionError } from '../errors.js'
import type { TusContext } from '../tus/context.js'
import { deleteHandler } from '../tus/handlers/delete.js'
import { headHandler } from '../tus/handlers/head.js'
import { optionsHandler } from '../tus/handlers/options.js'
import { patchHandler } from '../tus/handlers/patch.js'
import { postHandler } from '../tus/handlers/post.js'
import { H, TUS_EXTENSIONS, TUS_VERSION } from '../tus/protocol.js'
import { documentBody, errorResponses, tusChunkBody } from '../schemas.js'

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 64, description: 'The last segment of Location' } } } as const
const tags = ['tus']
const tusHeader = { 'tus-resumable': { type: 'string', enum: [TUS_VERSION] } } as const
const header = (description: string) => ({ type: 'string', description }) as const
/** Answers with no body: what they say is in their headers. */
const headersOnly = (description: string, headers: Record<string, { type: string; description: string }>) =>
  ({ type: 'null', description, headers: { 'tus-resumable': header(TUS_VERSION), ...headers } }) as const
const offset = header('Bytes the server holds: resume from here')
const expires = header('When an unfinished upload is removed (RFC 9110 date)')

/** Every request but OPTIONS names the protocol version; every answer carries ours. */
async function checkVersion(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  reply.header(H.resumable, TUS_VERSION)
  if (request.method === 'OPTIONS') return
  if (request.headers[H.resumable] !== TUS_VERSION) {
    reply.header(H.version, TUS_VERSION)
    throw new UnsupportedTusVersionError()
  }
}

export async function tusRoutes(app: FastifyInstance, deps: RouteDeps): Promise<void> {
  const ctx: TusContext = { uploads: deps.storage.resumable, storage: deps.storage, access: deps.access, deps }
  // tus bodies (application/offset+octet-stream) go straight to the store, never through a parser.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => done(null))
  app.addHook('onRequest', checkVersion)
  const upload = { operation: 'storage.object.upload_resumable', audit: 'upload' } as const

  const capabilities = headersOnly('What this server speaks', {
    'tus-version': header(TUS_VERSION),
    'tus-extension': header(TUS_EXTENSIONS.join(',')),
    'tus-max-size': header('The largest upload, in bytes'),
    'tus-checksum-algorithm': header('Algorithms Upload-Checksum may name'),
  })
  for (const [url, operationId] of [['/uploads/tus', 'tusCapabilities'], ['/uploads/tus/:id', 'tusUploadCapabilities']] as const) {
    app.options(
      url,
      {
        config: { operation: 'storage.object.upload_resumable_options' },
        schema: { summary: 'tus: server capabilities', operationId, tags, ...(url.endsWith(':id') ? { params: idParams } : {}), response: { 204: capabilities, ...errorResponses() } },
      },
      optionsHandler(ctx),
    )
  }
  app.post(
    '/uploads/tus',
    {
      config: { ...upload, swaggerTransform: documentBody(tusChunkBody) },
      schema: {
        summary: 'tus creation (and creation-with-upload)',
        description:
          'Upload-Length and Upload-Metadata (base64 values: system, objectType, objectId, filename, contentType) are required; the org is the token\'s. A body of application/offset+octet-stream is optional: the first chunk (creation-with-upload). 201 with Location.',
        operationId: 'createTusUpload',
        tags,
        headers: {
          type: 'object',
          required: ['upload-length'],
          properties: {
            ...tusHeader,
            'upload-length': { type: 'string', description: 'The file size in bytes' },
            'upload-metadata': { type: 'string', description: 'Comma-separated "key base64value" pairs' },
            'upload-checksum': { type: 'string', description: 'For the first chunk: "<algorithm> <base64 digest>"' },
          },
        },
        response: {
          201: headersOnly('Created: PATCH the rest to Location', { location: header('The upload URL'), 'upload-offset': offset, 'upload-expires': expires }),
          ...errorResponses(409, 411, 412, 413, 415, 460),
        },
      },
    },
    postHandler(ctx),
  )
  app.head(
    '/uploads/tus/:id',
    {
      config: { ...upload, swagger: { exposeHeadRoute: true } },
      schema: {
        summary: 'tus: the offset to resume from',
        operationId: 'headTusUpload',
        tags,
        params: idParams,
        headers: { type: 'object', properties: tusHeader },
        response: {
          200: headersOnly('The upload so far', { 'upload-offset': offset, 'upload-length': header('The file size'), 'upload-expires': expires }),
          ...errorResponses(404, 410, 412),
        },
      },
    },
    headHandler(ctx),
  )
  app.patch(
    '/uploads/tus/:id',
    {
      config: { ...upload, swaggerTransform: documentBody(tusChunkBody) },
      schema: {
        summary: 'tus: append a chunk at Upload-Offset',
        description: 'Content-Type application/offset+octet-stream, Content-Length required; Upload-Checksum optional. The last chunk completes the upload: the file is assembled, hashed and recorded before the answer.',
        operationId: 'appendTusUpload',
        tags,
        params: idParams,
        headers: {
          type: 'object',
          required: ['upload-offset'],
          properties: {
            ...tusHeader,
            'upload-offset': { type: 'string', description: 'Where this chunk starts: the offset HEAD gave' },
            'upload-checksum': { type: 'string', description: '"<algorithm> <base64 digest>" of this chunk' },
          },
        },
        response: {
          204: headersOnly('Appended (and recorded, when this was the last chunk)', { 'upload-offset': offset, 'upload-expires': expires }),
          ...errorResponses(404, 409, 410, 411, 412, 413, 415, 423, 460),
        },
      },
    },
    patchHandler(ctx),
  )
  app.delete(
    '/uploads/tus/:id',
    {
      config: upload,
      schema: {
        summary: 'tus termination: the upload and its parts are removed',
        operationId: 'terminateTusUpload',
        tags,
        params: idParams,
        headers: { type: 'object', properties: tusHeader },
        response: { 204: headersOnly('Terminated: nothing of the upload is left', {}), ...errorResponses(404, 410, 412, 423) },
      },
    },
    deleteHandler(ctx),
  )
}
