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

/** onRequest hook for the API: every route but the public ones needs a valid bearer token. */
export async function requireBearer(request: FastifyRequest): Promise<void> {
  if (request.routeOptions.config.public) return
  if (!request.headers.authorization) throw new UnauthorizedError('send Authorization: Bearer <token>')
  try {
    await request.jwtVerify()
  } catch (err) {
    const code = (err as { code?: string }).code
    const why = code === 'FST_JWT_AUTHORIZATION_TOKEN_EXPIRED' ? 'the token has expired' : 'the token is invalid'
    throw new UnauthorizedError(why, { cause: err })
  }
}
