import { useId, useState, type KeyboardEvent } from 'react'
import { useInspector } from './inspector-context.tsx'

/** Picks the seq the derived state is shown as of; "Now" returns to the live state. */
export function TimeTravel() {
  const length = useInspector((s) => s.length)
  const target = useInspector((s) => s.travel.target)
  const travelTo = useInspector((s) => s.travelTo)
  const [draft, setDraft] = useState<string | null>(null)
  const id = useId()
  const lastSeq = Math.max(0, length - 1)
  const value = target ?? lastSeq
  const empty = length === 0

  const fromText = (text: string) => {
    const n = Number(text)
    if (text.trim() !== '' && Number.isInteger(n) && n >= 0) travelTo(Math.min(n, lastSeq))
  }
  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key !== 'Enter') return
    e.preventDefault()
    fromText(e.currentTarget.value)
    setDraft(null)
  }

  return (
    <div className="time-travel" data-testid="time-travel" role="group" aria-labelledby={`${id}-title`}>
      <div className="time-travel-head">
        <h3 id={`${id}-title`} className="subhead">
          Time travel
        </h3>
        <span className="muted">{target === null ? 'showing now' : `showing seq ${target}`}</span>
      </div>
      <input
        type="range"
        className="range"
        min={0}
        max={lastSeq}
        step={1}
        value={value}
        disabled={empty}
        onChange={(e) => {
          setDraft(null)
          travelTo(Number(e.target.value))
        }}
        aria-label="Seq to show the derived state as of"
        data-testid="time-travel-slider"
      />
      <div className="time-travel-controls">
        <label className="field" htmlFor={`${id}-seq`}>
          <span className="field-label">As of seq</span>
        </label>
        <input
          id={`${id}-seq`}
          className="input input-seq"
          type="number"
          inputMode="numeric"
          min={0}
          max={lastSeq}
          step={1}
          disabled={empty}
          value={draft ?? (empty ? '' : String(value))}
          onChange={(e) => {
            setDraft(e.target.value)
            fromText(e.target.value)
          }}
          onBlur={() => setDraft(null)}
          onKeyDown={onKeyDown}
          data-testid="time-travel-seq"
        />
        <button
          type="button"
          className="button"
          disabled={target === null}
          onClick={() => {
            setDraft(null)
            travelTo(null)
          }}
          data-testid="time-travel-now"
        >
          Now
        </button>
      </div>
      {empty && <p className="muted">Nothing to travel through yet.</p>}
    </div>
  )
}
