// What a browser may render from the sidecar's own origin. Uploaded files are the users' content,
// not ours: HTML, SVG, XML or JavaScript rendered live here would run with the sidecar's origin
// (phishing, or scripts calling the API). So:
// - PDFs, images (not SVG), plain text, audio and video are shown inline when asked;
// - any other type asked for inline is sent as an attachment instead (a download);
// - every response but a PDF carries `Content-Security-Policy: sandbox`: no scripts, no forms, an
//   opaque origin, even if a browser renders it anyway. PDFs are exempt because Chromium refuses
//   to show a PDF in a sandboxed document, and its viewer runs outside the page.
// Direct (presigned) URLs get the same disposition, from the store's origin; they cannot carry
// the CSP header.
import { essence } from './media-type.js'

export type Disposition = 'attachment' | 'inline'

/** Sent with every file but PDFs. */
export const SANDBOX_POLICY = 'sandbox'

const PDF = 'application/pdf'
const INLINE_TYPES = new Set([
  PDF,
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'image/avif',
  'image/bmp',
  'text/plain',
])
const INLINE_FAMILIES = ['audio/', 'video/']

/** Whether files of this type may be shown inline from our origin. */
export function mayShowInline(contentType: string): boolean {
  const type = essence(contentType)
  return INLINE_TYPES.has(type) || INLINE_FAMILIES.some((family) => type.startsWith(family))
}

export interface ServedAs {
  disposition: Disposition
  /** The Content-Security-Policy header, if any. */
  contentSecurityPolicy?: string
}

/** How a file is served when `requested` is asked for. */
export function servedAs(contentType: string, requested: Disposition): ServedAs {
  const disposition = requested === 'inline' && mayShowInline(contentType) ? 'inline' : 'attachment'
  return essence(contentType) === PDF ? { disposition } : { disposition, contentSecurityPolicy: SANDBOX_POLICY }
}
