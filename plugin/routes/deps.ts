import type { Access } from '../access.js'
import type { InflightWork } from '../inflight.js'
import type { Storage } from '../storage.js'

/** What every route module is registered with. */
export interface RouteDeps {
  storage: Storage
  access: Access
}

/** What the routes plugin itself is registered with. */
export interface RoutesOptions extends RouteDeps {
  /** Handlers and audit writes in flight, so closing can wait for them. */
  work: InflightWork
}
