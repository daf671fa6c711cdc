// A client generated from the sidecar's own OpenAPI document, as a user would make one:
// openapi-typescript writes the types from /docs/json, tsc checks a strict client written against
// them (wrong paths, parameters and bodies must not compile), and the client, on openapi-fetch,
// uploads, downloads, signs, deletes, restores and reads the audit trail of a real sidecar on the
// S3 server.
import { test } from 'tap'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import openapiTS, { astToString } from 'openapi-typescript'
import { createTestBucket } from './helpers/s3.js'
import { buildServer, spacesEnv } from './helpers/server.js'
import { REPO, emptyApp, linkRepoModules, sh } from './helpers/npm.js'
import { STRICT_TSCONFIG } from './helpers/readme.js'

/** The client under test: plain openapi-fetch over the generated `paths`, nothing hand-typed. */
const CLIENT = `
import createClient from 'openapi-fetch'
import type { paths } from './spaces-api.js'

const api = createClient<paths>({
  baseUrl: process.env.BASE_URL!,
  headers: { authorization: \`Bearer \${process.env.TOKEN}\` },
})
const key = { orgId: 'org-1', system: 'epcr', objectType: 'document', objectId: 'e-1', filename: 'Scan 7.pdf' }
const path = { path: key }

// @ts-expect-error: the key is five named segments; a client cannot send a wildcard
await api.GET('/v1/files/{*}', { params: { path: { '*': 'x' } } })
// @ts-expect-error: filename is required
await api.GET('/v1/files/{orgId}/{system}/{objectType}/{objectId}/{filename}', { params: { path: { ...key, filename: undefined } } })
// @ts-expect-error: a signing request needs the key
await api.POST('/v1/signed-urls', { body: { expiresIn: 300 } })

const upload = await api.PUT('/v1/files/{orgId}/{system}/{objectType}/{objectId}/{filename}', {
  params: path,
  body: '%PDF-1.7 scan',
  bodySerializer: (body) => body,
  headers: { 'content-type': 'application/pdf' },
})
const stored: { key: string; size: number; sha256: string } | undefined = upload.data

const download = await api.GET('/v1/files/{orgId}/{system}/{objectType}/{objectId}/{filename}', { params: path, parseAs: 'text' })

const signed = await api.POST('/v1/signed-urls', { body: { key: stored!.key, expiresIn: 300, mode: 'proxy' } })
const link: string | undefined = signed.data?.url
const viaLink = await (await fetch(link!)).text()

const conflict = await api.PUT('/v1/files/{orgId}/{system}/{objectType}/{objectId}/{filename}', {
  params: path,
  body: 'again',
  bodySerializer: (body) => body,
})
const conflictCode: string | undefined = conflict.error?.code

const deleted = await api.DELETE('/v1/files/{orgId}/{system}/{objectType}/{objectId}/{filename}', { params: path })
const trashId: string = deleted.data!.trashId
const gone = await api.HEAD('/v1/files/{orgId}/{system}/{objectType}/{objectId}/{filename}', { params: path })

const restored = await api.POST('/v1/trash/{trashId}/restore', { params: { path: { trashId } } })
const back = await api.GET('/v1/files/{orgId}/{system}/{objectType}/{objectId}/{filename}', { params: path, parseAs: 'text' })

const audit = await api.GET('/v1/audit', { params: { query: { key: stored!.key, limit: 20 } } })
const actions: string[] = (audit.data?.items ?? []).map((event) => \`\${event.action}:\${event.result}\`).reverse()

console.log(JSON.stringify({
  upload: [upload.response.status, stored],
  download: [download.response.status, download.data],
  signed: [signed.response.status, signed.data?.expiresIn, viaLink],
  conflict: [conflict.response.status, conflictCode],
  deleted: [deleted.response.status, trashId],
  gone: gone.response.status,
  restored: [restored.response.status, restored.data?.key],
  back: back.data,
  actions,
}))
`

test('a typed client generated with openapi-typescript drives the sidecar through openapi-fetch', async (t) => {
  const bucket = await createTestBucket(t, 'openapi')
  const server = await buildServer(t, spacesEnv(bucket))
  await server.app.listen({ host: '127.0.0.1', port: 0 })
  const baseUrl = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`
  const document = await (await fetch(`${baseUrl}/docs/json`)).json()

  const dir = emptyApp('openapi-client')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  linkRepoModules(dir)
  mkdirSync(join(dir, 'src'))
  // openapi-typescript validates the document as it goes: an invalid one throws here.
  writeFileSync(join(dir, 'src/spaces-api.ts'), astToString(await openapiTS(document as never)))
  writeFileSync(join(dir, 'src/client.ts'), CLIENT)
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(STRICT_TSCONFIG))
  const tsc = await sh(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', dir], { cwd: dir }).then(
    () => '',
    (err: Error) => err.message,
  )
  t.equal(tsc, '', 'the client type-checks against the generated types')

  const token = server.token({ sub: 'clerk', org: 'org-1', roles: ['admin'] })
  const { stdout } = await sh(process.execPath, ['dist/client.js'], { cwd: dir, env: { PATH: process.env.PATH, BASE_URL: baseUrl, TOKEN: token } })
  const out = JSON.parse(stdout)
  t.match(out.upload, [201, { key: 'org-1/epcr/document/e-1/Scan 7.pdf', size: 13, sha256: /^[0-9a-f]{64}$/ }], 'upload')
  t.same(out.download, [200, '%PDF-1.7 scan'], 'download')
  t.same(out.signed, [201, 300, '%PDF-1.7 scan'], 'sign, and the link serves the file')
  t.same(out.conflict, [409, 'FST_SPACES_CONFLICT'], 'a typed error body')
  t.match(out.deleted, [200, /^[0-9a-f-]{36}$/], 'delete')
  t.equal(out.gone, 404, 'HEAD after delete')
  t.same(out.restored, [200, 'org-1/epcr/document/e-1/Scan 7.pdf'], 'restore')
  t.equal(out.back, '%PDF-1.7 scan', 'the restored bytes')
  // Events are written as responses finish, so only their set is certain, not their order.
  t.same(
    [...out.actions].sort(),
    ['upload:ok', 'download:ok', 'sign:ok', 'download:ok', 'upload:error', 'soft_delete:ok', 'head:error', 'restore:ok', 'download:ok'].sort(),
    "the audit trail (the signed link's download included), read through the client",
  )
})
