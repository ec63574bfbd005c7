/**
 * The chunks panel: which series this node holds (its own and others'), who
 * else holds them, fetches in progress, chunks refused, and a form to open
 * another node's series read-only (verified, with derived state and time
 * travel).
 *
 * The chunk service notifies on every holding change and on every progress
 * step of a fetch; the series on every append. Both only mark the panel
 * dirty: the view is re-read at most once per REFRESH_MS (src/ui/frame.ts)
 * and re-rendered only when it changed. Everything shown that came from a
 * peer (reasons, kinds) is plain React text, never HTML.
 */
import { memo, useEffect, useId, useMemo, useRef, useState, type FormEvent } from 'react'
import type { ChunksView, DownloadView, OpenedSeries, SeriesChunksView } from '../core/chunks/service.ts'
import type { JsonValue } from '../core/json.ts'
import type { Ir3Node } from '../core/node.ts'
import type { VerifyReport } from '../core/series/series.ts'
import { readView, type ViewSummary } from './derived.ts'
import { clockTime, countOf, errorMessage, formatBytes, formatCount, isoTime } from './format.ts'
import { createFrameScheduler } from './frame.ts'
import { useInspector, useNode } from './inspector-context.tsx'
import { shortId } from './network.ts'
import { FigureStat } from './stat.tsx'
import { SeqPicker } from './time-travel.tsx'

/** View refreshes at most this often (a fetch reports progress far more often). */
const REFRESH_MS = 100
/** Live torrents change without a notification: the view is re-read this often anyway. */
const TICK_MS = 1000
/** Series rows shown before "Show more". */
const PAGE = 25
/** Kinds listed in an opened series' summary. */
const MAX_KINDS = 40
const TRAVEL_DEBOUNCE_MS = 50
const NODE_ID = /^[0-9a-f]{32}$/

/** The chunk service's view, re-read on its notifications and the series' events, throttled. */
function useChunksView(node: Ir3Node): ChunksView | null {
  const service = node.chunkService
  const [view, setView] = useState<ChunksView | null>(() => service?.view() ?? null)
  useEffect(() => {
    if (!service) return
    let last = ''
    const frame = createFrameScheduler(
      () => {
        const next = service.view()
        // The view is small (a row per series, a few downloads): comparing its text is cheap and exact.
        const key = JSON.stringify(next)
        if (key === last) return
        last = key
        setView(next)
      },
      250,
      REFRESH_MS,
    )
    const offChunks = service.subscribe(() => frame.schedule())
    const offSeries = node.subscribe(() => frame.schedule())
    const tick = setInterval(() => frame.schedule(), TICK_MS)
    frame.schedule()
    return () => {
      offChunks()
      offSeries()
      clearInterval(tick)
      frame.cancel()
    }
  }, [node, service])
  return view
}

// ---- the `chunks` derived state, read defensively ----

interface Rejection {
  author: string
  index: number
  seq: number
  reason: string
  seeders: string[]
  t: number
}

interface RejectedSummary {
  /** Newest last, as the reducer keeps them. */
  rejected: Rejection[]
  count: number
}

type JsonObject = { [key: string]: JsonValue }

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

const num = (v: JsonValue | undefined): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0)
const str = (v: JsonValue | undefined): string => (typeof v === 'string' ? v : '')

function readRejected(s: JsonValue | undefined): RejectedSummary {
  if (!isObject(s)) return { rejected: [], count: 0 }
  const list = Array.isArray(s['rejected']) ? s['rejected'] : []
  const rejected: Rejection[] = []
  for (const r of list) {
    if (!isObject(r)) continue
    rejected.push({
      author: str(r['author']),
      index: num(r['index']),
      seq: num(r['seq']),
      reason: str(r['reason']),
      seeders: Array.isArray(r['seeders']) ? r['seeders'].filter((p): p is string => typeof p === 'string') : [],
      t: num(r['t']),
    })
  }
  return { rejected, count: Math.max(num(s['rejectedCount']), rejected.length) }
}

// ---- the panel ----

/** Own and held series, downloads, refused chunks, and opening another node's series. */
export function ChunksPanel() {
  const node = useNode()
  const view = useChunksView(node)
  const id = useId()
  const opener = useOpener(node)

  if (node.chunkService === null || view === null) {
    return (
      <section className="panel chunks-panel" data-testid="chunks-panel" aria-labelledby={`${id}-title`}>
        <div className="panel-head">
          <h2 id={`${id}-title`}>Chunks</h2>
        </div>
        <p className="muted" data-testid="no-chunks">
          No chunk swarm: this node neither serves nor fetches chunks, and cannot open other series.
        </p>
      </section>
    )
  }

  const held = view.series.filter((s) => !s.own && s.chunks > 0).length
  return (
    <section className="panel chunks-panel" data-testid="chunks-panel" aria-labelledby={`${id}-title`}>
      <div className="panel-head">
        <h2 id={`${id}-title`}>Chunks</h2>
        <span className="muted small" data-testid="chunks-summary" data-held={held}>
          holds {countOf(held, 'other series', 'other series')} · knows{' '}
          {countOf(view.series.length, 'series', 'series')}
        </span>
      </div>
      <Figures view={view} />
      <Rejected />
      <h3 className="subhead">Series</h3>
      <SeriesTable rows={view.series} onOpen={opener.open} />
      <h3 className="subhead">Downloads</h3>
      <Downloads downloads={view.downloads} />
      <OpenSeries opener={opener} />
    </section>
  )
}

function Figures({ view }: { view: ChunksView }) {
  const s = view.stats
  return (
    <dl className="stats chunks-stats" data-testid="chunks-stats">
      <FigureStat label="live torrents" testId="chunks-live-torrents" value={view.liveTorrents} />
      <FigureStat label="chunks fetched" testId="chunks-fetched-chunks" value={s.fetchedChunks} />
      <div>
        <dt>bytes fetched</dt>
        <dd className="figure" data-testid="chunks-fetched-bytes" data-value={s.fetchedBytes}>
          {formatBytes(s.fetchedBytes)}
        </dd>
      </div>
      <FigureStat
        label="chunks rejected"
        testId="chunks-rejected-chunks"
        value={s.rejectedChunks}
        className={s.rejectedChunks > 0 ? 'figure error-text' : 'figure'}
      />
      <FigureStat label="segments served" testId="chunks-served-segments" value={s.servedSegments} />
    </dl>
  )
}

function SeriesTable({ rows, onOpen }: { rows: readonly SeriesChunksView[]; onOpen: (author: string) => void }) {
  const [shown, setShown] = useState(PAGE)
  const visible = rows.slice(0, shown)
  return (
    <>
      <div className="chunks-table-wrap">
        <table className="table chunks-table" data-testid="chunks-series">
          <thead>
            <tr>
              <th scope="col">author</th>
              <th scope="col" className="num">
                chunks
              </th>
              <th scope="col" className="num">
                size
              </th>
              <th scope="col" className="num">
                bytes
              </th>
              <th scope="col">seeding</th>
              <th scope="col">holders</th>
              <th scope="col">
                <span className="visually-hidden">actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {visible.map((s) => (
              <SeriesRow key={s.author} row={s} onOpen={onOpen} />
            ))}
          </tbody>
        </table>
      </div>
      {rows.length > visible.length && (
        <div className="button-row">
          <span className="muted small">
            Showing {formatCount(visible.length)} of {formatCount(rows.length)}.
          </span>
          <button type="button" className="button button-small" onClick={() => setShown((n) => n + PAGE)}>
            Show {formatCount(Math.min(PAGE, rows.length - visible.length))} more
          </button>
        </div>
      )}
    </>
  )
}

const SeriesRow = memo(function SeriesRow({
  row,
  onOpen,
}: {
  row: SeriesChunksView
  onOpen: (author: string) => void
}) {
  const holders = Object.entries(row.holders).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
  const holdersTitle = holders.map(([n, c]) => `${n}: ${countOf(c, 'chunk', 'chunks')}`).join('\n')
  return (
    <tr
      data-testid="chunks-series-row"
      data-author={row.author}
      data-own={row.own}
      data-chunks={row.chunks}
      data-size={row.size}
      data-bytes={row.bytes}
      data-seeding={row.seeding}
      data-holders={holders.length}
    >
      <th scope="row" className="mono" title={row.author}>
        {shortId(row.author)}
        {row.own ? (
          <span className="tag tag-self chunks-tag">own</span>
        ) : row.chunks > 0 ? (
          <span className="tag chunks-tag">held</span>
        ) : null}
      </th>
      <td className="num" data-label="chunks">
        {formatCount(row.chunks)}
      </td>
      <td className="num" data-label="size" title="Entries its checkpoint covers">
        {formatCount(row.size)}
      </td>
      <td className="num" data-label="bytes" title={row.own ? 'Own chunks are in the series store' : undefined}>
        {row.own ? '—' : formatBytes(row.bytes)}
      </td>
      <td data-label="seeding">
        <span className={row.seeding ? 'ok-text' : 'muted'}>{row.seeding ? 'yes' : 'no'}</span>
      </td>
      <td data-label="holders">
        {holders.length === 0 ? (
          <span className="muted">0</span>
        ) : (
          <details className="chunks-holders">
            <summary title={holdersTitle} aria-label={`${countOf(holders.length, 'holder', 'holders')}: show them`}>
              {formatCount(holders.length)}
            </summary>
            <ul className="chunks-holder-list">
              {holders.map(([n, c]) => (
                <li key={n}>
                  <code className="chip" title={n}>
                    {shortId(n)}
                  </code>{' '}
                  <span className="muted small">{countOf(c, 'chunk', 'chunks')}</span>
                </li>
              ))}
            </ul>
          </details>
        )}
      </td>
      <td className="chunks-actions">
        {!row.own && (
          <button
            type="button"
            className="button button-small"
            onClick={() => onOpen(row.author)}
            aria-label={`Open ${shortId(row.author)} read-only`}
            data-testid="chunks-open-row"
          >
            Open
          </button>
        )}
      </td>
    </tr>
  )
})

function Downloads({ downloads }: { downloads: readonly DownloadView[] }) {
  if (downloads.length === 0)
    return (
      <p className="muted" data-testid="chunks-no-downloads">
        No fetch in progress.
      </p>
    )
  return (
    <ul className="chunks-downloads" data-testid="chunks-downloads">
      {downloads.map((d) => (
        <DownloadRow key={`${d.author}:${d.segment}`} d={d} />
      ))}
    </ul>
  )
}

function DownloadRow({ d }: { d: DownloadView }) {
  const known = d.total > 0
  const label = `${shortId(d.author)} segment ${d.segment}`
  return (
    <li
      className="chunks-download"
      data-testid="chunks-download"
      data-author={d.author}
      data-segment={d.segment}
      data-bytes={d.bytes}
      data-total={d.total}
    >
      <div className="chunks-download-head">
        <code title={d.author}>{shortId(d.author)}</code>
        <span className="muted small">segment {d.segment}</span>
        <span className="muted small">{countOf(d.chunks, 'chunk', 'chunks')}</span>
        <span className="muted small" title={d.holders.join('\n')}>
          {countOf(d.peers, 'peer', 'peers')} of {countOf(d.holders.length, 'holder', 'holders')}
        </span>
      </div>
      {known ? (
        <progress className="chunks-progress" value={d.bytes} max={d.total} aria-label={`Fetching ${label}`} />
      ) : (
        <progress className="chunks-progress" aria-label={`Fetching ${label}`} />
      )}
      <span className="chunks-download-bytes small">
        {known
          ? `${formatBytes(d.bytes)} of ${formatBytes(d.total)} (${Math.floor((d.bytes / d.total) * 100)}%)`
          : 'finding peers…'}
      </span>
    </li>
  )
}

/** Chunks refused (they did not match their author's signed checkpoint), as the series recorded them. */
function Rejected() {
  const raw = useInspector((s) => s.live['chunks'])
  const { rejected, count } = useMemo(() => readRejected(raw), [raw])
  if (rejected.length === 0) return null
  const newest = [...rejected].reverse()
  return (
    <div className="alert alert-danger chunks-rejected" data-testid="chunks-rejected" data-count={count}>
      <h3 className="chunks-rejected-title">
        {countOf(count, 'chunk rejected', 'chunks rejected')}
        {count > rejected.length && <span className="small"> (the latest {formatCount(rejected.length)} shown)</span>}
      </h3>
      <ol className="chunks-rejected-list">
        {newest.map((r, i) => (
          <li
            key={`${r.t}:${r.author}:${r.index}:${i}`}
            data-testid="chunks-rejection"
            data-author={r.author}
            data-index={r.index}
            data-seq={r.seq}
          >
            <div className="chunks-rejection-head">
              <code title={r.author}>{shortId(r.author)}</code>
              <span>{r.index < 0 ? 'whole series' : `chunk ${r.index}`}</span>
              {r.index >= 0 && <span>seq {r.seq}</span>}
              {r.t > 0 && (
                <time className="small" dateTime={isoTime(r.t)}>
                  {clockTime(r.t)}
                </time>
              )}
            </div>
            <p className="chunks-rejection-reason" data-testid="chunks-rejection-reason">
              {r.reason || 'no reason given'}
            </p>
            <p className="small">
              seeded by{' '}
              {r.seeders.length === 0
                ? 'unknown peers'
                : r.seeders.map((p) => (
                    <code key={p} className="chip chunks-seeder" title={p}>
                      {shortId(p)}
                    </code>
                  ))}
            </p>
          </li>
        ))}
      </ol>
    </div>
  )
}

// ---- opening a series ----

type OpenPhase =
  | { kind: 'idle' }
  | { kind: 'opening'; author: string }
  | { kind: 'error'; author: string; message: string }
  | { kind: 'done'; opened: OpenedSeries; n: number }

interface Opener {
  phase: OpenPhase
  text: string
  setText(text: string): void
  open(author: string): void
}

/** `node.openSeries`, with superseded answers dropped and replaced read-only series closed. */
function useOpener(node: Ir3Node): Opener {
  const [phase, setPhase] = useState<OpenPhase>({ kind: 'idle' })
  const [text, setText] = useState('')
  const token = useRef(0)
  useEffect(
    () => () => {
      token.current++
    },
    [],
  )
  // A read-only series opened from held chunks is closed when replaced or when the panel goes.
  const opened = phase.kind === 'done' ? phase.opened : null
  useEffect(() => {
    if (!opened || opened.series === node.series) return
    return () => opened.series.close()
  }, [opened, node])

  const open = (input: string) => {
    const author = input.trim().toLowerCase()
    const t = ++token.current
    setText(author)
    setPhase({ kind: 'opening', author })
    node.openSeries(author).then(
      (result) => {
        if (t === token.current) setPhase({ kind: 'done', opened: result, n: t })
        else if (result.series !== node.series) result.series.close()
      },
      (e: unknown) => {
        if (t === token.current) setPhase({ kind: 'error', author, message: errorMessage(e) })
      },
    )
  }
  return { phase, text, setText, open }
}

function OpenSeries({ opener }: { opener: Opener }) {
  const { phase, text, setText, open } = opener
  const inputRef = useRef<HTMLInputElement>(null)
  const id = useId()
  const submit = (e: FormEvent) => {
    e.preventDefault()
    open(text)
  }
  const invalid = phase.kind === 'error' && !NODE_ID.test(phase.author)
  useEffect(() => {
    if (invalid) inputRef.current?.focus()
  }, [invalid])

  return (
    <div className="chunks-open" data-testid="open-series">
      <form className="chunks-open-form" onSubmit={submit} aria-labelledby={`${id}-title`}>
        <h3 id={`${id}-title`} className="subhead">
          Open a series
        </h3>
        <div className="chunks-open-row">
          <label className="field-label" htmlFor={`${id}-input`}>
            Node id
          </label>
          <input
            ref={inputRef}
            id={`${id}-input`}
            className="input mono chunks-open-input"
            type="text"
            inputMode="text"
            autoComplete="off"
            autoCapitalize="off"
            spellCheck={false}
            maxLength={64}
            placeholder="32 hex digits"
            value={text}
            onChange={(e) => setText(e.target.value)}
            aria-label="Node id to open"
            aria-invalid={invalid ? true : undefined}
            aria-describedby={`${id}-status`}
            data-testid="open-series-input"
          />
          <button
            type="submit"
            className="button button-primary"
            aria-busy={phase.kind === 'opening' ? true : undefined}
            data-testid="open-series-button"
          >
            Open series
          </button>
        </div>
        <div id={`${id}-status`} className="append-status" aria-live="polite">
          {phase.kind === 'opening' ? (
            <span className="warn-text" data-testid="open-series-opening">
              Opening {shortId(phase.author) || 'series'}… fetching its head and chunks, verifying each.
            </span>
          ) : phase.kind === 'idle' ? (
            <span className="muted">
              Fetched from the author if online, else from its holders; checked against its signed checkpoint.
            </span>
          ) : null}
        </div>
        {phase.kind === 'error' && (
          <p className="error-text chunks-open-error" role="alert" data-testid="open-series-error">
            {phase.message}
          </p>
        )}
      </form>
      {phase.kind === 'done' && <OpenedResult key={phase.n} opened={phase.opened} />}
    </div>
  )
}

type Verification =
  { state: 'pending' } | { state: 'done'; report: VerifyReport } | { state: 'failed'; message: string }

/** An opened series (fetched, held, or imported from a file): where from, verified or not, derived state, time travel. */
export function OpenedResult({ opened }: { opened: OpenedSeries }) {
  const node = useNode()
  const { series } = opened
  const own = series === node.series
  const length = series.length
  const [verification, setVerification] = useState<Verification>({ state: 'pending' })
  useEffect(() => {
    let live = true
    // A series damaged on open gets a full check, which says where each problem is.
    ;(series.status === 'damaged' ? series.verify() : series.verified).then(
      (report) => live && setVerification({ state: 'done', report }),
      (e: unknown) => live && setVerification({ state: 'failed', message: errorMessage(e) }),
    )
    return () => {
      live = false
    }
  }, [series])
  const now = readView(series.current)
  const ok = verification.state === 'done' ? verification.report.ok && series.status !== 'damaged' : null
  const problems = verification.state === 'done' ? verification.report.problems : series.problems

  return (
    <div
      className="chunks-opened"
      data-testid="opened-series"
      data-author={opened.author}
      data-length={length}
      data-from={opened.from ?? 'self'}
      data-verified={verification.state === 'pending' ? 'pending' : String(ok === true)}
    >
      <dl className="kv">
        <dt>author</dt>
        <dd className="mono hash" title={opened.author}>
          {opened.author}
          {own && <span className="tag tag-self chunks-tag">this node</span>}
        </dd>
        <dt>from</dt>
        <dd>
          {opened.from === null
            ? 'this node'
            : opened.from === 'mesh'
              ? 'the mesh'
              : opened.from === 'file'
                ? 'a file'
                : 'chunks already held'}
        </dd>
        <dt>length</dt>
        <dd data-testid="opened-length" data-value={length}>
          {countOf(length, 'entry', 'entries')}
          {series.checkpoint !== null && (
            <span className="muted"> · checkpoint covers {formatCount(series.checkpoint.size)}</span>
          )}
        </dd>
        <dt>verified</dt>
        <dd data-testid="opened-verified">
          {verification.state === 'pending' ? (
            <span className="warn-text">verifying…</span>
          ) : verification.state === 'failed' ? (
            <span className="error-text" role="alert">
              could not verify: {verification.message}
            </span>
          ) : ok ? (
            <span className="ok-text">
              ok · {countOf(verification.report.checked, 'entry', 'entries')} checked in{' '}
              {formatCount(Math.round(verification.report.ms))} ms
            </span>
          ) : (
            <span className="error-text">failed</span>
          )}
        </dd>
      </dl>
      {problems.length > 0 && (
        <div className="alert alert-danger" role="alert" data-testid="opened-problems">
          <p>{countOf(problems.length, 'problem', 'problems')} found:</p>
          <ul className="problem-list">
            {problems.slice(0, 20).map((p, i) => (
              <li key={`${p.seq}:${i}`}>
                seq {p.seq}: {p.reason}
              </li>
            ))}
          </ul>
        </div>
      )}
      <OpenedTravel series={opened.series} length={length} now={now} />
    </div>
  )
}

/** Counts by kind in an opened series, as of a chosen seq and now. */
function OpenedTravel({ series, length, now }: { series: OpenedSeries['series']; length: number; now: ViewSummary }) {
  const lastSeq = Math.max(0, length - 1)
  const [seq, setSeq] = useState(lastSeq)
  const [at, setAt] = useState<{ seq: number; view: ViewSummary } | null>(null)
  const [error, setError] = useState<string | null>(null)
  const id = useId()
  const empty = length === 0

  useEffect(() => {
    if (empty) return
    let live = true
    const timer = setTimeout(() => {
      series.state(seq).then(
        (states) => {
          if (!live) return
          setAt({ seq, view: readView(states) })
          setError(null)
        },
        (e: unknown) => live && setError(errorMessage(e)),
      )
    }, TRAVEL_DEBOUNCE_MS)
    return () => {
      live = false
      clearTimeout(timer)
    }
  }, [series, seq, empty])

  if (empty) return <p className="muted">The series is empty.</p>
  const loading = at === null || at.seq !== seq
  const atCounts = new Map(at?.view.byKind ?? [])
  const kinds = now.byKind.slice(0, MAX_KINDS)

  return (
    <div className="time-travel chunks-travel" role="group" aria-labelledby={`${id}-title`}>
      <div className="time-travel-head">
        <h4 id={`${id}-title`} className="subhead">
          Derived state
        </h4>
        <span className="muted" aria-live="polite">
          {loading ? 'loading…' : `as of seq ${seq}`}
        </span>
      </div>
      <SeqPicker
        lastSeq={lastSeq}
        value={seq}
        onPick={setSeq}
        sliderLabel="Seq to show the opened series as of"
        testId="opened-travel"
      >
        <button
          type="button"
          className="button button-small"
          disabled={seq === lastSeq}
          onClick={() => setSeq(lastSeq)}
        >
          Latest
        </button>
      </SeqPicker>
      {error !== null && (
        <p className="error-text" role="alert">
          {error}
        </p>
      )}
      <dl className="stats chunks-travel-stats">
        <div>
          <dt>entries as of seq {seq}</dt>
          <dd
            className="figure"
            data-testid="opened-count-at"
            data-seq={at?.seq ?? ''}
            data-value={at?.view.count ?? ''}
          >
            {at === null ? '…' : formatCount(at.view.count)}
          </dd>
        </div>
        <div>
          <dt>entries in all</dt>
          <dd className="figure" data-testid="opened-count" data-value={now.count}>
            {formatCount(now.count)}
          </dd>
        </div>
      </dl>
      {kinds.length > 0 && (
        <table className="table chunks-kinds" data-testid="opened-by-kind">
          <thead>
            <tr>
              <th scope="col">kind</th>
              <th scope="col" className="num">
                at seq {seq}
              </th>
              <th scope="col" className="num">
                all
              </th>
            </tr>
          </thead>
          <tbody>
            {kinds.map(([kind, n]) => (
              <tr key={kind} data-kind={kind} data-at={atCounts.get(kind) ?? 0} data-value={n}>
                <td className="mono chunks-kind">{kind}</td>
                <td className="num">{at === null ? '…' : formatCount(atCounts.get(kind) ?? 0)}</td>
                <td className="num">{formatCount(n)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {now.byKind.length > kinds.length && (
        <p className="muted small">…and {countOf(now.byKind.length - kinds.length, 'more kind', 'more kinds')}.</p>
      )}
    </div>
  )
}
