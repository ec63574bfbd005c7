import { useId, useMemo, useState, type FormEvent, type ReactNode } from 'react'
import { limiterView, type Budgets } from '../core/intents/limits.ts'
import { errorMessage, formatBytes, formatCount } from './format.ts'
import { useInspector, useNode } from './inspector-context.tsx'
import { decisionNow, readLimits, verdictText } from './network.ts'

const MB = 1024 * 1024

type Field = 'storageMb' | 'loadMax' | 'perOriginMax' | 'maxDegree'
type Drafts = Record<Field, string>

const FIELDS: { key: Field; label: string; hint: string }[] = [
  { key: 'storageMb', label: 'storage MB', hint: 'Series size at which to answer NO (economic).' },
  { key: 'loadMax', label: 'loadMax', hint: 'Intents received in the last 30 s before NO (load).' },
  { key: 'perOriginMax', label: 'perOriginMax', hint: 'Intents from one declarer before NO; twice that, silence.' },
  { key: 'maxDegree', label: 'maxDegree', hint: 'Links beyond which to answer NO (topology).' },
]

function draftsOf(b: Budgets): Drafts {
  return {
    storageMb: String(Math.round((b.storageBytes / MB) * 1000) / 1000),
    loadMax: String(b.loadMax),
    perOriginMax: String(b.perOriginMax),
    maxDegree: String(b.maxDegree),
  }
}

/** The four rate limiters as the series has them, the decision they lead to, and the budgets. */
export function LimitsPanel() {
  const node = useNode()
  const raw = useInspector((s) => s.live['limits'])
  const state = useMemo(() => readLimits(raw), [raw])
  const kinds = useMemo(() => {
    const k = node.intents?.kinds() ?? []
    return k.length > 0 ? k : ['ping']
  }, [node])
  const id = useId()

  if (state === null) {
    return (
      <section className="panel limits-panel" data-testid="limits-panel" aria-labelledby={`${id}-title`}>
        <div className="panel-head">
          <h2 id={`${id}-title`}>Rate limiters</h2>
        </div>
        <p className="muted">The series has no limits state.</p>
      </section>
    )
  }

  const v = limiterView(state)
  const refused = v.objective.refused
  return (
    <section className="panel limits-panel" data-testid="limits-panel" aria-labelledby={`${id}-title`}>
      <div className="panel-head">
        <h2 id={`${id}-title`}>Rate limiters</h2>
        <span className="tag tag-live">live</span>
      </div>
      <div className="decisions" data-testid="limits-decision" aria-live="polite">
        {kinds.map((k) => {
          const verdict = decisionNow(state, k)
          return (
            <p
              key={k}
              className={verdict.answer === 'yes' ? 'decision decision-yes' : 'decision decision-no'}
              data-kind={k}
              data-answer={verdict.answer}
            >
              <span className="muted">
                A new <code>{k}</code> now:
              </span>{' '}
              <strong data-testid="limits-verdict">{verdictText(verdict)}</strong>
            </p>
          )
        })}
      </div>
      <ul className="limiters">
        <Limiter
          name="economic"
          critical={v.economic.critical}
          value={`${formatBytes(v.economic.used)} of ${formatBytes(v.economic.budget)}`}
          ratio={v.economic.budget > 0 ? v.economic.used / v.economic.budget : 1}
          explain="Storage the series uses vs its budget."
        />
        <Limiter
          name="objective"
          critical={false}
          value={refused.length === 0 ? 'refuses no kind' : `refuses ${refused.join(', ')}`}
          ratio={null}
          explain="Intent kinds this node will not serve (NO to those only)."
        >
          {refused.length > 0 && (
            <span className="limiter-kinds">
              {refused.map((k) => (
                <code key={k} className="chip chip-congested">
                  {k}
                </code>
              ))}
            </span>
          )}
        </Limiter>
        <Limiter
          name="load"
          critical={v.load.critical}
          value={`${formatCount(v.load.recent)} recent / ${formatCount(v.load.max)} max`}
          ratio={v.load.max > 0 ? v.load.recent / v.load.max : v.load.recent > 0 ? 1 : 0}
          explain="Intents received in the last 30 s vs loadMax (the next one counts too)."
        />
        <Limiter
          name="topology"
          critical={v.topology.critical}
          value={`degree ${formatCount(v.topology.degree)} / ${formatCount(v.topology.max)} max`}
          ratio={v.topology.max > 0 ? v.topology.degree / v.topology.max : v.topology.degree > 0 ? 1 : 0}
          explain="Links recorded in the series vs maxDegree."
        />
      </ul>
      <BudgetsForm budgets={state.budgets} />
    </section>
  )
}

function Limiter({
  name,
  critical,
  value,
  ratio,
  explain,
  children,
}: {
  name: string
  critical: boolean
  value: string
  ratio: number | null
  explain: string
  children?: ReactNode
}) {
  return (
    <li className={critical ? 'limiter is-critical' : 'limiter'} data-testid="limiter" data-limiter={name}>
      <div className="limiter-head">
        <span className="limiter-name">{name}</span>
        <span className={critical ? 'tag tag-critical' : 'tag tag-calm'} data-testid="limiter-critical">
          {critical ? 'critical' : 'not critical'}
        </span>
      </div>
      <span className="limiter-value" data-testid="limiter-value">
        {value}
      </span>
      {ratio !== null && (
        <span className="meter" aria-hidden="true">
          <span className="meter-fill" style={{ width: `${Math.min(1, Math.max(0, ratio)) * 100}%` }} />
        </span>
      )}
      {children}
      <span className="muted small">{explain}</span>
    </li>
  )
}

function BudgetsForm({ budgets }: { budgets: Budgets }) {
  const node = useNode()
  const damaged = useInspector((s) => s.status === 'damaged')
  // Null while not editing: the fields then follow the series (a budget set from the console shows at once).
  const [drafts, setDrafts] = useState<Drafts | null>(null)
  const [errors, setErrors] = useState<Partial<Record<Field, string>>>({})
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null)
  const id = useId()
  const values = drafts ?? draftsOf(budgets)

  const edit = (key: Field, text: string) => {
    setDrafts({ ...values, [key]: text })
    setErrors((e) => {
      const next = { ...e }
      delete next[key]
      return next
    })
    setMessage(null)
  }

  const save = (e: FormEvent) => {
    e.preventDefault()
    const parsed: Partial<Record<Field, number>> = {}
    const bad: Partial<Record<Field, string>> = {}
    for (const { key } of FIELDS) {
      const text = values[key].trim()
      const n = Number(text)
      if (text === '' || !Number.isFinite(n) || n < 0) bad[key] = 'A number, 0 or more.'
      else parsed[key] = n
    }
    setErrors(bad)
    if (Object.keys(bad).length > 0) {
      setMessage({ ok: false, text: 'Not saved: fix the marked budgets.' })
      const first = FIELDS.find((f) => bad[f.key])
      if (first) document.getElementById(`${id}-${first.key}`)?.focus()
      return
    }
    try {
      node.setLimits({
        storageBytes: Math.round(parsed.storageMb! * MB),
        loadMax: parsed.loadMax!,
        perOriginMax: parsed.perOriginMax!,
        maxDegree: parsed.maxDegree!,
      })
      setDrafts(null)
      setMessage({ ok: true, text: 'Saved: recorded as a limits-set entry.' })
    } catch (err: unknown) {
      setMessage({ ok: false, text: errorMessage(err) })
    }
  }

  return (
    <form className="budgets-form" data-testid="limits-form" onSubmit={save} aria-labelledby={`${id}-title`} noValidate>
      <h3 id={`${id}-title`} className="subhead">
        Budgets
      </h3>
      <div className="budgets-grid">
        {FIELDS.map(({ key, label, hint }) => (
          <div key={key} className="declare-field">
            <label className="field-label" htmlFor={`${id}-${key}`}>
              {label}
            </label>
            <input
              id={`${id}-${key}`}
              className="input"
              type="number"
              inputMode="decimal"
              min={0}
              step="any"
              value={values[key]}
              onChange={(e) => edit(key, e.target.value)}
              aria-invalid={errors[key] ? true : undefined}
              aria-describedby={`${id}-${key}-hint`}
              title={hint}
              data-testid={`limits-${key}`}
            />
            <span id={`${id}-${key}-hint`} className={errors[key] ? 'error-text small' : 'visually-hidden'}>
              {errors[key] ?? hint}
            </span>
          </div>
        ))}
      </div>
      <div className="declare-actions">
        <button type="submit" className="button button-primary" disabled={damaged} data-testid="limits-save">
          Save
        </button>
        <button
          type="button"
          className="button"
          disabled={drafts === null}
          onClick={() => {
            setDrafts(null)
            setErrors({})
            setMessage(null)
          }}
        >
          Reset
        </button>
        <p className="append-status" aria-live="polite">
          {message !== null && (
            <span className={message.ok ? 'ok-text' : 'error-text'} data-testid="limits-message">
              {message.text}
            </span>
          )}
        </p>
      </div>
    </form>
  )
}
