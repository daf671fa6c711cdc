// Audit exports: the filtered events as CSV (for a spreadsheet) or NDJSON (for a script), built
// in the browser from the same API pages the table shows, and saved as a file.
import type { AuditEvent } from './api.js'

export const CSV_COLUMNS = [
  'seq',
  'ts',
  'actor',
  'org',
  'roles',
  'action',
  'key',
  'result',
  'status',
  'errorCode',
  'bytes',
  'sha256',
  'ttl',
  'ip',
  'userAgent',
  'requestId',
  'id',
  'prevHash',
  'hash',
] as const satisfies ReadonlyArray<keyof AuditEvent>

/**
 * One CSV cell (RFC 4180). Filenames and user agents come from users: a cell that a spreadsheet
 * would run as a formula (= + - @, tab, CR) gets a leading apostrophe, as OWASP advises.
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return ''
  let text = Array.isArray(value) ? value.join(' ') : String(value)
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}

export function toCsv(events: readonly AuditEvent[]): string {
  const lines = [CSV_COLUMNS.join(',')]
  for (const event of events) lines.push(CSV_COLUMNS.map((column) => csvCell(event[column])).join(','))
  return `${lines.join('\r\n')}\r\n`
}

export function toNdjson(events: readonly AuditEvent[]): string {
  return events.map((event) => JSON.stringify(event)).join('\n') + (events.length > 0 ? '\n' : '')
}

/** Hands `text` to the browser as a download named `filename`. */
export function saveFile(filename: string, text: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }))
  const link = document.createElement('a')
  link.href = url
  link.download = filename
  link.hidden = true
  document.body.append(link)
  link.click()
  link.remove()
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}
