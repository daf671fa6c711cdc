import type { Command } from './types.js'
import { loadConfig } from '../config.js'
import { serve } from '../main.js'
import { tuneGarbageCollector } from '../gc-tuning.js'

export const serveCommand: Command = {
  summary: 'run the sidecar',
  usage: [
    'Usage: spaces-proxy serve',
    '',
    'Runs the sidecar with the settings in the environment and .env (see .env.example).',
    'With no SPACES_* set and NODE_ENV not production it stores files on local disk under DATA_DIR',
    'and, without JWT_SECRET, prints a development token and curl examples.',
  ].join('\n'),
  async run() {
    tuneGarbageCollector()
    await serve(loadConfig(process.env, { dotenv: true }))
    return -1
  },
}
