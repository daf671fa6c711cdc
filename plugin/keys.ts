// The object key layout: {orgId}/{system}/{objectType}/{objectId}/{filename}.
// Every key that reaches the object store passes through here, so this is where path tricks die.
import { InvalidKeyError } from './errors.js'

export const DEFAULT_SYSTEMS = [
  'epcr',
  'billing',
  'fax',
  'communications',
  'workspace',
  'accounting',
  'app-builder',
] as const

export interface KeyParts {
  orgId: string
  system: string
  objectType: string
  objectId: string
  filename: string
}

export interface KeyRules {
  /** Allowed values of the `system` segment. */
  systems: readonly string[]
}

/** Trash lives under a prefix that no live key can have (org ids may not start with a dot). */
export const TRASH_PREFIX = '.trash/'

const SEGMENT = /^[A-Za-z0-9._-]{1,128}$/
const MAX_FILENAME_BYTES = 255
// C0/C1 controls, plus the bidirectional overrides that make "exe.pdf" display as "fdp.exe".
const FORBIDDEN_FILENAME_CHARS = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/u

export type SegmentName = 'orgId' | 'objectType' | 'objectId'

export function validateSegment(name: SegmentName, value: unknown): string {
  if (typeof value !== 'string' || !SEGMENT.test(value)) {
    throw new InvalidKeyError(`${name} must be 1 to 128 characters of A-Z a-z 0-9 . _ -`)
  }
  if (value.startsWith('.')) throw new InvalidKeyError(`${name} may not start with "."`)
  return value
}

export function validateSystem(value: unknown, rules: KeyRules): string {
  if (typeof value !== 'string' || !rules.systems.includes(value)) {
    throw new InvalidKeyError(`system must be one of ${rules.systems.join(', ')}`)
  }
  return value
}

/** Checks a filename and returns its NFC form, so that NFD names from macOS address the same object. */
export function validateFilename(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidKeyError('filename is empty')
  const filename = value.normalize('NFC')
  if (filename.includes('/') || filename.includes('\\')) {
    throw new InvalidKeyError('filename may not contain "/" or "\\"')
  }
  if (filename === '.' || filename === '..') throw new InvalidKeyError('filename may not be "." or ".."')
  if (FORBIDDEN_FILENAME_CHARS.test(filename)) {
    throw new InvalidKeyError('filename may not contain control or bidirectional-override characters')
  }
  if (Buffer.byteLength(filename, 'utf8') > MAX_FILENAME_BYTES) {
    throw new InvalidKeyError(`filename is longer than ${MAX_FILENAME_BYTES} bytes of UTF-8`)
  }
  return filename
}

export function validateKeyParts(parts: KeyParts, rules: KeyRules): KeyParts {
  return {
    orgId: validateSegment('orgId', parts.orgId),
    system: validateSystem(parts.system, rules),
    objectType: validateSegment('objectType', parts.objectType),
    objectId: validateSegment('objectId', parts.objectId),
    filename: validateFilename(parts.filename),
  }
}

export function buildKey(parts: KeyParts, rules: KeyRules): string {
  const valid = validateKeyParts(parts, rules)
  return `${valid.orgId}/${valid.system}/${valid.objectType}/${valid.objectId}/${valid.filename}`
}

/** Parses and validates a key; the result's `key` is canonical (NFC) and safe to hand to the store. */
export function parseKey(key: unknown, rules: KeyRules): KeyParts & { key: string } {
  if (typeof key !== 'string' || key.length === 0) throw new InvalidKeyError('key is empty')
  const segments = key.split('/')
  if (segments.length !== 5) {
    throw new InvalidKeyError('key must have the form {orgId}/{system}/{objectType}/{objectId}/{filename}')
  }
  const [orgId, system, objectType, objectId, filename] = segments as [string, string, string, string, string]
  const parts = validateKeyParts({ orgId, system, objectType, objectId, filename }, rules)
  return { ...parts, key: buildKey(parts, rules) }
}

/**
 * Reduces a client-sent filename to its last path component: browsers and some clients send
 * `C:\Users\x\report.pdf` or `../report.pdf`. The directory part is dropped, never followed.
 */
export function uploadFilename(clientName: string): string {
  const base = clientName.split(/[\\/]/).pop() ?? ''
  return validateFilename(base)
}

/** `YYYYMMDD_` in UTC, the prefix multipart uploads get. */
export function datePrefix(now: Date): string {
  return now.toISOString().slice(0, 10).replaceAll('-', '') + '_'
}

/** Prefixes a filename with the upload date, keeping within the filename byte limit. */
export function datedFilename(filename: string, now: Date): string {
  return validateFilename(datePrefix(now) + filename)
}
