import type { Command } from './types.js'
import { serveCommand } from './serve.js'

export const commands: Record<string, Command> = {
  serve: serveCommand,
}
