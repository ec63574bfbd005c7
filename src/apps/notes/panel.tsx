/**
 * The notes app's panel: write a note into this node's series, and read the
 * latest ones back. Re-read whenever the series grew (the inspector's store
 * says so), so notes added from the console show up too.
 */
import { useId, useState, type FormEvent, type KeyboardEvent } from 'react'
import type { AppPanelProps } from '../../ui/app-panels.tsx'
import { countOf, errorMessage } from '../../ui/format.ts'
import { useInspector } from '../../ui/inspector-context.tsx'
import type { NotesApi } from './app.ts'

export default function NotesPanel({ api }: AppPanelProps<NotesApi>) {
  const id = useId()
  // Subscribed for the re-render: the notes are read from the API below.
  useInspector((s) => s.length)
  const damaged = useInspector((s) => s.status === 'damaged')
  const [text, setText] = useState('')
  const [added, setAdded] = useState<number | null>(null)
  const [error, setError] = useState<string | null>(null)
  const latest = [...api.latest()].reverse()
  const count = api.count()

  const add = () => {
    if (text.trim().length === 0) return
    try {
      const { seq } = api.add(text)
      setText('')
      setAdded(seq)
      setError(null)
    } catch (e: unknown) {
      setError(errorMessage(e))
      setAdded(null)
    }
  }
  const onSubmit = (e: FormEvent) => {
    e.preventDefault()
    add()
  }
  // Enter is a new line in a note; Ctrl/Cmd+Enter adds it.
  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault()
      add()
    }
  }

  return (
    <section className="panel notes-panel" data-testid="notes-panel" aria-labelledby={`${id}-title`}>
      <div className="panel-head">
        <h2 id={`${id}-title`}>Notes</h2>
        <span className="muted small" data-testid="notes-count" data-value={count}>
          {countOf(count, 'note', 'notes')}
        </span>
      </div>
      <form className="app-form" onSubmit={onSubmit} aria-label="Add a note">
        <label htmlFor={`${id}-text`} className="field-label">
          New note
        </label>
        <textarea
          id={`${id}-text`}
          className="input app-textarea"
          rows={2}
          value={text}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={onKeyDown}
          placeholder="Written into this node’s series, signed"
          data-testid="notes-text"
        />
        <div className="app-form-foot">
          <button type="submit" className="button button-primary" disabled={damaged || text.trim().length === 0}>
            Add
          </button>
          <span className="muted small" aria-live="polite">
            {added !== null ? `Added as seq ${added}.` : 'Ctrl+Enter adds.'}
          </span>
        </div>
      </form>
      {error !== null && (
        <p className="error-text" role="alert" data-testid="notes-error">
          {error}
        </p>
      )}
      {latest.length === 0 ? (
        <p className="muted small">No notes yet.</p>
      ) : (
        <>
          <h3 className="subhead">Latest, newest first</h3>
          <ol className="notes app-notes">
            {latest.map((note, i) => (
              <li key={`${count - i}`} data-testid="note">
                {note}
              </li>
            ))}
          </ol>
        </>
      )}
    </section>
  )
}
