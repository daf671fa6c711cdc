// POST: creation (and creation-with-upload). The metadata names where the file goes; the org is the
// token's. The key, date prefix, limit, type and policy rules are those of every other upload.
import { BadRequestError } from '../../errors.js'
import { uploadKey } from '../../routes/uploads.js'
import { appendBody, noteOutcome, progressHeaders, type TusContext, type TusHandler } from '../context.js'
import { H, integerHeader, parseMetadata } from '../protocol.js'

const PRINTABLE = /^[\x21-\x7e][\x20-\x7e]{0,254}$/

export function postHandler(ctx: TusContext): TusHandler {
  return async (request, reply) => {
    const identity = await ctx.access.identity(request)
    const length = integerHeader(request.headers[H.uploadLength], 'Upload-Length')
    if (length === undefined) {
      throw new BadRequestError(request.headers[H.uploadDeferLength] ? 'Upload-Defer-Length is not supported: send Upload-Length' : 'send Upload-Length')
    }
    const meta = parseMetadata(request.headers[H.uploadMetadata] as string | undefined)
    const filename = meta.filename || meta.name
    if (!filename) throw new BadRequestError('Upload-Metadata needs filename (and system, objectType, objectId)')
    const target = { system: meta.system ?? '', objectType: meta.objectType ?? '', objectId: meta.objectId ?? '', filename }
    const key = uploadKey(ctx.deps, identity.org, target)
    ctx.access.note(request, { key, bytes: length })
    await ctx.access.require(request, 'write', { orgId: identity.org, system: target.system, key })
    // tus-js-client and Uppy send the browser's type as filetype (Uppy also as type).
    const contentType = meta.contentType || meta.filetype || meta.type || 'application/octet-stream'
    if (!PRINTABLE.test(contentType)) throw new BadRequestError('contentType must be printable ASCII')
    const row = await ctx.uploads.create({ parts: ctx.storage.parseKey(key), contentType, length, actor: identity.sub })
    reply.header('location', `${request.url.split('?')[0]}/${row.id}`)
    // Creation is a step of the upload: audited when it is refused, or when the upload completes.
    ctx.access.quiet(request)
    let result
    try {
      result = await appendBody(ctx, request, row.id, identity.sub, 0)
    } catch (err) {
      // The client never learned where its upload is, so nobody can resume it: free the key.
      await ctx.uploads.terminate(row.id, identity.sub).catch(() => {})
      throw err
    }
    noteOutcome(ctx, request, result)
    return progressHeaders(reply, result.offset, row.expiresAt).code(201).send()
  }
}
