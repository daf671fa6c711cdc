// Audit: the events of this org, filtered by actor, action, key, result and time, page by page,
// exported as CSV or NDJSON exactly as filtered, with the state of the hash chain and when it
// was checked. Filters live in the address, so a search can be bookmarked or sent to a colleague.
import { useEffect, useRef, useState } from 'preact/hooks'
import type { Api, AuditEvent, Page, Verification } from '../api.js'
import { toApiError, useAsync } from '../components/async.js'
import { ErrorNotice, LiveStatus } from '../components/notice.js'
import { TableRegion } from '../components/table-region.js'
import { saveFile, toCsv, toNdjson } from '../export.js'
import { formatBytes, formatTime, isoToLocalInput, localInputToIso } from '../format.js'
import { href, navigate } from '../router.js'
import type { Session } from '../session.js'

export const AUDIT_ACTIONS = ['upload', 'download', 'head', 'list', 'sign', 'soft_delete', 'restore', 'purge', 'upload_complete']
const RESULTS = ['ok', 'denied', 'error']
const FILTERS = ['actor', 'action', 'key', 'result', 'since', 'until'] as const
const PAGE_SIZES = [50, 100, 500]
/** An export stops here and says so, rather than holding an unbounded log in the tab. */
const EXPORT_CAP = 100_000

type Filter = Partial<Record<(typeof FILTERS)[number], string>>

function filterFrom(query: URLSearchParams): Filter {
  const filter: Filter = {}
  for (const name of FILTERS) {
    const value = query.get(name)
    if (value) filter[name] = value
  }
  return filter
}

function ChainStatus({ api }: { api: Api }) {
  const [checkedAt, setCheckedAt] = useState<string | undefined>()
  const check = useAsync(async () => {
    const result = await api.get<Verification>('/audit/verify')
    setCheckedAt(new Date().toISOString())
    return result
  }, [])
  const v = check.data
  return (
    <section class="chain" aria-labelledby="chain-heading" aria-busy={check.loading}>
      <h2 id="chain-heading">Hash chain</h2>
      {check.error ? <ErrorNotice error={check.error} action="Checking the chain" /> : null}
      {v ? (
        <div class={`chain-state ${v.ok ? 'chain-ok' : 'chain-broken'}`} data-testid="chain-state">
          <p class="chain-verdict">
            {v.ok ? 'Verified: every event links to the one before it.' : `Broken at event ${v.brokenAt?.seq}: ${v.brokenAt?.reason}`}
          </p>
          <dl>
            <div>
              <dt>Events</dt>
              <dd data-testid="chain-events">{v.events.toLocaleString('en-US')}</dd>
            </div>
            <div>
              <dt>Head</dt>
              <dd>
                <code class="hash">{v.head}</code>
              </dd>
            </div>
            <div>
              <dt>Checked</dt>
              <dd>{checkedAt ? <time dateTime={checkedAt}>{formatTime(checkedAt)}</time> : null}</dd>
            </div>
          </dl>
          <p class="muted">The chain covers every organisation in this ledger. Keep the head and count somewhere else to anchor them.</p>
        </div>
      ) : null}
      <button type="button" onClick={check.reload} disabled={check.loading}>
        {check.loading ? 'Checking…' : 'Check again'}
      </button>
    </section>
  )
}

/** The questions of a Monday morning, one click each. */
function QuickViews() {
  const weekAgo = new Date(Date.now() - 7 * 24 * 3_600_000).toISOString()
  const views = [
    { label: 'Denied in the last 7 days', query: { result: 'denied', since: weekAgo } },
    { label: 'Errors in the last 7 days', query: { result: 'error', since: weekAgo } },
    { label: 'Deletes in the last 7 days', query: { action: 'soft_delete', since: weekAgo } },
    { label: 'Purges in the last 7 days', query: { action: 'purge', since: weekAgo } },
  ]
  return (
    <ul class="quick" aria-label="Quick filters">
      {views.map((view) => (
        <li key={view.label}>
          <a href={href('audit', [], view.query)}>{view.label}</a>
        </li>
      ))}
    </ul>
  )
}

function FilterForm({ filter, limit }: { filter: Filter; limit: number }) {
  const [draft, setDraft] = useState({
    ...filter,
    since: isoToLocalInput(filter.since),
    until: isoToLocalInput(filter.until),
    limit: String(limit),
  })
  const field = (name: keyof typeof draft) => ({
    name,
    value: draft[name] ?? '',
    onInput: (e: Event) => setDraft((d) => ({ ...d, [name]: (e.target as HTMLInputElement).value })),
  })
  return (
    <form
      class="filters"
      aria-labelledby="filters-heading"
      onSubmit={(event) => {
        event.preventDefault()
        navigate(
          href('audit', [], {
            actor: draft.actor?.trim(),
            action: draft.action,
            key: draft.key?.trim(),
            result: draft.result,
            since: localInputToIso(draft.since),
            until: localInputToIso(draft.until),
            limit: draft.limit === '100' ? undefined : draft.limit,
          }),
        )
      }}
    >
      <h2 id="filters-heading">Filter</h2>
      <QuickViews />
      <div class="fields">
        <label>
          Actor
          <input {...field('actor')} autocomplete="off" />
        </label>
        <label>
          Action
          <select {...field('action')}>
            <option value="">Any action</option>
            {AUDIT_ACTIONS.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
        <label>
          Result
          <select {...field('result')}>
            <option value="">Any result</option>
            {RESULTS.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <label class="wide">
          Key (exact)
          <input {...field('key')} autocomplete="off" placeholder="org/system/type/id/file.pdf" />
        </label>
        <label>
          From (your time, inclusive)
          <input type="datetime-local" {...field('since')} />
        </label>
        <label>
          Until (your time, exclusive)
          <input type="datetime-local" {...field('until')} />
        </label>
        <label>
          Per page
          <select {...field('limit')}>
            {PAGE_SIZES.map((n) => (
              <option key={n} value={String(n)}>
                {n}
              </option>
            ))}
          </select>
        </label>
      </div>
      <div class="actions">
        <button type="submit" class="primary">
          Apply filters
        </button>
        <a class="button" href={href('audit')}>
          Clear
        </a>
      </div>
    </form>
  )
}

function resultLabel(event: AuditEvent): string {
  return `${event.result} ${event.status}${event.errorCode ? ` ${event.errorCode}` : ''}`
}

export function AuditView({ api, session, query }: { api: Api; session: Session; query: URLSearchParams }) {
  const heading = useRef<HTMLHeadingElement>(null)
  useEffect(() => heading.current?.focus(), [])
  const filter = filterFrom(query)
  const limit = PAGE_SIZES.includes(Number(query.get('limit'))) ? Number(query.get('limit')) : 100
  const filterKey = JSON.stringify([filter, limit])
  return (
    <>
      <h1 tabIndex={-1} ref={heading}>
        Audit trail
      </h1>
      <ChainStatus api={api} />
      <FilterForm key={filterKey} filter={filter} limit={limit} />
      <EventList key={filterKey} api={api} org={session.org} filter={filter} limit={limit} />
    </>
  )
}

function EventList({ api, org, filter, limit }: { api: Api; org: string; filter: Filter; limit: number }) {
  // cursors[i] fetches page i; page 0 is the newest.
  const [cursors, setCursors] = useState<Array<string | undefined>>([undefined])
  const cursor = cursors.at(-1)
  const page = useAsync(() => api.get<Page<AuditEvent>>('/audit', { ...filter, limit, cursor }), [cursor])
  const [exportStatus, setExportStatus] = useState('')
  const [exportError, setExportError] = useState<ReturnType<typeof toApiError> | undefined>()

  async function exportAs(format: 'csv' | 'ndjson') {
    setExportError(undefined)
    const events: AuditEvent[] = []
    let next: string | undefined
    try {
      do {
        const batch = await api.get<Page<AuditEvent>>('/audit', { ...filter, limit: 1000, cursor: next })
        events.push(...batch.items)
        next = batch.nextCursor
        setExportStatus(`Exporting: ${events.length.toLocaleString('en-US')} events so far…`)
      } while (next && events.length < EXPORT_CAP)
    } catch (err) {
      setExportStatus('')
      setExportError(toApiError(err))
      return
    }
    const stamp = new Date().toISOString().replace(/[:.]/g, '-')
    const name = `audit-${org}-${stamp}.${format}`
    if (format === 'csv') saveFile(name, toCsv(events), 'text/csv;charset=utf-8')
    else saveFile(name, toNdjson(events), 'application/x-ndjson')
    setExportStatus(
      `Exported ${events.length.toLocaleString('en-US')} events to ${name}${next ? ` (stopped at ${EXPORT_CAP.toLocaleString('en-US')}; narrow the filter for the rest)` : ''}.`,
    )
  }

  const items = page.data?.items ?? []
  return (
    <section aria-labelledby="events-heading">
      <h2 id="events-heading">Events</h2>
      <div class="actions">
        <button type="button" onClick={() => void exportAs('csv')}>
          Export CSV
        </button>
        <button type="button" onClick={() => void exportAs('ndjson')}>
          Export NDJSON
        </button>
      </div>
      <LiveStatus message={exportStatus} />
      {exportError ? <ErrorNotice error={exportError} action="Export" /> : null}
      {page.error ? <ErrorNotice error={page.error} action="Reading the audit trail" /> : null}
      {page.loading && !page.data ? <p role="status">Loading…</p> : null}
      {page.data && items.length === 0 ? <p>No events match these filters.</p> : null}
      {items.length > 0 ? (
        <TableRegion label="Audit events">
          <table class="events">
            <caption class="visually-hidden">Audit events, newest first, page {cursors.length}</caption>
            <thead>
              <tr>
                <th scope="col" class="number">#</th>
                <th scope="col">Time</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Key</th>
                <th scope="col">Result</th>
                <th scope="col" class="number">Bytes</th>
                <th scope="col">From</th>
              </tr>
            </thead>
            <tbody>
              {items.map((event) => (
                <tr key={event.id} class={`result-${event.result}`}>
                  <td class="number">{event.seq}</td>
                  <td>
                    <time dateTime={event.ts}>{formatTime(event.ts)}</time>
                  </td>
                  <td class="nowrap">{event.actor ?? '—'}</td>
                  <td>{event.action}</td>
                  <td class="key">{event.key ?? '—'}</td>
                  <td>
                    <span class={`badge badge-${event.result}`}>{resultLabel(event)}</span>
                  </td>
                  <td class="number">{event.bytes === null ? '—' : formatBytes(event.bytes)}</td>
                  <td>
                    {event.ip ?? '—'}
                    {event.requestId ? <span class="muted request-id"> {event.requestId}</span> : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableRegion>
      ) : null}
      <nav class="pager" aria-label="Audit pages">
        <button type="button" disabled={cursors.length === 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
          Newer events
        </button>
        <span>Page {cursors.length}</span>
        <button
          type="button"
          disabled={!page.data?.nextCursor || page.loading}
          onClick={() => setCursors((c) => [...c, page.data!.nextCursor])}
        >
          Older events
        </button>
      </nav>
    </section>
  )
}
