// Shared list plumbing: the limit/cursor query and the per-item access filter.
import type { FastifyRequest } from 'fastify'
import type { Access } from '../access.js'
import type { Action } from '../policy.js'
import type { Storage } from '../storage.js'

export interface PageQuery {
  limit: number
  cursor?: string
}

export const pageQuery = {
  limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
  cursor: { type: 'string', maxLength: 1024 },
} as const

/**
 * Drops items the caller may not see. A caller with a grant on some systems only can list its
 * org; the page may then hold fewer than `limit` items, and nextCursor still moves on.
 */
export async function filterAllowed<T extends { key: string }>(
  access: Access,
  request: FastifyRequest,
  action: Action,
  storage: Storage,
  items: T[],
): Promise<T[]> {
  const allowed: T[] = []
  for (const item of items) {
    const { orgId, system } = storage.parseKey(item.key)
    if (await access.allows(request, action, { orgId, system, key: item.key })) allowed.push(item)
  }
  return allowed
}
