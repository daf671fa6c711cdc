// Background upkeep, for every instance that shares a ledger: renew this instance's lease, settle
// uploads whose instance died (crash recovery), purge trash past its retention, and remove what
// failed uploads left in the bucket (multipart uploads nobody owns; what an outage kept this
// instance from undoing). Recovery and purge each run on one instance at a time (a job lease),
// and leave alone every upload whose owner's lease still lives.
import type { FastifyInstance } from 'fastify'
import { isRetryable } from './errors.js'
import type { Storage } from './storage.js'

export interface SweepOptions {
  /** Seconds between purges of expired trash. Default 3600; 0 runs it only at start. */
  intervalSeconds?: number
  /**
   * Seconds this instance's lease lives without renewal; it is renewed every third of that, and
   * uploads of an instance whose lease lapsed are settled by the others. Default 30.
   */
  leaseSeconds?: number
  /**
   * Seconds after which an incomplete multipart upload that no pending upload owns is aborted:
   * longer than any request may stream (the sidecar uses REQUEST_TIMEOUT_MS + 60 s). Default
   * 86400. Those this instance's own failed uploads left behind go at the next pass.
   */
  orphanedUploadSeconds?: number
}

export const DEFAULT_SWEEP = { intervalSeconds: 3600, leaseSeconds: 30, orphanedUploadSeconds: 86_400 } as const

const RECOVER_JOB = 'job:recover'
export const PURGE_JOB = 'job:purge'

/**
 * Runs `job` if this instance gets the job's lease, renewing it while the job runs (so a long one
 * is never taken over by a second instance), and gives it up after. Resolves false, without
 * running, when another instance holds it.
 */
export async function withJobLease(storage: Storage, name: string, ttlMs: number, job: () => Promise<void>): Promise<boolean> {
  if (!(await storage.ledger.acquireLease(name, storage.instanceId, ttlMs))) return false
  const renew = setInterval(() => void storage.ledger.acquireLease(name, storage.instanceId, ttlMs).catch(() => {}), Math.max(100, ttlMs / 3))
  try {
    await job()
    return true
  } finally {
    clearInterval(renew)
    await storage.ledger.releaseLease(name, storage.instanceId)
  }
}

interface Logger {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

/** Starts at onReady, stops at onClose (waiting for a pass in progress, then giving the lease up). */
export function startSweep(app: FastifyInstance, storage: Storage, options: Required<SweepOptions>, log: Logger): void {
  const leaseMs = options.leaseSeconds * 1000
  // A direct browser upload may still be under way until its presigned URL expires.
  const directGraceSeconds = storage.options.signedUrls.maxTtl + 60
  const renewEvery = Math.max(100, leaseMs / 3)
  const timers: NodeJS.Timeout[] = []
  let running: Promise<void> | undefined
  let beating: Promise<void> | undefined

  /** The instance lease, on its own clock: a long sweep pass never lets it lapse. */
  function heartbeat(): Promise<void> {
    beating ??= storage
      .heartbeat(leaseMs)
      .catch((err) => log.error({ err }, 'instance lease not renewed; it will be retried'))
      .finally(() => (beating = undefined))
    return beating
  }

  async function pass(purge: boolean): Promise<void> {
    try {
      let settled = { committed: 0, failed: 0 }
      await withJobLease(storage, RECOVER_JOB, leaseMs, async () => {
        const { committed, failed } = await storage.recoverPending({ directGraceSeconds })
        settled = { committed: committed.length, failed: failed.length }
      })
      let purged = 0
      if (purge) await withJobLease(storage, PURGE_JOB, leaseMs, async () => void (purged = (await storage.purgeExpired()).length))
      // This instance's own leftovers at every pass; unowned old multipart uploads with the purge.
      let left = { aborted: 0, deleted: 0, restored: 0 }
      if (purge || storage.hasLeftovers()) {
        const removed = await storage.removeLeftovers({ olderThanSeconds: options.orphanedUploadSeconds, suspectsOnly: !purge })
        left = { aborted: removed.aborted.length, deleted: removed.deleted.length, restored: removed.restored.length }
      }
      if (settled.committed + settled.failed + purged + left.aborted + left.deleted + left.restored > 0) {
        log.info({ ...settled, purged, ...left }, 'sweep settled pending uploads, purged expired trash and removed leftovers of failed uploads')
      }
    } catch (err) {
      // The store or the ledger being away is an outage the readiness probe reports, not a bug.
      if (isRetryable(err)) log.warn({ err }, 'sweep could not finish; it will run again')
      else log.error({ err }, 'sweep failed; it will run again')
    }
  }

  /** One pass at a time: a tick that finds one running skips. */
  function tick(purge: boolean): void {
    running ??= pass(purge).finally(() => (running = undefined))
  }

  app.addHook('onReady', async () => {
    // Before any request: other instances must see this one alive before it owns an upload.
    await heartbeat()
    timers.push(setInterval(() => {
      void heartbeat()
      // Each beat also settles uploads of instances that died since the last one.
      tick(false)
    }, renewEvery))
    // Through tick, like every pass: two passes of one instance would both hold its job leases.
    tick(true)
    await running
    if (options.intervalSeconds > 0) timers.push(setInterval(() => tick(true), options.intervalSeconds * 1000))
    for (const timer of timers) timer.unref()
  })
  app.addHook('onClose', async () => {
    for (const timer of timers) clearInterval(timer)
    await running
    await beating
    await storage.releaseInstance().catch((err) => log.error({ err }, 'could not release the instance lease'))
  })
}
