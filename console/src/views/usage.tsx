// Usage: bytes and files per system and in the trash, and what they cost a month, as a bar
// chart drawn in SVG (no chart library) with the exact figures in a table beside it.
import { useEffect, useRef, useState } from 'preact/hooks'
import type { Api, Usage } from '../api.js'
import { useAsync } from '../components/async.js'
import { ErrorNotice } from '../components/notice.js'
import { TableRegion } from '../components/table-region.js'
import type { ConsoleConfig } from '../config.js'
import { formatBytes, formatCount, formatTime, formatUsd } from '../format.js'

interface Row {
  label: string
  objects: number
  bytes: number
  trash?: boolean
}

function rowsOf(usage: Usage, systems: readonly string[]): Row[] {
  const names = [...systems, ...Object.keys(usage.bySystem).filter((s) => !systems.includes(s))]
  const rows: Row[] = names.map((label) => ({ label, ...(usage.bySystem[label] ?? { objects: 0, bytes: 0 }) }))
  rows.push({ label: 'Trash', ...usage.trash, trash: true })
  return rows
}

const ROW = 34
const LABEL = 150
const BAR = 330
const WIDTH = 720

function files(n: number): string {
  return `${formatCount(n)} file${n === 1 ? '' : 's'}`
}

function Chart({ rows }: { rows: Row[] }) {
  const max = Math.max(1, ...rows.map((r) => r.bytes))
  const height = rows.length * ROW + 8
  return (
    <svg class="chart" viewBox={`0 0 ${WIDTH} ${height}`} role="img" aria-labelledby="chart-title chart-desc">
      <title id="chart-title">Stored bytes per system, and in the trash</title>
      <desc id="chart-desc">{rows.map((r) => `${r.label}: ${formatBytes(r.bytes)}, ${files(r.objects)}`).join('; ')}</desc>
      {rows.map((row, i) => {
        const width = row.bytes === 0 ? 0 : Math.max(3, (row.bytes / max) * BAR)
        const y = i * ROW + 4
        return (
          <g key={row.label}>
            <text x={LABEL - 10} y={y + 21} text-anchor="end" class="chart-label">
              {row.label}
            </text>
            <rect x={LABEL} y={y + 4} width={BAR} height={ROW - 10} class="bar-track" />
            <rect x={LABEL} y={y + 4} width={width} height={ROW - 10} class={row.trash ? 'bar bar-trash' : 'bar'} />
            <text x={LABEL + BAR + 10} y={y + 21} class="chart-value">
              {`${formatBytes(row.bytes)} · ${files(row.objects)}`}
            </text>
          </g>
        )
      })}
    </svg>
  )
}

export function UsageView({ api, config }: { api: Api; config: ConsoleConfig }) {
  const heading = useRef<HTMLHeadingElement>(null)
  useEffect(() => heading.current?.focus(), [])
  const [asOf, setAsOf] = useState<string | undefined>()
  const usage = useAsync(async () => {
    const result = await api.get<Usage>('/usage')
    setAsOf(new Date().toISOString())
    return result
  }, [])
  const u = usage.data
  const rows = u ? rowsOf(u, config.systems) : []
  return (
    <>
      <h1 tabIndex={-1} ref={heading}>
        Usage
      </h1>
      {usage.error ? <ErrorNotice error={usage.error} action="Reading usage" /> : null}
      {u ? (
        <>
          <dl class="tiles" data-testid="usage-tiles">
            <div class="tile">
              <dt>Live files</dt>
              <dd data-testid="usage-live">
                {formatBytes(u.bytes)} <span class="muted">in {files(u.objects)}</span>
              </dd>
            </div>
            <div class="tile">
              <dt>In the trash</dt>
              <dd data-testid="usage-trash">
                {formatBytes(u.trash.bytes)} <span class="muted">in {files(u.trash.objects)}</span>
              </dd>
            </div>
            <div class="tile">
              <dt>Estimated monthly cost</dt>
              <dd data-testid="usage-cost">{formatUsd(u.estimatedMonthlyCostUsd)}</dd>
            </div>
          </dl>
          <p class="muted">
            The estimate counts live and trashed bytes at $5 per 250 GiB a month, the Spaces storage price; transfer is not
            included. {asOf ? `Figures as of ${formatTime(asOf)}.` : ''}
          </p>
          <section aria-labelledby="by-system-heading">
            <h2 id="by-system-heading">By system</h2>
            <Chart rows={rows} />
            <TableRegion label="Usage by system">
              <table>
                <caption class="visually-hidden">Bytes and files per system, and in the trash</caption>
                <thead>
                  <tr>
                    <th scope="col">System</th>
                    <th scope="col" class="number">Files</th>
                    <th scope="col" class="number">Bytes</th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((row) => (
                    <tr key={row.label} data-system={row.label}>
                      <th scope="row">{row.label}</th>
                      <td class="number">{formatCount(row.objects)}</td>
                      <td class="number">
                        {formatBytes(row.bytes)} <span class="muted">({formatCount(row.bytes)} B)</span>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableRegion>
          </section>
        </>
      ) : null}
      {usage.loading && !u ? <p role="status">Loading…</p> : null}
      <button type="button" onClick={usage.reload} disabled={usage.loading}>
        Refresh
      </button>
    </>
  )
}
