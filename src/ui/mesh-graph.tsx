import { memo, useId, useMemo } from 'react'
import type { KnownNode, PeerView } from '../core/mesh/mesh.ts'
import { countOf } from './format.ts'
import { GRAPH_SIZE, layoutGraph, MAX_OUTER_LABELS, shortId, type GraphNode } from './network.ts'

const LABEL_GAP = 12

/**
 * Outer ring: the label continues outwards. Inner ring: it sits beside the dot,
 * along the ring, clear of both this node's edge (radial) and the outer ring.
 */
function Label({ n, className }: { n: GraphNode; className: string }) {
  const [ux, uy] = n.ring === 'inner' ? [-n.dy, n.dx] : [n.dx, n.dy]
  const x = n.x + ux * LABEL_GAP
  const y = n.y + uy * LABEL_GAP
  const anchor = ux > 0.35 ? 'start' : ux < -0.35 ? 'end' : 'middle'
  // Above or below the dot when the label sits on the vertical.
  const baseline = uy > 0.35 ? 'hanging' : uy < -0.35 ? 'auto' : 'middle'
  return (
    <text x={x} y={y} textAnchor={anchor} dominantBaseline={baseline} className={className}>
      {shortId(n.id)}
    </text>
  )
}

function describe(n: GraphNode): string {
  if (n.peer) {
    const p = n.peer
    const rtt = p.rttMs === null ? '' : `, rtt ${Math.round(p.rttMs)} ms`
    return `${n.id}\nlinked (${p.state}), signaled via ${p.via}${p.purpose === 'response' ? ', opened to answer an intent' : ''}${rtt}`
  }
  const k = n.known
  if (!k) return n.id
  return `${n.id}\nknown from ${k.source}; its record lists ${countOf(k.peers.length, 'link', 'links')}`
}

/**
 * The mesh as this node sees it: itself in the centre, its links on the inner
 * ring (solid: signaled via the server, dashed: via the mesh), other known
 * nodes on the outer ring, and the links their peer records list.
 */
export const MeshGraph = memo(function MeshGraph({
  selfId,
  peers,
  known,
}: {
  selfId: string
  peers: readonly PeerView[]
  known: readonly KnownNode[]
}) {
  const graph = useMemo(() => layoutGraph(selfId, peers, known), [selfId, peers, known])
  const id = useId()
  const inner = graph.nodes.length - graph.outer
  const outerLabels = graph.outer <= MAX_OUTER_LABELS
  const records = graph.edges.filter((e) => e.kind === 'record').length

  return (
    <figure className="mesh-figure">
      <svg
        className="mesh-graph"
        viewBox={`0 0 ${GRAPH_SIZE} ${GRAPH_SIZE}`}
        role="img"
        aria-labelledby={`${id}-title ${id}-desc`}
        data-testid="mesh-graph"
      >
        <title id={`${id}-title`}>The mesh around this node</title>
        <desc id={`${id}-desc`}>
          {`This node in the centre; ${countOf(inner, 'link', 'links')} on the inner ring; ${countOf(graph.outer, 'other known node', 'other known nodes')} on the outer ring; ${countOf(records, 'link', 'links')} between other nodes, from their peer records.`}
        </desc>
        {graph.rings.map((r) => (
          <circle key={r} className="g-ring" cx={GRAPH_SIZE / 2} cy={GRAPH_SIZE / 2} r={r} />
        ))}
        <g>
          {graph.edges.map((e) => (
            <line
              key={e.key}
              x1={e.from.x}
              y1={e.from.y}
              x2={e.to.x}
              y2={e.to.y}
              className={`g-edge g-edge-${e.kind}${e.connecting ? ' is-connecting' : ''}`}
              data-edge={e.kind}
            />
          ))}
        </g>
        <g>
          {graph.nodes.map((n) => {
            const state = n.peer
              ? `g-peer g-peer-${n.peer.state}`
              : n.known?.source === 'gossip'
                ? 'g-known'
                : 'g-heard'
            return (
              <g key={n.id} data-node={n.id} data-ring={n.ring}>
                <title>{describe(n)}</title>
                <circle cx={n.x} cy={n.y} r={n.ring === 'inner' ? 7 : 5} className={`g-node ${state}`} />
                {(n.ring === 'inner' || outerLabels) && (
                  <Label n={n} className={n.ring === 'inner' ? 'g-label' : 'g-label g-label-outer'} />
                )}
              </g>
            )
          })}
        </g>
        <g data-node={selfId} data-ring="self">
          <title>{`${selfId}\nthis node`}</title>
          <circle cx={graph.self.x} cy={graph.self.y} r={13} className="g-node g-self" />
          <text x={graph.self.x} y={graph.self.y + 30} textAnchor="middle" className="g-label g-label-self">
            {shortId(selfId)}
          </text>
        </g>
      </svg>
      <figcaption className="mesh-legend">
        <span className="legend-item">
          <svg className="legend-swatch" viewBox="0 0 28 10" aria-hidden="true">
            <line x1="1" y1="5" x2="27" y2="5" className="g-edge g-edge-server" />
          </svg>
          link signaled via server
        </span>
        <span className="legend-item">
          <svg className="legend-swatch" viewBox="0 0 28 10" aria-hidden="true">
            <line x1="1" y1="5" x2="27" y2="5" className="g-edge g-edge-mesh" />
          </svg>
          via mesh
        </span>
        <span className="legend-item">
          <svg className="legend-swatch" viewBox="0 0 28 10" aria-hidden="true">
            <line x1="1" y1="5" x2="27" y2="5" className="g-edge g-edge-server is-connecting" />
          </svg>
          connecting
        </span>
        <span className="legend-item">
          <svg className="legend-swatch" viewBox="0 0 28 10" aria-hidden="true">
            <line x1="1" y1="5" x2="27" y2="5" className="g-edge g-edge-record" />
          </svg>
          between others (their records)
        </span>
        <span className="legend-item">
          <svg className="legend-swatch" viewBox="0 0 12 12" aria-hidden="true">
            <circle cx="6" cy="6" r="4.5" className="g-node g-known" />
          </svg>
          known (gossip)
        </span>
        <span className="legend-item">
          <svg className="legend-swatch" viewBox="0 0 12 12" aria-hidden="true">
            <circle cx="6" cy="6" r="4.5" className="g-node g-heard" />
          </svg>
          known (server only)
        </span>
        {!outerLabels && <span className="muted">Hover an outer node for its id.</span>}
      </figcaption>
    </figure>
  )
})
