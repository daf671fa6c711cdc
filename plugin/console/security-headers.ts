// The headers every console response carries. The page runs only its own bundled script and
// stylesheet (no inline script or style), talks only to its own origin, frames only its own
// origin's previews, and may not be framed itself.

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  // blob: for image previews made from a fetched file; the previews themselves are same-origin URLs.
  "img-src 'self' blob:",
  "connect-src 'self'",
  // PDF previews are proxy-mode signed URLs on this origin.
  "frame-src 'self'",
  "font-src 'none'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CSP,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  // The page's URLs name patients' record ids; signed links must not leak through Referer either.
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
  'x-permitted-cross-domain-policies': 'none',
}
