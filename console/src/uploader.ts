// The upload seam. On a store with multipart uploads (Spaces), Uppy speaks tus to the server's
// endpoint (/uploads/tus), so a dropped connection resumes from the bytes the server holds instead
// of starting over; where the file goes travels as the contract's Upload-Metadata keys, the org
// is the token's. On local disk, which has no multipart uploads, each file is one form upload to
// the record (POST /files/{org}/{system}/{type}/{id}). Both name the file as form uploads do
// (dated), and the server records it before it answers.
import Uppy from '@uppy/core'
import DropTarget from '@uppy/drop-target'
import Tus from '@uppy/tus'
import XHRUpload from '@uppy/xhr-upload'
import { errorFromBody, keyPath, type ApiError, type Api } from './api.js'

export interface UploadTarget {
  org: string
  system: string
  objectType: string
  objectId: string
}

/** What the console says of a stored file: its name as dropped and its size. */
export interface StoredUpload {
  name: string
  size: number
}

export interface UploadEvents {
  onProgress(name: string, percent: number): void
  onStored(upload: StoredUpload): void
  onFailed(name: string, error: ApiError): void
  onSettled(): void
}

/** The contract's Upload-Metadata keys: all Uppy sends of a file's meta (not its relativePath, say). */
const METADATA_KEYS = ['system', 'objectType', 'objectId', 'filename', 'contentType'] as const
type Meta = { name: string; type?: string } & Partial<Record<(typeof METADATA_KEYS)[number], string>>
type Body = Record<string, never>

export interface Uploader {
  /** Adds files picked with the file input (drops arrive through the drop target). */
  add(files: Iterable<File>): void
  close(): void
}

// Only outages are worth a second try; a refusal (403, 409, 413, 415) would be refused again.
const RETRYABLE = new Set([0, 502, 503, 504])

export function createUploader(
  api: Api,
  target: UploadTarget,
  dropZone: HTMLElement,
  options: { resumable: boolean },
  events: UploadEvents,
): Uploader {
  const uppy = new Uppy<Meta, Body>({ autoProceed: true, allowMultipleUploadBatches: true })
  uppy.use(DropTarget, { target: dropZone })
  if (!options.resumable) {
    const record = [target.org, target.system, target.objectType, target.objectId].join('/')
    uppy.use(XHRUpload, {
      endpoint: api.url(`/files/${keyPath(record)}`),
      method: 'POST',
      formData: true,
      fieldName: 'file',
      allowedMetaFields: [],
      limit: 2,
      headers: { authorization: `Bearer ${api.token}` },
      shouldRetry: (xhr) => RETRYABLE.has(xhr.status),
    })
  } else uppy.use(Tus, {
    endpoint: api.url('/uploads/tus'),
    headers: { authorization: `Bearer ${api.token}` },
    allowedMetaFields: [...METADATA_KEYS],
    limit: 2,
    // tus-js-client would keep each unfinished upload's URL in localStorage under a fingerprint
    // made of the filename, which may name a patient. Cut connections still resume within the
    // page; a reload starts the file again.
    storeFingerprintForResuming: false,
  })
  // Every file, dropped or picked, says where it goes.
  uppy.on('file-added', (file) => {
    uppy.setFileMeta(file.id, {
      ...file.meta,
      system: target.system,
      objectType: target.objectType,
      objectId: target.objectId,
      filename: (file.name ?? 'upload').normalize('NFC'),
      contentType: file.type || 'application/octet-stream',
    })
  })
  uppy.on('upload-progress', (file, progress) => {
    if (!file || !progress.bytesTotal) return
    events.onProgress(file.name ?? '', Math.round(((progress.bytesUploaded ?? 0) / progress.bytesTotal) * 100))
  })
  uppy.on('upload-success', (file) => {
    if (!file) return
    events.onStored({ name: file.name ?? '', size: file.size ?? 0 })
    // Not at once: @uppy/tus drops its handle on the upload only after this event, and removing the
    // file while it still holds one sends a tus DELETE for the upload just recorded.
    setTimeout(() => uppy.removeFile(file.id))
  })
  uppy.on('upload-error', (file, _error, response) => {
    // After its retries, the last answer: the XHR itself from xhr-upload, inside the body from tus.
    const xhr = response instanceof XMLHttpRequest ? response : (response?.body as { xhr?: XMLHttpRequest } | undefined)?.xhr
    let body: unknown
    try {
      body = xhr?.responseText ? JSON.parse(xhr.responseText) : undefined
    } catch {
      body = undefined
    }
    events.onFailed(file?.name ?? '', errorFromBody(xhr?.status ?? response?.status ?? 0, body))
    if (file) uppy.removeFile(file.id)
  })
  uppy.on('complete', () => events.onSettled())
  return {
    add(files) {
      for (const file of files) uppy.addFile({ name: file.name, type: file.type, data: file, source: 'file input' })
    },
    close: () => uppy.destroy(),
  }
}
