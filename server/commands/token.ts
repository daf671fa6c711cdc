// `token`: mints an HS256 bearer token for curl and scripts. It signs through the sidecar's own
// registerJwt, so a minted token is exactly what the sidecar verifies (algorithm, secret).
import Fastify from 'fastify'
import { validateSegment } from '../../plugin/keys.js'
import { registerJwt } from '../auth.js'
import type { Command } from './types.js'
import { cliConfig, parseCommandArgs, usageError } from './context.js'

const usage = [
  'Usage: spaces-proxy token --sub <user> --org <orgId> [--roles a,b] [--scope "epcr:read billing:*"] [--ttl 3600]',
  '',
  'Prints a bearer token signed with JWT_SECRET (HS256), and nothing else:',
  '  export TOKEN=$(spaces-proxy token --sub me --org org-123 --scope "epcr:*")',
  '',
  '  --sub    the user (claim sub), required',
  '  --org    the organization id (claim org), required',
  '  --roles  comma-separated roles: admin, auditor',
  '  --scope  space-separated grants system:action, action one of read, write, delete, *',
  '  --ttl    lifetime in seconds (default 3600, at most JWT_TTL_MAX)',
  '',
  'JWT_ISSUER and JWT_AUDIENCE, when set, go into iss and aud. With JWT_PUBLIC_KEY your identity',
  'provider signs tokens; this command cannot.',
].join('\n')

export const tokenCommand: Command = {
  summary: 'mint a bearer token with JWT_SECRET',
  usage,
  async run(args) {
    const parsed = parseCommandArgs(
      args,
      {
        options: {
          sub: { type: 'string' },
          org: { type: 'string' },
          roles: { type: 'string', default: '' },
          scope: { type: 'string', default: '' },
          ttl: { type: 'string', default: '3600' },
        },
      },
      usage,
    )
    if (!parsed) return 2
    const { sub, org, roles, scope, ttl } = parsed.values
    if (!sub) return usageError('--sub is required', usage)
    if (!org) return usageError('--org is required', usage)
    try {
      validateSegment('orgId', org)
    } catch (err) {
      return usageError(`--org: ${(err as Error).message}`, usage)
    }
    const seconds = Number(ttl)
    if (!Number.isSafeInteger(seconds) || seconds <= 0) {
      return usageError('--ttl must be a positive whole number of seconds', usage)
    }

    const config = cliConfig()
    if (seconds > config.jwt.maxTtlSeconds) {
      return usageError(`--ttl ${seconds} is over JWT_TTL_MAX (${config.jwt.maxTtlSeconds} seconds): the sidecar would refuse the token`, usage)
    }
    if (config.jwt.publicKey) {
      process.stderr.write(
        'JWT_PUBLIC_KEY is set: the sidecar accepts RS256/ES256 tokens from your identity provider, and only it holds the private key. Mint tokens there.\n',
      )
      return 1
    }
    if (config.jwt.ephemeral || !config.jwt.secret) {
      process.stderr.write(
        'JWT_SECRET is not set: the sidecar would verify tokens with a secret made up at boot, so no token minted here would work. Set JWT_SECRET (`openssl rand -hex 32`) in the environment or .env.\n',
      )
      return 1
    }

    const claims: Record<string, unknown> = {
      sub,
      org,
      roles: roles.split(',').map((role) => role.trim()).filter(Boolean),
      scope: scope.split(/\s+/).filter(Boolean).join(' '),
      ...(config.jwt.issuer ? { iss: config.jwt.issuer } : {}),
      ...(config.jwt.audience ? { aud: config.jwt.audience } : {}),
    }
    const app = Fastify({ logger: false })
    try {
      await registerJwt(app, config.jwt)
      await app.ready()
      // @fastify/jwt reads a numeric expiresIn as seconds.
      process.stdout.write(`${app.jwt.sign(claims, { expiresIn: seconds })}\n`)
    } finally {
      await app.close()
    }
    return 0
  },
}
