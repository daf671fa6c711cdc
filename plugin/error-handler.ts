// One renderer for every error: `{ statusCode, code, error, message }` with a stable FST_SPACES_*
// code, whatever raised it (our code, Fastify, @fastify/multipart, @fastify/jwt, the S3 SDK).
import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import {
  BadRequestError,
  BadUrlError,
  ExpectationFailedError,
  ForbiddenError,
  HeadersTooLargeError,
  InternalError,
  MalformedMultipartError,
  PayloadTooLargeError,
  RangeNotSatisfiableError,
  RequestTimeoutError,
  RouteNotFoundError,
  UnauthorizedError,
  UnsupportedTypeError,
  UriTooLongError,
  isRetryable,
} from './errors.js'

export interface ApiError {
  statusCode: number
  code: string
  message: string
}

const TOO_LARGE = new Set([
  'FST_REQ_FILE_TOO_LARGE',
  'FST_ERR_CTP_BODY_TOO_LARGE',
  'FST_PARTS_LIMIT',
  'FST_FILES_LIMIT',
  'FST_FIELDS_LIMIT',
])

/**
 * @fastify/multipart answers a request that is not multipart with 406, but 406 is about `Accept`:
 * the body's type is what is wrong, which is 415.
 */
const REMAPPED_STATUS: Record<number, number> = { 406: 415 }

/** The code the README's error table lists for each client-error status. */
const CODE_FOR_STATUS: Record<number, string> = Object.fromEntries(
  [
    BadRequestError,
    UnauthorizedError,
    ForbiddenError,
    RouteNotFoundError,
    RequestTimeoutError,
    PayloadTooLargeError,
    UriTooLongError,
    UnsupportedTypeError,
    RangeNotSatisfiableError,
    ExpectationFailedError,
    HeadersTooLargeError,
  ]
    .map((ErrorClass) => new ErrorClass())
    .map((err) => [err.statusCode, err.code]),
)

/** Statuses Node has no name for: tus's checksum extension defines 460. */
const TUS_STATUS: Record<number, string> = { 460: 'Checksum Mismatch' }

/**
 * Framework errors whose message would mislead or echo the request (the raw path): they get a
 * code and a message of our own.
 */
const RENAMED: Record<string, () => Error & { code: string; statusCode?: number }> = {
  FST_MP_PREMATURE_CLOSE: () => new MalformedMultipartError('it ended before its closing boundary'),
  FST_ERR_BAD_URL: () => new BadUrlError(),
  FST_ERR_MAX_PARAM_LENGTH: () => new UriTooLongError(),
}

function render(err: Error & { code: string; statusCode?: number }): ApiError {
  return { statusCode: err.statusCode ?? 500, code: err.code, message: err.message }
}

export function toApiError(error: FastifyError, maxUploadBytes?: number): ApiError {
  const code = error.code ?? ''
  if (code.startsWith('FST_SPACES_') && error.statusCode) {
    return { statusCode: error.statusCode, code, message: error.message }
  }
  const renamed = RENAMED[code]
  if (renamed) return render(renamed())
  if (TOO_LARGE.has(code) || error.statusCode === 413) {
    const err = new PayloadTooLargeError(maxUploadBytes ?? 'the configured number of')
    return { statusCode: 413, code: err.code, message: code.startsWith('FST_REQ') || !maxUploadBytes ? err.message : error.message }
  }
  if (code.startsWith('FST_JWT_') || error.statusCode === 401) {
    const err = new UnauthorizedError(code === 'FST_JWT_AUTHORIZATION_TOKEN_EXPIRED' ? 'the token has expired' : 'the token is missing or invalid')
    return { statusCode: 401, code: err.code, message: err.message }
  }
  if (error.validation || (error.statusCode && error.statusCode >= 400 && error.statusCode < 500)) {
    // A client error from Fastify or a plugin keeps its message, under the code our table lists
    // for its status; a status the table has no code for becomes a plain 400.
    const given = error.validation ? 400 : (REMAPPED_STATUS[error.statusCode!] ?? error.statusCode!)
    const statusCode = CODE_FOR_STATUS[given] ? given : 400
    return { statusCode, code: CODE_FOR_STATUS[statusCode]!, message: error.message }
  }
  return render(new InternalError())
}

/** The client hung up: there is nobody to answer, and nothing went wrong on our side. */
export function clientGone(request: FastifyRequest, reply: FastifyReply): boolean {
  return reply.raw.destroyed || request.raw.socket?.destroyed === true
}

export function errorHandler(maxUploadBytes?: number) {
  return function handleError(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
    const api = toApiError(error, maxUploadBytes)
    if (clientGone(request, reply)) {
      request.log.info({ code: 'CLIENT_ABORTED', cause: error.code ?? error.name }, 'client went away before the answer')
    } else if (api.statusCode >= 500) {
      request.log.error({ err: error, code: api.code }, 'request failed')
    } else {
      request.log.info({ code: api.code, statusCode: api.statusCode }, 'request refused')
    }
    if (isRetryable(error)) reply.header('retry-after', '1')
    // A body we stopped reading (413, aborted upload) would desync a reused connection.
    if (!request.raw.complete) reply.header('connection', 'close')
    // The reply may already carry file headers (type, disposition, policy) from before the failure.
    reply.removeHeader('content-disposition')
    reply.removeHeader('content-length')
    reply.removeHeader('content-security-policy')
    sendApiError(reply, api)
  }
}

/** Writes the error body every response of ours uses. */
export function sendApiError(reply: FastifyReply, api: ApiError): void {
  reply
    .code(api.statusCode)
    .type('application/json; charset=utf-8')
    .send({
      statusCode: api.statusCode,
      code: api.code,
      error: STATUS_CODES[api.statusCode] ?? TUS_STATUS[api.statusCode] ?? 'Error',
      message: api.message,
    })
}
