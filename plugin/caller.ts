// A host route acting for its caller: `app.storage.upload(input, { request })` asks the policy
// exactly as the plugin's own routes do (403 when it says no), makes the caller the actor, and
// writes the same audit event whether the upload succeeds, is denied or fails.
import type { FastifyError, FastifyRequest } from 'fastify'
import { auditEvent, type Access } from './access.js'
import { toApiError } from './error-handler.js'
import type { FileRecord } from './ledger/types.js'
import type { Identity } from './policy.js'
import type { Storage, UploadInput } from './storage.js'

/** Whose request a storage call serves. */
export interface RequestScope {
  request: FastifyRequest
}

/** An upload made for a request's caller: the actor is the caller, so it is not given. */
export type CallerUploadInput = Omit<UploadInput, 'actor'> & { actor?: never }

export async function uploadAsCaller(
  storage: Storage,
  access: Access,
  { request }: RequestScope,
  input: CallerUploadInput,
): Promise<FileRecord> {
  let key = typeof input.key === 'string' ? input.key : null
  let who: Identity | undefined
  const audit = async (note: { status: number; errorCode?: string; bytes?: number; sha256?: string }) => {
    who ??= await access.identity(request).catch(() => undefined)
    await storage.ledger.appendAudit(auditEvent(request, who, 'upload', { ...note, key }))
  }
  try {
    const parts = storage.parseKey(input.key)
    key = parts.key
    who = await access.require(request, 'write', { orgId: parts.orgId, system: parts.system, key })
    const record = await storage.upload({ ...input, key, actor: who.sub })
    await audit({ status: 201, bytes: record.size, sha256: record.sha256 })
    return record
  } catch (err) {
    // Refused before the body was read: release the stream (a file keeps its descriptor open
    // until then). The request's own body is left to Fastify, which still has to answer on it.
    if (input.body !== request.raw) input.body.destroy()
    const api = toApiError(err as FastifyError)
    await audit({ status: api.statusCode, errorCode: api.code }).catch((cause: unknown) =>
      request.log.error({ err: cause }, 'audit event could not be written'),
    )
    throw err
  }
}
