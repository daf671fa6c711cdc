// DELETE: termination. The parts and the staged tail are removed and the key is free again.
import { ownedUpload, type TusContext, type TusHandler } from '../context.js'

export function deleteHandler(ctx: TusContext): TusHandler {
  return async (request, reply) => {
    const { identity, row } = await ownedUpload(ctx, request)
    await ctx.uploads.terminate(row.id, identity.sub)
    ctx.access.note(request, { action: 'upload', status: 499, errorCode: 'FST_SPACES_UPLOAD_TERMINATED' })
    return reply.code(204).send()
  }
}
