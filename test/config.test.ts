// The sidecar's configuration: one schema, .env.example key for key, and boot-time refusals that
// name the variable and the fix.
import { test } from 'tap'
import { readFileSync } from 'node:fs'
import { envJsonSchema, loadConfig } from '../server/config.js'

const SPACES = {
  SPACES_ENDPOINT: 'https://nyc3.digitaloceanspaces.com',
  SPACES_REGION: 'nyc3',
  SPACES_BUCKET: 'fusonems-quantum-storage',
  SPACES_ACCESS_KEY: 'DO00EXAMPLE',
  SPACES_SECRET_KEY: 'example-secret',
}
const SECRET = 'x'.repeat(40)

test('.env.example lists every key of the schema, and only those', async (t) => {
  const example = readFileSync('.env.example', 'utf8')
    .split('\n')
    .filter((line) => /^[A-Z_]+=/.test(line))
    .map((line) => line.split('=')[0])
  t.same([...example].sort(), Object.keys(envJsonSchema.properties).sort())
})

test('defaults: the embedded local store, an ephemeral dev secret, the contract defaults', async (t) => {
  const config = loadConfig({})
  t.equal(config.spaces, undefined, 'no SPACES_*: local disk')
  t.equal(config.host, '127.0.0.1')
  t.equal(config.port, 8080)
  t.equal(config.ledgerPath, './data/ledger.db')
  t.equal(config.dataDir, './data')
  t.same(config.signedUrls, { defaultTtl: 600, minTtl: 300, maxTtl: 900 })
  t.equal(config.trashRetentionDays, 30)
  t.equal(config.datePrefix, true)
  t.same(config.systems, ['epcr', 'billing', 'fax', 'communications', 'workspace', 'accounting', 'app-builder'])
  t.equal(config.jwt.ephemeral, true)
  t.equal(config.jwt.secret?.length, 64)
  t.not(loadConfig({}).jwt.secret, config.jwt.secret, 'a new secret every boot')
})

test('Spaces settings are checked as the guide troubleshoots them', async (t) => {
  const config = loadConfig({ ...SPACES, SPACES_FORCE_PATH_STYLE: 'true', CORS_ORIGINS: 'http://localhost:5173, http://localhost:3000' })
  t.match(config.spaces, { ...{ endpoint: SPACES.SPACES_ENDPOINT, region: 'nyc3', bucket: SPACES.SPACES_BUCKET }, forcePathStyle: true })
  t.same(config.corsOrigins, ['http://localhost:5173', 'http://localhost:3000'])
  t.throws(() => loadConfig({ ...SPACES, SPACES_BUCKET: '' }), {
    code: 'FST_SPACES_CONFIG_MISSING',
    message: /Storage service not properly configured: set SPACES_BUCKET/,
  })
  t.throws(() => loadConfig({ ...SPACES, SPACES_ENDPOINT: `${SPACES.SPACES_ENDPOINT}/` }), { code: 'FST_SPACES_CONFIG_ENDPOINT_SLASH' })
  t.throws(() => loadConfig({ ...SPACES, SPACES_REGION: 'sfo3' }), { code: 'FST_SPACES_CONFIG_REGION_MISMATCH' })
  t.throws(() => loadConfig({ PORT: 'eighty' }), { code: 'FST_SPACES_CONFIG_INVALID', message: /PORT.*\.env\.example/ })
})

test('production refuses to start without Spaces or without a JWT secret or key', async (t) => {
  t.throws(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: SECRET }), {
    code: 'FST_SPACES_CONFIG_MISSING',
    message: /SPACES_ENDPOINT/,
  })
  t.throws(() => loadConfig({ NODE_ENV: 'production', ...SPACES }), {
    code: 'FST_SPACES_CONFIG_MISSING',
    message: /NODE_ENV=production needs JWT_SECRET or JWT_PUBLIC_KEY/,
  })
  const ok = loadConfig({ NODE_ENV: 'production', ...SPACES, JWT_SECRET: SECRET })
  t.equal(ok.production, true)
  t.equal(ok.jwt.ephemeral, false)
  t.throws(() => loadConfig({ JWT_SECRET: 'short' }), { message: /at least 32 characters/ })
  t.throws(() => loadConfig({ JWT_SECRET: SECRET, JWT_PUBLIC_KEY: 'pem' }), { message: /not both/ })
  const pem = loadConfig({ JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----\\nabc\\n-----END PUBLIC KEY-----' })
  t.equal(pem.jwt.publicKey, '-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----', 'escaped newlines in a PEM')
  t.equal(pem.jwt.secret, undefined)
})
