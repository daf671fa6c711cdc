import type { Access } from '../access.js'
import type { Storage } from '../storage.js'

/** What every route module is registered with. */
export interface RouteDeps {
  storage: Storage
  access: Access
}
