// PATCH: appends the body at Upload-Offset. The last one assembles, hashes and records the file.
import { BadRequestError } from '../../errors.js'
import { appendBody, noteOutcome, ownedUpload, progressHeaders, type TusContext, type TusHandler } from '../context.js'
import { H, integerHeader } from '../protocol.js'

export function patchHandler(ctx: TusContext): TusHandler {
  return async (request, reply) => {
    const { identity, row } = await ownedUpload(ctx, request)
    ctx.access.quiet(request)
    const offset = integerHeader(request.headers[H.uploadOffset], 'Upload-Offset')
    if (offset === undefined) throw new BadRequestError('send Upload-Offset')
    const result = await appendBody(ctx, request, row.id, identity.sub, offset)
    noteOutcome(ctx, request, result)
    const after = result.record ? null : (await ctx.uploads.find(row.id, identity.sub)).expiresAt
    return progressHeaders(reply, result.offset, after).code(204).send()
  }
}
