// What both ledgers share about the objects table: the column list (aliases quoted, so SQLite and
// PostgreSQL return the same camelCase names), how a stored row becomes a record, the checks a
// reservation must pass, the key-prefix range a listing walks, and how usage is priced. Each
// backend keeps only its SQL dialect, its locking and its connections.
import type {
  FileFilter,
  FileRecord,
  ObjectRow,
  ReserveInput,
  TrashRecord,
  UploadKind,
  UploadUpdate,
  Usage,
} from './types.js'

/** Spaces pricing: $5 per 250 GiB-month, charged pro rata here. */
const USD_PER_BYTE_MONTH = 5 / (250 * 1024 ** 3)

/** Row columns renamed to ObjectRow fields. */
export const OBJECT_COLUMNS = `id, key, org_id AS "orgId", system, object_type AS "objectType", object_id AS "objectId",
  filename, state, size, sha256, etag, content_type AS "contentType", created_at AS "createdAt",
  created_by AS "createdBy", deleted_at AS "deletedAt", deleted_by AS "deletedBy", trash_id AS "trashId",
  trash_key AS "trashKey", purge_after AS "purgeAfter", fail_reason AS "failReason", expected_size AS "expectedSize",
  kind, owner, upload_id AS "uploadId", staging_key AS "stagingKey", expires_at AS "expiresAt",
  upload_offset AS "uploadOffset", progress, idempotency_key AS "idempotencyKey"`

/** As stored: size, sha256 and etag stay NULL until an upload is committed. */
export type StoredRow = Omit<ObjectRow, 'size' | 'sha256' | 'etag'> & {
  size: number | null
  sha256: string | null
  etag: string | null
}

/** The values of a new pending row, in PENDING_COLUMNS order. */
export const PENDING_COLUMNS = [
  'id', 'key', 'org_id', 'system', 'object_type', 'object_id', 'filename', 'state', 'expected_size',
  'content_type', 'created_at', 'created_by', 'updated_at', 'kind', 'owner', 'upload_id', 'staging_key',
  'expires_at', 'upload_offset', 'progress', 'idempotency_key',
] as const

export function pendingValues(id: string, input: ReserveInput, now: string): unknown[] {
  const { key, parts } = input
  // listLive finds files by key prefix, so a key must be exactly its parts joined.
  if (key !== `${parts.orgId}/${parts.system}/${parts.objectType}/${parts.objectId}/${parts.filename}`) {
    throw new TypeError('reserve: key does not match its parts')
  }
  const kind: UploadKind = input.kind ?? (input.expectedSize === undefined ? 'stream' : 'direct')
  return [
    id, key, parts.orgId, parts.system, parts.objectType, parts.objectId, parts.filename, 'pending',
    input.expectedSize ?? null, input.contentType, now, input.actor, now, kind, input.owner ?? null,
    input.uploadId ?? null, input.stagingKey ?? null, input.expiresAt?.toISOString() ?? null,
    input.uploadOffset ?? null, input.progress ?? null, input.idempotencyKey ?? null,
  ]
}

/** Columns updateUpload may set, with how each value is stored. */
const UPLOAD_COLUMNS: ReadonlyArray<[keyof UploadUpdate, string]> = [
  ['uploadOffset', 'upload_offset'],
  ['progress', 'progress'],
  ['uploadId', 'upload_id'],
  ['stagingKey', 'staging_key'],
  ['expiresAt', 'expires_at'],
  ['owner', 'owner'],
  ['expectedSize', 'expected_size'],
  ['contentType', 'content_type'],
]

/**
 * The UPDATE for updateUpload, with `param(n)` writing the dialect's n-th placeholder (1-based).
 * Only the fields given are set; `expectedOffset` makes it a compare-and-set.
 */
export function uploadUpdate(id: string, update: UploadUpdate, now: string, param: (n: number) => string) {
  const sets: string[] = []
  const params: unknown[] = []
  const add = (value: unknown): string => {
    params.push(value)
    return param(params.length)
  }
  for (const [field, column] of UPLOAD_COLUMNS) {
    const value = update[field]
    if (value === undefined) continue
    sets.push(`${column} = ${add(value instanceof Date ? value.toISOString() : value)}`)
  }
  sets.push(`updated_at = ${add(now)}`)
  let where = `id = ${add(id)} AND state = 'pending'`
  if (update.expectedOffset !== undefined) where += ` AND coalesce(upload_offset, 0) = ${add(update.expectedOffset)}`
  return { sql: `UPDATE objects SET ${sets.join(', ')} WHERE ${where}`, params }
}

/**
 * The longest run of given segments from the org down is a key prefix; '0' follows '/' in byte
 * order, so [from, to) holds exactly the keys under it. The other segments filter by equality.
 */
export function liveRange(filter: FileFilter): { from: string; to: string } {
  const segments = [filter.orgId, filter.system, filter.objectType, filter.objectId]
  const run = segments.findIndex((s) => s === undefined)
  const prefix = `${segments.slice(0, run === -1 ? 4 : run).join('/')}/`
  return { from: prefix, to: `${prefix.slice(0, -1)}0` }
}

export function toObjectRow(row: StoredRow): ObjectRow {
  // A pending row has no size, hash or etag yet; the interface wants values, so they read as empty.
  return { ...row, size: row.size ?? 0, sha256: row.sha256 ?? '', etag: row.etag ?? '' }
}

export function optionalRow(row: unknown): ObjectRow | undefined {
  return row === undefined || row === null ? undefined : toObjectRow(row as StoredRow)
}

export function toFileRecord(row: StoredRow): FileRecord {
  return {
    key: row.key,
    size: row.size ?? 0,
    sha256: row.sha256 ?? '',
    etag: row.etag ?? '',
    contentType: row.contentType,
    createdAt: row.createdAt,
    createdBy: row.createdBy,
  }
}

export function toTrashRecord(row: StoredRow): TrashRecord {
  return {
    ...toFileRecord(row),
    trashId: row.trashId ?? '',
    deletedAt: row.deletedAt ?? '',
    deletedBy: row.deletedBy ?? '',
    purgeAfter: row.purgeAfter ?? '',
  }
}

/** Usage from the per-system live totals and the trash total. */
export function toUsage(
  orgId: string,
  live: ReadonlyArray<{ system: string; objects: number; bytes: number }>,
  trash: { objects: number; bytes: number },
): Usage {
  const bySystem: Usage['bySystem'] = {}
  let objects = 0
  let bytes = 0
  for (const row of live) {
    bySystem[row.system] = { objects: row.objects, bytes: row.bytes }
    objects += row.objects
    bytes += row.bytes
  }
  // Trashed bytes are still stored, so they are still billed.
  const cost = Math.round((bytes + trash.bytes) * USD_PER_BYTE_MONTH * 1e4) / 1e4
  return { orgId, objects, bytes, bySystem, trash, estimatedMonthlyCostUsd: cost }
}
