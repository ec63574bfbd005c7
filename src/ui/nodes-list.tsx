import { useEffect, useId, useState } from 'react'
import type { NodeSummary } from '../adapters/node-registry.ts'
import { countOf, errorMessage } from './format.ts'
import { useApp, useInspector } from './inspector-context.tsx'

const REFRESH_MS = 5000

/** Every node this browser holds, and whether some tab runs it. */
export function NodesList() {
  const { node, listNodes } = useApp()
  const durable = useInspector((s) => s.durableLength)
  const [nodes, setNodes] = useState<NodeSummary[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  const id = useId()

  useEffect(() => {
    let alive = true
    const refresh = () => {
      listNodes().then(
        (list) => {
          if (!alive) return
          setNodes(list)
          setError(null)
        },
        (e: unknown) => {
          if (alive) setError(errorMessage(e))
        },
      )
    }
    const onVisible = () => {
      if (document.visibilityState === 'visible') refresh()
    }
    refresh()
    const timer = setInterval(refresh, REFRESH_MS)
    window.addEventListener('focus', refresh)
    document.addEventListener('visibilitychange', onVisible)
    return () => {
      alive = false
      clearInterval(timer)
      window.removeEventListener('focus', refresh)
      document.removeEventListener('visibilitychange', onVisible)
    }
  }, [listNodes])

  return (
    <section className="panel" data-testid="nodes-list" aria-labelledby={`${id}-title`}>
      <div className="panel-head">
        <h2 id={`${id}-title`}>Nodes in this browser</h2>
        <a
          className="button button-small"
          href={location.pathname}
          target="_blank"
          rel="noopener"
          data-testid="new-node"
        >
          New node in new tab
        </a>
      </div>
      <p className="muted small">
        Each tab runs one node, and each node runs in at most one tab. A node no tab is running can be resumed.
      </p>
      {error !== null && <p className="error-text">Could not list nodes: {error}</p>}
      {nodes === null ? (
        <p className="muted">Loading…</p>
      ) : (
        <ul className="nodes">
          {nodes.map((n) => {
            const self = n.id === node.id
            const running = self || n.running
            return (
              <li
                key={n.id}
                className={self ? 'node-item is-self' : 'node-item'}
                data-testid="node-item"
                data-node-id={n.id}
              >
                <div className="node-item-main">
                  <span className="node-item-name">{n.name}</span>
                  <code className="muted" title={n.id}>
                    {n.id.slice(0, 8)}
                  </code>
                  <span className="muted">{countOf(self ? durable : n.size, 'entry', 'entries')}</span>
                </div>
                <div className="node-item-side">
                  <span className={running ? 'tag tag-running' : 'tag'} data-testid="node-running">
                    {running ? 'running' : 'not running'}
                  </span>
                  {self && <span className="tag tag-self">this tab</span>}
                  {!running && (
                    <a
                      href={`?node=${encodeURIComponent(n.id)}`}
                      target="_blank"
                      rel="noopener"
                      data-testid="resume-link"
                    >
                      Resume in new tab
                    </a>
                  )}
                </div>
              </li>
            )
          })}
        </ul>
      )}
    </section>
  )
}
