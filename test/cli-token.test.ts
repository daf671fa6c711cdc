// `spaces-proxy token`: the real CLI in a child process; its tokens are checked by the sidecar's
// own verifier (registerJwt) and claim parser (identityFromClaims).
import { generateKeyPairSync } from 'node:crypto'
import Fastify from 'fastify'
import t from 'tap'
import { identityFromClaims } from '../plugin/policy.js'
import { registerJwt } from '../server/auth.js'
import { loadConfig } from '../server/config.js'
import { runCli } from './helpers/cli.js'

const SECRET = 'cli-token-test-secret-0123456789abcdef'

async function verify(token: string, env: Record<string, string>) {
  const app = Fastify()
  await registerJwt(app, loadConfig(env).jwt)
  await app.ready()
  try {
    return app.jwt.verify<Record<string, unknown>>(token)
  } finally {
    await app.close()
  }
}

t.test('mints a token the sidecar accepts, with every claim', async (t) => {
  const cwd = t.testdir()
  const env = { JWT_SECRET: SECRET, JWT_ISSUER: 'https://id.example', JWT_AUDIENCE: 'spaces' }
  const run = await runCli(
    ['token', '--sub', 'user-7', '--org', 'org-123', '--roles', 'admin, auditor', '--scope', 'epcr:read  billing:*', '--ttl', '120'],
    env,
    { cwd },
  )
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, 'prints only the token and a newline')
  const token = run.stdout.trim()
  const claims = await verify(token, env)
  t.match(claims, { sub: 'user-7', org: 'org-123', roles: ['admin', 'auditor'], scope: 'epcr:read billing:*', iss: 'https://id.example', aud: 'spaces' })
  t.equal((claims.exp as number) - (claims.iat as number), 120, '--ttl is seconds')
  t.same(identityFromClaims(claims), { sub: 'user-7', org: 'org-123', roles: ['admin', 'auditor'], scopes: ['epcr:read', 'billing:*'] })
  await t.rejects(verify(token, { ...env, JWT_AUDIENCE: 'someone-else' }), 'the audience is bound')
  const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { alg: string }
  t.equal(header.alg, 'HS256')
})

t.test('reads JWT_SECRET from .env, and the environment wins over it', async (t) => {
  const cwd = t.testdir({ '.env': `JWT_SECRET="${SECRET}"\n` })
  const fromFile = await runCli(['token', '--sub', 'u', '--org', 'o'], {}, { cwd })
  t.equal(fromFile.code, 0, fromFile.stderr)
  const claims = await verify(fromFile.stdout.trim(), { JWT_SECRET: SECRET })
  t.match(claims, { sub: 'u', org: 'o', roles: [], scope: '' })
  t.equal((claims.exp as number) - (claims.iat as number), 3600, 'default lifetime is an hour')

  const other = 'another-secret-from-the-environment-0123'
  const fromEnv = await runCli(['token', '--sub', 'u', '--org', 'o'], { JWT_SECRET: other }, { cwd })
  t.equal(fromEnv.code, 0)
  await t.resolves(verify(fromEnv.stdout.trim(), { JWT_SECRET: other }))
  await t.rejects(verify(fromEnv.stdout.trim(), { JWT_SECRET: SECRET }))
})

t.test('refuses without a secret it can sign with', async (t) => {
  const cwd = t.testdir()
  const none = await runCli(['token', '--sub', 'u', '--org', 'o'], {}, { cwd })
  t.equal(none.code, 1)
  t.equal(none.stdout, '', 'no token on stdout')
  t.match(none.stderr, /JWT_SECRET is not set/)

  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const rs = await runCli(['token', '--sub', 'u', '--org', 'o'], { JWT_PUBLIC_KEY: pem }, { cwd })
  t.equal(rs.code, 1)
  t.equal(rs.stdout, '')
  t.match(rs.stderr, /JWT_PUBLIC_KEY is set/)
})

t.test('usage errors exit 2', async (t) => {
  const cwd = t.testdir()
  const env = { JWT_SECRET: SECRET }
  const cases: Array<[string[], RegExp]> = [
    [['token', '--org', 'o'], /--sub is required/],
    [['token', '--sub', 'u'], /--org is required/],
    [['token', '--sub', 'u', '--org', '../etc'], /--org: .*orgId/],
    [['token', '--sub', 'u', '--org', '.hidden'], /--org: .*may not start/],
    [['token', '--sub', 'u', '--org', 'o', '--ttl', '1.5'], /--ttl must be/],
    [['token', '--sub', 'u', '--org', 'o', '--ttl', '0'], /--ttl must be/],
    [['token', '--sub', 'u', '--org', 'o', '--admin'], /Unknown option '--admin'/],
    [['token', '--sub'], /argument missing/],
  ]
  for (const [args, message] of cases) {
    const run = await runCli(args, env, { cwd })
    t.equal(run.code, 2, args.join(' '))
    t.match(run.stderr, message)
    t.match(run.stderr, /Usage: spaces-proxy token/)
    t.equal(run.stdout, '')
  }
  const help = await runCli(['token', '--help'], {}, { cwd })
  t.equal(help.code, 0)
  t.match(help.stdout, /Usage: spaces-proxy token --sub/)
})
