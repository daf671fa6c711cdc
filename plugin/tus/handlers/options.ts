// OPTIONS: what this server speaks.
import type { TusContext, TusHandler } from '../context.js'
import { CHECKSUM_ALGORITHMS } from '../../uploads/resumable.js'
import { H, TUS_EXTENSIONS, TUS_VERSION } from '../protocol.js'

export function optionsHandler(ctx: TusContext): TusHandler {
  return async (_request, reply) =>
    reply
      .code(204)
      .header(H.version, TUS_VERSION)
      .header(H.extension, TUS_EXTENSIONS.join(','))
      .header(H.maxSize, String(ctx.storage.options.maxUploadBytes))
      .header(H.checksumAlgorithm, CHECKSUM_ALGORITHMS.join(','))
      .send()
}
