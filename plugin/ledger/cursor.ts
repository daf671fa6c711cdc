// Keyset paging for every ledger list. A cursor is the base64url JSON of the last item's sort
// key: opaque to clients, stable while rows are added (no offsets), and cheap to seek to.
import { BadRequestError } from '../errors.js'
import type { Page } from './types.js'

/** The most items one page may hold, whatever the caller asks for. */
export const MAX_PAGE_SIZE = 1000

export function pageLimit(limit: number): number {
  if (!Number.isFinite(limit)) return MAX_PAGE_SIZE
  return Math.min(MAX_PAGE_SIZE, Math.max(1, Math.floor(limit)))
}

export function encodeCursor(sortKey: unknown): string {
  return Buffer.from(JSON.stringify(sortKey), 'utf8').toString('base64url')
}

/** Decodes a cursor and checks its shape; a cursor that is not ours is bad input (400). */
export function decodeCursor<T>(cursor: string, isValid: (value: unknown) => value is T): T {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    value = undefined
  }
  if (!isValid(value)) throw new BadRequestError('cursor is not valid; pass the nextCursor of the previous page')
  return value
}

/**
 * Turns `limit + 1` fetched rows into a page: the extra row only says that another page exists.
 */
export function toPage<R, T>(rows: R[], limit: number, toItem: (row: R) => T, sortKey: (row: R) => unknown): Page<T> {
  const more = rows.length > limit
  const kept = more ? rows.slice(0, limit) : rows
  const items = kept.map(toItem)
  const last = kept[kept.length - 1]
  return more && last !== undefined ? { items, nextCursor: encodeCursor(sortKey(last)) } : { items }
}

export const isString = (value: unknown): value is string => typeof value === 'string'
export const isSafeInteger = (value: unknown): value is number => Number.isSafeInteger(value)
export const isStringPair = (value: unknown): value is [string, string] =>
  Array.isArray(value) && value.length === 2 && value.every(isString)
