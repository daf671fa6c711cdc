// The console's built files (dist/console, written by scripts/build-console.ts): found, read and
// hashed once when the console is registered, so a host that leaves the console off never reads
// them. They are a few hundred KiB in all, which is why they are kept in memory.
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** What the build writes beside the assets: the hashed file names the page refers to. */
export interface ConsoleManifest {
  script: string
  stylesheet: string
  icon: string
  /** Every file under assets/, hashed names included. */
  files: string[]
}

export interface Asset {
  body: Buffer
  contentType: string
  etag: string
}

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.html': 'text/html; charset=utf-8',
}

// Built, this module is dist/plugin/console/assets.js and the assets are dist/console. Run from
// source (tsx, the tests), it is plugin/console/assets.ts and they are still dist/console.
const CANDIDATES = ['../../console/', '../../dist/console/']

/** The folder holding the built console, or undefined when it has not been built. */
export function findConsoleAssets(): string | undefined {
  for (const candidate of CANDIDATES) {
    const dir = fileURLToPath(new URL(candidate, import.meta.url))
    if (existsSync(join(dir, 'manifest.json'))) return dir
  }
  return undefined
}

export function asset(body: Buffer, name: string): Asset {
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`
  return { body, contentType: CONTENT_TYPES[extname(name)] ?? 'application/octet-stream', etag }
}

export interface LoadedConsole {
  manifest: ConsoleManifest
  template: string
  files: Map<string, Asset>
}

export function loadConsole(dir: string): LoadedConsole {
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as ConsoleManifest
  const files = new Map<string, Asset>()
  for (const name of manifest.files) files.set(name, asset(readFileSync(join(dir, 'assets', name)), name))
  return { manifest, template: readFileSync(join(dir, 'index.html'), 'utf8'), files }
}
