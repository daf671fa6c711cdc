// GetObject as a plain HTTP GET of a presigned URL, on undici. A download is mostly relaying
// bytes, and profiles of the relay put its cost in the HTTP client: the SDK adds its middleware
// stack, endpoint rules and response deserialisation to every request (about 1.6 ms of CPU
// against 0.4 ms for a plain GET), and node:http copies every body chunk out of the socket's
// buffer into a new one, which the garbage collector then has to chase. undici hands out views
// of the socket's data; relaying a 256 MiB object cost about a third less CPU with it than with
// node:http (scripts/bench-transfer.ts measures the whole path).
// Failures map to the same coded errors as the SDK's (toStoreError), and transient ones are
// retried the way the SDK's standard retry does, before any byte of the body has been passed on.
import type { Readable } from 'node:stream'
import { Agent, type Dispatcher } from 'undici'
import type { ByteRange } from './types.js'
import type { S3Presigner } from './s3-presigner.js'
import { toStoreError } from './s3-errors.js'

/** A URL only this process uses, right away: a minute covers clock skew and retries. */
const URL_TTL_SECONDS = 60
const RETRYABLE_STATUS = new Set([500, 502, 503, 504])
/** S3 error bodies are a few hundred bytes of XML; never keep more than this of one. */
const MAX_ERROR_BODY = 16 * 1024
/** How far the body may run ahead of the client reading it, per download. */
const BODY_HIGH_WATER_MARK = 256 * 1024
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'])

export interface ObjectReaderOptions {
  presigner: S3Presigner
  /** Attempts in all, the first included (the SDK's default is 3). */
  maxAttempts: number
  /** Milliseconds to connect, and without a byte from the store once connected. */
  connectionTimeout: number
  requestTimeout: number
  /** Told of every request that failed for good, like the SDK client's error observer. */
  onError?: (operation: string, code: string) => void
}

export interface ObjectResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Readable
}

/** What the SDK would throw: enough for toStoreError to pick the API error. */
interface S3Failure extends Error {
  Code?: string
  $metadata?: { httpStatusCode?: number }
}

function failure(code: string, status: number | undefined, cause?: unknown): S3Failure {
  return Object.assign(new Error(`GetObject: ${code}`, { cause }), { name: code, Code: code, $metadata: { httpStatusCode: status } })
}

/** A network failure, named as the SDK would name it (toStoreError treats both as unavailable). */
function networkFailure(err: unknown): S3Failure {
  const code = (err as { code?: string }).code ?? 'NetworkError'
  return failure(TIMEOUT_CODES.has(code) ? 'TimeoutError' : code, undefined, err)
}

async function errorCode(status: number, body: Readable): Promise<string> {
  let text = ''
  for await (const chunk of body) {
    if (text.length < MAX_ERROR_BODY) text += chunk
  }
  return /<Code>([^<]{1,64})<\/Code>/.exec(text)?.[1] ?? (status === 404 ? 'NotFound' : `Http${status}`)
}

function retryable(err: S3Failure): boolean {
  const status = err.$metadata?.httpStatusCode
  return status === undefined || RETRYABLE_STATUS.has(status) || err.Code === 'SlowDown'
}

/** Full jitter, 100 ms doubling: the SDK's standard retry strategy. */
function backoff(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.random() * 100 * 2 ** attempt))
}

export class ObjectReader {
  private readonly options: ObjectReaderOptions
  private readonly dispatcher: Agent

  constructor(options: ObjectReaderOptions) {
    this.options = options
    this.dispatcher = new Agent({
      connections: 64,
      connectTimeout: options.connectionTimeout,
      headersTimeout: options.requestTimeout,
      bodyTimeout: options.requestTimeout,
    })
  }

  /** The object's body and headers (200, or 206 for a range); anything else throws a coded error. */
  async get(key: string, range?: ByteRange): Promise<ObjectResponse> {
    let attempt = 0
    for (;;) {
      try {
        return await this.attempt(key, range)
      } catch (err) {
        const s3 = err as S3Failure
        if (++attempt >= this.options.maxAttempts || !retryable(s3)) {
          // Named as the SDK client's observer names commands, so metrics keep one label per operation.
          this.options.onError?.('GetObjectCommand', s3.Code ?? s3.name)
          throw toStoreError('GetObject', err)
        }
        await backoff(attempt)
      }
    }
  }

  private async attempt(key: string, range: ByteRange | undefined): Promise<ObjectResponse> {
    const url = this.options.presigner.presign({ method: 'GET', key, expiresIn: URL_TTL_SECONDS })
    let response: Dispatcher.ResponseData
    try {
      response = await this.dispatcher.request({
        origin: url.slice(0, url.indexOf('/', url.indexOf('//') + 2)),
        path: url.slice(url.indexOf('/', url.indexOf('//') + 2)),
        method: 'GET',
        headers: range ? { range: `bytes=${range.start}-${range.end}` } : undefined,
        highWaterMark: BODY_HIGH_WATER_MARK,
      })
    } catch (err) {
      throw networkFailure(err)
    }
    const { statusCode, headers, body } = response
    if (statusCode === 200 || statusCode === 206) return { status: statusCode, headers, body }
    throw failure(await errorCode(statusCode, body).catch(() => `Http${statusCode}`), statusCode)
  }

  /** Cuts any read still open: by now the server has stopped serving requests. */
  async close(): Promise<void> {
    await this.dispatcher.destroy()
  }
}
