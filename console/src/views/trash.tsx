// Trash: what was deleted, by whom and when, and when it will be purged for good. Restore puts a
// file back at its key; purge (admins) removes it now. Both are audited by the server.
import { useEffect, useRef, useState } from 'preact/hooks'
import type { Api, ApiError, Page, TrashRecord } from '../api.js'
import { toApiError, useAsync } from '../components/async.js'
import { ErrorNotice, LiveStatus } from '../components/notice.js'
import { TableRegion } from '../components/table-region.js'
import type { ConsoleConfig } from '../config.js'
import { filenameOf, formatBytes, formatTime, formatUntil } from '../format.js'
import { href } from '../router.js'
import { can, canPurge, type Session } from '../session.js'

function recordPath(key: string): string[] {
  return key.split('/').slice(1, 4)
}

export function TrashView({ api, session }: { api: Api; session: Session; config: ConsoleConfig }) {
  const heading = useRef<HTMLHeadingElement>(null)
  useEffect(() => heading.current?.focus(), [])
  const [cursor, setCursor] = useState<string | undefined>()
  const [rows, setRows] = useState<TrashRecord[]>([])
  const [next, setNext] = useState<string | undefined>()
  const [status, setStatus] = useState('')
  const [actionError, setActionError] = useState<{ action: string; error: ApiError } | undefined>()
  const [confirming, setConfirming] = useState<string | undefined>()
  const [generation, setGeneration] = useState(0)
  const page = useAsync(() => api.get<Page<TrashRecord>>('/trash', { limit: 100, cursor }), [cursor, generation])

  useEffect(() => {
    if (!page.data) return
    setRows((seen) => (cursor ? [...seen, ...page.data!.items] : page.data!.items))
    setNext(page.data.nextCursor)
  }, [page.data])

  function refresh() {
    setCursor(undefined)
    setGeneration((g) => g + 1)
  }

  async function act(action: string, work: () => Promise<string>) {
    setActionError(undefined)
    try {
      setStatus(await work())
      refresh()
    } catch (err) {
      setActionError({ action, error: toApiError(err) })
    }
  }

  const restore = (row: TrashRecord) =>
    act(`Restore of ${filenameOf(row.key)}`, async () => {
      await api.send('POST', `/trash/${encodeURIComponent(row.trashId)}/restore`)
      return `Restored ${filenameOf(row.key)} to ${recordPath(row.key).join(' / ')}.`
    })

  const purge = (row: TrashRecord) =>
    act(`Purge of ${filenameOf(row.key)}`, async () => {
      setConfirming(undefined)
      await api.send('DELETE', `/trash/${encodeURIComponent(row.trashId)}`)
      return `Purged ${filenameOf(row.key)}: it can no longer be restored.`
    })

  return (
    <>
      <h1 tabIndex={-1} ref={heading}>
        Trash
      </h1>
      <p>
        Deleted files stay here until their purge date, then they are removed for good.
        {canPurge(session) ? ' As an administrator you can also purge a file now.' : ''}
      </p>
      <LiveStatus message={status} />
      {actionError ? <ErrorNotice error={actionError.error} action={actionError.action} /> : null}
      {page.error ? <ErrorNotice error={page.error} action="Listing the trash" /> : null}
      {page.loading && rows.length === 0 ? <p role="status">Loading…</p> : null}
      {!page.loading && !page.error && rows.length === 0 ? <p>The trash is empty.</p> : null}
      {rows.length > 0 ? (
        <TableRegion label="Deleted files">
          <table>
            <caption class="visually-hidden">Deleted files, newest first</caption>
            <thead>
              <tr>
                <th scope="col">File</th>
                <th scope="col">From</th>
                <th scope="col" class="number">Size</th>
                <th scope="col">Deleted by</th>
                <th scope="col">Deleted</th>
                <th scope="col">Purged</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => {
                const name = filenameOf(row.key)
                const from = recordPath(row.key)
                return (
                  <tr key={row.trashId}>
                    <th scope="row" class="filename">{name}</th>
                    <td>
                      <a href={href('files', from)}>{from.join(' / ')}</a>
                    </td>
                    <td class="number">{formatBytes(row.size)}</td>
                    <td>{row.deletedBy}</td>
                    <td>{formatTime(row.deletedAt)}</td>
                    <td>
                      {formatTime(row.purgeAfter)} <span class="muted">({formatUntil(row.purgeAfter)})</span>
                    </td>
                    <td class="row-actions">
                      {can(session, 'delete', from[0]!) ? (
                        <button type="button" onClick={() => void restore(row)} aria-label={`Restore ${name}`}>
                          Restore
                        </button>
                      ) : null}
                      {canPurge(session) && confirming !== row.trashId ? (
                        <button type="button" class="danger" onClick={() => setConfirming(row.trashId)} aria-label={`Purge ${name}`}>
                          Purge…
                        </button>
                      ) : null}
                      {confirming === row.trashId ? (
                        <span class="confirm" role="group" aria-label={`Confirm purge of ${name}`}>
                          <button type="button" class="danger" onClick={() => void purge(row)}>
                            Purge {name} now
                          </button>
                          <button type="button" onClick={() => setConfirming(undefined)}>
                            Keep it
                          </button>
                        </span>
                      ) : null}
                    </td>
                  </tr>
                )
              })}
            </tbody>
          </table>
        </TableRegion>
      ) : null}
      {next && !page.loading ? (
        <button type="button" onClick={() => setCursor(next)}>
          Load more
        </button>
      ) : null}
    </>
  )
}
