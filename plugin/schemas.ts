// The JSON schemas the routes share: what every response looks like, the one error shape, and the
// OpenAPI-only parts (the five key segments, bodies Fastify never parses). Routes validate and
// serialize with these, and @fastify/swagger documents them, so the API and its document agree.
import { AUDIT_ACTIONS } from './ledger/types.js'

const nullable = <T extends object>(schema: T) => ({ ...schema, nullable: true }) as const
const timestamp = { type: 'string', format: 'date-time' } as const

/** `{ statusCode, code, error, message }`: every error the API returns. */
export const errorSchema = {
  type: 'object',
  required: ['statusCode', 'code', 'error', 'message'],
  properties: {
    statusCode: { type: 'integer', description: 'The HTTP status, repeated' },
    code: { type: 'string', pattern: '^FST_SPACES_[A-Z_]+$', description: 'Stable code, listed in the README' },
    error: { type: 'string', description: 'The status text, e.g. "Bad Request"' },
    message: { type: 'string', description: 'What went wrong and what to do' },
  },
} as const

/** What each error status means on this API; a route lists the statuses it can answer. */
const ERROR_MEANINGS = {
  400: 'Bad input: a key, body, query or header the API refuses',
  401: 'No bearer token, or a bad or expired one',
  403: 'Denied by the policy (audited), or a signed link that expired or was altered',
  404: 'No such file, trash entry or upload',
  409: 'A file holds the key (give ?overwrite=true), another upload to it is running, or (tus) Upload-Offset is not where the upload is: HEAD and resume',
  410: 'The upload expired or was terminated: start a new one',
  411: 'A tus chunk without Content-Length',
  412: 'Tus-Resumable is missing or not 1.0.0 (Tus-Version names the version spoken)',
  413: 'Over the upload limit',
  415: 'A content type this route or this deployment does not take',
  416: 'The range is past the end of the file',
  423: 'Another request is appending to this upload: retry in a moment',
  460: 'The chunk does not match its Upload-Checksum: nothing of it was kept, send it again',
  502: 'The object store refused the request; retry (nothing was recorded as stored)',
  503: 'The object store or the ledger is unreachable; retry after Retry-After',
} as const

export type ErrorStatus = keyof typeof ERROR_MEANINGS

/** Every route can fail on storage or the ledger, and every route behind a token can be refused. */
const ALWAYS: readonly ErrorStatus[] = [400, 401, 403, 502, 503]

/** Response entries for the given error statuses (plus the ones every route has), all with the error shape. */
export function errorResponses(...statuses: ErrorStatus[]) {
  const all = [...new Set([...ALWAYS, ...statuses])].sort()
  return Object.fromEntries(all.map((status) => [status, { ...errorSchema, description: ERROR_MEANINGS[status] }]))
}

/** Error responses of routes that need no bearer token (signed links, probes). */
export function publicErrorResponses(...statuses: ErrorStatus[]) {
  return Object.fromEntries(statuses.map((status) => [status, { ...errorSchema, description: ERROR_MEANINGS[status] }]))
}

export const fileRecordProperties = {
  key: { type: 'string', description: '{orgId}/{system}/{objectType}/{objectId}/{filename}' },
  size: { type: 'integer', description: 'Bytes' },
  sha256: { type: 'string', description: 'Hex SHA-256 of the bytes, computed while they streamed' },
  etag: { type: 'string' },
  contentType: { type: 'string' },
  createdAt: timestamp,
  createdBy: { type: 'string', description: 'The uploader (token subject)' },
} as const

export const fileRecordSchema = {
  type: 'object',
  description: 'A stored file',
  required: Object.keys(fileRecordProperties),
  properties: fileRecordProperties,
} as const

export const trashRecordSchema = {
  type: 'object',
  description: 'A soft-deleted file, restorable until purgeAfter',
  required: [...Object.keys(fileRecordProperties), 'trashId', 'deletedAt', 'deletedBy', 'purgeAfter'],
  properties: {
    ...fileRecordProperties,
    trashId: { type: 'string', format: 'uuid' },
    deletedAt: timestamp,
    deletedBy: { type: 'string' },
    purgeAfter: timestamp,
  },
} as const

export const softDeleteSchema = {
  type: 'object',
  description: 'The file moved to trash',
  required: ['key', 'trashId', 'deletedAt', 'purgeAfter'],
  properties: {
    key: { type: 'string' },
    trashId: { type: 'string', format: 'uuid' },
    deletedAt: timestamp,
    purgeAfter: timestamp,
  },
} as const

export const purgeSchema = {
  type: 'object',
  description: 'The trashed bytes are gone; the ledger keeps that they existed',
  required: ['trashId', 'key', 'purgedAt'],
  properties: { trashId: { type: 'string', format: 'uuid' }, key: { type: 'string' }, purgedAt: timestamp },
} as const

/** A page of a keyset-paged list: pass `nextCursor` back as `cursor` for the next one. */
export function pageSchema<T extends object>(items: T, description: string) {
  return {
    type: 'object',
    description,
    required: ['items'],
    properties: {
      items: { type: 'array', items },
      nextCursor: { type: 'string', description: 'Absent on the last page' },
    },
  } as const
}

export const signedUrlSchema = {
  type: 'object',
  description: 'A short-lived GET URL',
  required: ['url', 'method', 'expiresAt', 'expiresIn'],
  properties: {
    url: { type: 'string', format: 'uri' },
    method: { type: 'string', enum: ['GET'] },
    expiresAt: timestamp,
    expiresIn: { type: 'integer', description: 'Seconds' },
  },
} as const

export const directUploadSchema = {
  type: 'object',
  description: 'PUT the bytes to url with exactly these headers, then POST /uploads/complete',
  required: ['key', 'url', 'method', 'headers', 'expiresAt'],
  properties: {
    key: { type: 'string' },
    url: { type: 'string', format: 'uri' },
    method: { type: 'string', enum: ['PUT'] },
    headers: { type: 'object', additionalProperties: { type: 'string' } },
    expiresAt: timestamp,
  },
} as const

/** Where an upload goes in the caller's org: the layout's segments before the filename. */
export const uploadTargetProperties = {
  system: { type: 'string', description: 'One of the configured systems, e.g. epcr' },
  objectType: { type: 'string', description: 'e.g. document' },
  objectId: { type: 'string', description: 'e.g. epcr-456' },
} as const

/** A content type goes into a signed header: printable ASCII only (no CR/LF smuggling). */
export const contentTypeSchema = { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e][\\x20-\\x7e]*$' } as const

/** A file record with the URL it is served at: what a finished browser multipart upload answers (Uppy reads `location`). */
export const completedUploadSchema = {
  type: 'object',
  description: 'The stored file, and its URL',
  required: [...fileRecordSchema.required, 'location'],
  properties: { ...fileRecordProperties, location: { type: 'string', format: 'uri' } },
} as const

/** The headers that make a repeated PUT or POST safe (see uploads/retry.ts). */
export const retryHeadersSchema = {
  type: 'object',
  properties: {
    'idempotency-key': {
      type: 'string',
      description: 'Any 1-255 printable characters: the same request sent again with it answers 200 with the file it stored',
    },
    'repr-digest': {
      type: 'string',
      description: 'sha-256=:<base64>: (RFC 9530): checked against the bytes; a live file with that digest at the key answers 200',
    },
  },
} as const

export const auditEventSchema = {
  type: 'object',
  description: 'One audited operation, a link of the hash chain',
  required: [
    'id', 'seq', 'ts', 'actor', 'org', 'roles', 'ip', 'userAgent', 'requestId', 'action', 'key',
    'result', 'status', 'errorCode', 'bytes', 'sha256', 'ttl', 'prevHash', 'hash',
  ],
  properties: {
    id: { type: 'string' },
    seq: { type: 'integer' },
    ts: timestamp,
    actor: nullable({ type: 'string' }),
    org: nullable({ type: 'string' }),
    roles: { type: 'array', items: { type: 'string' } },
    ip: nullable({ type: 'string' }),
    userAgent: nullable({ type: 'string' }),
    requestId: nullable({ type: 'string' }),
    action: { type: 'string', enum: AUDIT_ACTIONS },
    key: nullable({ type: 'string' }),
    result: { type: 'string', enum: ['ok', 'denied', 'error'] },
    status: { type: 'integer' },
    errorCode: nullable({ type: 'string' }),
    bytes: nullable({ type: 'integer' }),
    sha256: nullable({ type: 'string' }),
    ttl: nullable({ type: 'integer', description: 'Seconds a signed URL lives (sign events)' }),
    prevHash: { type: 'string' },
    hash: { type: 'string', description: 'SHA-256 over the canonical event JSON and prevHash' },
  },
} as const

export const auditVerificationSchema = {
  type: 'object',
  description: 'The result of walking the hash chain',
  required: ['ok', 'events', 'head'],
  properties: {
    ok: { type: 'boolean' },
    events: { type: 'integer' },
    head: { type: 'string', description: 'Hash of the last event: record it elsewhere to anchor the chain' },
    brokenAt: {
      type: 'object',
      description: 'The first event whose hash or link does not hold',
      required: ['seq', 'id', 'reason'],
      properties: { seq: { type: 'integer' }, id: { type: 'string' }, reason: { type: 'string' } },
    },
  },
} as const

const countSchema = {
  type: 'object',
  required: ['objects', 'bytes'],
  properties: { objects: { type: 'integer' }, bytes: { type: 'integer' } },
} as const

export const usageSchema = {
  type: 'object',
  description: "The org's stored objects and bytes",
  required: ['orgId', 'objects', 'bytes', 'bySystem', 'trash', 'estimatedMonthlyCostUsd'],
  properties: {
    orgId: { type: 'string' },
    objects: { type: 'integer' },
    bytes: { type: 'integer' },
    bySystem: { type: 'object', additionalProperties: countSchema },
    trash: countSchema,
    estimatedMonthlyCostUsd: { type: 'number', description: 'Live and trash bytes at $5 per 250 GiB-month' },
  },
} as const

/** A file's bytes, whatever its type: downloads answer with the type it was stored with. */
export const fileBodySchema = {
  description: 'The file',
  content: { '*/*': { schema: { type: 'string', format: 'binary' } } },
} as const

/** The headers a download or HEAD answers with. */
export const fileHeaders = {
  etag: { type: 'string' },
  'last-modified': { type: 'string' },
  'content-length': { type: 'integer' },
  'content-disposition': { type: 'string', description: "attachment (or inline with ?inline=1); filename*=UTF-8''…" },
  'accept-ranges': { type: 'string' },
} as const

/**
 * The routes take the key as one wildcard (a filename may hold characters a :param cannot), but
 * the document shows the layout's five segments, so that generated clients build the path.
 */
const keySegments = {
  type: 'object',
  required: ['orgId', 'system', 'objectType', 'objectId', 'filename'],
  properties: {
    orgId: { type: 'string', description: 'e.g. org-123' },
    system: { type: 'string', description: 'One of the configured systems, e.g. epcr' },
    objectType: { type: 'string', description: 'e.g. document' },
    objectId: { type: 'string', description: 'e.g. epcr-456' },
    filename: { type: 'string', description: 'e.g. 20260130_report.pdf (percent-encoded)' },
  },
} as const

/** What a route's `config.swaggerTransform` gets and returns (the part of it we use). */
interface RouteDocument {
  schema: object
  url: string
}

/**
 * For a `/files/*` route: the document names the five key segments instead of the wildcard, and
 * shows `body` where the route streams its body to the store (Fastify must not parse or validate
 * those bodies, so only the document describes them).
 */
export function documentKeyPath(body?: object) {
  return ({ schema, url }: RouteDocument): RouteDocument => ({
    url: url.replace(/\*$/, '{orgId}/{system}/{objectType}/{objectId}/{filename}'),
    schema: { ...schema, params: keySegments, ...(body ? { body } : {}) },
  })
}

/** For a route whose streamed body only the document describes. */
export function documentBody(body: object) {
  return ({ schema, url }: RouteDocument): RouteDocument => ({ url, schema: { ...schema, body } })
}

/** For a wildcard route whose one segment is an opaque token. */
export function documentTokenPath({ schema, url }: RouteDocument): RouteDocument {
  const params = { type: 'object', required: ['token'], properties: { token: { type: 'string', description: 'From a proxy-mode signed URL' } } }
  return { url: url.replace(/\*$/, '{token}'), schema: { ...schema, params } }
}

export const rawUploadBody = {
  description: 'The file, as the raw body (curl -T); its Content-Type is stored with it',
  content: { '*/*': { schema: { type: 'string', format: 'binary' } } },
} as const

/** A tus chunk: the bytes from Upload-Offset on, never parsed (creation-with-upload sends the first one with the POST). */
export const tusChunkBody = {
  description: 'Bytes of the file from Upload-Offset on; Content-Length is required',
  content: { 'application/offset+octet-stream': { schema: { type: 'string', format: 'binary' } } },
} as const

export const multipartUploadBody = {
  description: 'One or more file parts (curl -F file=@x.pdf); each is stored as YYYYMMDD_{filename}',
  content: {
    'multipart/form-data': {
      schema: {
        type: 'object',
        required: ['file'],
        properties: { file: { type: 'string', format: 'binary', description: 'Repeat the part for more files' } },
      },
    },
  },
} as const
