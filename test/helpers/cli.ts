// Runs the real `spaces-proxy` CLI (through tsx), by default in a fresh temp working directory so
// no .env is read.
import { spawn, type ChildProcess } from 'node:child_process'
import { resolve } from 'node:path'
import { tempDir } from './temp.js'

export const CLI = resolve('server/cli.ts')
const TSX = resolve('node_modules/tsx/dist/loader.mjs')

export function cliArgs(args: string[]): string[] {
  return ['--import', TSX, CLI, ...args]
}

export interface CliResult {
  /** The exit code; 1 when the process was killed (by the timeout or a signal). */
  code: number
  stdout: string
  stderr: string
}

export interface RunCliOptions {
  /** Working directory (where a `.env` would be read); a fresh empty temp dir by default. */
  cwd?: string
  /** Kill the process after this long (default 60 s). */
  timeoutMs?: number
}

export function tempCwd(): string {
  return tempDir('fastify-spaces-cli-')
}

/** Runs a CLI command to completion with exactly `env` plus PATH (bounded by `timeoutMs`). */
export async function runCli(args: string[], env: Record<string, string>, options: RunCliOptions = {}): Promise<CliResult> {
  const { cwd = tempCwd(), timeoutMs = 60_000 } = options
  const child = spawn(process.execPath, cliArgs(args), { cwd, env: { PATH: process.env.PATH ?? '', ...env } })
  let stdout = ''
  let stderr = ''
  // Decode as a stream, so a multi-byte character split across chunks (✓, ✗) stays whole.
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  clearTimeout(timer)
  return { code: code ?? 1, stdout, stderr }
}

export interface RunningServer {
  child: ChildProcess
  port: number
  output: () => string
  exited: Promise<number | null>
}

/** Starts `spaces-proxy serve` and waits for its "Server listening" log line. */
export async function startCliServer(env: Record<string, string>): Promise<RunningServer> {
  const child = spawn(process.execPath, cliArgs(['serve']), {
    cwd: tempCwd(),
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', ...env },
  })
  let output = ''
  child.stderr.on('data', (chunk) => (output += chunk))
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 30_000)
    child.stdout.on('data', (chunk) => {
      output += chunk
      const match = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(output)
      if (match) {
        clearTimeout(timer)
        resolve(Number(match[1]))
      }
    })
    void exited.then((code) => reject(new Error(`server exited with ${code}:\n${output}`)))
  })
  return { child, port, output: () => output, exited }
}
