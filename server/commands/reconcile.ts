// `reconcile [--fix]`: the ledger against the bucket. It finds objects no record claims, records
// whose object is gone, uploads a crash left pending, and multipart uploads nobody will finish.
// --fix settles only what is safe to settle automatically: pending uploads and multipart parts.
// Unrecorded objects and missing objects need a person: one may be a patient's only copy.
import type { IncompleteUpload, ObjectStore } from '../../plugin/drivers/types.js'
import type { Ledger, ObjectState, UploadKind } from '../../plugin/ledger/types.js'
import type { Storage } from '../../plugin/storage.js'
import { ALL_PENDING, claimedStaging } from '../../plugin/uploads/staging.js'
import type { Command } from './types.js'
import { cliConfig, openStorage, parseCommandArgs, progress, usageError } from './context.js'
import { abandonedAfterSeconds } from '../config.js'

/** Objects `check` writes and deletes; never the ledger's business. */
const PROBE_PREFIX = '.probe/'

export interface ReconcileDeps {
  storage: Storage
  store: ObjectStore
  ledger: Ledger
}

export interface ReconcileOptions {
  fix?: boolean
  /** A pending upload (or multipart upload) younger than this may still be running in a sidecar. */
  staleAfterSeconds: number
  /** A direct browser upload may run until its presigned URL expires. */
  directGraceSeconds: number
  now?: () => Date
  onProgress?: (line: string) => void
}

export interface PendingUpload {
  key: string
  id: string
  createdAt: string
  /** A direct browser upload (presigned PUT) rather than one streamed through the sidecar. */
  direct: boolean
  /** How its bytes arrive: streamed, direct (presigned PUT), tus (resumable) or multipart (presigned parts). */
  kind: UploadKind
  /** When an upload that outlives a request (direct, tus, multipart) is given up. */
  expiresAt: string | null
}

export interface Comparison {
  objects: number
  records: number
  /** Objects in the bucket that no ledger row claims. */
  unrecorded: Array<{ key: string; size: number }>
  /** Live or trashed rows whose object is not in the bucket. */
  missing: Array<{ key: string; state: ObjectState; id: string }>
  stalePending: PendingUpload[]
  /** Pending uploads that may still be running: reported, never touched. */
  activePending: PendingUpload[]
  /** Multipart uploads no running upload will complete. */
  incompleteUploads: IncompleteUpload[]
  activeUploads: IncompleteUpload[]
}

export interface ReconcileReport {
  before: Comparison
  fixed?: { committed: string[]; failed: string[]; aborted: IncompleteUpload[]; errors: string[] }
  /** The state after --fix; without it, the same as `before`. */
  after: Comparison
  clean: boolean
}

export function problemCount(c: Comparison): number {
  return c.unrecorded.length + c.missing.length + c.stalePending.length + c.incompleteUploads.length
}

/** Against a shared ledger too: an upload whose instance's lease lives is active, whatever its age. */
async function classifyPending(storage: Storage, now: Date, options: ReconcileOptions) {
  const stale: PendingUpload[] = []
  const active: PendingUpload[] = []
  const alive = new Map<string, boolean>()
  for (const row of await storage.ledger.listStalePending(now)) {
    const entry = { key: row.key, id: row.id, createdAt: row.createdAt, direct: row.kind === 'direct', kind: row.kind, expiresAt: row.expiresAt }
    ;((await storage.isAbandoned(row, now, options, alive)) ? stale : active).push(entry)
  }
  return { stale, active }
}

async function classifyUploads(deps: ReconcileDeps, now: Date, options: ReconcileOptions, active: PendingUpload[]) {
  const activeKeys = new Set(active.map((p) => p.key))
  const stale: IncompleteUpload[] = []
  const running: IncompleteUpload[] = []
  for (const upload of await deps.store.listIncompleteUploads()) {
    // Young ones may also be a large server-side copy into trash, which has no pending row.
    const young = (now.getTime() - upload.initiated.getTime()) / 1000 < options.staleAfterSeconds
    ;(activeKeys.has(upload.key) || young ? running : stale).push(upload)
  }
  return { stale, running }
}

async function listObjects(store: ObjectStore, onProgress?: (line: string) => void) {
  const objects = new Map<string, number>()
  let cursor: string | undefined
  do {
    const page = await store.list('', { cursor, limit: 1000 })
    for (const item of page.items) if (!item.key.startsWith(PROBE_PREFIX)) objects.set(item.key, item.size)
    onProgress?.(`listed ${objects.size} objects`)
    cursor = page.nextCursor
  } while (cursor)
  return objects
}

/** One pass over ledger and bucket. */
export async function compare(deps: ReconcileDeps, options: ReconcileOptions): Promise<Comparison> {
  const now = options.now?.() ?? new Date()
  const pending = await classifyPending(deps.storage, now, options)
  // The ledger is read before and after the listing: uploads and trash moves that happen while
  // we list would otherwise show up as drift. Only what both reads agree on is reported.
  const recordsBefore = await deps.ledger.listStoredKeys()
  const objects = await listObjects(deps.store, options.onProgress)
  const recordsAfter = await deps.ledger.listStoredKeys()
  const recorded = new Set([...recordsBefore, ...recordsAfter].map((r) => r.key))
  // Bytes staged by pending uploads (a presigned PUT's object, a resumable upload's tail) are theirs.
  const pendingRows = await deps.ledger.listStalePending(ALL_PENDING)
  const staged = claimedStaging(pendingRows.flatMap((row) => (row.stagingKey ? [row.stagingKey] : [])))
  const claimed = { has: (key: string) => recorded.has(key) || staged(key) }
  const stable = new Set(recordsAfter.map((r) => `${r.id}:${r.state}:${r.key}`))

  const unrecorded: Comparison['unrecorded'] = []
  for (const [key, size] of objects) {
    if (!claimed.has(key) && (await deps.store.head(key))) unrecorded.push({ key, size })
  }
  const missing: Comparison['missing'] = []
  for (const r of recordsBefore) {
    if (r.state === 'pending' || objects.has(r.key) || !stable.has(`${r.id}:${r.state}:${r.key}`)) continue
    if (!(await deps.store.head(r.key))) missing.push(r)
  }
  const uploads = await classifyUploads(deps, now, options, pending.active)
  return {
    objects: objects.size,
    records: recordsAfter.length,
    unrecorded,
    missing,
    stalePending: pending.stale,
    activePending: pending.active,
    incompleteUploads: uploads.stale,
    activeUploads: uploads.running,
  }
}

export async function reconcile(deps: ReconcileDeps, options: ReconcileOptions): Promise<ReconcileReport> {
  const before = await compare(deps, options)
  if (!options.fix) return { before, after: before, clean: problemCount(before) === 0 }

  const now = options.now?.() ?? new Date()
  // The same rule the report used: uploads a running sidecar may still be streaming are spared.
  const { committed, failed } = await deps.storage.recoverPending({
    now,
    staleAfterSeconds: options.staleAfterSeconds,
    directGraceSeconds: options.directGraceSeconds,
  })
  const aborted: IncompleteUpload[] = []
  const errors: string[] = []
  const active = (await classifyPending(deps.storage, now, options)).active
  for (const upload of (await classifyUploads(deps, now, options, active)).stale) {
    try {
      await deps.store.abortIncompleteUpload(upload)
      aborted.push(upload)
    } catch (err) {
      errors.push(`abort ${upload.key} (${upload.uploadId}): ${(err as Error).message}`)
    }
  }
  const after = await compare(deps, options)
  return { before, fixed: { committed, failed, aborted, errors }, after, clean: problemCount(after) === 0 }
}

const KIND_NAMES: Record<UploadKind, string> = {
  stream: 'streamed',
  direct: 'direct',
  tus: 'resumable (tus)',
  multipart: 'presigned multipart',
}

function printComparison(c: Comparison, out: (text: string) => void): void {
  out(`ledger: ${c.records} records; bucket: ${c.objects} objects\n`)
  const section = <T>(items: T[], mark: string, title: string, line: (item: T) => string, hint?: string) => {
    if (items.length === 0) return
    out(`${mark} ${items.length} ${title}:\n${items.map((item) => `    ${line(item)}\n`).join('')}`)
    if (hint) out(`  ${hint}\n`)
  }
  const pending = (p: PendingUpload) =>
    `${p.key}  (${KIND_NAMES[p.kind]}, started ${p.createdAt}${p.expiresAt ? `, expires ${p.expiresAt}` : ''}, id ${p.id})`
  const upload = (u: IncompleteUpload) => `${u.key}  (upload ${u.uploadId}, initiated ${u.initiated.toISOString()})`
  section(c.unrecorded, '✗', 'object(s) with no ledger record', (o) => `${o.key}  (${o.size} bytes)`,
    'Never deleted automatically (staged objects under .uploads/ are: the sweep and --fix remove them once no upload can claim them): find out whose file it is, then delete it from the bucket or upload it again through the API.')
  section(c.missing, '✗', 'record(s) with no object', (r) => `${r.key}  (${r.state}, id ${r.id})`,
    'The bytes are gone from the bucket: restore them from a backup, or investigate who deleted them.')
  section(c.stalePending, '✗', 'stale pending upload(s)', pending, 'Run `spaces-proxy reconcile --fix` to settle them.')
  section(c.incompleteUploads, '✗', 'incomplete multipart upload(s)', upload, 'Run `spaces-proxy reconcile --fix` to abort them.')
  section(c.activePending, '•', 'pending upload(s) that may still be running (left alone)', pending)
  section(c.activeUploads, '•', 'multipart upload(s) that may still be running (left alone)', upload)
}

function printReport(report: ReconcileReport, out: (text: string) => void): void {
  printComparison(report.before, out)
  if (report.fixed) {
    const { committed, failed, aborted, errors } = report.fixed
    out(`\nfixed: ${committed.length} pending upload(s) committed, ${failed.length} marked failed, ${aborted.length} multipart upload(s) aborted\n`)
    for (const error of errors) out(`  ✗ ${error}\n`)
    out('\nafter fixing:\n')
    printComparison(report.after, out)
  }
  const left = problemCount(report.after)
  out(left === 0 ? '\nledger and bucket agree\n' : `\n${left} problem(s) remain\n`)
}

const usage = [
  'Usage: spaces-proxy reconcile [--fix] [--stale-after <seconds>]',
  '',
  'Compares the ledger with the bucket and reports objects with no record, records with no',
  'object, stale pending uploads and incomplete multipart uploads. Exits 0 when they agree.',
  '',
  '  --fix          settle stale pending uploads (committed if their object is complete, else',
  '                 failed and cleaned up) and abort incomplete multipart uploads no running',
  '                 upload owns, then compare again. Unrecorded and missing objects are only reported.',
  '  --stale-after  age in seconds after which a pending upload is taken as abandoned. Default:',
  '                 REQUEST_TIMEOUT_MS + 60 s, the longest a running sidecar can still be streaming',
  '                 it (1 day when REQUEST_TIMEOUT_MS=0). Use 0 when the sidecar is stopped.',
  '',
  'Keys hold filenames, which may name patients: the report is for this terminal, not for logs.',
].join('\n')

export const reconcileCommand: Command = {
  summary: 'compare the ledger with the bucket (--fix settles uploads)',
  usage,
  async run(args) {
    const parsed = parseCommandArgs(
      args,
      { options: { fix: { type: 'boolean', default: false }, 'stale-after': { type: 'string' } } },
      usage,
    )
    if (!parsed) return 2
    const config = cliConfig()
    const given = parsed.values['stale-after']
    const staleAfterSeconds =
      given !== undefined ? Number(given) : abandonedAfterSeconds(config)
    if (!Number.isSafeInteger(staleAfterSeconds) || staleAfterSeconds < 0) {
      return usageError('--stale-after must be a whole number of seconds, 0 or more', usage)
    }
    const opened = await openStorage(config)
    const line = progress()
    try {
      const report = await reconcile(opened, {
        fix: parsed.values.fix,
        staleAfterSeconds,
        directGraceSeconds: config.signedUrls.maxTtl + 60,
        onProgress: line.update,
      })
      line.done()
      printReport(report, (text) => process.stdout.write(text))
      return report.clean ? 0 : 1
    } finally {
      line.done()
      await opened.close()
    }
  },
}
