// HEAD: how much of the upload the server holds, so the client resumes from there.
import { ownedUpload, progressHeaders, type TusContext, type TusHandler } from '../context.js'
import { H } from '../protocol.js'

export function headHandler(ctx: TusContext): TusHandler {
  return async (request, reply) => {
    const { row } = await ownedUpload(ctx, request)
    ctx.access.quiet(request)
    reply.header(H.uploadLength, String(row.expectedSize ?? row.size)).header('cache-control', 'no-store')
    return progressHeaders(reply, ctx.uploads.offsetOf(row), row.state === 'pending' ? row.expiresAt : null).code(200).send()
  }
}
