import { useId, useRef, useState, type FormEvent } from 'react'
import { errorMessage } from './format.ts'
import { useInspector, useNode } from './inspector-context.tsx'

/** Appends a `note-added` entry. */
export function AppendForm() {
  const node = useNode()
  const damaged = useInspector((s) => s.status === 'damaged')
  const [text, setText] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [done, setDone] = useState<number | null>(null)
  const input = useRef<HTMLInputElement>(null)
  const id = useId()

  const submit = (e: FormEvent) => {
    e.preventDefault()
    if (text.trim() === '') {
      setError('Write a note first.')
      setDone(null)
      input.current?.focus()
      return
    }
    try {
      const { seq } = node.append('note-added', { text })
      setText('')
      setError(null)
      setDone(seq)
    } catch (err: unknown) {
      setError(errorMessage(err))
      setDone(null)
    }
    input.current?.focus()
  }

  return (
    <form className="append-form" data-testid="append-form" onSubmit={submit} aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`} className="visually-hidden">
        Append a note
      </h3>
      <div className="append-row">
        <label htmlFor={`${id}-note`} className="append-label">
          Note
        </label>
        <input
          ref={input}
          id={`${id}-note`}
          className="input append-input"
          data-testid="note-input"
          type="text"
          autoComplete="off"
          placeholder={damaged ? 'Appending is disabled: the series is damaged' : 'Something worth remembering…'}
          value={text}
          disabled={damaged}
          maxLength={8000}
          onChange={(e) => setText(e.target.value)}
          aria-describedby={`${id}-status`}
        />
        <button type="submit" className="button button-primary" data-testid="append-button" disabled={damaged}>
          Append
        </button>
      </div>
      <p id={`${id}-status`} className="append-status" aria-live="polite">
        {error !== null ? (
          <span className="error-text" data-testid="append-error">
            {error}
          </span>
        ) : done !== null ? (
          <span className="muted">Appended as seq {done}.</span>
        ) : (
          <span className="muted">Adds a “note-added” entry to the series.</span>
        )}
      </p>
    </form>
  )
}
