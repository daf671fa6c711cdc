// What resumable and presigned multipart uploads share: the store's multipart operations, and a
// reservation that comes with a multipart upload of its own (or, when that cannot start, with none).
import type { MultipartOperations } from '../drivers/types.js'
import type { ReserveInput, UploadUpdate } from '../ledger/types.js'
import type { Storage } from '../storage.js'
import { BadRequestError } from '../errors.js'

/** The store's multipart operations, or a 400 saying what to use instead (the local-disk store has none). */
export function multipartOf(storage: Storage, instead: string): MultipartOperations {
  const operations = storage.store.multipart
  if (!operations) throw new BadRequestError(`this store has no multipart uploads; ${instead}`)
  return operations
}

/**
 * Reserves the key, then starts the store's multipart upload at it and records its id (plus
 * `more`, which may depend on the row id). A multipart upload that cannot start releases the key.
 */
export async function reserveWithMultipart(
  storage: Storage,
  operations: MultipartOperations,
  input: ReserveInput,
  more: (id: string) => UploadUpdate = () => ({}),
): Promise<string> {
  const { id } = await storage.ledger.reserve(input)
  try {
    const uploadId = await operations.create({ key: input.key, contentType: input.contentType })
    await storage.ledger.updateUpload(id, { uploadId, ...more(id) })
  } catch (err) {
    await storage.ledger.fail(id, `the store's multipart upload did not start: ${(err as Error).message}`)
    throw err
  }
  return id
}
