import { useEffect } from 'react'
import { CopyButton } from './copy-button.tsx'
import { formatBytes, formatCount } from './format.ts'
import type { LimitsState } from '../core/intents/limits.ts'
import { useApp, useInspector } from './inspector-context.tsx'
import { StatusBadge } from './status-badge.tsx'

const HOW: Record<'created' | 'resumed' | 'requested', { label: string; explain: string }> = {
  created: { label: 'new node', explain: 'This tab created a new node.' },
  resumed: { label: 'resumed', explain: 'This tab resumed the node it was running before the reload.' },
  requested: { label: 'opened by link', explain: 'This tab resumed the node named in the link (?node=…).' },
}

/** Who this tab is: name, id, how it started, how long its series is, and whether it is sound. */
export function NodeHeader() {
  const { node, how, note } = useApp()
  const length = useInspector((s) => s.length)
  const durable = useInspector((s) => s.durableLength)
  const status = useInspector((s) => s.status)
  const degraded = useInspector((s) => s.degraded)
  const server = useInspector((s) => s.mesh?.serverState ?? null)
  const degree = useInspector((s) => s.mesh?.degree ?? 0)
  const target = useInspector((s) => s.mesh?.target ?? 0)
  const limits = useInspector((s) => s.live['limits'] as LimitsState | undefined)

  useEffect(() => {
    document.title = `${node.name} · iR³ Web`
  }, [node.name])

  const pending = length - durable
  return (
    <header className="node-header">
      <div className="node-header-main">
        <p className="eyebrow">iR³ Web · this tab is a node</p>
        <h1 className="node-name" data-testid="node-name">
          {node.name}
        </h1>
        <div className="node-meta">
          <span className="node-id-line">
            <code
              className="node-id"
              data-testid="node-id"
              title="Node id: the first 16 bytes of SHA-256 of the public key"
            >
              {node.id}
            </code>
            <CopyButton text={node.id} label="Copy node id" testId="copy-id" />
          </span>
          <span className="node-how" data-testid="node-how">
            <span className={`tag tag-${how}`}>{HOW[how].label}</span> {HOW[how].explain}
          </span>
        </div>
        {note !== null && (
          <p className="node-note" data-testid="node-note">
            {how === 'created' ? `Note: ${note}, so this tab became a new node of its own.` : `Note: ${note}.`}
          </p>
        )}
      </div>
      <div className="node-header-side">
        <StatusBadge status={status} />
        {degraded && (
          <p className="node-degraded error-text" role="status" data-testid="degraded" title={degraded.reason}>
            <span className="status-word">degraded</span>: writing to disk failed ({degraded.reason}); retry{' '}
            {degraded.failures + 1} at {new Date(degraded.retryAt).toLocaleTimeString()}
          </p>
        )}
        <p className="node-lengths">
          <span className="figure" data-testid="series-length" data-value={length}>
            {formatCount(length)}
          </span>{' '}
          {length === 1 ? 'entry' : 'entries'} ·{' '}
          <span className="figure" data-testid="durable-length" data-value={durable}>
            {formatCount(durable)}
          </span>{' '}
          on disk
          {pending > 0 && <span className="muted"> · {formatCount(pending)} writing</span>}
        </p>
        <p className="node-net muted" data-testid="node-net">
          {server !== null && (
            <>
              server <span className={`tag tag-server-${server}`}>{server}</span> · degree{' '}
              <span data-testid="node-degree" data-value={degree}>
                {degree}/{target}
              </span>
            </>
          )}
          {limits && (
            <>
              {server !== null && ' · '}
              storage{' '}
              <span
                data-testid="node-storage"
                data-value={limits.storageUsed}
                className={limits.storageUsed >= limits.budgets.storageBytes ? 'error-text' : undefined}
              >
                {formatBytes(limits.storageUsed)} of {formatBytes(limits.budgets.storageBytes)}
              </span>
            </>
          )}
        </p>
      </div>
    </header>
  )
}
