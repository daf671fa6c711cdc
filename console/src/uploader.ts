// The upload seam: Uppy with the transport this server offers. Today that is a raw PUT per file
// to /files/{key} (streamed through the server, durable when it answers 201). A resumable tus
// endpoint would plug in here without the Files view noticing.
import Uppy, { type UppyFile } from '@uppy/core'
import DropTarget from '@uppy/drop-target'
import XHRUpload from '@uppy/xhr-upload'
import { keyPath, errorFromBody, type ApiError, type Api, type FileRecord } from './api.js'

export interface UploadTarget {
  org: string
  system: string
  objectType: string
  objectId: string
}

export interface UploadEvents {
  onProgress(name: string, percent: number): void
  onStored(record: FileRecord): void
  onFailed(name: string, error: ApiError): void
  onSettled(): void
}

type Meta = { name: string; type?: string }
type Body = Record<string, never>

// Only outages are worth a second try; a refusal (403, 409, 413, 415) would be refused again.
const RETRYABLE = new Set([0, 502, 503, 504])

/** Filenames as the server keys them: Unicode NFC. */
export function keyFor(target: UploadTarget, filename: string): string {
  return [target.org, target.system, target.objectType, target.objectId, filename.normalize('NFC')].join('/')
}

export interface Uploader {
  /** Adds files picked with the file input (drops arrive through the drop target). */
  add(files: Iterable<File>): void
  close(): void
}

export function createUploader(
  api: Api,
  target: UploadTarget,
  dropZone: HTMLElement,
  options: { overwrite: () => boolean },
  events: UploadEvents,
): Uploader {
  const uppy = new Uppy<Meta, Body>({ autoProceed: true, allowMultipleUploadBatches: true })
  uppy.use(DropTarget, { target: dropZone })
  uppy.use(XHRUpload, {
    method: 'PUT',
    formData: false,
    limit: 2,
    endpoint: (file) => {
      const one = file as UppyFile<Meta, Body>
      return api.url(`/files/${keyPath(keyFor(target, one.name ?? 'upload'))}`, { overwrite: options.overwrite() ? 'true' : undefined })
    },
    headers: (file) => ({
      authorization: `Bearer ${api.token}`,
      'content-type': file.type || 'application/octet-stream',
    }),
    shouldRetry: (xhr) => RETRYABLE.has(xhr.status),
  })
  uppy.on('upload-progress', (file, progress) => {
    if (!file || !progress.bytesTotal) return
    events.onProgress(file.name ?? '', Math.round(((progress.bytesUploaded ?? 0) / progress.bytesTotal) * 100))
  })
  uppy.on('upload-success', (file, response) => {
    events.onStored(response.body as unknown as FileRecord)
    if (file) uppy.removeFile(file.id)
  })
  uppy.on('upload-error', (file, _error, response) => {
    const xhr = response as unknown as XMLHttpRequest | undefined
    let body: unknown
    try {
      body = xhr?.responseText ? JSON.parse(xhr.responseText) : undefined
    } catch {
      body = undefined
    }
    events.onFailed(file?.name ?? '', errorFromBody(xhr?.status ?? 0, body))
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
