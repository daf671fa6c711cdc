// Debian's Chromium driven by playwright-core (never a downloaded browser), what the console
// tests watch on every page (console errors, failed requests, error statuses, axe-core), and a
// loopback page that runs an esbuild bundle, so real browser libraries (Uppy) run in tests.
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { build } from 'esbuild'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'

export const CHROMIUM = '/usr/bin/chromium'
// The machine's network is closed: without the background-networking flags Chromium keeps
// trying (and failing) to reach Google's hosts.
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

interface Teardown {
  teardown(fn: () => unknown): void
  fail(message: string): void
}

/** Launches Chromium, or fails the test saying how to install it. */
export async function launchChromium(t: Teardown): Promise<Browser | undefined> {
  if (!existsSync(CHROMIUM)) {
    t.fail(`${CHROMIUM} is missing: install Debian's chromium (apt-get install --no-install-recommends chromium); scripts/test does it as root`)
    return undefined
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 })
  t.teardown(() => browser.close())
  return browser
}

export interface Problem {
  kind: 'console' | 'pageerror' | 'requestfailed' | 'status'
  text: string
}

/**
 * Everything that went wrong on a page: console errors and warnings, uncaught exceptions,
 * requests that failed, and responses of 400 or more. `expect` lets a test name the refusals it
 * provokes on purpose (matched against "STATUS METHOD PATH" and the console's wording of them).
 */
export function watchProblems(page: Page): { problems(): Problem[]; expect(pattern: RegExp): void } {
  const seen: Problem[] = []
  const expected: RegExp[] = []
  const add = (problem: Problem) => {
    if (!expected.some((pattern) => pattern.test(problem.text))) seen.push(problem)
  }
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') add({ kind: 'console', text: `${message.type()}: ${message.text()} ${message.location().url}` })
  })
  page.on('pageerror', (error) => add({ kind: 'pageerror', text: error.message }))
  page.on('requestfailed', (request) => {
    const reason = request.failure()?.errorText ?? ''
    // A download (a signed link, or an export's blob) is handed to the download manager, and
    // Chromium reports the navigation to it as aborted. So is the PDF viewer's own stream
    // (chrome-extension://…/<uuid>) when the preview closes before it has read it all.
    const url = request.url()
    const handedOver =
      url.startsWith('blob:') || url.startsWith('chrome-extension:') || (request.resourceType() === 'document' && request.frame() === page.mainFrame())
    if (reason === 'net::ERR_ABORTED' && handedOver) return
    add({ kind: 'requestfailed', text: `${request.method()} ${new URL(request.url()).pathname} ${reason}` })
  })
  page.on('response', (response) => {
    if (response.status() >= 400) add({ kind: 'status', text: `${response.status()} ${response.request().method()} ${new URL(response.url()).pathname}` })
  })
  return { problems: () => [...seen], expect: (pattern) => expected.push(pattern) }
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

export interface AxeViolation {
  id: string
  impact: string | null
  help: string
  nodes: string[]
}

/**
 * Runs axe-core in the page and returns its serious and critical violations. The script is
 * evaluated through the DevTools protocol, so the page's CSP (no inline script) stays on.
 */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(AXE_SOURCE)
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(context: unknown, options: unknown): Promise<{ violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown[] }> }> }> } }).axe
    const result = await axe.run(document, { resultTypes: ['violations'], runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } })
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => JSON.stringify(n.target)) }))
  })
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
}

/** A context as a person's browser tab: downloads allowed, and the tsx __name helper stubbed. */
export async function newConsoleContext(browser: Browser, viewport = { width: 1100, height: 760 }): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport, acceptDownloads: true })
  // tsx (esbuild, keepNames) wraps named functions in page scripts in a __name() helper that
  // exists only in Node; the page gets a no-op one.
  await context.addInitScript('globalThis.__name = (fn) => fn')
  context.setDefaultTimeout(15_000)
  context.setDefaultNavigationTimeout(15_000)
  return context
}

declare const document: unknown

/** A page at its own loopback origin whose script is `entry`, bundled for the browser. */
export async function bundlePage(t: Pick<Teardown, 'teardown'>, entry: string): Promise<{ origin: string }> {
  const bundled = await build({ entryPoints: [entry], bundle: true, format: 'iife', write: false, platform: 'browser', target: 'chrome120', logLevel: 'warning' })
  const script = bundled.outputFiles[0]!.contents
  const server = createServer((req, res) => {
    if (req.url === '/bundle.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' })
      res.end(script)
      return
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end('<!doctype html><meta charset="utf-8"><title>uploads</title><script src="/bundle.js"></script><body>uploads</body>')
  })
  server.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}
