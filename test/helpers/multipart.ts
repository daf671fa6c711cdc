// multipart/form-data bodies built by hand, so tests control every byte (and can break any of them).
export interface FormPart {
  name?: string
  /** Absent: a plain field. */
  filename?: string
  contentType?: string
  data: string | Buffer
}

export function multipartBody(boundary: string, parts: FormPart[], newline = '\r\n'): Buffer {
  const chunks: Buffer[] = []
  for (const part of parts) {
    const disposition = `form-data; name="${part.name ?? 'file'}"${part.filename === undefined ? '' : `; filename="${part.filename}"`}`
    const head = [`--${boundary}`, `Content-Disposition: ${disposition}`]
    if (part.contentType !== undefined) head.push(`Content-Type: ${part.contentType}`)
    chunks.push(Buffer.from(head.join(newline) + newline + newline), Buffer.from(part.data), Buffer.from(newline))
  }
  chunks.push(Buffer.from(`--${boundary}--${newline}`))
  return Buffer.concat(chunks)
}

export function formHeaders(boundary: string, extra: Record<string, string> = {}): Record<string, string> {
  return { 'content-type': `multipart/form-data; boundary=${boundary}`, ...extra }
}
