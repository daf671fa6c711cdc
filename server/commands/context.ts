// What the operator commands share: the environment as the sidecar would see it, argument
// parsing with usage errors, the storage service opened from a config, and TTY progress lines.
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs, parseEnv, type ParseArgsConfig } from 'node:util'
import { createStore, ledgerLocation, pluginOptions } from '../app.js'
import { loadConfig, type ServerConfig } from '../config.js'
import type { ObjectStore } from '../../plugin/drivers/types.js'
import { openLedger as open } from '../../plugin/ledger/open.js'
import type { Ledger } from '../../plugin/ledger/types.js'
import { resolveOptions } from '../../plugin/options.js'
import { Storage, type StorageLogger } from '../../plugin/storage.js'

/**
 * `.env` from the working directory under the process environment, which wins: the same merge
 * env-schema does for `serve` (it uses this parser too), so checks see what the sidecar would.
 */
export function mergedEnv(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): NodeJS.ProcessEnv {
  const path = resolve(cwd, '.env')
  const fromFile = existsSync(path) ? parseEnv(readFileSync(path, 'utf8')) : {}
  return { ...fromFile, ...env }
}

/** The sidecar's configuration from the merged environment; throws the guide's coded errors. */
export function cliConfig(): ServerConfig {
  return loadConfig(mergedEnv())
}

export type ParsedArgs<T extends ParseArgsConfig> = ReturnType<typeof parseArgs<T>>

/**
 * parseArgs, strict. A bad option prints the message and the usage to stderr and yields
 * undefined, so the command can return exit code 2.
 */
export function parseCommandArgs<T extends Omit<ParseArgsConfig, 'args'>>(
  args: string[],
  config: T,
  usage: string,
): ParsedArgs<T & { args: string[] }> | undefined {
  try {
    return parseArgs({ ...config, args, strict: true }) as ParsedArgs<T & { args: string[] }>
  } catch (err) {
    usageError((err as Error).message, usage)
    return undefined
  }
}

/** Prints what was wrong and the usage; returns the usage-error exit code. */
export function usageError(message: string, usage: string): 2 {
  process.stderr.write(`${message}\n\n${usage}\n`)
  return 2
}

/** Warnings go to the operator's terminal; the routine info lines a server would log do not. */
export const stderrLogger: StorageLogger = {
  warn(obj, msg) {
    const err = (obj as { err?: Error }).err
    process.stderr.write(`warning: ${msg}${err?.message ? `: ${err.message}` : ''}\n`)
  },
  info() {},
}

export interface OpenedStorage {
  storage: Storage
  store: ObjectStore
  ledger: Ledger
  close(): Promise<void>
}

/**
 * Opens the ledger and the store as the sidecar does (LEDGER_URL, else LEDGER_PATH). A missing
 * ledger file is refused rather than created: it almost always means LEDGER_PATH points somewhere
 * other than the sidecar's.
 */
export async function openLedger(config: ServerConfig): Promise<Ledger> {
  if (!config.ledgerUrl && config.ledgerPath !== ':memory:' && !existsSync(config.ledgerPath)) {
    throw new Error(`no ledger at ${config.ledgerPath}; set LEDGER_PATH to the sidecar's ledger file (or LEDGER_URL)`)
  }
  return open(ledgerLocation(config))
}

export async function openStorage(config: ServerConfig): Promise<OpenedStorage> {
  const ledger = await openLedger(config)
  const store = createStore(config)
  const options = resolveOptions(pluginOptions(config, store, ledger), () => randomBytes(32))
  const storage = new Storage({ store, ledger, options, log: stderrLogger })
  return {
    storage,
    store,
    ledger,
    async close() {
      await store.close()
      await ledger.close()
    },
  }
}

/** `\r`-rewritten progress on stderr, only when a person is watching. */
export function progress(stream: NodeJS.WriteStream = process.stderr): { update(line: string): void; done(): void } {
  let shown = false
  return {
    update(line) {
      if (!stream.isTTY) return
      stream.write(`\r\x1b[2K ${line}`)
      shown = true
    },
    done() {
      if (shown) stream.write('\r\x1b[2K')
      shown = false
    },
  }
}

/** Exact bytes, plus a human size once it is over 1 KiB: "1258291 bytes, 1.2 MiB". */
export function formatBytes(bytes: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = -1
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit < 0 ? `${bytes} bytes` : `${bytes} bytes, ${value.toFixed(1)} ${units[unit]}`
}
