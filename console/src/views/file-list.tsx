// One record's files: what is stored, previews of PDFs and images through short-lived proxy
// links, downloads, soft deletes (with undo), and uploads by drag-and-drop or file picker.
import { useEffect, useRef, useState } from 'preact/hooks'
import { keyPath, signedUrl, type Api, type ApiError, type FileRecord, type Page, type SignedUrl } from '../api.js'
import { toApiError, useAsync } from '../components/async.js'
import { ErrorNotice, LiveStatus } from '../components/notice.js'
import { TableRegion } from '../components/table-region.js'
import { filenameOf, formatBytes, formatTime } from '../format.js'
import { can, type Session } from '../session.js'
import { createUploader, type UploadTarget, type Uploader } from '../uploader.js'

const PREVIEWABLE = /^(application\/pdf|image\/(png|jpeg|gif|webp|avif))$/

interface Preview {
  record: FileRecord
  link: SignedUrl
}

function PreviewPanel({ preview, onClose }: { preview: Preview; onClose(): void }) {
  const heading = useRef<HTMLHeadingElement>(null)
  useEffect(() => heading.current?.focus(), [preview.record.key])
  const name = filenameOf(preview.record.key)
  return (
    <section class="preview" aria-labelledby="preview-heading">
      <div class="preview-bar">
        <h2 id="preview-heading" tabIndex={-1} ref={heading}>
          Preview of {name}
        </h2>
        <button type="button" onClick={onClose}>
          Close preview
        </button>
      </div>
      <p class="muted">This preview link expires at {formatTime(preview.link.expiresAt)}; opening it is recorded in the audit trail.</p>
      {preview.record.contentType === 'application/pdf' ? (
        <iframe class="preview-frame" src={preview.link.url} title={`Preview of ${name}`} />
      ) : (
        <img class="preview-image" src={preview.link.url} alt={`Preview of ${name}`} />
      )}
    </section>
  )
}

function Dropzone({ api, target, resumable, onStored }: { api: Api; target: UploadTarget; resumable: boolean; onStored(): void }) {
  const zone = useRef<HTMLDivElement>(null)
  const picker = useRef<HTMLInputElement>(null)
  const uploader = useRef<Uploader>()
  const [progress, setProgress] = useState('')
  const [failures, setFailures] = useState<Array<{ name: string; error: ApiError }>>([])
  const [dragging, setDragging] = useState(false)
  const stored = useRef(onStored)
  stored.current = onStored

  useEffect(() => {
    uploader.current = createUploader(api, target, zone.current!, { resumable }, {
      onProgress: (name, percent) => setProgress(`Uploading ${name}: ${percent}%`),
      onStored: ({ name, size }) => {
        setProgress(`Stored ${name} (${formatBytes(size)}).`)
        stored.current()
      },
      onFailed: (name, error) => setFailures((f) => [...f, { name, error }]),
      onSettled: () => setDragging(false),
    })
    return () => uploader.current?.close()
  }, [api, resumable, target.org, target.system, target.objectType, target.objectId])

  return (
    <section aria-labelledby="upload-heading" class="upload">
      <h2 id="upload-heading">Upload</h2>
      <div
        ref={zone}
        class={`dropzone${dragging ? ' is-dragging' : ''}`}
        data-testid="dropzone"
        onDragEnter={() => setDragging(true)}
        onDragLeave={() => setDragging(false)}
        onDrop={() => setDragging(false)}
      >
        <p>Drop files here to add them to this record, or</p>
        <input
          ref={picker}
          id="file-picker"
          type="file"
          multiple
          aria-label="Files to upload"
          tabIndex={-1}
          class="visually-hidden"
          onChange={(event) => {
            const input = event.target as HTMLInputElement
            if (input.files) uploader.current?.add(input.files)
            input.value = ''
          }}
        />
        <button type="button" onClick={() => picker.current?.click()}>
          Choose files…
        </button>
      </div>
      <p class="hint">A file with the same name is not replaced: move the old one to the trash first.</p>
      <LiveStatus message={progress} />
      {failures.map(({ name, error }, i) => (
        <ErrorNotice key={i} error={error} action={`Upload of ${name}`} />
      ))}
    </section>
  )
}

export function FileList({ api, session, target, resumable }: { api: Api; session: Session; target: UploadTarget; resumable: boolean }) {
  const query = { system: target.system, objectType: target.objectType, objectId: target.objectId, limit: 1000 }
  const listing = useAsync(() => api.get<Page<FileRecord>>('/files', query), [])
  const [preview, setPreview] = useState<Preview | undefined>()
  const [actionError, setActionError] = useState<{ action: string; error: ApiError } | undefined>()
  const [status, setStatus] = useState('')
  const [undo, setUndo] = useState<{ trashId: string; key: string } | undefined>()
  const mayRead = can(session, 'read', target.system)
  const mayWrite = can(session, 'write', target.system)
  const mayDelete = can(session, 'delete', target.system)

  async function run(action: string, work: () => Promise<void>) {
    setActionError(undefined)
    try {
      await work()
    } catch (err) {
      setActionError({ action, error: toApiError(err) })
    }
  }

  const showPreview = (record: FileRecord) =>
    run(`Preview of ${filenameOf(record.key)}`, async () => setPreview({ record, link: await signedUrl(api, record.key, 'inline') }))

  const download = (record: FileRecord) =>
    run(`Download of ${filenameOf(record.key)}`, async () => {
      const link = await signedUrl(api, record.key, 'attachment')
      const a = document.createElement('a')
      a.href = link.url
      a.download = filenameOf(record.key)
      a.hidden = true
      document.body.append(a)
      a.click()
      a.remove()
      setStatus(`Downloading ${filenameOf(record.key)}.`)
    })

  const remove = (record: FileRecord) =>
    run(`Delete of ${filenameOf(record.key)}`, async () => {
      const trashed = await api.send<{ key: string; trashId: string; purgeAfter: string }>('DELETE', `/files/${keyPath(record.key)}`)
      if (preview?.record.key === record.key) setPreview(undefined)
      setUndo({ trashId: trashed.trashId, key: trashed.key })
      setStatus(`Moved ${filenameOf(record.key)} to the trash. It can be restored until ${formatTime(trashed.purgeAfter)}.`)
      listing.reload()
    })

  const restore = (entry: { trashId: string; key: string }) =>
    run(`Restore of ${filenameOf(entry.key)}`, async () => {
      await api.send('POST', `/trash/${encodeURIComponent(entry.trashId)}/restore`)
      setUndo(undefined)
      setStatus(`Restored ${filenameOf(entry.key)}.`)
      listing.reload()
    })

  const items = listing.data?.items ?? []
  return (
    <>
      <section aria-labelledby="files-heading">
        <h2 id="files-heading">
          Files of {target.objectType} {target.objectId}
        </h2>
        <LiveStatus message={status} />
        {undo ? (
          <p>
            <button type="button" onClick={() => void restore(undo)}>
              Undo: restore {filenameOf(undo.key)}
            </button>
          </p>
        ) : null}
        {actionError ? <ErrorNotice error={actionError.error} action={actionError.action} /> : null}
        {listing.error ? <ErrorNotice error={listing.error} action="Listing the files" /> : null}
        {listing.loading && !listing.data ? <p role="status">Loading…</p> : null}
        {listing.data && items.length === 0 ? <p>No live files in this record.</p> : null}
        {items.length > 0 ? (
          <TableRegion label="Files">
            <table>
              <caption class="visually-hidden">Live files of this record</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Type</th>
                  <th scope="col" class="number">Size</th>
                  <th scope="col">Uploaded</th>
                  <th scope="col">By</th>
                  <th scope="col">SHA-256</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {items.map((record) => {
                  const name = filenameOf(record.key)
                  return (
                    <tr key={record.key}>
                      <th scope="row" class="filename">{name}</th>
                      <td>{record.contentType}</td>
                      <td class="number">{formatBytes(record.size)}</td>
                      <td>{formatTime(record.createdAt)}</td>
                      <td>{record.createdBy}</td>
                      <td>
                        <code title={record.sha256}>{record.sha256.slice(0, 12)}…</code>
                      </td>
                      <td class="row-actions">
                        {mayRead && PREVIEWABLE.test(record.contentType) ? (
                          <button type="button" onClick={() => void showPreview(record)} aria-label={`Preview ${name}`}>
                            Preview
                          </button>
                        ) : null}
                        {mayRead ? (
                          <button type="button" onClick={() => void download(record)} aria-label={`Download ${name}`}>
                            Download
                          </button>
                        ) : null}
                        {mayDelete ? (
                          <button type="button" class="danger" onClick={() => void remove(record)} aria-label={`Delete ${name}`}>
                            Delete
                          </button>
                        ) : null}
                      </td>
                    </tr>
                  )
                })}
              </tbody>
            </table>
          </TableRegion>
        ) : null}
        {listing.data?.nextCursor ? <p class="muted">Showing the first 1,000 files of this record.</p> : null}
      </section>
      {preview ? <PreviewPanel preview={preview} onClose={() => setPreview(undefined)} /> : null}
      {mayWrite ? <Dropzone api={api} target={target} resumable={resumable} onStored={() => listing.reload()} /> : null}
    </>
  )
}
