// `spaces-proxy cors apply` / `cors show` against the real S3 peer, and what a browser's
// preflight then gets from the bucket.
import { GetBucketCorsCommand } from '@aws-sdk/client-s3'
import t from 'tap'
import { corsMatches, corsRule } from '../server/commands/cors.js'
import { runCli } from './helpers/cli.js'
import { createTestBucket } from './helpers/s3.js'
import { spacesEnv } from './helpers/server.js'

t.test('corsRule and corsMatches', async (t) => {
  const rule = corsRule(['https://a.example', 'http://localhost:5173'])
  t.same(rule, {
    AllowedOrigins: ['https://a.example', 'http://localhost:5173'],
    AllowedMethods: ['GET', 'HEAD', 'PUT'],
    AllowedHeaders: ['*'],
    ExposeHeaders: ['ETag', 'Content-Length', 'Content-Range', 'Content-Disposition', 'Accept-Ranges'],
    MaxAgeSeconds: 3000,
  })
  const reordered = { ...rule, AllowedMethods: ['PUT', 'GET', 'HEAD'], AllowedOrigins: ['http://localhost:5173', 'https://a.example'] }
  t.ok(corsMatches([{ AllowedMethods: ['GET'], AllowedOrigins: ['*'] }, reordered], rule), 'order does not matter; any rule may match')
  t.notOk(corsMatches([{ ...rule, AllowedMethods: ['GET', 'HEAD'] }], rule), 'PUT is needed for direct uploads')
  t.notOk(corsMatches([{ ...rule, AllowedOrigins: ['https://a.example'] }], rule), 'every origin must be there')
  t.notOk(corsMatches([{ ...rule, MaxAgeSeconds: 60 }], rule))
  t.notOk(corsMatches(undefined, rule))
})

t.test('no SPACES_*: nothing to do on local disk', async (t) => {
  const cwd = t.testdir()
  for (const command of ['apply', 'show']) {
    const run = await runCli(['cors', command], { CORS_ORIGINS: 'https://a.example' }, { cwd })
    t.equal(run.code, 0)
    t.match(run.stdout, "the embedded local-disk store has no bucket CORS; the sidecar's own CORS_ORIGINS apply")
  }
})

t.test('against a real bucket', async (t) => {
  const bucket = await createTestBucket(t, 'cors')
  const cwd = t.testdir()
  const env = spacesEnv(bucket)
  const origins = ['https://app.example', 'http://localhost:5173']

  const none = await runCli(['cors', 'show'], env, { cwd })
  t.equal(none.code, 0, none.stderr)
  t.match(none.stdout, `Bucket ${bucket.name} has no CORS configuration`)

  const refused = await runCli(['cors', 'apply'], env, { cwd })
  t.equal(refused.code, 1, 'apply without CORS_ORIGINS')
  t.match(refused.stderr, 'CORS_ORIGINS is empty')

  const applied = await runCli(['cors', 'apply'], { ...env, CORS_ORIGINS: origins.join(', ') }, { cwd })
  t.equal(applied.code, 0, applied.stderr)
  const json = applied.stdout.slice(applied.stdout.indexOf('{'))
  t.same(JSON.parse(json), { CORSRules: [corsRule(origins)] }, 'prints the rule it applied')

  const stored = await bucket.client.send(new GetBucketCorsCommand({ Bucket: bucket.name }))
  t.ok(corsMatches(stored.CORSRules, corsRule(origins)), 'the bucket holds the rule')

  const shown = await runCli(['cors', 'show'], env, { cwd })
  t.equal(shown.code, 0)
  t.ok(corsMatches((JSON.parse(shown.stdout) as { CORSRules: [] }).CORSRules, corsRule(origins)), 'show prints it back')

  // What a browser at an allowed origin gets when it preflights a direct upload.
  const preflight = await fetch(`${bucket.connection.endpoint}/${bucket.name}/org-1/epcr/document/d-1/x.pdf`, {
    method: 'OPTIONS',
    headers: { Origin: 'http://localhost:5173', 'Access-Control-Request-Method': 'PUT', 'Access-Control-Request-Headers': 'content-type' },
  })
  t.equal(preflight.status, 200)
  t.equal(preflight.headers.get('access-control-allow-origin'), 'http://localhost:5173')
  t.match(preflight.headers.get('access-control-allow-methods') ?? '', /PUT/)
  const denied = await fetch(`${bucket.connection.endpoint}/${bucket.name}/x`, {
    method: 'OPTIONS',
    headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'GET' },
  })
  t.not(denied.headers.get('access-control-allow-origin'), 'https://evil.example', 'other origins get nothing')

  const checked = await runCli(['check'], { ...env, CORS_ORIGINS: origins.join(',') }, { cwd })
  t.equal(checked.code, 0, checked.stdout)
  t.match(checked.stdout, '✓ the bucket CORS rule matches CORS_ORIGINS')

  const drifted = await runCli(['check'], { ...env, CORS_ORIGINS: 'https://new.example' }, { cwd })
  t.equal(drifted.code, 1)
  t.match(drifted.stdout, '✗ the bucket CORS rule does not match CORS_ORIGINS\n  Check: run `spaces-proxy cors apply`')
})

t.test('usage', async (t) => {
  const cwd = t.testdir()
  const help = await runCli(['cors', 'apply', '--help'], {}, { cwd })
  t.equal(help.code, 0)
  t.match(help.stdout, 'Usage: spaces-proxy cors apply')
  const bad = await runCli(['cors', 'show', '--json'], {}, { cwd })
  t.equal(bad.code, 2)
})
