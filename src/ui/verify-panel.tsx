import { useId, useState } from 'react'
import type { VerifyReport } from '../core/series/series.ts'
import { countOf, errorMessage, formatCount, isoTime, localDateTime } from './format.ts'
import { useInspector, useNode } from './inspector-context.tsx'

/** The latest signed checkpoint, and a full verification of the stored series on request. */
export function VerifyPanel() {
  const node = useNode()
  const checkpoint = useInspector((s) => s.checkpoint)
  const [running, setRunning] = useState(false)
  const [report, setReport] = useState<VerifyReport | null>(null)
  const [error, setError] = useState<string | null>(null)
  const id = useId()

  const verify = async () => {
    setRunning(true)
    setError(null)
    try {
      setReport(await node.verify())
    } catch (e: unknown) {
      setReport(null)
      setError(errorMessage(e))
    } finally {
      setRunning(false)
    }
  }

  return (
    <section className="panel" data-testid="verify-panel" aria-labelledby={`${id}-title`}>
      <div className="panel-head">
        <h2 id={`${id}-title`}>Verification</h2>
      </div>
      <h3 className="subhead">Latest checkpoint</h3>
      {checkpoint === null ? (
        <p className="muted">None yet: the first write to disk signs one.</p>
      ) : (
        <dl className="kv" data-testid="checkpoint">
          <dt>size</dt>
          <dd data-testid="checkpoint-size" data-value={checkpoint.size}>
            {countOf(checkpoint.size, 'entry', 'entries')}
          </dd>
          <dt>root</dt>
          <dd className="mono" title={checkpoint.root}>
            {checkpoint.root.slice(0, 16)}…
          </dd>
          <dt>signed</dt>
          <dd title={isoTime(checkpoint.t)}>{localDateTime(checkpoint.t)}</dd>
          <dt>signature</dt>
          <dd className="mono" title={checkpoint.sig}>
            {checkpoint.sig.slice(0, 16)}…
          </dd>
        </dl>
      )}
      <p className="muted small">
        Verifying reads the whole stored series and checks each entry's encoding, seq and link to the previous hash,
        every chunk's Merkle root, and the checkpoint's root and Ed25519 signature.
      </p>
      <div className="button-row">
        <button
          type="button"
          className="button button-primary"
          onClick={() => void verify()}
          disabled={running}
          data-testid="verify-button"
        >
          {running ? 'Verifying…' : 'Verify now'}
        </button>
      </div>
      {(report !== null || error !== null) && (
        <div className="verify-result" data-testid="verify-result" aria-live="polite">
          {error !== null ? (
            <p className="error-text">Verification failed to run: {error}</p>
          ) : report?.ok ? (
            <p className="ok-text">
              ok: {formatCount(report.checked)} entries verified in {formatCount(Math.round(report.ms))} ms
            </p>
          ) : report ? (
            <>
              <p className="error-text">
                damaged: {countOf(report.problems.length, 'problem', 'problems')} ({formatCount(report.checked)} of{' '}
                {formatCount(report.size)} entries checked)
              </p>
              <ul className="problem-list">
                {report.problems.map((p, i) => (
                  <li key={i}>
                    <span className="mono">seq {p.seq}</span>: {p.reason}
                  </li>
                ))}
              </ul>
            </>
          ) : null}
        </div>
      )}
    </section>
  )
}
