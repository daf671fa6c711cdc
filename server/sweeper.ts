// Background upkeep: purge trash past its retention, and settle uploads a crash left pending.
import type { FastifyInstance } from 'fastify'
import type { Storage } from '../plugin/storage.js'
import type { ServerConfig } from './config.js'

export function startSweeper(app: FastifyInstance, storage: Storage, config: ServerConfig): void {
  let running: Promise<void> | undefined

  async function sweep(): Promise<void> {
    try {
      // A direct browser upload may still be under way until its presigned URL expires.
      const recovered = await storage.recoverPending({ directGraceSeconds: config.signedUrls.maxTtl + 60 })
      const purged = await storage.purgeExpired()
      if (recovered.committed.length + recovered.failed.length + purged.length > 0) {
        app.log.info(
          { committed: recovered.committed.length, failed: recovered.failed.length, purged: purged.length },
          'sweep settled pending uploads and purged expired trash',
        )
      }
    } catch (err) {
      app.log.error({ err }, 'sweep failed; it will run again')
    }
  }

  app.addHook('onReady', async () => {
    await sweep()
  })
  if (config.sweepIntervalSeconds > 0) {
    const timer = setInterval(() => {
      running ??= sweep().finally(() => (running = undefined))
    }, config.sweepIntervalSeconds * 1000)
    timer.unref()
    app.addHook('onClose', async () => {
      clearInterval(timer)
      await running
    })
  }
}
