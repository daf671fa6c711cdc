// Every error the API can return, each with a stable code and a message that says what to do.
// The README's error table is built from this file: keep the two in step.
import createError from '@fastify/error'

// Configuration: thrown at register time, before anything listens.
export const ConfigMissingError = createError(
  'FST_SPACES_CONFIG_MISSING',
  'Storage service not properly configured: %s',
)
export const ConfigEndpointSlashError = createError(
  'FST_SPACES_CONFIG_ENDPOINT_SLASH',
  'Storage service not properly configured: SPACES_ENDPOINT must not end with a slash (got "%s"); use e.g. https://nyc3.digitaloceanspaces.com',
)
export const ConfigEndpointError = createError(
  'FST_SPACES_CONFIG_ENDPOINT',
  'Storage service not properly configured: SPACES_ENDPOINT "%s" is not a URL like https://nyc3.digitaloceanspaces.com',
)
export const ConfigRegionMismatchError = createError(
  'FST_SPACES_CONFIG_REGION_MISMATCH',
  'Storage service not properly configured: SPACES_REGION "%s" does not match the endpoint host "%s"; the region must match the endpoint region (set SPACES_REGION=%s)',
)
export const ConfigInvalidError = createError('FST_SPACES_CONFIG_INVALID', 'Invalid fastify-spaces option: %s')

// Bad input.
export const InvalidKeyError = createError('FST_SPACES_INVALID_KEY', 'Invalid object key: %s', 400)
export const BadRequestError = createError('FST_SPACES_BAD_REQUEST', '%s', 400)
export const InvalidExpiryError = createError(
  'FST_SPACES_INVALID_EXPIRY',
  'expiresIn must be an integer number of seconds between %s and %s',
  400,
)
export const NoFileError = createError('FST_SPACES_NO_FILE', 'The multipart request holds no file part', 400)
export const MalformedMultipartError = createError(
  'FST_SPACES_MALFORMED_MULTIPART',
  'The multipart body is malformed (%s); send multipart/form-data with its boundary and CRLF line endings',
  400,
)
export const InvalidContentTypeError = createError(
  'FST_SPACES_INVALID_CONTENT_TYPE',
  'The content type is not a media type: send type/subtype with optional ;name=value parameters and no control characters',
  400,
)
export const BadHttpError = createError('FST_SPACES_BAD_HTTP', 'The request is not valid HTTP/1.1 (%s)', 400)
export const BadUrlError = createError('FST_SPACES_BAD_URL', 'The request path is not valid percent-encoding', 400)
export const RequestTimeoutError = createError(
  'FST_SPACES_REQUEST_TIMEOUT',
  'The request did not arrive in time; retry',
  408,
)
export const UriTooLongError = createError(
  'FST_SPACES_URI_TOO_LONG',
  'A path segment is longer than this route accepts',
  414,
)
export const ExpectationFailedError = createError(
  'FST_SPACES_EXPECTATION_FAILED',
  'Only "Expect: 100-continue" is supported',
  417,
)
export const HeadersTooLargeError = createError(
  'FST_SPACES_HEADERS_TOO_LARGE',
  'The request headers are larger than %s bytes',
  431,
)
export const PayloadTooLargeError = createError(
  'FST_SPACES_TOO_LARGE',
  'Upload exceeds the limit of %s bytes',
  413,
)
export const TooManyPartsError = createError(
  'FST_SPACES_TOO_MANY_PARTS',
  'A multipart request may hold at most %s files and %s fields (nothing was stored)',
  413,
)
export const UnsupportedTypeError = createError(
  'FST_SPACES_UNSUPPORTED_TYPE',
  'Content type "%s" is not allowed',
  415,
)
export const RangeNotSatisfiableError = createError(
  'FST_SPACES_RANGE_NOT_SATISFIABLE',
  'The requested range is not satisfiable',
  416,
)

// Identity and access.
export const UnauthorizedError = createError('FST_SPACES_UNAUTHORIZED', 'Authentication required: %s', 401)
export const ForbiddenError = createError('FST_SPACES_FORBIDDEN', 'Access denied: %s', 403)
export const SignedUrlInvalidError = createError(
  'FST_SPACES_SIGNED_URL_INVALID',
  'This link is invalid or has expired; ask for a new one',
  403,
)

// State of the stored files.
export const NotFoundError = createError('FST_SPACES_NOT_FOUND', 'No such file: %s', 404)
export const TrashNotFoundError = createError('FST_SPACES_TRASH_NOT_FOUND', 'No such trash entry: %s', 404)
export const ConflictError = createError(
  'FST_SPACES_CONFLICT',
  'A file already exists at this key; give ?overwrite=true to replace it',
  409,
)
export const UploadInProgressError = createError(
  'FST_SPACES_UPLOAD_IN_PROGRESS',
  'Another upload to this key is in progress; retry when it has finished',
  409,
)
export const RestoreConflictError = createError(
  'FST_SPACES_RESTORE_CONFLICT',
  'A live file now holds this key; delete or move it before restoring',
  409,
)
export const DuplicateFileError = createError(
  'FST_SPACES_DUPLICATE_FILE',
  'Two file parts of this request have the same filename; send each file once (nothing was stored)',
  409,
)
export const UploadMismatchError = createError(
  'FST_SPACES_UPLOAD_MISMATCH',
  'The uploaded object does not match the request: %s',
  400,
)

// Resumable (tus) uploads.
export const OffsetMismatchError = createError(
  'FST_SPACES_OFFSET_MISMATCH',
  'Upload-Offset does not match the %s bytes received; send HEAD and resume from there',
  409,
)
export const UploadLockedError = createError(
  'FST_SPACES_UPLOAD_LOCKED',
  'Another request is appending to this upload; retry in a moment',
  423,
)
export const UploadExpiredError = createError(
  'FST_SPACES_UPLOAD_EXPIRED',
  'This upload expired or was terminated; start a new one',
  410,
)
export const ChecksumMismatchError = createError(
  'FST_SPACES_CHECKSUM_MISMATCH',
  'The body does not match its Upload-Checksum; nothing of it was kept, send it again',
  460,
)
export const LengthRequiredError = createError('FST_SPACES_LENGTH_REQUIRED', 'Send Content-Length with %s', 411)
export const UnsupportedTusVersionError = createError(
  'FST_SPACES_TUS_VERSION',
  'Tus-Resumable must be 1.0.0',
  412,
)

// Storage and ledger failures. Retryable: nothing was recorded as stored.
export const StorageError = createError(
  'FST_SPACES_STORAGE_ERROR',
  'Storage request failed (%s); retry later',
  502,
)
export const StorageUnavailableError = createError(
  'FST_SPACES_STORAGE_UNAVAILABLE',
  'Storage is unreachable or throttled (%s); retry later',
  503,
)
export const LedgerError = createError('FST_SPACES_LEDGER_ERROR', 'The ledger failed (%s); retry later', 503)
export const NotReadyError = createError('FST_SPACES_NOT_READY', '%s', 503)
export const LedgerDriverMissingError = createError(
  'FST_SPACES_LEDGER_DRIVER_MISSING',
  'The %s ledger needs a package that is not installed: run `npm install %s`',
)
export const ShuttingDownError = createError(
  'FST_SPACES_SHUTTING_DOWN',
  'The server is shutting down; retry (another instance, or this one once it is back)',
  503,
)

// Everything else.
export const RouteNotFoundError = createError('FST_SPACES_ROUTE_NOT_FOUND', 'No route %s; see /docs for the API', 404)
export const InternalError = createError(
  'FST_SPACES_INTERNAL',
  'Internal error; it has been logged with the request id',
  500,
)

export const errors = {
  ConfigMissingError,
  ConfigEndpointSlashError,
  ConfigEndpointError,
  ConfigRegionMismatchError,
  ConfigInvalidError,
  InvalidKeyError,
  BadRequestError,
  InvalidExpiryError,
  NoFileError,
  MalformedMultipartError,
  InvalidContentTypeError,
  BadHttpError,
  BadUrlError,
  RequestTimeoutError,
  UriTooLongError,
  ExpectationFailedError,
  HeadersTooLargeError,
  PayloadTooLargeError,
  TooManyPartsError,
  UnsupportedTypeError,
  RangeNotSatisfiableError,
  UnauthorizedError,
  ForbiddenError,
  SignedUrlInvalidError,
  NotFoundError,
  TrashNotFoundError,
  ConflictError,
  UploadInProgressError,
  RestoreConflictError,
  DuplicateFileError,
  UploadMismatchError,
  OffsetMismatchError,
  UploadLockedError,
  UploadExpiredError,
  ChecksumMismatchError,
  LengthRequiredError,
  UnsupportedTusVersionError,
  StorageError,
  StorageUnavailableError,
  LedgerError,
  NotReadyError,
  LedgerDriverMissingError,
  ShuttingDownError,
  RouteNotFoundError,
  InternalError,
} as const

/** Errors whose cause was the object store or the ledger: the client may retry. */
export function isRetryable(err: unknown): boolean {
  return (
    err instanceof StorageError ||
    err instanceof StorageUnavailableError ||
    err instanceof LedgerError ||
    err instanceof ShuttingDownError
  )
}
