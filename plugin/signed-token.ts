// Tokens for proxy-mode signed URLs (GET /v1/signed/{token}). The token is the only credential
// on that route, so verification fails closed and never says which check failed. The claims are
// encrypted (AES-256-GCM) before they are MACed: a key is a filename, and filenames can hold
// patient names, while URLs end up in browser histories, proxy logs and Referer headers.
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  hkdfSync,
  randomFillSync,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto'
import { SignedUrlInvalidError } from './errors.js'

export interface SignedTokenClaims {
  key: string
  /** Unix seconds; the token is dead from this second on. */
  expiresAt: number
  disposition: 'attachment' | 'inline'
  sub: string
  org: string
}

// Domain separation: a MAC made with the same secret for any other purpose can never verify here.
const CONTEXT = 'fastify-spaces/v1.'
const MAX_TOKEN_LENGTH = 4096
const BASE64URL = /^[A-Za-z0-9_-]+$/

const IV_BYTES = 12
const TAG_BYTES = 16

/** Secrets given as strings are few and fixed at start (one per plugin instance): bound the cache anyway. */
const MAX_STRING_SECRETS = 16

interface TokenKeys {
  /** The secret itself, as the MAC key. */
  mac: KeyObject
  /** The AES key, derived from the secret with HKDF. */
  seal: KeyObject
}
const keysOfBuffers = new WeakMap<Buffer, TokenKeys>()
const keysOfStrings = new Map<string, TokenKeys>()

/**
 * A secret's keys, made once per secret: HKDF on every token was half its cost, and turning raw
 * key bytes into a key object on every HMAC and cipher another tenth.
 */
function keysFor(secret: Buffer | string): TokenKeys {
  const cached = typeof secret === 'string' ? keysOfStrings.get(secret) : keysOfBuffers.get(secret)
  if (cached) return cached
  const keys = {
    mac: createSecretKey(typeof secret === 'string' ? Buffer.from(secret) : secret),
    seal: createSecretKey(Buffer.from(hkdfSync('sha256', secret, 'fastify-spaces', 'proxy url claims', 32))),
  }
  if (typeof secret !== 'string') {
    keysOfBuffers.set(secret, keys)
  } else {
    if (keysOfStrings.size >= MAX_STRING_SECRETS) keysOfStrings.delete(keysOfStrings.keys().next().value!)
    keysOfStrings.set(secret, keys)
  }
  return keys
}

/**
 * Random IVs, drawn from a pool filled 4 KiB at a time (as randomUUID() does) rather than one
 * call into the CSPRNG per token. Each IV is handed out once.
 */
const IV_POOL = Buffer.alloc(IV_BYTES * 341)
let ivOffset = IV_POOL.length

function nextIv(): Buffer {
  if (ivOffset === IV_POOL.length) {
    randomFillSync(IV_POOL)
    ivOffset = 0
  }
  const iv = Buffer.from(IV_POOL.subarray(ivOffset, ivOffset + IV_BYTES))
  ivOffset += IV_BYTES
  return iv
}

/** The claims JSON, encrypted and base64url-encoded: the token's first part. */
export function sealPayload(secret: Buffer | string, json: string): string {
  const iv = nextIv()
  const cipher = createCipheriv('aes-256-gcm', keysFor(secret).seal, iv)
  const sealed = Buffer.concat([cipher.update(json, 'utf8'), cipher.final()])
  return Buffer.concat([iv, sealed, cipher.getAuthTag()]).toString('base64url')
}

function openPayload(secret: Buffer | string, payloadPart: string): string {
  const bytes = Buffer.from(payloadPart, 'base64url')
  if (bytes.length <= IV_BYTES + TAG_BYTES) throw new SignedUrlInvalidError()
  const decipher = createDecipheriv('aes-256-gcm', keysFor(secret).seal, bytes.subarray(0, IV_BYTES))
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES))
  return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8')
}

function sign(secret: Buffer | string, payloadPart: string): string {
  return createHmac('sha256', keysFor(secret).mac).update(CONTEXT + payloadPart).digest('base64url')
}

function secretUsable(secret: unknown): secret is Buffer | string {
  return (typeof secret === 'string' || Buffer.isBuffer(secret)) && secret.length > 0
}

function nonEmpty(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0
}

function validClaims(value: unknown): value is SignedTokenClaims {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const c = value as Record<string, unknown>
  return (
    nonEmpty(c.key) &&
    typeof c.expiresAt === 'number' &&
    Number.isSafeInteger(c.expiresAt) &&
    c.expiresAt > 0 &&
    (c.disposition === 'attachment' || c.disposition === 'inline') &&
    nonEmpty(c.sub) &&
    nonEmpty(c.org)
  )
}

export function createSignedToken(secret: Buffer | string, claims: SignedTokenClaims): string {
  // Programming errors, not client errors: fail loudly rather than mint a token verify() rejects.
  if (!secretUsable(secret)) throw new TypeError('signed URL secret must be a non-empty string or Buffer')
  if (!validClaims(claims)) throw new TypeError('signed URL claims are incomplete or of the wrong type')
  // Copy only the known fields, so nothing extra a caller attached ends up readable in a URL.
  const { key, expiresAt, disposition, sub, org } = claims
  const payloadPart = sealPayload(secret, JSON.stringify({ key, expiresAt, disposition, sub, org }))
  const token = `${payloadPart}.${sign(secret, payloadPart)}`
  if (token.length > MAX_TOKEN_LENGTH) throw new TypeError(`signed URL token would exceed ${MAX_TOKEN_LENGTH} characters`)
  return token
}

export function verifySignedToken(secret: Buffer | string, token: string, now: Date = new Date()): SignedTokenClaims {
  if (!secretUsable(secret) || typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) {
    throw new SignedUrlInvalidError()
  }
  const parts = token.split('.')
  if (parts.length !== 2) throw new SignedUrlInvalidError()
  const [payloadPart, signaturePart] = parts as [string, string]
  if (!BASE64URL.test(payloadPart) || !BASE64URL.test(signaturePart)) throw new SignedUrlInvalidError()

  // Compare the encoded strings rather than decoded bytes: base64url has spare bits in its last
  // character, so two different strings can decode to the same MAC. Only the canonical one passes.
  const expected = Buffer.from(sign(secret, payloadPart))
  const given = Buffer.from(signaturePart)
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new SignedUrlInvalidError()

  let payload: unknown
  try {
    payload = JSON.parse(openPayload(secret, payloadPart))
  } catch {
    throw new SignedUrlInvalidError()
  }
  if (!validClaims(payload)) throw new SignedUrlInvalidError()

  const nowSeconds = Math.floor(now.getTime() / 1000)
  // An invalid Date would make every comparison false, i.e. never expired: fail closed instead.
  const { key, expiresAt, disposition, sub, org } = payload
  if (!Number.isFinite(nowSeconds) || expiresAt <= nowSeconds) {
    // The signature held, so the claims are ours: the audit log may say whose link expired.
    throw Object.assign(new SignedUrlInvalidError(), { expiredClaims: { key, expiresAt, disposition, sub, org } })
  }
  return { key, expiresAt, disposition, sub, org }
}
