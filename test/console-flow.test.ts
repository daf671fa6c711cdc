// The console as a compliance officer uses it, in Chromium against a real sidecar on the S3
// peer: sign in with a token, upload a PDF by drag-and-drop, see it listed and preview it,
// delete it and restore it from the trash, find those steps in the audit view and export them,
// see the chain verified and the usage change. Any console error, failed request or error
// status fails the test, and axe-core must find no serious or critical violation on any view.
// With UPDATE_SCREENSHOTS=1 the screenshots of each view replace those in docs/console (made
// smaller with pngquant when it is installed).
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { Page } from 'playwright-core'
import { axeViolations, launchChromium, newConsoleContext, watchProblems } from './helpers/browser.js'
import { onePagePdf } from './helpers/pdf.js'
import { buildServer, listeningOnBucket } from './helpers/server.js'
import { datePrefix } from '../plugin/keys.js'

const ORG = 'org-harbor'
const officer = { sub: 'officer-jane', org: ORG, roles: ['admin'] }
const RECORD = ['epcr', 'document', 'epcr-9001'] as const
/** What the officer drops, and the name it is stored under (uploads are dated, as the guide keys them). */
const DROPPED = 'care-report.pdf'
const FILENAME = datePrefix(new Date()) + DROPPED
const KEY = `${ORG}/${RECORD.join('/')}/${FILENAME}`
const pdf = onePagePdf('Patient care report 9001 (test)')
const shots = process.env.UPDATE_SCREENSHOTS === '1' ? join(process.cwd(), 'docs', 'console') : undefined

declare const document: { querySelector(s: string): { dispatchEvent(e: unknown): boolean } | null; documentElement: { scrollWidth: number } }
declare const DataTransfer: new () => { items: { add(file: unknown): void } }
declare const File: new (parts: unknown[], name: string, options: { type: string }) => unknown
declare const DragEvent: new (type: string, init: unknown) => unknown
declare const sessionStorage: { length: number; key(i: number): string | null; getItem(k: string): string | null }
declare const localStorage: { length: number }
declare const innerWidth: number

/** Drops files on an element as a person dragging them from the desktop would. */
async function dropFile(page: Page, selector: string, name: string, type: string, bytes: Buffer): Promise<void> {
  await page.evaluate(
    ({ selector, name, type, bytes }) => {
      const transfer = new DataTransfer()
      transfer.items.add(new File([new Uint8Array(bytes)], name, { type }))
      const target = document.querySelector(selector)!
      for (const event of ['dragenter', 'dragover', 'drop']) {
        target.dispatchEvent(new DragEvent(event, { bubbles: true, cancelable: true, dataTransfer: transfer }))
      }
    },
    { selector, name, type, bytes: [...bytes] },
  )
}

/** A row of the usage table, as the page shows it. */
async function usageRow(page: Page, system: string): Promise<string> {
  return (await page.locator(`tr[data-system="${system}"]`).innerText()).replace(/\s+/g, ' ').trim()
}

/** Parses the CSV the console exports (RFC 4180: quoted cells may hold commas and quotes). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let cell = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"'
        i++
      } else if (c === '"') quoted = false
      else cell += c
    } else if (c === '"') quoted = true
    else if (c === ',') {
      row.push(cell)
      cell = ''
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell)
      rows.push(row)
      row = []
      cell = ''
      i++
    } else cell += c
  }
  return rows
}

t.test('console: the whole flow in Chromium against a sidecar on the S3 peer', { timeout: 180_000 }, async (t) => {
  const browser = await launchChromium(t)
  if (!browser) return
  const { app, token, auth, base } = await listeningOnBucket(t, 'console')
  const officerToken = token(officer)

  const context = await newConsoleContext(browser)
  const page = await context.newPage()
  const watch = watchProblems(page)
  const accessibility: Record<string, unknown[]> = {}
  async function checkView(name: string) {
    accessibility[name] = await axeViolations(page)
    // 200% zoom of a 1,280-pixel-wide window is a 640-pixel layout: nothing may need sideways scrolling.
    const size = page.viewportSize()!
    await page.setViewportSize({ width: 640, height: 800 })
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - innerWidth)
    t.ok(overflow <= 0, `${name}: no sideways scrolling at 200% zoom (overflow ${overflow}px)`)
    await page.setViewportSize(size)
    if (shots) {
      const path = join(shots, `${name}.png`)
      await page.screenshot({ path, fullPage: true })
      // A 64-ish colour palette keeps the committed pictures a third of their size, text intact.
      // (It declines, leaving the original, when that would cost legibility.)
      if (existsSync('/usr/bin/pngquant')) {
        try {
          execFileSync('pngquant', ['--force', '--quality', '70-95', '--speed', '1', '--output', path, path])
        } catch (err) {
          if ((err as { status?: number }).status !== 99) throw err
        }
      }
    } else t.ok((await page.screenshot()).length > 1000, `${name}: screenshot taken`)
  }

  await t.test('sign in with a pasted token, using the keyboard', async (t) => {
    await page.goto(`${base}/console/`)
    await page.getByRole('heading', { name: 'Storage console' }).waitFor()
    await checkView('sign-in')
    await page.getByLabel('Bearer token').fill(officerToken)
    await page.keyboard.press('Tab')
    await page.keyboard.press('Enter')
    await page.getByRole('heading', { name: 'Files', level: 1 }).waitFor()
    t.equal(await page.getByTestId('signed-in-as').innerText(), `officer-jane · ${ORG}`)
    t.same(await page.getByRole('navigation', { name: 'Views' }).getByRole('link').allInnerTexts(), ['Files', 'Trash', 'Audit', 'Usage'])
    const stored = await page.evaluate(() => ({ session: sessionStorage.length, local: localStorage.length }))
    t.same(stored, { session: 1, local: 0 }, 'the token is in sessionStorage only')
    t.same(await context.cookies(), [], 'and in no cookie')
  })

  let usageBefore = ''
  await t.test('usage before the upload', async (t) => {
    await page.getByRole('link', { name: 'Usage' }).click()
    await page.getByTestId('usage-tiles').waitFor()
    usageBefore = await usageRow(page, 'epcr')
    t.equal(usageBefore, 'epcr 0 0 B (0 B)')
  })

  await t.test('upload a PDF by drag-and-drop, see it listed, preview it', async (t) => {
    await page.getByRole('link', { name: 'Files' }).click()
    await page.getByRole('link', { name: 'epcr' }).click()
    await page.getByRole('textbox', { name: 'Object type' }).fill(RECORD[1])
    await page.getByRole('textbox', { name: 'Object id' }).fill(RECORD[2])
    await page.getByRole('button', { name: 'Open' }).click()
    await page.getByText('No live files in this record.').waitFor()
    t.match(page.url(), /#\/files\/epcr\/document\/epcr-9001$/)

    // Uppy speaks tus: a POST creates the upload, the PATCH carrying the last byte records the file.
    const created = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().includes('/v1/uploads/tus'))
    const finished = page.waitForResponse((r) => r.request().method() === 'PATCH' && r.headers()['upload-offset'] === String(pdf.length))
    await dropFile(page, '[data-testid="dropzone"]', DROPPED, 'application/pdf', pdf)
    t.equal((await created).status(), 201, 'Uppy created a tus upload')
    t.equal((await finished).status(), 204, 'and sent its bytes')
    await page.getByRole('rowheader', { name: FILENAME }).waitFor()
    await page.getByText(`Stored ${DROPPED}`).waitFor()
    const stored = await app.inject({ method: 'GET', url: `/v1/files/${KEY}`, headers: auth(officer) })
    t.equal(stored.statusCode, 200)
    t.ok(stored.rawPayload.equals(pdf), 'the bytes in the bucket are the bytes dropped')

    const served = page.waitForResponse((r) => r.url().includes('/v1/signed/'))
    await page.getByRole('button', { name: `Preview ${FILENAME}` }).click()
    const preview = await served
    t.equal(preview.status(), 200, 'the preview link serves the file')
    t.equal(preview.headers()['content-type'], 'application/pdf')
    t.match(preview.headers()['content-disposition'], /^inline/)
    const frame = page.locator(`iframe[title="Preview of ${FILENAME}"]`)
    await frame.waitFor()
    t.match(await frame.getAttribute('src'), /^\/v1\/signed\//, 'a same-origin proxy-mode link')
    await page.waitForTimeout(1500) // let the PDF viewer paint before the screenshot
    await checkView('files')
  })

  await t.test('delete it, then restore it from the trash', async (t) => {
    await page.getByRole('button', { name: `Delete ${FILENAME}` }).click()
    await page.getByText(`Moved ${FILENAME} to the trash`).waitFor()
    await page.getByText('No live files in this record.').waitFor()

    await page.getByRole('link', { name: 'Trash' }).click()
    const row = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: FILENAME }) })
    await row.waitFor()
    const text = await row.innerText()
    t.match(text, 'officer-jane', 'who deleted it')
    t.match(text, /in 30 days/, 'when it will be purged')
    t.match(text, 'epcr / document / epcr-9001', 'where it came from')
    await checkView('trash')
    await page.getByRole('button', { name: `Restore ${FILENAME}` }).click()
    await page.getByText(`Restored ${FILENAME}`).waitFor()
    await page.getByText('The trash is empty.').waitFor()

    await page.getByRole('link', { name: 'epcr / document / epcr-9001' }).or(page.getByRole('link', { name: 'Files' })).first().click()
    await page.goto(`${base}/console/#/files/${RECORD.join('/')}`)
    await page.getByRole('rowheader', { name: FILENAME }).waitFor()
    t.pass('the file is listed again')
  })

  await t.test('the audit view: the steps, the export, the chain', async (t) => {
    await page.getByRole('link', { name: 'Audit' }).click()
    const chain = page.getByTestId('chain-state')
    await chain.waitFor()
    t.match(await chain.innerText(), /Verified/)
    const verify = (await app.inject({ method: 'GET', url: '/v1/audit/verify', headers: auth(officer) })).json() as { ok: boolean; events: number; head: string }
    t.equal(verify.ok, true)
    // Reading the trail is itself audited, so the chain has grown since the console checked it:
    // what it shows must be the chain as it stood then, its last event and that event's hash.
    const shown = Number((await page.getByTestId('chain-events').innerText()).replaceAll(',', ''))
    t.ok(shown > 0 && shown <= verify.events, 'the count the server reported when the console checked')
    const chainEvents = (await app.storage.ledger.queryAudit({}, { limit: 1000 })).items
    t.match(await chain.innerText(), chainEvents.find((e) => e.seq === shown)!.hash, 'and the head it had then')
    t.match(await chain.innerText(), /Checked\s+\d{2} \w{3} \d{4}, \d{2}:\d{2}:\d{2}/, 'with the time of the check')

    await page.getByLabel('Key (exact)').fill(KEY)
    await page.getByRole('button', { name: 'Apply filters' }).click()
    await page.waitForURL(/#\/audit\?key=/)
    const table = page.getByRole('table')
    await table.getByRole('cell', { name: 'restore' }).waitFor()
    const actions = await table.locator('tbody tr td:nth-child(4)').allInnerTexts()
    t.same([...new Set(actions)].sort(), ['download', 'restore', 'sign', 'soft_delete', 'upload'], 'every step is there')
    await checkView('audit')

    const api = (await app.inject({ method: 'GET', url: `/v1/audit?key=${encodeURIComponent(KEY)}`, headers: auth(officer) })).json() as {
      items: Array<Record<string, unknown>>
    }
    const [csvDownload] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()])
    t.match(csvDownload.suggestedFilename(), new RegExp(`^audit-${ORG}-.*\\.csv$`))
    const rows = parseCsv(readFileSync((await csvDownload.path())!, 'utf8'))
    const [header, ...events] = rows
    t.same(header?.slice(0, 12), ['seq', 'ts', 'actor', 'org', 'roles', 'action', 'key', 'result', 'status', 'errorCode', 'bytes', 'sha256'])
    const column = (name: string) => header!.indexOf(name)
    t.equal(events.length, api.items.length, 'one row per filtered event')
    t.same(
      events.map((row) => [Number(row[column('seq')]), row[column('action')], row[column('actor')], row[column('key')], row[column('result')], row[column('hash')]]),
      api.items.map((e) => [e.seq, e.action, e.actor, e.key, e.result, e.hash]),
      'the rows are the API’s events, newest first',
    )
    const uploadRow = events.find((row) => row[column('action')] === 'upload')!
    t.equal(uploadRow[column('bytes')], String(pdf.length))
    t.equal(uploadRow[column('status')], '201')
    t.ok(events.every((row) => row[column('result')] === 'ok' && row[column('actor')] === 'officer-jane'))

    const [ndjsonDownload] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export NDJSON' }).click()])
    const lines = readFileSync((await ndjsonDownload.path())!, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as unknown)
    t.same(lines, api.items, 'NDJSON: the API’s events as they are')

    // The result filter reaches the API: no denied step in this flow.
    await page.getByLabel('Result').selectOption('denied')
    await page.getByRole('button', { name: 'Apply filters' }).click()
    await page.getByText('No events match these filters.').waitFor()
    t.match(page.url(), /result=denied/)
  })

  await t.test('the usage changed', async (t) => {
    await page.getByRole('link', { name: 'Usage' }).click()
    await page.getByTestId('usage-tiles').waitFor()
    const after = await usageRow(page, 'epcr')
    t.not(after, usageBefore)
    t.equal(after, `epcr 1 ${pdf.length} B (${pdf.length} B)`)
    t.match(await page.getByTestId('usage-trash').innerText(), /0 B\s+in 0 files/, 'the restore emptied the trash')
    await checkView('usage')
  })

  t.same(accessibility, { 'sign-in': [], files: [], trash: [], audit: [], usage: [] }, 'axe: no serious or critical violation on any view')
  t.same(watch.problems(), [], 'no console error, failed request or error status')
})

t.test('console on local disk (no multipart uploads): a picked file goes up as one form upload', { timeout: 120_000 }, async (t) => {
  const browser = await launchChromium(t)
  if (!browser) return
  const { app, token, auth } = await buildServer(t)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const context = await newConsoleContext(browser)
  t.teardown(() => context.close())
  const page = await context.newPage()
  const watch = watchProblems(page)
  await page.goto(`${base}/console/`)
  await page.getByLabel('Bearer token').fill(token(officer))
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.goto(`${base}/console/#/files/${RECORD.join('/')}`)
  await page.getByText('No live files in this record.').waitFor()

  const pdf = onePagePdf('picked on a laptop')
  const posted = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().includes('/v1/files/'))
  await page.locator('#file-picker').setInputFiles({ name: DROPPED, mimeType: 'application/pdf', buffer: pdf })
  const response = await posted
  t.equal(response.status(), 201)
  t.equal(new URL(response.url()).pathname, `/v1/files/${ORG}/${RECORD.join('/')}`, 'to the record, as a form')
  await page.getByRole('rowheader', { name: FILENAME }).waitFor()
  const stored = await app.inject({ method: 'GET', url: `/v1/files/${KEY}`, headers: auth(officer) })
  t.equal(stored.statusCode, 200, 'dated like a tus upload')
  t.ok(stored.rawPayload.equals(pdf), 'the bytes picked')
  t.same(watch.problems(), [], 'no console error, failed request or error status')
})
