#!/usr/bin/env node
// spaces-proxy: the sidecar's command line. Each command lives in commands/ and exports
// { summary, usage, run(args) }; run returns the exit code.
import { missingPackagesMessage } from './requirements.js'

// Checked before the commands load: they import the sidecar's optional peers.
const missing = missingPackagesMessage()
if (missing) {
  process.stderr.write(missing)
  process.exit(1)
}
const { commands } = await import('./commands/index.js')

function help(): string {
  const lines = Object.entries(commands).map(([name, command]) => `  ${name.padEnd(14)} ${command.summary}`)
  return ['Usage: spaces-proxy <command> [options]', '', 'Commands:', ...lines, '', 'Run `spaces-proxy <command> --help` for its options.', ''].join('\n')
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help())
    return name ? 0 : 1
  }
  // Two-word commands: `cors apply`, `audit verify`.
  const twoWord = rest[0] && !rest[0].startsWith('-') ? `${name} ${rest[0]}` : undefined
  const command = (twoWord && commands[twoWord]) || commands[name]
  const args = command && twoWord && commands[twoWord] ? rest.slice(1) : rest
  if (!command) {
    process.stderr.write(`spaces-proxy: unknown command "${[name, rest[0]].filter(Boolean).join(' ')}"\n\n${help()}`)
    return 2
  }
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${command.usage}\n`)
    return 0
  }
  try {
    return await command.run(args)
  } catch (err) {
    process.stderr.write(`spaces-proxy ${name}: ${(err as Error).message}\n`)
    return 1
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // serve keeps running; everything else exits with its code.
    if (code !== -1) process.exit(code)
  },
  (err) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`)
    process.exit(1)
  },
)
