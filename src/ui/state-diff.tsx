/**
 * The difference between the derived state at two points of the series:
 * every value that changed from seq A to seq B, by path (reducer, then keys),
 * with its value at each point. Computed on request (two `state(seq)` calls,
 * snapshots make them fast at any length).
 */
import { useId, useState, type FormEvent } from 'react'
import type { JsonValue } from '../core/json.ts'
import { errorMessage } from './format.ts'
import { useInspector, useNode } from './inspector-context.tsx'

export interface Change {
  path: string
  before: string
  after: string
}

const MAX_CHANGES = 200
const MAX_DEPTH = 4
const SHORT = 80

const isObject = (v: JsonValue | undefined): v is { [k: string]: JsonValue } =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

function short(v: JsonValue | undefined): string {
  if (v === undefined) return '—'
  const s = JSON.stringify(v)
  return s.length > SHORT ? `${s.slice(0, SHORT - 1)}…` : s
}

/** Changed leaves from `a` to `b` (objects are walked to MAX_DEPTH; arrays and deeper values compare whole). */
export function diffStates(
  a: JsonValue | undefined,
  b: JsonValue | undefined,
  path = '',
  depth = 0,
  out: Change[] = [],
): Change[] {
  if (out.length >= MAX_CHANGES) return out
  if (JSON.stringify(a) === JSON.stringify(b)) return out
  if (depth < MAX_DEPTH && isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()
    for (const k of keys) diffStates(a[k], b[k], path ? `${path}.${k}` : k, depth + 1, out)
    return out
  }
  out.push({ path: path || '(all)', before: short(a), after: short(b) })
  return out
}

export function StateDiff() {
  const node = useNode()
  const length = useInspector((s) => s.length)
  const id = useId()
  const last = Math.max(0, length - 1)
  const [from, setFrom] = useState('')
  const [to, setTo] = useState('')
  const [result, setResult] = useState<{ a: number; b: number; changes: Change[] } | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const a = from.trim() === '' ? 0 : Number(from)
    const b = to.trim() === '' ? last : Number(to)
    if (![a, b].every((n) => Number.isInteger(n) && n >= 0 && n <= last)) {
      setError(`seqs are whole numbers from 0 to ${last}`)
      return
    }
    setBusy(true)
    setError(null)
    try {
      const [sa, sb] = await Promise.all([node.state(a), node.state(b)])
      setResult({ a, b, changes: diffStates(sa, sb) })
    } catch (err: unknown) {
      setError(errorMessage(err))
    } finally {
      setBusy(false)
    }
  }

  return (
    <div className="state-diff" data-testid="state-diff" role="group" aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`} className="subhead">
        Compare two points
      </h3>
      <form className="state-diff-form" onSubmit={(e) => void submit(e)}>
        <label className="field">
          <span className="field-label">From seq</span>
          <input
            className="input input-seq"
            type="number"
            inputMode="numeric"
            min={0}
            max={last}
            placeholder="0"
            value={from}
            onChange={(e) => setFrom(e.target.value)}
            aria-label="Compare from seq"
          />
        </label>
        <label className="field">
          <span className="field-label">to seq</span>
          <input
            className="input input-seq"
            type="number"
            inputMode="numeric"
            min={0}
            max={last}
            placeholder={String(last)}
            value={to}
            onChange={(e) => setTo(e.target.value)}
            aria-label="Compare to seq"
          />
        </label>
        <button type="submit" className="button button-small" disabled={busy || length === 0}>
          Compare
        </button>
      </form>
      {error && (
        <p className="error-text" role="alert">
          {error}
        </p>
      )}
      {result && (
        <div data-testid="state-diff-result" data-changes={result.changes.length}>
          <p className="muted small">
            {result.changes.length === 0
              ? `No difference between seq ${result.a} and seq ${result.b}.`
              : `${result.changes.length}${result.changes.length >= MAX_CHANGES ? '+' : ''} values differ from seq ${result.a} to seq ${result.b}.`}
          </p>
          {result.changes.length > 0 && (
            <div className="table-scroll">
              <table className="table state-diff-table">
                <thead>
                  <tr>
                    <th scope="col">path</th>
                    <th scope="col">at {result.a}</th>
                    <th scope="col">at {result.b}</th>
                  </tr>
                </thead>
                <tbody>
                  {result.changes.map((c) => (
                    <tr key={c.path}>
                      <td className="mono">{c.path}</td>
                      <td className="mono">{c.before}</td>
                      <td className="mono">{c.after}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </div>
      )}
    </div>
  )
}
