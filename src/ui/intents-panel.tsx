import { memo, useId, useMemo, useRef, useState, type FormEvent } from 'react'
import type { JsonValue } from '../core/json.ts'
import { summarize, type DeclaredIntent, type IntentSummary } from '../core/intents/reducers.ts'
import { clockTime, countOf, errorMessage, formatCount, isoTime } from './format.ts'
import { useInspector, useNode } from './inspector-context.tsx'
import { outcomeOf, readIntents, shortId, type Outcome } from './network.ts'
import { FigureStat } from './stat.tsx'

const PAGE = 25
const MAX_TTL = 16
const MAX_DEADLINE_MS = 600_000

/** Declares intents and shows how each was answered, as the series recorded it. */
export function IntentsPanel() {
  const raw = useInspector((s) => s.live['intents'])
  const intents = useMemo(() => readIntents(raw), [raw])
  const [shown, setShown] = useState(PAGE)
  const [open, setOpen] = useState<ReadonlySet<string>>(() => new Set())
  const id = useId()

  const ids = useMemo(() => {
    const out: string[] = []
    for (let i = intents.order.length - 1; i >= 0 && out.length < shown; i--) {
      const iid = intents.order[i]!
      if (intents.declared[iid]) out.push(iid)
    }
    return out
  }, [intents, shown])
  const total = intents.order.length
  const toggle = (iid: string) =>
    setOpen((s) => {
      const next = new Set(s)
      if (!next.delete(iid)) next.add(iid)
      return next
    })

  return (
    <section className="panel intents-panel" data-testid="intents-panel" aria-labelledby={`${id}-title`}>
      <div className="panel-head">
        <h2 id={`${id}-title`}>Intents</h2>
        <span className="tag tag-live">live</span>
      </div>
      <DeclareForm />
      <dl className="stats intents-stats">
        <FigureStat label="declared" testId="intents-declared" value={total} />
        <FigureStat label="received" testId="intents-received" value={intents.received} />
        <div>
          <dt>answered</dt>
          <dd
            data-testid="intents-answered"
            data-yes={intents.answered.yes}
            data-no={intents.answered.no}
            data-silent={intents.answered.silent}
          >
            <span className="ok-text">{formatCount(intents.answered.yes)} yes</span> ·{' '}
            <span className="warn-text">{formatCount(intents.answered.no)} no</span> ·{' '}
            <span className="muted">{formatCount(intents.answered.silent)} silent</span>
          </dd>
        </div>
      </dl>
      <h3 className="subhead">Declared, newest first</h3>
      {ids.length === 0 ? (
        <p className="muted">None yet. Declare one above: every node known to be present is asked.</p>
      ) : (
        <ol className="intent-list" data-testid="intent-list">
          {ids.map((iid) => (
            <IntentRow key={iid} id={iid} declared={intents.declared[iid]!} open={open.has(iid)} onToggle={toggle} />
          ))}
        </ol>
      )}
      {total > ids.length && (
        <div className="button-row">
          <span className="muted small">
            Showing the latest {formatCount(ids.length)} of {formatCount(total)}.
          </span>
          <button type="button" className="button button-small" onClick={() => setShown((n) => n + PAGE)}>
            Show {formatCount(Math.min(PAGE, total - ids.length))} more
          </button>
        </div>
      )}
    </section>
  )
}

function DeclareForm() {
  const node = useNode()
  const damaged = useInspector((s) => s.status === 'damaged')
  const kinds = useMemo(() => {
    const k = node.intents?.kinds() ?? []
    return k.includes('ping') ? k : ['ping', ...k]
  }, [node])
  // ping first: it is the one every node answers (other kinds come from the apps and layers this node runs).
  const [kind, setKind] = useState('ping')
  const [body, setBody] = useState('null')
  const [deadline, setDeadline] = useState('3000')
  const [ttl, setTtl] = useState('6')
  const [error, setError] = useState<{ field: 'body' | 'deadline' | 'ttl' | null; message: string } | null>(null)
  const [done, setDone] = useState<{ id: string; targets: number } | null>(null)
  const bodyRef = useRef<HTMLTextAreaElement>(null)
  const deadlineRef = useRef<HTMLInputElement>(null)
  const ttlRef = useRef<HTMLInputElement>(null)
  const id = useId()
  const noMesh = node.intents === null

  const fail = (field: 'body' | 'deadline' | 'ttl' | null, message: string) => {
    setError({ field, message })
    setDone(null)
    if (field === 'body') bodyRef.current?.focus()
    if (field === 'deadline') deadlineRef.current?.focus()
    if (field === 'ttl') ttlRef.current?.focus()
  }

  const submit = (e: FormEvent) => {
    e.preventDefault()
    let value: JsonValue
    try {
      value = JSON.parse(body) as JsonValue
    } catch (err: unknown) {
      fail('body', `The body is not JSON: ${errorMessage(err)}`)
      return
    }
    const deadlineMs = Number(deadline)
    if (deadline.trim() === '' || !Number.isInteger(deadlineMs) || deadlineMs < 1 || deadlineMs > MAX_DEADLINE_MS) {
      fail('deadline', `The deadline is a whole number of ms, 1 to ${formatCount(MAX_DEADLINE_MS)}.`)
      return
    }
    const hops = Number(ttl)
    if (ttl.trim() === '' || !Number.isInteger(hops) || hops < 1 || hops > MAX_TTL) {
      fail('ttl', `The TTL is a whole number of hops, 1 to ${MAX_TTL}.`)
      return
    }
    try {
      const { id: iid } = node.declare(kind, value, { deadlineMs, ttl: hops })
      setError(null)
      setDone({ id: iid, targets: node.intent(iid)?.targets ?? 0 })
    } catch (err: unknown) {
      fail(null, errorMessage(err))
    }
  }

  const invalid = (field: 'body' | 'deadline' | 'ttl') => (error?.field === field ? true : undefined)
  return (
    <form className="declare-form" data-testid="declare-form" onSubmit={submit} aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`} className="subhead">
        Declare an intent
      </h3>
      <div className="declare-grid">
        <label className="declare-field">
          <span className="field-label">kind</span>
          <select
            className="input"
            value={kind}
            onChange={(e) => setKind(e.target.value)}
            disabled={noMesh}
            data-testid="declare-kind"
          >
            {kinds.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        </label>
        <label className="declare-field">
          <span className="field-label">deadline ms</span>
          <input
            ref={deadlineRef}
            className="input"
            type="number"
            inputMode="numeric"
            min={1}
            max={MAX_DEADLINE_MS}
            step={1}
            value={deadline}
            onChange={(e) => setDeadline(e.target.value)}
            aria-invalid={invalid('deadline')}
            aria-describedby={`${id}-status`}
            data-testid="declare-deadline"
          />
        </label>
        <label className="declare-field">
          <span className="field-label">TTL (hops)</span>
          <input
            ref={ttlRef}
            className="input"
            type="number"
            inputMode="numeric"
            min={1}
            max={MAX_TTL}
            step={1}
            value={ttl}
            onChange={(e) => setTtl(e.target.value)}
            aria-invalid={invalid('ttl')}
            aria-describedby={`${id}-status`}
            data-testid="declare-ttl"
          />
        </label>
        <label className="declare-field declare-body">
          <span className="field-label">body (JSON)</span>
          <textarea
            ref={bodyRef}
            className="input mono"
            rows={2}
            spellCheck={false}
            autoComplete="off"
            value={body}
            onChange={(e) => setBody(e.target.value)}
            aria-invalid={invalid('body')}
            aria-describedby={`${id}-status`}
            data-testid="declare-body"
          />
        </label>
      </div>
      <div className="declare-actions">
        <button
          type="submit"
          className="button button-primary"
          disabled={noMesh || damaged}
          data-testid="declare-button"
        >
          Declare
        </button>
        <p id={`${id}-status`} className="append-status" aria-live="polite">
          {noMesh ? (
            <span className="muted">This node has no mesh: it cannot declare intents.</span>
          ) : error !== null ? (
            <span className="error-text" data-testid="declare-error">
              {error.message}
            </span>
          ) : done !== null ? (
            <span className="muted" data-testid="declare-done" data-intent={done.id}>
              Declared {shortId(done.id)} to {countOf(done.targets, 'node', 'nodes')}.
            </span>
          ) : (
            <span className="muted">Flooded through the mesh; answers come straight back.</span>
          )}
        </p>
      </div>
    </form>
  )
}

const IntentRow = memo(function IntentRow({
  id,
  declared,
  open,
  onToggle,
}: {
  id: string
  declared: DeclaredIntent
  open: boolean
  onToggle: (id: string) => void
}) {
  const summary = useMemo(() => summarize(id, declared), [id, declared])
  const outcome = useMemo(() => outcomeOf(declared), [declared])
  const detailsId = useId()
  const waiting = summary.pending > 0
  return (
    <li className="intent-row" data-testid="intent-row" data-intent={id} data-pending={summary.pending}>
      <button
        type="button"
        className="intent-toggle"
        aria-expanded={open}
        aria-controls={detailsId}
        onClick={() => onToggle(id)}
        data-testid="intent-toggle"
      >
        <span className="intent-chevron" aria-hidden="true">
          {open ? '▾' : '▸'}
        </span>
        <span className="intent-kind mono">{summary.kind}</span>
        <time className="muted mono small" dateTime={isoTime(summary.t)}>
          {clockTime(summary.t)}
        </time>
        <span className="muted small">to {countOf(summary.targets, 'node', 'nodes')}</span>
        <span className={waiting ? 'tag tag-past' : 'tag'}>{waiting ? 'waiting' : 'closed'}</span>
        <span className="visually-hidden">{open ? 'Hide responders' : 'Show responders'}</span>
      </button>
      <OutcomeBar summary={summary} outcome={outcome} />
      {open && (
        <div id={detailsId} className="intent-details" data-testid="intent-details">
          <Responders summary={summary} />
          <Insights summary={summary} />
        </div>
      )}
    </li>
  )
})

const SEGMENTS = ['yes', 'no', 'silence', 'late', 'pending'] as const

/** YES / NO / SILENCE / late / pending, each as wide as its share of the targets. */
function OutcomeBar({ summary, outcome }: { summary: IntentSummary; outcome: Outcome }) {
  const counts = `${summary.yes} yes · ${summary.no} no · ${summary.silence} silence · ${summary.late} late${summary.pending > 0 ? ` · ${summary.pending} pending` : ''}`
  return (
    <div className="outcome">
      <div
        className="outcome-bar"
        data-testid="outcome-bar"
        role="img"
        aria-label={outcome.total === 0 ? 'No targets' : counts}
        data-targets={summary.targets}
        data-yes={summary.yes}
        data-no={summary.no}
        data-silence={summary.silence}
        data-late={summary.late}
        data-pending={summary.pending}
      >
        {outcome.total > 0 &&
          SEGMENTS.map((k) =>
            outcome[k] > 0 ? (
              <span
                key={k}
                className={`outcome-seg seg-${k}`}
                style={{ width: `${(outcome[k] / outcome.total) * 100}%` }}
                data-segment={k}
                data-value={outcome[k]}
                title={`${outcome[k]} ${k}`}
              />
            ) : null,
          )}
      </div>
      <p className="outcome-counts" data-testid="outcome-counts">
        {outcome.total === 0 ? 'no targets: no other node was known to be present' : counts}
      </p>
    </div>
  )
}

function Responders({ summary }: { summary: IntentSummary }) {
  if (summary.responders.length === 0) return <p className="muted small">No answers yet.</p>
  const rows = [...summary.responders].sort((a, b) => a.latencyMs - b.latencyMs)
  return (
    <table className="table responders" data-testid="responders">
      <thead>
        <tr>
          <th scope="col">node</th>
          <th scope="col">answer</th>
          <th scope="col" className="num">
            latency ms
          </th>
          <th scope="col">via</th>
          <th scope="col">reason</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.id} data-testid="responder" data-peer={r.id} data-answer={r.answer}>
            <td className="mono" title={r.id}>
              {shortId(r.id)}
            </td>
            <td>
              <span className={r.answer === 'yes' ? 'answer answer-yes' : 'answer answer-no'}>
                {r.answer.toUpperCase()}
              </span>
              {r.late && <span className="tag tag-late">late</span>}
            </td>
            <td className="num">{formatCount(Math.round(r.latencyMs))}</td>
            <td>{r.via || '—'}</td>
            <td>{r.reason ?? <span className="muted">—</span>}</td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}

function Insights({ summary }: { summary: IntentSummary }) {
  const lines: [string, string, string[]][] = [
    ['available', 'available from', summary.insights.available],
    ['congested', 'congested', summary.insights.congested],
    ['unknown', 'unknown (silent)', summary.insights.unknown],
  ]
  return (
    <dl className="insights" data-testid="insights">
      {lines.map(([key, label, ids]) => (
        <div key={key} data-insight={key}>
          <dt>{label}</dt>
          <dd>
            {ids.length === 0 ? (
              <span className="muted">none</span>
            ) : (
              ids.map((p) => (
                <code key={p} className={`chip chip-${key}`} title={p}>
                  {shortId(p)}
                </code>
              ))
            )}
          </dd>
        </div>
      ))}
    </dl>
  )
}
