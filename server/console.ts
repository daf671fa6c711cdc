// The sidecar's console at /console, over the API at /v1. A checkout that was compiled but not
// bundled (tsc alone) still starts: it says the console is off and how to build it.
import type { FastifyInstance } from 'fastify'
import { spacesConsole } from '../plugin/console/index.js'
import { findConsoleAssets } from '../plugin/console/assets.js'
import type { ServerConfig } from './config.js'
import { mintDevToken } from './dev-banner.js'

export async function registerConsole(app: FastifyInstance, config: ServerConfig): Promise<void> {
  const assetsDir = findConsoleAssets()
  if (!assetsDir) {
    app.log.warn('the console is not built (run `npm run build`): /console is off')
    return
  }
  await app.register(spacesConsole, {
    prefix: '/console',
    api: '/v1',
    systems: config.systems,
    resumable: app.storage.store.multipart !== undefined,
    assetsDir,
    // Only with the made-up development secret, the same case in which the dev banner prints it.
    devToken: config.jwt.ephemeral ? () => mintDevToken(app) : undefined,
  })
}
