// What every tus handler works with: one datastore interface (the storage service's resumable
// uploads, so keys, limits, policy and audit are those of every other upload) and the helpers the
// handlers share.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Access } from '../access.js'
import type { ObjectRow } from '../ledger/types.js'
import type { Identity } from '../policy.js'
import type { RouteDeps } from '../routes/deps.js'
import type { Storage } from '../storage.js'
import type { AppendResult, ResumableUploads } from '../uploads/resumable.js'
import { LengthRequiredError, NotFoundError, UnsupportedTypeError } from '../errors.js'
import { abortSignalFor } from '../routes/files.js'
import { H, OFFSET_OCTET_STREAM, httpDate, integerHeader, parseChecksum } from './protocol.js'

/** The datastore the handlers run on. */
export type TusStore = Pick<ResumableUploads, 'create' | 'find' | 'append' | 'terminate' | 'offsetOf'>

export interface TusContext {
  uploads: TusStore
  storage: Storage
  access: Access
  deps: RouteDeps
}

export type TusHandler = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply>

/** The upload named in the URL, when it is the caller's and the caller may still write there; else 404. */
export async function ownedUpload(ctx: TusContext, request: FastifyRequest): Promise<{ identity: Identity; row: ObjectRow }> {
  const identity = await ctx.access.identity(request)
  const { id } = request.params as { id: string }
  const row = await ctx.uploads.find(id, identity.sub)
  // Another org's upload looks exactly like one that does not exist.
  if (row.orgId !== identity.org) throw new NotFoundError('no such upload')
  ctx.access.note(request, { key: row.key })
  await ctx.access.require(request, 'write', { orgId: row.orgId, system: row.system, key: row.key })
  return { identity, row }
}

/** Streams the request body into the upload at the offset the client names. */
export async function appendBody(ctx: TusContext, request: FastifyRequest, id: string, actor: string, offset: number): Promise<AppendResult> {
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  const length = integerHeader(request.headers['content-length'], 'Content-Length')
  if (length === undefined) {
    if (request.headers['transfer-encoding'] === undefined) return ctx.uploads.append({ id, actor, offset, body: request.raw, length: 0 })
    throw new LengthRequiredError('each PATCH (tus chunks have a known length)')
  }
  if (length > 0 && type !== OFFSET_OCTET_STREAM) throw new UnsupportedTypeError(type || 'none')
  return ctx.uploads.append({
    id,
    actor,
    offset,
    body: request.raw,
    length,
    checksum: parseChecksum(request.headers[H.uploadChecksum]),
    signal: abortSignalFor(request),
  })
}

/** Audits the append that finished the upload as the file's one upload event; the others stay quiet. */
export function noteOutcome(ctx: TusContext, request: FastifyRequest, result: AppendResult): void {
  if (!result.record) return
  ctx.access.quiet(request, false)
  ctx.access.note(request, { action: 'upload', key: result.record.key, bytes: result.record.size, sha256: result.record.sha256, status: 201 })
}

export function progressHeaders(reply: FastifyReply, offset: number, expiresAt: string | null): FastifyReply {
  reply.header(H.uploadOffset, String(offset))
  const expires = httpDate(expiresAt)
  if (expires) reply.header(H.uploadExpires, expires)
  return reply
}
