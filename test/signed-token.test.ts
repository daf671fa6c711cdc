import { createHmac } from 'node:crypto'
import t from 'tap'
import type { Test } from 'tap'
import { createSignedToken, sealPayload, verifySignedToken } from '../plugin/signed-token.js'
import type { SignedTokenClaims } from '../plugin/signed-token.js'
import { SignedUrlInvalidError } from '../plugin/errors.js'

const SECRET = 'test-secret-0123456789abcdef-0123456789'
const NOW = new Date('2026-01-30T12:00:00.000Z')
const NOW_S = Math.floor(NOW.getTime() / 1000)

const claims: SignedTokenClaims = {
  key: 'org-123/epcr/document/epcr-456/20260130_report "final" ü.pdf',
  expiresAt: NOW_S + 600,
  disposition: 'attachment',
  sub: 'user-1',
  org: 'org-123',
}

const B64URL_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

function rejects(t: Test, token: unknown, label: string, secret: Buffer | string = SECRET, now: Date = NOW): void {
  let thrown: unknown
  try {
    verifySignedToken(secret, token as string, now)
  } catch (err) {
    thrown = err
  }
  t.ok(thrown instanceof SignedUrlInvalidError, `${label}: rejected with SignedUrlInvalidError`)
  if (secret.length > 0) {
    t.notOk(String((thrown as Error | undefined)?.message).includes(String(secret)), `${label}: message omits the secret`)
  }
}

// Seals and signs an arbitrary payload with the real secret, to check the payload checks behind the MAC.
function forge(payload: string, secret: string = SECRET): string {
  const part = sealPayload(secret, payload)
  const sig = createHmac('sha256', secret).update('fastify-spaces/v1.' + part).digest('base64url')
  return `${part}.${sig}`
}

t.test('round trip', async (t) => {
  const token = createSignedToken(SECRET, claims)
  t.same(verifySignedToken(SECRET, token, NOW), claims)
  const bufSecret = Buffer.from(SECRET)
  t.same(verifySignedToken(bufSecret, createSignedToken(bufSecret, claims), NOW), claims, 'Buffer secret')
  t.same(verifySignedToken(SECRET, token, new Date((NOW_S + 599) * 1000 + 999)), claims, 'valid until the last ms')
  const inline = { ...claims, disposition: 'inline' as const }
  t.same(verifySignedToken(SECRET, createSignedToken(SECRET, inline), NOW), inline)
  const live = { ...claims, expiresAt: Math.floor(Date.now() / 1000) + 600 }
  t.same(verifySignedToken(SECRET, createSignedToken(SECRET, live)), live, 'now defaults to the current time')
  const dead = createSignedToken(SECRET, { ...live, expiresAt: live.expiresAt - 1200 })
  t.throws(() => verifySignedToken(SECRET, dead), SignedUrlInvalidError, 'default now sees expiry')
})

t.test('the token does not reveal the file, the user or the org', async (t) => {
  const token = createSignedToken(SECRET, claims)
  const readable = token
    .split('.')
    .map((part) => Buffer.from(part, 'base64url').toString('latin1'))
    .join('.')
  for (const secretPart of ['report', 'org-123', 'user-1', 'epcr', 'attachment']) {
    t.notOk(readable.includes(secretPart) || token.includes(secretPart), `no "${secretPart}" in the URL`)
  }
  t.not(createSignedToken(SECRET, claims), token, 'a fresh IV each time')
})

t.test('token is URL-safe', async (t) => {
  for (const key of [claims.key, 'o/s/t/i/???>>>~~~', 'o/s/t/i/' + 'ÿ'.repeat(100)]) {
    const token = createSignedToken(SECRET, { ...claims, key })
    t.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, `token for ${key.slice(0, 20)} uses only URL-safe characters`)
    t.equal(encodeURIComponent(token), token, 'needs no percent-encoding')
    t.notOk(/[/=+]/.test(token), 'no "/", "=" or "+"')
  }
})

t.test('extra claim fields are not signed into the token', async (t) => {
  const token = createSignedToken(SECRET, { ...claims, secret: 'leak' } as SignedTokenClaims)
  t.notOk(Buffer.from(token.split('.')[0]!, 'base64url').toString().includes('leak'))
})

t.test('every single-character change of the signature is rejected', async (t) => {
  const token = createSignedToken(SECRET, claims)
  const dot = token.indexOf('.')
  const payload = token.slice(0, dot)
  const sig = token.slice(dot + 1)
  let count = 0
  for (let i = 0; i < sig.length; i++) {
    for (const c of B64URL_CHARS) {
      if (c === sig[i]) continue
      const mutated = sig.slice(0, i) + c + sig.slice(i + 1)
      let ok = false
      try {
        verifySignedToken(SECRET, `${payload}.${mutated}`, NOW)
        ok = true
      } catch (err) {
        if (!(err instanceof SignedUrlInvalidError)) throw err
      }
      if (ok) t.fail(`signature change at ${i} to "${c}" accepted`)
      count++
    }
  }
  t.equal(count, sig.length * (B64URL_CHARS.length - 1), `all ${count} mutations tried and rejected`)
  rejects(t, `${payload}.${sig.slice(0, -1)}`, 'truncated signature')
  rejects(t, `${payload}.${sig}A`, 'extended signature')
  rejects(t, `${payload}.`, 'empty signature')
  rejects(t, `${payload}.${sig}=`, 'padded signature')
})

t.test('payload tampering is rejected', async (t) => {
  const token = createSignedToken(SECRET, claims)
  const [payload, sig] = token.split('.') as [string, string]
  const swap = (changes: Partial<SignedTokenClaims>) =>
    Buffer.from(JSON.stringify({ ...claims, ...changes })).toString('base64url') + '.' + sig
  rejects(t, swap({ key: 'org-999/epcr/document/epcr-456/x.pdf' }), 'changed key')
  rejects(t, swap({ expiresAt: claims.expiresAt + 86400 }), 'extended expiry')
  rejects(t, swap({ disposition: 'inline' }), 'changed disposition')
  rejects(t, swap({ org: 'org-999' }), 'changed org')
  rejects(t, swap({ sub: 'admin' }), 'changed sub')
  // Every single-character change of the payload part, too.
  let accepted = 0
  for (let i = 0; i < payload.length; i++) {
    const c = payload[i] === 'A' ? 'B' : 'A'
    try {
      verifySignedToken(SECRET, payload.slice(0, i) + c + payload.slice(i + 1) + '.' + sig, NOW)
      accepted++
    } catch (err) {
      if (!(err instanceof SignedUrlInvalidError)) throw err
    }
  }
  t.equal(accepted, 0, 'no payload character change accepted')
})

t.test('expired tokens are rejected', async (t) => {
  const token = createSignedToken(SECRET, claims)
  rejects(t, token, 'at exactly expiresAt', SECRET, new Date(claims.expiresAt * 1000))
  rejects(t, token, 'after expiresAt', SECRET, new Date((claims.expiresAt + 1) * 1000))
  rejects(t, createSignedToken(SECRET, { ...claims, expiresAt: 1 }), 'long expired')
  rejects(t, token, 'invalid Date as now', SECRET, new Date(Number.NaN))
})

t.test('wrong secret is rejected', async (t) => {
  const token = createSignedToken(SECRET, claims)
  rejects(t, token, 'other secret', 'another-secret')
  rejects(t, token, 'secret with one char changed', SECRET.slice(0, -1) + 'X')
  rejects(t, token, 'empty secret', '')
  rejects(t, token, 'empty Buffer secret', Buffer.alloc(0))
  rejects(t, forge(JSON.stringify(claims), 'another-secret'), 'forged with another secret')
})

t.test('junk is rejected', async (t) => {
  const token = createSignedToken(SECRET, claims)
  const [payload, sig] = token.split('.') as [string, string]
  const junk: Array<[string, unknown]> = [
    ['empty', ''],
    ['dot only', '.'],
    ['no dot', payload + sig],
    ['three parts', `${payload}.${sig}.${sig}`],
    ['leading dot', `.${sig}`],
    ['standard base64 chars', `${payload}+/.${sig}`],
    ['whitespace', ` ${token}`],
    ['percent-encoded', encodeURIComponent(`${payload}=.${sig}`)],
    ['unicode', `${payload}é.${sig}`],
    ['oversized', `${'A'.repeat(5000)}.${sig}`],
    ['undefined', undefined],
    ['null', null],
    ['number', 42],
    ['object', { token }],
    ['path traversal', '../../etc/passwd'],
  ]
  for (const [label, value] of junk) rejects(t, value, label)
})

t.test('well-signed payloads of the wrong shape are rejected', async (t) => {
  const base = { ...claims } as Record<string, unknown>
  const payloads: Array<[string, string]> = [
    ['not JSON', 'not json{'],
    ['JSON null', 'null'],
    ['JSON array', JSON.stringify([claims])],
    ['JSON string', JSON.stringify('x')],
    ['missing key', JSON.stringify({ ...base, key: undefined })],
    ['empty key', JSON.stringify({ ...base, key: '' })],
    ['numeric key', JSON.stringify({ ...base, key: 5 })],
    ['string expiresAt', JSON.stringify({ ...base, expiresAt: String(claims.expiresAt) })],
    ['fractional expiresAt', JSON.stringify({ ...base, expiresAt: claims.expiresAt + 0.5 })],
    ['huge expiresAt', JSON.stringify({ ...base, expiresAt: 1e300 })],
    ['bad disposition', JSON.stringify({ ...base, disposition: 'form-data' })],
    ['missing sub', JSON.stringify({ ...base, sub: undefined })],
    ['numeric org', JSON.stringify({ ...base, org: 1 })],
  ]
  t.same(verifySignedToken(SECRET, forge(JSON.stringify(claims)), NOW), claims, 'forge() itself is sound')
  for (const [label, payload] of payloads) rejects(t, forge(payload), label)
})

t.test('createSignedToken refuses bad input', async (t) => {
  t.throws(() => createSignedToken('', claims), TypeError, 'empty secret')
  t.throws(() => createSignedToken(SECRET, { ...claims, expiresAt: 1.5 }), TypeError, 'fractional expiry')
  t.throws(() => createSignedToken(SECRET, { ...claims, key: '' }), TypeError, 'empty key')
  t.throws(() => createSignedToken(SECRET, { ...claims, disposition: 'x' as 'inline' }), TypeError, 'bad disposition')
  t.throws(() => createSignedToken(SECRET, { ...claims, sub: 'u'.repeat(4000) }), TypeError, 'oversized token')
})
