// The README's TypeScript, and the strict project users paste it into.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { REPO } from './npm.js'

/** The README's TypeScript blocks, in order. */
export function readmeTypeScript(): string[] {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8')
  return [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!)
}

/**
 * A fresh `tsc --init` project with every strict check on. It skips checking libraries'
 * declarations, as `tsc --init` does; test/package-types.test.ts checks ours.
 */
export const STRICT_TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    noImplicitOverride: true,
    verbatimModuleSyntax: true,
    skipLibCheck: true,
    types: ['node'],
    outDir: 'dist',
  },
  include: ['src'],
}
