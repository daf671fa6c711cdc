// What resumable and presigned multipart uploads share: the store's multipart operations, and a
// reservation that comes with a multipart upload of its own (or, when that cannot start, with none).
import type { MultipartOperations } from '../drivers/types.js'
import type { ReserveInput, UploadUpdate } from '../ledger/types.js'
import type { Storage } from '../storage.js'
import { BadRequestError, UploadInProgressError } from '../errors.js'

/** The store's multipart operations, or a 400 saying what to use instead (the local-disk store has none). */
export function multipartOf(storage: Storage, instead: string): MultipartOperations {
  const operations = storage.store.multipart
  if (!operations) throw new BadRequestError(`this store has no multipart uploads; ${instead}`)
  return operations
}

/**
 * Reserves the key, then starts the store's multipart upload at it and records its id (plus
 * `more`, which may depend on the row id). A multipart upload that cannot start releases the key.
 * The reservation can be settled while the store starts the upload: the same user starting over
 * terminates it, and with no upload id on it yet there was nothing for them to abort. Then this
 * request lost the key to the newer one (409), and aborts the upload it started itself.
 */
export async function reserveWithMultipart(
  storage: Storage,
  operations: MultipartOperations,
  input: ReserveInput,
  more: (id: string) => UploadUpdate = () => ({}),
): Promise<string> {
  const { id } = await storage.ledger.reserve(input)
  let uploadId: string | undefined
  try {
    uploadId = await operations.create({ key: input.key, contentType: input.contentType })
    if (!(await storage.ledger.updateUpload(id, { uploadId, ...more(id) }))) {
      throw new UploadInProgressError()
    }
  } catch (err) {
    if (uploadId !== undefined) {
      // Best effort: an upload left here is nobody's, and the sweep's orphan rule takes it later.
      await storage.store.abortIncompleteUpload({ key: input.key, uploadId, initiated: new Date() }).catch(() => {})
    }
    await storage.ledger.fail(id, `the store's multipart upload did not start: ${(err as Error).message}`)
    throw err
  }
  return id
}
