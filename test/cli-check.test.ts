// `spaces-proxy check`: the real CLI against the real S3 peer, and each of the guide's
// troubleshooting cases with the hint it must print.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { runCli } from './helpers/cli.js'
import { createTestBucket } from './helpers/s3.js'
import { spacesEnv } from './helpers/server.js'

t.test('no SPACES_*: the local-disk store, DATA_DIR writable', async (t) => {
  const cwd = t.testdir()
  const run = await runCli(['check'], { DATA_DIR: './files' }, { cwd })
  t.equal(run.code, 0, run.stdout)
  t.match(run.stdout, `embedded local-disk store under ${join(cwd, 'files')}`)
  t.match(run.stdout, '✓ DATA_DIR')
  t.ok(existsSync(join(cwd, 'files')), 'created as the sidecar would')

  const prod = await runCli(['check'], { NODE_ENV: 'production' }, { cwd })
  t.equal(prod.code, 1)
  t.match(prod.stdout, /✗ no SPACES_\* set, and NODE_ENV=production needs a bucket\n {2}Check: All SPACES_\* variables are set in \.env/)
})

t.test('against a real bucket', async (t) => {
  const bucket = await createTestBucket(t, 'check')
  const cwd = t.testdir()
  const env = spacesEnv(bucket)

  t.test('passes, probes, and leaves nothing behind', async (t) => {
    const run = await runCli(['check'], env, { cwd })
    t.equal(run.code, 0, run.stdout + run.stderr)
    for (const line of ['✓ all SPACES_* variables are set', '✓ credentials accepted', `✓ bucket "${bucket.name}" exists`,
      '✓ wrote probe object .probe/', '✓ read it back', '✓ deleted it, and it is gone', 'All checks passed.']) {
      t.match(run.stdout, line)
    }
    t.match(run.stdout, /⚠ the bucket has no CORS rule, and CORS_ORIGINS is empty/, 'missing CORS is a warning only')
    t.same(await bucket.keys(), [], 'the probe is gone')
  })

  t.test('reads the settings from .env', async (t) => {
    const dir = t.testdir({ '.env': Object.entries(env).map(([k, v]) => `${k}=${v}`).join('\n') })
    const run = await runCli(['check'], {}, { cwd: dir })
    t.equal(run.code, 0, run.stdout)
  })

  t.test('CORS_ORIGINS set but no rule on the bucket: fails, says how to fix', async (t) => {
    const run = await runCli(['check'], { ...env, CORS_ORIGINS: 'https://app.example' }, { cwd })
    t.equal(run.code, 1)
    t.match(run.stdout, '✗ the bucket has no CORS rule\n  Check: run `spaces-proxy cors apply`')
    t.match(run.stdout, '1 check(s) failed.')
  })

  t.test('a missing variable', async (t) => {
    const { SPACES_BUCKET: _, ...rest } = env
    const run = await runCli(['check'], rest, { cwd })
    t.equal(run.code, 1)
    t.match(run.stdout, '✗ not set: SPACES_BUCKET\n  Check: All SPACES_* variables are set in .env')
    t.match(run.stdout, '- credentials: skipped')
    t.match(run.stdout, '- bucket CORS: skipped')
  })

  t.test('a trailing slash on the endpoint', async (t) => {
    const run = await runCli(['check'], { ...env, SPACES_ENDPOINT: `${env.SPACES_ENDPOINT}/` }, { cwd })
    t.equal(run.code, 1)
    t.match(run.stdout, 'ends with a slash\n  Check: No trailing slashes in SPACES_ENDPOINT')
    t.match(run.stdout, '- credentials: skipped')
  })

  t.test('a wrong secret key', async (t) => {
    const run = await runCli(['check'], { ...env, SPACES_SECRET_KEY: 'not-the-secret' }, { cwd })
    t.equal(run.code, 1)
    t.match(run.stdout, '✗ credentials rejected: the secret key does not match (SignatureDoesNotMatch)\n  Check: Access keys are correct (copy/paste, no extra spaces)')
    t.match(run.stdout, '- write, read back, delete: skipped')
  })

  t.test('an unknown access key', async (t) => {
    const run = await runCli(['check'], { ...env, SPACES_ACCESS_KEY: 'DO00NOSUCHKEY' }, { cwd })
    t.equal(run.code, 1)
    t.match(run.stdout, '(InvalidAccessKeyId)\n  Check: Access keys are correct')
  })

  t.test('a key pasted with a trailing space', async (t) => {
    const run = await runCli(['check'], { ...env, SPACES_ACCESS_KEY: `${env.SPACES_ACCESS_KEY} ` }, { cwd })
    t.equal(run.code, 1)
    t.match(run.stdout, 'SPACES_ACCESS_KEY has leading or trailing spaces\n  Check: Access keys are correct (copy/paste, no extra spaces)')
  })

  t.test('a bucket that does not exist', async (t) => {
    const run = await runCli(['check'], { ...env, SPACES_BUCKET: `${bucket.name}-missing` }, { cwd })
    t.equal(run.code, 1)
    t.match(run.stdout, '✓ credentials accepted')
    t.match(run.stdout, `✗ bucket "${bucket.name}-missing" does not exist (NoSuchBucket)\n  Check: Bucket name matches SPACES_BUCKET`)
  })

  t.test('an endpoint nobody listens on', async (t) => {
    const run = await runCli(['check'], { ...env, SPACES_ENDPOINT: 'http://127.0.0.1:1' }, { cwd })
    t.equal(run.code, 1)
    t.match(run.stdout, /✗ endpoint http:\/\/127\.0\.0\.1:1 unreachable \(ECONNREFUSED\)\n {2}Check: SPACES_ENDPOINT is reachable/)
  })
})

t.test('a region that does not match the endpoint (no network needed)', async (t) => {
  const cwd = t.testdir()
  const run = await runCli(['check'], {
    SPACES_ENDPOINT: 'https://nyc3.digitaloceanspaces.com',
    SPACES_REGION: 'sfo3',
    SPACES_BUCKET: 'b',
    SPACES_ACCESS_KEY: 'k',
    SPACES_SECRET_KEY: 's',
  }, { cwd })
  t.equal(run.code, 1)
  t.match(run.stdout, '✓ endpoint https://nyc3.digitaloceanspaces.com')
  t.match(run.stdout, `✗ SPACES_REGION "sfo3" does not match the endpoint's region "nyc3" (set SPACES_REGION=nyc3)\n  Check: Region matches endpoint region`)
  t.match(run.stdout, '- credentials: skipped')
})

t.test('every problem of the settings in one run', async (t) => {
  const cwd = t.testdir()
  const run = await runCli(['check'], { SPACES_ENDPOINT: 'https://nyc3.digitaloceanspaces.com/', SPACES_SECRET_KEY: ' s' }, { cwd })
  t.equal(run.code, 1)
  t.match(run.stdout, 'not set: SPACES_REGION, SPACES_BUCKET, SPACES_ACCESS_KEY')
  t.match(run.stdout, 'Check: No trailing slashes in SPACES_ENDPOINT')
  t.match(run.stdout, 'Check: Access keys are correct')
  t.match(run.stdout, '3 check(s) failed.')
})

t.test('check --bogus is a usage error', async (t) => {
  const run = await runCli(['check', '--bogus'], {}, { cwd: t.testdir() })
  t.equal(run.code, 2)
  t.match(run.stderr, 'Usage: spaces-proxy check')
})
