// Response shapes shared by the upload routes, for validation-free serialisation and OpenAPI.
export const fileRecordSchema = {
  type: 'object',
  required: ['key', 'size', 'sha256', 'etag', 'contentType', 'createdAt', 'createdBy'],
  properties: {
    key: { type: 'string' },
    size: { type: 'integer' },
    sha256: { type: 'string', description: 'hex SHA-256 of the whole file' },
    etag: { type: 'string' },
    contentType: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    createdBy: { type: 'string' },
  },
} as const

export const errorSchema = {
  type: 'object',
  required: ['statusCode', 'code', 'error', 'message'],
  properties: {
    statusCode: { type: 'integer' },
    code: { type: 'string' },
    error: { type: 'string' },
    message: { type: 'string' },
  },
} as const

/** The error responses every upload route may give. */
export const uploadErrors = {
  400: errorSchema,
  401: errorSchema,
  403: errorSchema,
  404: errorSchema,
  409: errorSchema,
  413: errorSchema,
  415: errorSchema,
  502: errorSchema,
  503: errorSchema,
} as const
