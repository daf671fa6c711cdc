// Seeded randomness for fault and fuzz tests: the seed is printed, and FUZZ_SEED replays a run.
import { randomInt } from 'node:crypto'

export interface Random {
  readonly seed: number
  /** 0 <= n < 1 */
  next(): number
  /** An integer in [min, max]. */
  int(min: number, max: number): number
  pick<T>(items: readonly T[]): T
  chance(p: number): boolean
  bytes(length: number): Buffer
}

/** mulberry32: tiny, fast, and good enough to spread test cases. */
export function seeded(seed: number): Random {
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let x = state
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1))
  return {
    seed,
    next,
    int,
    pick: (items) => items[int(0, items.length - 1)]!,
    chance: (p) => next() < p,
    bytes: (length) => Buffer.from(Array.from({ length }, () => int(0, 255))),
  }
}

/** The run's seed: FUZZ_SEED when set (to replay a failure), else a fresh one. Tests print it. */
export function testSeed(): number {
  const given = process.env.FUZZ_SEED
  if (given !== undefined && given !== '') {
    const seed = Number(given)
    if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`FUZZ_SEED must be a whole number, got "${given}"`)
    return seed
  }
  return randomInt(0, 2 ** 31)
}
