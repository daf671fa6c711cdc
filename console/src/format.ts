// How numbers, sizes and times read on screen.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB']

export function formatBytes(bytes: number): string {
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024
    unit++
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 2 : 1)} ${UNITS[unit]}`
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US')
}

export function formatUsd(amount: number): string {
  return amount.toLocaleString('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 4 })
}

/** Local time, to the second, with the zone: what a person checks against their own clock. */
export function formatTime(iso: string): string {
  return new Date(iso).toLocaleString('en-GB', {
    year: 'numeric',
    month: 'short',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    timeZoneName: 'short',
  })
}

/** "in 29 days", "in 3 hours", "overdue". */
export function formatUntil(iso: string, now = Date.now()): string {
  const ms = new Date(iso).getTime() - now
  if (ms <= 0) return 'due now'
  const hours = ms / 3_600_000
  if (hours < 48) return `in ${Math.max(1, Math.round(hours))} hour${Math.round(hours) === 1 ? '' : 's'}`
  return `in ${Math.round(hours / 24)} days`
}

/** The filename part of a key. */
export function filenameOf(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1)
}

/** `datetime-local` value (local wall time) to an ISO instant, and back. */
export function localInputToIso(value: string): string | undefined {
  if (!value) return undefined
  const date = new Date(value)
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString()
}

export function isoToLocalInput(iso: string | undefined): string {
  if (!iso) return ''
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return ''
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`
}
