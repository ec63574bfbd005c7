import { useInspector } from './inspector-context.tsx'

/** What is wrong with the stored series (damage found at load or by verification), and commit failures. */
export function DamageAlert() {
  const status = useInspector((s) => s.status)
  const problems = useInspector((s) => s.problems)
  const errors = useInspector((s) => s.errors)
  const degraded = useInspector((s) => s.degraded)
  const pending = useInspector((s) => s.length - s.durableLength)
  return (
    <>
      {status === 'damaged' && (
        <section className="alert alert-danger" role="alert" data-testid="damage" aria-labelledby="damage-title">
          <h2 id="damage-title">This node's series is damaged</h2>
          <ul className="problem-list">
            {problems.map((p, i) => (
              <li key={i}>
                <span className="mono">seq {p.seq}</span>: {p.reason}
              </li>
            ))}
            {problems.length === 0 && <li>No details were reported.</li>}
          </ul>
          <p>
            The node will not extend or sign a damaged series: appending is disabled. What can still be read is shown
            below.
          </p>
        </section>
      )}
      {errors.length > 0 && (
        <section className="alert alert-warn" role="alert" data-testid="commit-errors" aria-labelledby="errors-title">
          <h2 id="errors-title">Writing to disk failed</h2>
          {degraded && (
            <p data-testid="degraded-detail">
              The node is degraded: {pending} {pending === 1 ? 'entry waits' : 'entries wait'} in memory and are not on
              disk or signed yet. It retries by itself ({degraded.failures} failed so far); past its backlog bound
              appending is refused (ERR_BACKLOG_FULL) rather than anything being dropped.
            </p>
          )}
          <ul className="problem-list">
            {errors.map((message, i) => (
              <li key={i}>{message}</li>
            ))}
          </ul>
        </section>
      )}
    </>
  )
}
