import type { SeriesStatus } from '../core/series/series.ts'

const LABELS: Record<SeriesStatus, string> = {
  // Reads "verifying…" together with the status word.
  verifying: '…',
  ok: 'verified',
  damaged: 'see the problems below',
}

/** The series' status: the status word itself (for scripts and tests) and a friendlier label beside it. */
export function StatusBadge({ status }: { status: SeriesStatus }) {
  return (
    <span className={`status status-${status}`}>
      <span className="status-dot" aria-hidden="true" />
      <span className="status-word" data-testid="status">
        {status}
      </span>
      <span className="status-label">{LABELS[status]}</span>
    </span>
  )
}
