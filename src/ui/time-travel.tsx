import { useId, useState, type KeyboardEvent, type ReactNode } from 'react'
import { useInspector } from './inspector-context.tsx'

/**
 * A slider and a seq field (Enter or typing picks a seq; out-of-range values
 * are clamped), plus `children` (e.g. a "Now" button) after the field. Shared
 * by the node's time travel and an opened series' derived state.
 */
export function SeqPicker({
  lastSeq,
  value,
  disabled = false,
  onPick,
  sliderLabel,
  testId,
  children,
}: {
  lastSeq: number
  value: number
  disabled?: boolean
  onPick(seq: number): void
  sliderLabel: string
  /** data-testid prefix: `<testId>-slider`, `<testId>-seq`. */
  testId: string
  children?: ReactNode
}) {
  const [draft, setDraft] = useState<string | null>(null)
  const id = useId()
  const fromText = (text: string) => {
    const n = Number(text)
    if (text.trim() !== '' && Number.isInteger(n) && n >= 0) onPick(Math.min(n, lastSeq))
  }
  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key !== 'Enter') return
    e.preventDefault()
    fromText(e.currentTarget.value)
    setDraft(null)
  }
  return (
    <>
      <input
        type="range"
        className="range"
        min={0}
        max={lastSeq}
        step={1}
        value={value}
        disabled={disabled}
        onChange={(e) => {
          setDraft(null)
          onPick(Number(e.target.value))
        }}
        aria-label={sliderLabel}
        data-testid={`${testId}-slider`}
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
          disabled={disabled}
          value={draft ?? (disabled ? '' : String(value))}
          onChange={(e) => {
            setDraft(e.target.value)
            fromText(e.target.value)
          }}
          onBlur={() => setDraft(null)}
          onKeyDown={onKeyDown}
          data-testid={`${testId}-seq`}
        />
        {children}
      </div>
    </>
  )
}

/** Picks the seq the derived state is shown as of; "Now" returns to the live state. */
export function TimeTravel() {
  const length = useInspector((s) => s.length)
  const target = useInspector((s) => s.travel.target)
  const travelTo = useInspector((s) => s.travelTo)
  const id = useId()
  const lastSeq = Math.max(0, length - 1)
  const empty = length === 0

  return (
    <div className="time-travel" data-testid="time-travel" role="group" aria-labelledby={`${id}-title`}>
      <div className="time-travel-head">
        <h3 id={`${id}-title`} className="subhead">
          Time travel
        </h3>
        <span className="muted">{target === null ? 'showing now' : `showing seq ${target}`}</span>
      </div>
      <SeqPicker
        lastSeq={lastSeq}
        value={target ?? lastSeq}
        disabled={empty}
        onPick={travelTo}
        sliderLabel="Seq to show the derived state as of"
        testId="time-travel"
      >
        <button
          type="button"
          className="button"
          disabled={target === null}
          onClick={() => travelTo(null)}
          data-testid="time-travel-now"
        >
          Now
        </button>
      </SeqPicker>
      {empty && <p className="muted">Nothing to travel through yet.</p>}
    </div>
  )
}
