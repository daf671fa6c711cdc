// Who is asking, may they, and what the audit trail says about it. Routes call
// `access.require()` before touching a file and `access.note()` to add what they did (before
// they send); one hook turns that into audit events and holds the response until they are
// durable, or writes them when the client has gone.
import type { FastifyInstance, FastifyRequest, FastifyReply } from 'fastify'
import type { InflightWork } from './inflight.js'
import type { AuditAction, AuditInput, Ledger } from './ledger/types.js'
import type { Authorize, FastifySpacesOptions } from './options.js'
import { toApiError } from './error-handler.js'
import { ForbiddenError, LedgerError, UnauthorizedError } from './errors.js'
import { decide, identityFromClaims, type Action, type Identity, type Target } from './policy.js'

/** What a handler learned about one audited operation; a request may carry several (multi-file POST). */
export interface AuditNote {
  key?: string | null
  bytes?: number | null
  sha256?: string | null
  ttl?: number | null
  action?: AuditAction
  status?: number
  errorCode?: string | null
  /** Who acted when there is no bearer identity (proxy-mode signed URLs). */
  actor?: { sub: string; org: string }
}

interface RequestAudit {
  identity?: Identity
  notes: AuditNote[]
  errorCode?: string
  written?: boolean
  /** Steps of a longer upload (a tus PATCH, a part URL) that are not file operations themselves. */
  quiet?: boolean
}

const state = new WeakMap<FastifyRequest, RequestAudit>()

function auditOf(request: FastifyRequest): RequestAudit {
  let entry = state.get(request)
  if (!entry) {
    entry = { notes: [] }
    state.set(request, entry)
  }
  return entry
}

export interface Access {
  /** The caller, or 401. */
  identity(request: FastifyRequest): Promise<Identity>
  /** Throws 403 (audited by the hook) unless the caller may do `action` to `target`. */
  require(request: FastifyRequest, action: Action, target: Target & { key?: string }): Promise<Identity>
  /** Whether the caller may do `action` to `target`, without failing: for filtering lists. */
  allows(request: FastifyRequest, action: Action, target: Target & { key?: string }): Promise<boolean>
  /** Adds to what the request's audit event will say. */
  note(request: FastifyRequest, note: AuditNote): void
  /** Starts another audit event for the same request (one per file of a multi-file upload). */
  addEvent(request: FastifyRequest, note: AuditNote): void
  /**
   * Whether the request writes its audit events: off for the steps of a longer upload (each tus
   * PATCH, each part URL), which is audited once, when it completes, fails or is refused.
   * Denials (401, 403) are audited whatever this says.
   */
  quiet(request: FastifyRequest, quiet?: boolean): void
}

function defaultIdentify(request: FastifyRequest): Identity | undefined {
  const user = (request as FastifyRequest & { user?: unknown }).user
  return user === undefined ? undefined : identityFromClaims(user)
}

/** Host `authorize` callbacks get a key; org- or system-wide checks get the prefix they cover. */
function targetKey(target: Target & { key?: string }): string {
  return target.key ?? (target.system ? `${target.orgId}/${target.system}/` : `${target.orgId}/`)
}

export function createAccess(options: Pick<FastifySpacesOptions, 'identify' | 'authorize'>): Access {
  const identify = options.identify ?? defaultIdentify
  const authorize: Authorize | undefined = options.authorize

  async function identity(request: FastifyRequest): Promise<Identity> {
    const entry = auditOf(request)
    if (entry.identity) return entry.identity
    const found = await identify(request)
    if (!found) throw new UnauthorizedError('send Authorization: Bearer <token>')
    entry.identity = found
    return found
  }

  async function allows(request: FastifyRequest, action: Action, target: Target & { key?: string }) {
    const who = await identity(request)
    if (authorize) return (await authorize(request, action, targetKey(target))) === true
    return decide(who, action, target).allow
  }

  async function require(request: FastifyRequest, action: Action, target: Target & { key?: string }) {
    const who = await identity(request)
    if (authorize) {
      if ((await authorize(request, action, targetKey(target))) !== true) throw new ForbiddenError(`${action} not allowed`)
      return who
    }
    const decision = decide(who, action, target)
    if (!decision.allow) throw new ForbiddenError(decision.reason)
    return who
  }

  function note(request: FastifyRequest, fields: AuditNote): void {
    const notes = auditOf(request).notes
    if (notes.length === 0) notes.push({ ...fields })
    else Object.assign(notes[notes.length - 1]!, fields)
  }

  return {
    identity,
    require,
    allows,
    note,
    addEvent: (request, fields) => auditOf(request).notes.push(fields),
    quiet: (request, quiet = true) => void (auditOf(request).quiet = quiet),
  }
}

function resultOf(status: number): AuditInput['result'] {
  if (status < 400) return 'ok'
  return status === 401 || status === 403 ? 'denied' : 'error'
}

/** Headers that describe a file body: an error answer sent in its place must not keep them. */
const BODY_HEADERS = ['content-disposition', 'content-range', 'etag', 'last-modified', 'accept-ranges', 'content-type']

/** One audit event: what the request and its caller say, plus what the handler noted. */
export function auditEvent(
  request: FastifyRequest,
  who: Identity | undefined,
  action: AuditAction,
  note: AuditNote & { status: number },
): AuditInput {
  return {
    actor: note.actor?.sub ?? who?.sub ?? null,
    org: note.actor?.org ?? who?.org ?? null,
    roles: who?.roles ?? [],
    ip: request.ip ?? null,
    userAgent: request.headers['user-agent'] ?? null,
    requestId: request.id,
    action: note.action ?? action,
    key: note.key ?? null,
    result: resultOf(note.status),
    status: note.status,
    errorCode: note.errorCode ?? null,
    bytes: note.bytes ?? null,
    sha256: note.sha256 ?? null,
    ttl: note.ttl ?? null,
  }
}

/**
 * Writes the audit events of every route whose config names an `audit` action: on success,
 * denial and failure before the response goes out (onSend waits until they are durable; if they
 * cannot be written, the client gets a 503 instead of an answer nobody recorded), and when the
 * client goes away mid-request.
 */
export function registerAuditHooks(app: FastifyInstance, ledger: Ledger, access: Access, work: InflightWork): void {
  /** Resolves once the request's events are durable; rejects when the ledger could not take them. */
  async function write(request: FastifyRequest, reply: FastifyReply | undefined, aborted: boolean): Promise<void> {
    const action = (request.routeOptions.config as { audit?: AuditAction }).audit
    if (!action) return
    const entry = auditOf(request)
    if (entry.written) return
    // Once only: the error answer a failed write turns into passes through onSend again.
    entry.written = true
    const replyStatus = aborted ? 499 : (reply?.statusCode ?? 500)
    if (entry.quiet && replyStatus !== 401 && replyStatus !== 403) return
    // Refused before the handler ran (no token): still say which file was asked for.
    const askedKey = request.routeOptions.url?.endsWith('/files/*') ? (request.params as { '*'?: string })['*'] : undefined
    const notes = entry.notes.length > 0 ? entry.notes : [{}]
    // A request that failed before its handler asked who it was (404 trash id) still has an actor.
    // Public routes (signed links) carry no bearer identity: their actor comes from the link.
    const isPublic = request.routeOptions.config.public === true
    const who = entry.identity ?? (isPublic ? undefined : await access.identity(request).catch(() => undefined))
    // All at once: a multi-file upload's events go into one group commit.
    const appends = notes.map((note) => {
      const status = note.status ?? replyStatus
      // A request whose connection ended is recorded as aborted, whatever its handler then threw on
      // the way out (a broken stream, an aborted store upload).
      const errorCode = note.errorCode ?? (status >= 400 ? (aborted ? 'CLIENT_ABORTED' : (entry.errorCode ?? null)) : null)
      return ledger.appendAudit(auditEvent(request, who, action, { ...note, key: note.key ?? askedKey, status, errorCode }))
    })
    const failures = (await Promise.allSettled(appends)).filter((r) => r.status === 'rejected')
    if (failures.length > 0) {
      const err = (failures[0] as PromiseRejectedResult).reason
      request.log.error({ err }, 'audit event could not be written')
      throw err instanceof LedgerError ? err : new LedgerError('the audit event could not be written', { cause: err })
    }
  }

  // The audit log records the same stable code the client was given.
  app.addHook('onError', async (request, _reply, error) => {
    auditOf(request).errorCode = toApiError(error).code
  })
  app.addHook('onSend', async (request, reply, payload) => {
    try {
      // An answer to a client that has already hung up reaches nobody: the request is aborted.
      await work.track(write(request, reply, request.raw.socket?.destroyed === true))
    } catch (err) {
      // Nothing unrecorded goes out: the file body (a stream already opened) is dropped, and the
      // error handler answers 503 in its place.
      if (payload !== null && typeof (payload as { destroy?: unknown }).destroy === 'function') {
        ;(payload as { destroy(): void }).destroy()
      }
      for (const header of BODY_HEADERS) reply.removeHeader(header)
      throw err
    }
    return payload
  })
  // A response that went out some other way still leaves its event (logged if it cannot). Nearly
  // every response was recorded by onSend, so this hook returns at once without a promise then.
  app.addHook('onResponse', (request, reply, done) => {
    const action = (request.routeOptions.config as { audit?: AuditAction }).audit
    if (!action || state.get(request)?.written) return done()
    work.track(write(request, reply, false).catch(() => {})).then(() => done(), done)
  })
  // The handler of an aborted request still runs (cleanup, per-file notes): its events are
  // written once it is done (by onSend, if it still answered; here otherwise).
  app.addHook('onRequestAbort', async (request) => {
    await work.track(work.handlerSettled(request).then(() => write(request, undefined, true)).catch(() => {}))
  })
}
