// Registering the plugin: options are checked at register time with the guide's messages, it
// sits next to other plugins in a plain app, and its routes work under a prefix.
import { test } from 'tap'
import Fastify from 'fastify'
import cors from '@fastify/cors'
import { spaces } from '../plugin/index.js'
import { ADMIN, tempLedgerPath } from './helpers/app.js'
import { createTestBucket, testConnection } from './helpers/s3.js'

const GOOD = {
  endpoint: 'https://nyc3.digitaloceanspaces.com',
  region: 'nyc3',
  bucket: 'fusonems-quantum-storage',
  accessKeyId: 'DO00EXAMPLE',
  secretAccessKey: 'example-secret',
}

async function registerError(spacesOptions: Record<string, unknown>) {
  const app = Fastify()
  app.register(spaces, { spaces: spacesOptions as never, ledger: { path: tempLedgerPath() } })
  try {
    await app.ready()
    return undefined
  } catch (err) {
    return err as Error & { code: string }
  } finally {
    await app.close().catch(() => {})
  }
}

test('misconfiguration fails at register time with the guide message and a code', async (t) => {
  const missing = await registerError({ ...GOOD, bucket: '' })
  t.equal(missing?.code, 'FST_SPACES_CONFIG_MISSING')
  t.match(missing?.message, /^Storage service not properly configured: .*SPACES_BUCKET/)

  const allMissing = await registerError({})
  t.match(allMissing?.message, /SPACES_ENDPOINT.*SPACES_REGION.*SPACES_BUCKET.*SPACES_ACCESS_KEY.*SPACES_SECRET_KEY/)

  const slash = await registerError({ ...GOOD, endpoint: 'https://nyc3.digitaloceanspaces.com/' })
  t.equal(slash?.code, 'FST_SPACES_CONFIG_ENDPOINT_SLASH')
  t.match(slash?.message, /must not end with a slash/)

  const region = await registerError({ ...GOOD, region: 'sfo3' })
  t.equal(region?.code, 'FST_SPACES_CONFIG_REGION_MISMATCH')
  t.match(region?.message, /"sfo3" does not match the endpoint host "nyc3\.digitaloceanspaces\.com".*SPACES_REGION=nyc3/)

  const spaced = await registerError({ ...GOOD, secretAccessKey: 'secret ' })
  t.equal(spaced?.code, 'FST_SPACES_CONFIG_INVALID')
  t.match(spaced?.message, /SPACES_SECRET_KEY has leading or trailing spaces/)

  const notUrl = await registerError({ ...GOOD, endpoint: 'nyc3.digitaloceanspaces.com' })
  t.equal(notUrl?.code, 'FST_SPACES_CONFIG_ENDPOINT')

  t.equal(await registerError(GOOD), undefined, 'a good configuration registers (no request is made)')

  const app = Fastify()
  app.register(spaces, { spaces: GOOD, ledger: { path: tempLedgerPath() }, signedUrls: { minTtl: 600, defaultTtl: 300 } })
  await t.rejects(app.ready(), { code: 'FST_SPACES_CONFIG_INVALID' }, 'signed URL bounds are checked')
})

test('works next to other plugins, under a prefix, and decorates app.storage', async (t) => {
  const bucket = await createTestBucket(t, 'reg')
  const app = Fastify()
  await app.register(cors, { origin: false })
  app.get('/host-route', async () => ({ host: true }))
  await app.register(async (api) => {
    await api.register(spaces, {
      spaces: testConnection(bucket.name),
      ledger: { path: tempLedgerPath() },
      identify: () => ADMIN,
      prefix: '/storage',
    })
    api.get('/own-upload-count', async () => ({ files: (await api.storage.ledger.listLive({ orgId: 'org-1' }, { limit: 10 })).items.length }))
  }, { prefix: '/api' })
  t.teardown(() => app.close())

  const put = await app.inject({ method: 'PUT', url: '/api/storage/files/org-1/workspace/sheet/s-1/budget.xlsx', payload: 'cells' })
  t.equal(put.statusCode, 201, put.body)
  t.equal(put.headers.location, '/api/storage/files/org-1/workspace/sheet/s-1/budget.xlsx')
  const get = await app.inject({ method: 'GET', url: '/api/storage/files/org-1/workspace/sheet/s-1/budget.xlsx' })
  t.equal(get.body, 'cells')
  t.same((await app.inject('/api/own-upload-count')).json(), { files: 1 }, 'host routes use app.storage')
  t.same((await app.inject('/host-route')).json(), { host: true }, 'host routes keep working')
  const notOurs = await app.inject({ method: 'GET', url: '/files/org-1/workspace/sheet/s-1/budget.xlsx' })
  t.equal(notOurs.statusCode, 404, 'nothing is mounted outside the prefix')

  const hostError = await app.inject('/api/nope')
  t.equal(hostError.statusCode, 404)
})

test('routes: false leaves only the storage decorator, usable from host code', async (t) => {
  const bucket = await createTestBucket(t, 'reg')
  const app = Fastify()
  await app.register(spaces, { spaces: testConnection(bucket.name), ledger: { path: tempLedgerPath() }, routes: false })
  t.teardown(() => app.close())
  await app.ready()
  const { Readable } = await import('node:stream')
  const record = await app.storage.upload({
    key: 'org-1/accounting/receipt/r-1/receipt.png',
    body: Readable.from([Buffer.from('png-bytes')]),
    contentType: 'image/png',
    actor: 'host-job',
  })
  t.equal(record.size, 9)
  t.equal(record.createdBy, 'host-job')
  t.equal((await app.inject({ method: 'GET', url: '/files/org-1/accounting/receipt/r-1/receipt.png' })).statusCode, 404)
  t.same(await bucket.keys(), ['org-1/accounting/receipt/r-1/receipt.png'])
})

test('an unreachable store is a retryable 503 and nothing is recorded as stored', async (t) => {
  const app = Fastify()
  await app.register(spaces, {
    spaces: { ...GOOD, endpoint: 'http://127.0.0.1:1', region: 'nyc3', forcePathStyle: true },
    ledger: { path: tempLedgerPath() },
    identify: () => ADMIN,
  })
  t.teardown(() => app.close())
  const put = await app.inject({ method: 'PUT', url: '/files/org-1/fax/inbound/f-1/fax.pdf', payload: 'fax' })
  t.equal(put.statusCode, 503, put.body)
  t.equal(put.json().code, 'FST_SPACES_STORAGE_UNAVAILABLE')
  t.equal(put.headers['retry-after'], '1')
  t.match(put.json().message, /retry later/)
  t.equal(await app.storage.ledger.getLive('org-1/fax/inbound/f-1/fax.pdf'), undefined)
  const list = await app.inject({ method: 'GET', url: '/files' })
  t.same(list.json().items, [])
})
