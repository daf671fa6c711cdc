// /trash: list soft-deleted files, restore one, or hard-delete it now.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { RouteDeps } from './deps.js'
import type { ObjectRow } from '../ledger/types.js'
import type { Action } from '../policy.js'
import { TrashNotFoundError } from '../errors.js'
import { validateSegment } from '../keys.js'
import { filterAllowed, pageQuery, type PageQuery } from './paging.js'
import { errorResponses, fileRecordSchema, pageSchema, purgeSchema, trashRecordSchema } from '../schemas.js'

const trashParams = {
  type: 'object',
  required: ['trashId'],
  properties: { trashId: { type: 'string', format: 'uuid' } },
} as const

export async function trashRoutes(app: FastifyInstance, { storage, access }: RouteDeps): Promise<void> {
  /**
   * The caller's own trash entry, checked for `action`. Another org's id answers exactly as an
   * unknown one (same 404, same message) and leaves nothing of that org in the caller's audit
   * event: ids are not secrets, and which ones exist elsewhere (or what they were called) is none
   * of the caller's business.
   */
  async function ownEntry(request: FastifyRequest<{ Params: { trashId: string } }>, action: Action): Promise<ObjectRow> {
    const identity = await access.identity(request)
    const row = await storage.ledger.getTrash(request.params.trashId)
    if (!row || row.orgId !== identity.org) throw new TrashNotFoundError(request.params.trashId)
    access.note(request, { key: row.key })
    const entry = await storage.trashEntry(row.trashId!)
    await access.require(request, action, { orgId: entry.orgId, system: entry.system, key: entry.key })
    return entry
  }

  app.get<{ Querystring: PageQuery & { orgId?: string } }>(
    '/trash',
    {
      config: { operation: 'storage.trash.list', audit: 'list' },
      schema: {
        summary: 'List soft-deleted files',
        operationId: 'listTrash',
        tags: ['trash'],
        querystring: { type: 'object', properties: { orgId: { type: 'string' }, ...pageQuery } },
        response: { 200: pageSchema(trashRecordSchema, 'Deleted files, newest first'), ...errorResponses() },
      },
    },
    async (request) => {
      const identity = await access.identity(request)
      const orgId = validateSegment('orgId', request.query.orgId ?? identity.org)
      if (orgId !== identity.org) await access.require(request, 'delete', { orgId })
      access.note(request, { key: `${orgId}/` })
      const page = await storage.ledger.listTrash(orgId, { limit: request.query.limit, cursor: request.query.cursor })
      return { ...page, items: await filterAllowed(access, request, 'delete', storage, page.items) }
    },
  )

  app.post<{ Params: { trashId: string } }>(
    '/trash/:trashId/restore',
    {
      config: { operation: 'storage.trash.restore', audit: 'restore' },
      schema: {
        summary: 'Restore a soft-deleted file to its key',
        operationId: 'restoreTrash',
        tags: ['trash'],
        params: trashParams,
        response: { 200: fileRecordSchema, ...errorResponses(404, 409) },
      },
    },
    async (request) => {
      const row = await ownEntry(request, 'delete')
      const record = await storage.restore(row.trashId!)
      access.note(request, { key: record.key, bytes: record.size, sha256: record.sha256 })
      return record
    },
  )

  app.delete<{ Params: { trashId: string } }>(
    '/trash/:trashId',
    {
      config: { operation: 'storage.trash.purge', audit: 'purge' },
      schema: {
        summary: 'Hard-delete a soft-deleted file now (admin)',
        operationId: 'purgeTrash',
        tags: ['trash'],
        params: trashParams,
        response: { 200: purgeSchema, ...errorResponses(404) },
      },
    },
    async (request) => {
      const row = await ownEntry(request, 'purge')
      await storage.purge(row.trashId!)
      access.note(request, { key: row.key, bytes: row.size, sha256: row.sha256 })
      return { trashId: row.trashId, key: row.key, purgedAt: new Date().toISOString() }
    },
  )
}
