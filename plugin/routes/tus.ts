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
import { H, TUS_VERSION } from '../tus/protocol.js'
import { errorSchema } from './schemas.js'

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 64 } } } as const
const empty = (description: string) => ({ description, type: 'null' }) as const
const errors = {
  400: errorSchema,
  401: errorSchema,
  403: errorSchema,
  404: errorSchema,
  409: errorSchema,
  410: errorSchema,
  411: errorSchema,
  412: errorSchema,
  413: errorSchema,
  415: errorSchema,
  423: errorSchema,
  460: errorSchema,
  502: errorSchema,
  503: errorSchema,
} as const
const tags = ['tus']
const tusHeader = { 'tus-resumable': { type: 'string', enum: [TUS_VERSION] } } as const

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

  for (const url of ['/uploads/tus', '/uploads/tus/:id']) {
    app.options(url, { config: { operation: 'storage.object.upload_resumable_options' }, schema: { summary: 'tus: server capabilities', tags, response: { 204: empty('Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm') } } }, optionsHandler(ctx))
  }
  app.post(
    '/uploads/tus',
    {
      config: upload,
      schema: {
        summary: 'tus creation (and creation-with-upload)',
        description:
          'Upload-Length and Upload-Metadata (base64 values: system, objectType, objectId, filename, contentType) are required; the org is the token\'s. A body of application/offset+octet-stream is the first chunk. 201 with Location.',
        tags,
        headers: {
          type: 'object',
          required: ['upload-length'],
          properties: { ...tusHeader, 'upload-length': { type: 'string' }, 'upload-metadata': { type: 'string' } },
        },
        response: { 201: empty('Location, Upload-Offset, Upload-Expires'), ...errors },
      },
    },
    postHandler(ctx),
  )
  app.head(
    '/uploads/tus/:id',
    { config: upload, schema: { summary: 'tus: the offset to resume from', tags, params: idParams, headers: { type: 'object', properties: tusHeader }, response: { 200: empty('Upload-Offset, Upload-Length, Upload-Expires'), ...errors } } },
    headHandler(ctx),
  )
  app.patch(
    '/uploads/tus/:id',
    {
      config: upload,
      schema: {
        summary: 'tus: append a chunk at Upload-Offset',
        description: 'Content-Type application/offset+octet-stream, Content-Length required; Upload-Checksum optional. The last chunk completes the upload: the file is assembled, hashed and recorded before the answer.',
        tags,
        params: idParams,
        headers: { type: 'object', required: ['upload-offset'], properties: { ...tusHeader, 'upload-offset': { type: 'string' }, 'upload-checksum': { type: 'string' } } },
        response: { 204: empty('Upload-Offset, Upload-Expires'), ...errors },
      },
    },
    patchHandler(ctx),
  )
  app.delete(
    '/uploads/tus/:id',
    { config: upload, schema: { summary: 'tus termination: the upload and its parts are removed', tags, params: idParams, headers: { type: 'object', properties: tusHeader }, response: { 204: empty('terminated'), ...errors } } },
    deleteHandler(ctx),
  )
}
