// The work the plugin's routes have started and not finished: each request's handler and each
// audit write. A client that goes away does not stop its handler (it still has to abort the
// store's upload and mark the reservation failed), so the audit of an aborted request waits for
// the handler, and closing the plugin waits for all of it before the ledger may close.
import type { FastifyRequest } from 'fastify'

export class InflightWork {
  private readonly running = new Set<Promise<unknown>>()
  private readonly handlers = new WeakMap<FastifyRequest, Promise<unknown>>()

  /** Counts `promise` until it settles; returns it unchanged. */
  track<T>(promise: Promise<T>): Promise<T> {
    this.running.add(promise)
    const done = () => this.running.delete(promise)
    promise.then(done, done)
    return promise
  }

  trackHandler<T>(request: FastifyRequest, promise: Promise<T>): Promise<T> {
    this.handlers.set(request, promise)
    return this.track(promise)
  }

  /** Settles when the request's handler has (or at once when it never ran). */
  async handlerSettled(request: FastifyRequest): Promise<void> {
    await this.handlers.get(request)?.catch(() => {})
  }

  get size(): number {
    return this.running.size
  }

  /** Settles once nothing is running, including work that started while waiting. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running])
  }
}
