// What the benchmark scripts share: medians, a child process's CPU time and memory from /proc,
// the machine's load, and a plain-text table.
import { readFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return (sorted[Math.floor((sorted.length - 1) / 2)]! + sorted[Math.ceil((sorted.length - 1) / 2)]!) / 2
}

/** CPU time a process has used so far, in ms (utime + stime; clock ticks of 10 ms). */
export function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

/** This process's CPU time so far, in ms, at microsecond resolution. */
export function ownCpuMs(): number {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1000
}

/** One line on where the figures come from: the machine is shared, so its load matters. */
export function machineLine(): string {
  const load = loadavg().map((l) => l.toFixed(2)).join(' ')
  return `node ${process.version}, ${cpus().length} cores, load average ${load}`
}

/** Node flags for a child process that writes a CPU profile into `dir` (`--profile DIR` on each script). */
export function profileArgs(dir: string | undefined): string[] {
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : []
}

/** Left-aligned first column, right-aligned others. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((cell, i) => Math.max(cell.length, ...rows.map((row) => (row[i] ?? '').length)))
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')
  return [line(head), ...rows.map(line)].join('\n')
}

/** Parses a positive integer flag within bounds, or stops with a message naming the flag. */
export function intFlag(name: string, value: string, min: number, max: number): number {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer from ${min} to ${max}`)
  return n
}
