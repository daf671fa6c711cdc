// The README's TypeScript is code users paste: every ```ts block type-checks, as its own module in
// a strict project, against the package as built (imports of 'fastify-spaces' resolve through its
// package.json exports to dist/, as they do for users).
import { test } from 'tap'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { REPO, emptyApp, linkRepoModules, sh } from './helpers/npm.js'
import { STRICT_TSCONFIG, readmeTypeScript } from './helpers/readme.js'

test('every TypeScript block of the README type-checks against the built package', async (t) => {
  const blocks = readmeTypeScript()
  t.ok(blocks.length >= 2, `${blocks.length} blocks`)
  t.ok(blocks.some((block) => block.includes('app.storage.upload(') && block.includes('{ request }')), 'the plugin example is among them')

  const dir = emptyApp('readme')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  linkRepoModules(dir, { self: true })
  mkdirSync(join(dir, 'src'))
  blocks.forEach((block, i) => writeFileSync(join(dir, 'src', `block-${i + 1}.ts`), block))
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ ...STRICT_TSCONFIG, compilerOptions: { ...STRICT_TSCONFIG.compilerOptions, noEmit: true } }))

  const tsc = join(REPO, 'node_modules/typescript/bin/tsc')
  const result = await sh('node', [tsc, '-p', dir], { cwd: dir }).then(
    () => '',
    (err: Error) => err.message,
  )
  t.equal(result, '', 'tsc reports nothing')
})
