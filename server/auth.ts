// Bearer-token identity for the sidecar: @fastify/jwt with an explicit algorithm list (so
// `alg: none` and algorithm confusion are refused), issuer and audience checked when set.
import jwt from '@fastify/jwt'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { UnauthorizedError } from '../plugin/errors.js'
import type { JwtConfig } from './config.js'

export async function registerJwt(app: FastifyInstance, config: JwtConfig): Promise<void> {
  const checks = {
    ...(config.issuer ? { allowedIss: config.issuer } : {}),
    ...(config.audience ? { allowedAud: config.audience } : {}),
    // A client sends the same token with every request until it expires: fast-jwt keeps what a
    // token verified to (bounded LRU, by the token's SHA-256, never past its exp or before its nbf),
    // so a repeat costs one hash instead of a decode, a signature check and the claim checks.
    cache: true,
  }
  if (config.publicKey) {
    await app.register(jwt, {
      secret: { public: config.publicKey, private: '' },
      verify: { algorithms: ['RS256', 'ES256'], ...checks },
    })
  } else {
    await app.register(jwt, {
      secret: config.secret!,
      sign: { algorithm: 'HS256', expiresIn: '1h' },
      verify: { algorithms: ['HS256'], ...checks },
    })
  }
}

/** Clocks of the issuer and of this server may differ this much. */
const CLOCK_SKEW_SECONDS = 60

/**
 * A verified token must also say when it expires, and not claim to live longer than allowed: a
 * token without `exp` would work forever, and a leaked long-lived one for as long as it says.
 */
export function checkLifetime(claims: unknown, maxTtlSeconds: number, nowSeconds = Date.now() / 1000): void {
  const { exp, iat } = (claims ?? {}) as { exp?: unknown; iat?: unknown }
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new UnauthorizedError('the token has no expiry (exp)')
  // From when it was issued, or from now if it claims to be issued later (or does not say).
  const from = typeof iat === 'number' && Number.isFinite(iat) ? Math.min(iat, nowSeconds) : nowSeconds
  if (exp - from > maxTtlSeconds + CLOCK_SKEW_SECONDS) {
    throw new UnauthorizedError(`the token lives longer than the ${maxTtlSeconds} seconds allowed (JWT_TTL_MAX)`)
  }
}

/** onRequest hook for the API: every route but the public ones needs a valid, short-lived bearer token. */
export function requireBearer(config: Pick<JwtConfig, 'maxTtlSeconds'>) {
  return async function bearer(request: FastifyRequest): Promise<void> {
    if (request.routeOptions.config.public) return
    if (!request.headers.authorization) throw new UnauthorizedError('send Authorization: Bearer <token>')
    try {
      await request.jwtVerify()
    } catch (err) {
      const code = (err as { code?: string }).code
      const why = code === 'FST_JWT_AUTHORIZATION_TOKEN_EXPIRED' ? 'the token has expired' : 'the token is invalid'
      throw new UnauthorizedError(why, { cause: err })
    }
    checkLifetime(request.user, config.maxTtlSeconds)
  }
}
