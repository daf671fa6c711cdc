// The audit trail and usage totals: for auditors and admins of the org.
import type { FastifyInstance } from 'fastify'
import type { RouteDeps } from './deps.js'
import { AUDIT_ACTIONS, type AuditFilter } from '../ledger/types.js'
import { validateSegment } from '../keys.js'
import { pageQuery, type PageQuery } from './paging.js'
import { auditEventSchema, auditVerificationSchema, errorResponses, pageSchema, usageSchema } from '../schemas.js'

const AUDIT_RESULTS = ['ok', 'denied', 'error'] as const satisfies ReadonlyArray<AuditFilter['result']>

type AuditQuery = PageQuery & AuditFilter

export async function auditRoutes(app: FastifyInstance, { storage, access }: RouteDeps): Promise<void> {
  app.get<{ Querystring: AuditQuery }>(
    '/audit',
    {
      config: { operation: 'storage.audit.query', audit: 'audit_read' },
      schema: {
        summary: 'Audit events, newest first',
        operationId: 'queryAudit',
        tags: ['audit'],
        querystring: {
          type: 'object',
          properties: {
            orgId: { type: 'string' },
            key: { type: 'string', maxLength: 2048 },
            actor: { type: 'string', maxLength: 256 },
            action: { type: 'string', enum: AUDIT_ACTIONS },
            result: { type: 'string', enum: AUDIT_RESULTS },
            since: { type: 'string', format: 'date-time' },
            until: { type: 'string', format: 'date-time' },
            ...pageQuery,
          },
        },
        response: { 200: pageSchema(auditEventSchema, 'Audit events, newest first'), ...errorResponses() },
      },
    },
    async (request) => {
      const identity = await access.identity(request)
      const { limit, cursor, ...filter } = request.query
      const orgId = validateSegment('orgId', filter.orgId ?? identity.org)
      access.note(request, { key: `${orgId}/` })
      await access.require(request, 'audit', { orgId })
      return storage.ledger.queryAudit({ ...filter, orgId }, { limit, cursor })
    },
  )

  app.get(
    '/audit/verify',
    {
      config: { operation: 'storage.audit.verify', audit: 'audit_verify' },
      schema: {
        summary: 'Check the audit hash chain',
        operationId: 'verifyAudit',
        tags: ['audit'],
        response: { 200: auditVerificationSchema, ...errorResponses() },
      },
    },
    async (request) => {
      const identity = await access.identity(request)
      await access.require(request, 'audit', { orgId: identity.org })
      // From the last verified checkpoint, in chunks that yield to the event loop, one walk shared
      // by concurrent callers: cheap to ask for, and never a stall. `spaces-proxy audit verify`
      // walks the whole chain.
      const { ok, events, head, brokenAt } = await storage.ledger.verifyAudit({ fromCheckpoint: true })
      return brokenAt ? { ok, events, head, brokenAt } : { ok, events, head }
    },
  )

  app.get<{ Querystring: { orgId?: string } }>(
    '/usage',
    {
      config: { operation: 'storage.usage', audit: 'usage_read' },
      schema: {
        summary: 'Stored objects and bytes, with the estimated monthly cost',
        operationId: 'getUsage',
        tags: ['audit'],
        querystring: { type: 'object', properties: { orgId: { type: 'string' } } },
        response: { 200: usageSchema, ...errorResponses() },
      },
    },
    async (request) => {
      const identity = await access.identity(request)
      const orgId = validateSegment('orgId', request.query.orgId ?? identity.org)
      access.note(request, { key: `${orgId}/` })
      await access.require(request, 'usage', { orgId })
      return storage.ledger.usage(orgId)
    },
  )
}
