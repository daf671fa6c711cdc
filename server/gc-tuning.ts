// How V8 sizes the old generation of a process that relays uploads. Node copies every chunk of a
// request body into a fresh ArrayBuffer, so an upload churns through external memory at its own
// speed; V8 frees those buffers at each scavenge, about every 32 MiB. But V8 counts external
// memory allocated since the last full collection against the old generation's room, and starts
// the next full collection when that room drops below the new space's size (16 MiB). With the
// old generation's limit left to V8's own growing factor (often 1.1 to 2 for this process's
// ~27 MiB of live objects), the churn alone can start a full collection right after the last one
// ends, over and over: 20 to 36 full collections where 2 to 4 do the work, and an upload's CPU
// per GiB going from 2.3-2.6 s to 4.0-5.8 s (README, Benchmarks). A fixed factor of 4, the top
// of V8's own range, leaves room above the churn, so a full collection starts for garbage, not
// for buffers the next scavenge frees anyway.
import { setFlagsFromString } from 'node:v8'

/** The old generation may grow to this multiple of what survived the last full collection. */
export const HEAP_GROWING_FACTOR = 4

/**
 * Sets the factor for this process, unless node was started with its own `--heap-growing-percent`
 * (node refuses that flag in NODE_OPTIONS, so the command line is the only other place for it).
 */
export function tuneGarbageCollector(execArgv: string[] = process.execArgv): boolean {
  if (execArgv.some((arg) => /^--heap[-_]growing[-_]percent\b/.test(arg))) return false
  setFlagsFromString(`--heap-growing-percent=${(HEAP_GROWING_FACTOR - 1) * 100}`)
  return true
}
