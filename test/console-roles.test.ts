// The console shapes itself to the token, and the server's refusals show through it: an auditor
// sees the audit trail and usage but no file content and no download control; a scoped token
// sees only its systems and, sent elsewhere, reads why it was refused; a token of another org
// sees nothing of this one. Chromium against a real sidecar on the S3 peer.
import t from 'tap'
import type { BrowserContext, Page } from 'playwright-core'
import { axeViolations, launchChromium, newConsoleContext, watchProblems } from './helpers/browser.js'
import { onePagePdf } from './helpers/pdf.js'
import { buildServer, listeningOnBucket } from './helpers/server.js'

const ORG = 'org-harbor'
const KEY = `${ORG}/epcr/document/epcr-77/discharge-summary.pdf`
const admin = { sub: 'admin-ann', org: ORG, roles: ['admin'] }

async function signIn(context: BrowserContext, base: string, token: string): Promise<Page> {
  const page = await context.newPage()
  await page.goto(`${base}/console/`)
  await page.getByLabel('Bearer token').fill(token)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('navigation', { name: 'Views' }).waitFor()
  return page
}

async function views(page: Page): Promise<string[]> {
  return page.getByRole('navigation', { name: 'Views' }).getByRole('link').allInnerTexts()
}

/** Opens a view by its address and waits for its heading. */
async function open(page: Page, base: string, hash: string, heading: string): Promise<void> {
  await page.goto(`${base}/console/${hash}`)
  await page.getByRole('heading', { name: heading, level: 1 }).waitFor()
  await page.waitForLoadState('networkidle')
}

t.test('console: what each kind of token sees', { timeout: 180_000 }, async (t) => {
  const browser = await launchChromium(t)
  if (!browser) return
  const { app, token, auth, base } = await listeningOnBucket(t, 'console-roles')
  // Something of this org to not see: a stored file, a deleted one, and their audit events.
  for (const key of [KEY, `${ORG}/epcr/document/epcr-77/old-scan.pdf`]) {
    const put = await app.inject({ method: 'PUT', url: `/v1/files/${key}`, headers: { ...auth(admin), 'content-type': 'application/pdf' }, payload: onePagePdf('x') })
    t.equal(put.statusCode, 201)
  }
  t.equal((await app.inject({ method: 'DELETE', url: `/v1/files/${ORG}/epcr/document/epcr-77/old-scan.pdf`, headers: auth(admin) })).statusCode, 200)

  await t.test('an auditor: audit and usage, no file content, no download control', async (t) => {
    const context = await newConsoleContext(browser)
    t.teardown(() => context.close())
    const requests: string[] = []
    context.on('request', (request) => requests.push(`${request.method()} ${new URL(request.url()).pathname}`))
    const page = await signIn(context, base, token({ sub: 'auditor-al', org: ORG, roles: ['auditor'] }))
    const watch = watchProblems(page)
    t.same(await views(page), ['Audit', 'Usage'])

    // Even sent to a file's address, the console shows no file view to an auditor.
    await open(page, base, '#/files/epcr/document/epcr-77', 'Audit trail')
    await page.getByRole('cell', { name: 'upload' }).first().waitFor()
    t.match(await page.getByRole('table').innerText(), 'discharge-summary.pdf', 'the audit trail names the files it is about')
    for (const hash of ['#/audit', '#/usage']) {
      await page.goto(`${base}/console/${hash}`)
      await page.waitForLoadState('networkidle')
      t.equal(await page.getByRole('button', { name: /^(Download|Preview|Delete|Restore)/ }).count(), 0, `${hash}: no file control`)
      t.equal(await page.locator('iframe, img[src*="/signed/"], a[download]').count(), 0, `${hash}: no file content`)
    }
    t.same(
      requests.filter((r) => /\/v1\/(files|signed|signed-urls|trash)/.test(r)),
      [],
      'the page never asked for a file, a link or the trash',
    )
    t.same(watch.problems(), [])
  })

  await t.test('a scoped token: only its systems and actions; a refusal is explained', async (t) => {
    const context = await newConsoleContext(browser)
    t.teardown(() => context.close())
    const page = await signIn(context, base, token({ sub: 'clerk-cy', org: ORG, scope: 'epcr:read' }))
    const watch = watchProblems(page)
    t.same(await views(page), ['Files'], 'no trash, audit or usage')
    t.same(await page.locator('.child-list a').allInnerTexts(), ['epcr'], 'only the system it may read')

    await open(page, base, '#/files/epcr/document/epcr-77', 'Files')
    await page.getByRole('rowheader', { name: 'discharge-summary.pdf' }).waitFor()
    t.equal(await page.getByRole('button', { name: 'Download discharge-summary.pdf' }).count(), 1)
    t.equal(await page.getByRole('button', { name: /^Delete/ }).count(), 0, 'no delete without epcr:delete')
    t.equal(await page.getByRole('heading', { name: 'Upload' }).count(), 0, 'no upload without epcr:write')

    // A link someone sent: another system. The server refuses, and the page says exactly why.
    watch.expect(/403 GET \/v1\/files|status of 403/)
    await open(page, base, '#/files/billing/invoice/inv-1', 'Files')
    const alert = page.getByRole('alert')
    await alert.waitFor()
    const text = await alert.innerText()
    t.match(text, 'Access denied: missing scope billing:read')
    t.match(text, 'FST_SPACES_FORBIDDEN')
    t.match(text, 'HTTP 403')
    t.match(text, /Ask an administrator/)
    t.same(await axeViolations(page), [], 'axe: the refusal is accessible too')
    t.same(watch.problems(), [])
  })

  await t.test('an admin finds that refusal with the quick filter for denied attempts', async (t) => {
    const context = await newConsoleContext(browser)
    t.teardown(() => context.close())
    const page = await signIn(context, base, token(admin))
    const watch = watchProblems(page)
    await open(page, base, '#/audit', 'Audit trail')
    await page.getByRole('link', { name: 'Denied in the last 7 days' }).click()
    await page.waitForURL(/result=denied/)
    const row = page.getByRole('row').filter({ hasText: 'clerk-cy' })
    await row.waitFor()
    t.match(await row.innerText(), /list[\s\S]*denied 403 FST_SPACES_FORBIDDEN/)
    t.equal(await page.locator('tbody tr').count(), 1, 'the one denied attempt')
    t.same(watch.problems(), [])
  })

  await t.test('a token of another org sees nothing of this org', async (t) => {
    const context = await newConsoleContext(browser)
    t.teardown(() => context.close())
    const page = await signIn(context, base, token({ sub: 'admin-bo', org: 'org-elsewhere', roles: ['admin'] }))
    const watch = watchProblems(page)
    t.same(await views(page), ['Files', 'Trash', 'Audit', 'Usage'])
    const seen: string[] = []
    await open(page, base, '#/files/epcr/document/epcr-77', 'Files')
    await page.getByText('No live files in this record.').waitFor()
    seen.push(await page.locator('body').innerText())
    await open(page, base, '#/trash', 'Trash')
    await page.getByText('The trash is empty.').waitFor()
    seen.push(await page.locator('body').innerText())
    await open(page, base, '#/audit', 'Audit trail')
    // Its own listings just now are its only events.
    await page.getByRole('cell', { name: 'list' }).first().waitFor()
    t.same([...new Set(await page.locator('tbody td:nth-child(3)').allInnerTexts())], ['admin-bo'], 'only its own actor')
    seen.push(await page.locator('body').innerText())
    await open(page, base, '#/usage', 'Usage')
    await page.getByTestId('usage-tiles').waitFor()
    t.match(await page.getByTestId('usage-live').innerText(), /^0 B\s+in 0 files/)
    seen.push(await page.locator('body').innerText())
    for (const text of seen) {
      t.notMatch(text, ORG, 'no mention of the other org')
      t.notMatch(text, /discharge-summary|old-scan/, 'nor of its files')
    }
    t.same(watch.problems(), [])
  })

  await t.test('development: the sign-in offers the dev banner’s token', async (t) => {
    const dev = await buildServer(t, { JWT_SECRET: '' })
    await dev.app.listen({ host: '127.0.0.1', port: 0 })
    const context = await newConsoleContext(browser)
    t.teardown(() => context.close())
    const page = await context.newPage()
    const watch = watchProblems(page)
    await page.goto(`http://localhost:${(dev.app.server.address() as { port: number }).port}/console/`)
    await page.getByRole('button', { name: 'Use the development token' }).click()
    await page.getByRole('heading', { name: 'Files', level: 1 }).waitFor()
    t.equal(await page.getByTestId('signed-in-as').innerText(), 'dev-user · org-123')
    t.same(watch.problems(), [])
  })

  await t.test('a bad or expired token is refused at sign-in, and a revoked one signs the page out', async (t) => {
    const context = await newConsoleContext(browser)
    t.teardown(() => context.close())
    const page = await context.newPage()
    const watch = watchProblems(page)
    await page.goto(`${base}/console/`)
    await page.getByLabel('Bearer token').fill('not-a-token')
    await page.getByRole('button', { name: 'Sign in' }).click()
    t.match(await page.getByRole('alert').innerText(), 'This is not a JWT')
    await page.getByLabel('Bearer token').fill(token(admin, { expiresIn: -10 }))
    await page.getByRole('button', { name: 'Sign in' }).click()
    t.match(await page.getByRole('alert').innerText(), 'This token has expired')

    // Well-formed claims, wrong signature: the console lets it in, the server does not.
    const forged = token(admin).replace(/\.[^.]+$/, '.AAAA')
    watch.expect(/401 GET \/v1\/files|status of 401/)
    await page.getByLabel('Bearer token').fill(forged)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('link', { name: 'epcr' }).click()
    await page.getByRole('heading', { name: 'Storage console' }).waitFor()
    t.match(await page.getByRole('alert').innerText(), /You were signed out: Authentication required: the token is invalid \(FST_SPACES_UNAUTHORIZED\)/)
    t.equal(await page.evaluate(() => (globalThis as unknown as { sessionStorage: Storage }).sessionStorage.length), 0, 'the token is forgotten')
    t.same(watch.problems(), [])
  })
})

interface Storage {
  length: number
}
