// Builds the console into dist/console: one minified ES module and one stylesheet, named by their
// content hash, plus the page template and a manifest that plugin/console reads. Run by
// `npm run build` (and so by `prepare`); the bundle ships in the package, nothing comes from a CDN.
import { createHash } from 'node:crypto'
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import type { ConsoleManifest } from '../plugin/console/assets.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const source = join(root, 'console')
const out = join(root, 'dist', 'console')
const assets = join(out, 'assets')

rmSync(out, { recursive: true, force: true })
mkdirSync(assets, { recursive: true })

const result = await build({
  entryPoints: { app: join(source, 'src', 'main.tsx') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome111', 'firefox111', 'safari16.4'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  entryNames: '[name]-[hash]',
  outdir: assets,
  metafile: true,
  legalComments: 'eof',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
})

const built = Object.keys(result.metafile.outputs).map((file) => basename(file))
const script = built.find((name) => name.endsWith('.js'))
const stylesheet = built.find((name) => name.endsWith('.css'))
if (!script || !stylesheet) throw new Error(`the console build made ${built.join(', ')}: expected one .js and one .css`)

const iconBytes = readFileSync(join(source, 'icon.svg'))
const icon = `icon-${createHash('sha256').update(iconBytes).digest('hex').slice(0, 8)}.svg`
copyFileSync(join(source, 'icon.svg'), join(assets, icon))
copyFileSync(join(source, 'index.html'), join(out, 'index.html'))

const manifest: ConsoleManifest = { script, stylesheet, icon, files: [...built, icon] }
writeFileSync(join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`)
const sizes = manifest.files.map((name) => `${name} ${(readFileSync(join(assets, name)).length / 1024).toFixed(1)} KiB`)
console.log(`console built into dist/console: ${sizes.join(', ')}`)
