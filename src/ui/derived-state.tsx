import { useId } from 'react'
import { readNotes, readView } from './derived.ts'
import { formatCount, isoTime, localDateTime } from './format.ts'
import { useInspector } from './inspector-context.tsx'
import { FigureStat } from './stat.tsx'
import { TimeTravel } from './time-travel.tsx'
import { StateDiff } from './state-diff.tsx'

/** The reducers' state: live, or as of the seq picked in time travel. */
export function DerivedState() {
  const live = useInspector((s) => s.live)
  const travel = useInspector((s) => s.travel)
  const id = useId()
  const asOf = travel.target !== null && travel.states !== null ? travel.seq : null
  const states = asOf !== null && travel.states ? travel.states : live
  const view = readView(states)
  const notes = readNotes(states)

  return (
    <section className="panel derived" data-testid="derived-state" aria-labelledby={`${id}-title`}>
      <div className="panel-head">
        <h2 id={`${id}-title`}>Derived state</h2>
        {asOf !== null ? (
          <span className="tag tag-past" data-testid="derived-as-of">
            as of seq {asOf}
          </span>
        ) : (
          <span className="tag tag-live" data-testid="derived-live">
            live
          </span>
        )}
      </div>
      <TimeTravel />
      {travel.loading && travel.target !== null && (
        <p className="muted" aria-live="polite">
          Computing the state as of seq {travel.target}…
        </p>
      )}
      {travel.error !== null && <p className="error-text">Could not compute that state: {travel.error}</p>}

      <dl className={asOf !== null ? 'stats is-past' : 'stats'}>
        <FigureStat label="Entries" testId="derived-count" value={view.count} />
        <div>
          <dt>First</dt>
          <dd title={view.firstT === null ? undefined : isoTime(view.firstT)}>
            {view.firstT === null ? '—' : localDateTime(view.firstT)}
          </dd>
        </div>
        <div>
          <dt>Last</dt>
          <dd title={view.lastT === null ? undefined : isoTime(view.lastT)}>
            {view.lastT === null ? '—' : localDateTime(view.lastT)}
          </dd>
        </div>
      </dl>

      <h3 className="subhead">By kind</h3>
      {view.byKind.length === 0 ? (
        <p className="muted">No entries.</p>
      ) : (
        <table className="table" data-testid="derived-by-kind">
          <thead>
            <tr>
              <th scope="col">kind</th>
              <th scope="col" className="num">
                entries
              </th>
            </tr>
          </thead>
          <tbody>
            {view.byKind.map(([kind, n]) => (
              <tr key={kind}>
                <td className="mono">{kind}</td>
                <td className="num">{formatCount(n)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h3 className="subhead">
        Latest notes <span className="muted">({formatCount(notes.count)} in all)</span>
      </h3>
      {notes.latest.length === 0 ? (
        <p className="muted">No notes.</p>
      ) : (
        <ul className="notes" data-testid="derived-notes">
          {[...notes.latest].reverse().map((text, i) => (
            <li key={i}>{text === '' ? <span className="muted">(empty)</span> : text}</li>
          ))}
        </ul>
      )}
      <StateDiff />
    </section>
  )
}
