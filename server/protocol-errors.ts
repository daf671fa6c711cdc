// Answers for what never reaches a route: malformed HTTP, oversized headers, unknown
// expectations, undecodable paths, over-long path segments, requests that arrive while the server
// shuts down. Each one gets the API's error body and a documented code, and none echoes the path
// (it may hold a filename or a signed-URL token).
import { STATUS_CODES, maxHeaderSize, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { sendApiError, toApiError } from '../plugin/error-handler.js'
import {
  BadHttpError,
  ExpectationFailedError,
  HeadersTooLargeError,
  RequestTimeoutError,
  ShuttingDownError,
} from '../plugin/errors.js'

/** How long a socket we answered may linger for the client to read the answer. */
const LINGER_MS = 2000
/** llhttp's reasons are fixed strings ("Duplicate Content-Length"); anything else is not echoed. */
const PARSER_REASON = /^[A-Za-z][A-Za-z0-9 ,.'-]{0,80}$/

interface ClientError extends Error {
  code?: string
  reason?: string
}

function errorFor(err: ClientError): Error & { code: string; statusCode?: number } {
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return new RequestTimeoutError()
  if (err.code === 'HPE_HEADER_OVERFLOW') return new HeadersTooLargeError(maxHeaderSize)
  const reason = err.reason && PARSER_REASON.test(err.reason) ? err.reason : 'malformed request'
  return new BadHttpError(reason)
}

/** Fastify's `clientErrorHandler`: Node's parser refused the bytes, so we write the answer raw. */
export function clientErrorHandler(this: FastifyInstance, err: ClientError, socket: Socket): void {
  // A reset connection has nobody to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const error = errorFor(err)
  const statusCode = error.statusCode ?? 400
  this.log.info({ code: error.code, parser: err.code }, 'malformed request refused')
  const body = JSON.stringify({ statusCode, code: error.code, error: STATUS_CODES[statusCode], message: error.message })
  const answer = () => {
    if (socket.writable) {
      socket.end(
        `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      )
    }
    // end() lets the client read the answer; a client that never closes its side is cut off.
    setTimeout(() => socket.destroy(), LINGER_MS).unref()
  }
  // The response Node is writing on this connection, if any (Node's own handler looks at it too).
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage
  if (inFlight && !inFlight.writableFinished && inFlight.req?.complete) {
    // The bad bytes are a pipelined request after one we are still answering (and may be
    // storing): that answer goes first, or the client would take our 400 for it.
    inFlight.once('finish', answer)
    inFlight.once('close', answer)
    return
  }
  if (inFlight?.headersSent) {
    // Half a response is on the wire: no answer can follow it.
    socket.destroy()
    return
  }
  answer()
}

/** Fastify's `frameworkErrors`: an undecodable path (`%zz`) or a path segment over the router's limit. */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const api = toApiError(error)
  request.log.info({ code: api.code, statusCode: api.statusCode }, 'request refused')
  reply.header('connection', 'close')
  sendApiError(reply, api)
}

function hostLines(rawHeaders: string[]): number {
  let count = 0
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === 'host') count++
  return count
}

/**
 * `Expect` values other than 100-continue (which Node answers itself) get a 417 in the API's
 * shape, requests that arrive while the server closes get a retryable 503, and an HTTP/1.1
 * request without exactly one Host header, or with a transfer coding other than chunked, a 400.
 */
export function registerProtocolErrors(app: FastifyInstance): void {
  app.server.on('checkExpectation', (_request, response) => {
    const error = new ExpectationFailedError()
    const body = JSON.stringify({ statusCode: 417, code: error.code, error: STATUS_CODES[417], message: error.message })
    response.writeHead(417, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      connection: 'close',
    })
    response.end(body)
  })

  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  // Callback style: it runs on every request, and an async hook costs a promise and a tick.
  app.addHook('onRequest', (request, _reply, done) => {
    if (closing) return done(new ShuttingDownError())
    // RFC 9112 §3.2: a server must refuse an HTTP/1.1 request with no Host, or with two.
    if (request.raw.httpVersion === '1.1' && hostLines(request.raw.rawHeaders) !== 1) {
      return done(new BadHttpError('exactly one Host header is required'))
    }
    // Node decodes chunked framing only: a body sent gzip-coded would be stored still encoded.
    const coding = request.headers['transfer-encoding']
    if (coding !== undefined && coding.trim().toLowerCase() !== 'chunked') {
      return done(new BadHttpError('chunked is the only transfer coding accepted'))
    }
    done()
  })
}
