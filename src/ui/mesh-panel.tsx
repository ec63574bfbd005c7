import { useId, useState } from 'react'
import type { KnownNode, MeshStats, PeerView } from '../core/mesh/mesh.ts'
import { clockTime, countOf, errorMessage, formatCount, isoTime } from './format.ts'
import { useInspector, useNode } from './inspector-context.tsx'
import { MeshGraph } from './mesh-graph.tsx'
import { shortId } from './network.ts'
import { FigureStat } from './stat.tsx'

/** Reasons that point at a misbehaving peer; duplicates and stale frames are the flood's normal cost. */
const BAD: readonly (keyof MeshStats['dropped'])[] = ['oversize', 'malformed', 'badSignature', 'flood']

const DROP_REASONS: [keyof MeshStats['dropped'], string][] = [
  ['oversize', 'oversize'],
  ['malformed', 'malformed'],
  ['badSignature', 'bad signature'],
  ['notReady', 'before hello'],
  ['flood', 'over rate'],
  ['stale', 'stale'],
  ['duplicate', 'duplicate'],
]

/** This node's links and the nodes it knows of: a picture, a table, and the frame counters. */
export function MeshPanel() {
  const node = useNode()
  const mesh = useInspector((s) => s.mesh)
  const id = useId()

  return (
    <section className="panel mesh-panel" data-testid="mesh-panel" aria-labelledby={`${id}-title`}>
      <div className="panel-head">
        <h2 id={`${id}-title`}>Mesh</h2>
        {mesh !== null && (
          <div className="mesh-head-side">
            <span className="mesh-fact">
              <span className="field-label">server</span>
              <span className={`tag tag-server-${mesh.serverState}`} data-testid="server-state">
                {mesh.serverState}
              </span>
            </span>
            <span className="mesh-fact" title="Ready links / the number of links the mesh aims to keep">
              <span className="field-label">degree</span>
              <span
                className={mesh.degree >= mesh.target ? 'figure ok-text' : 'figure warn-text'}
                data-testid="degree"
                data-value={mesh.degree}
                data-target={mesh.target}
              >
                {mesh.degree} / {mesh.target}
              </span>
            </span>
          </div>
        )}
      </div>
      {mesh === null ? (
        <p className="muted" data-testid="no-mesh">
          no mesh
        </p>
      ) : (
        <>
          <MeshGraph selfId={node.id} peers={mesh.peers} known={mesh.known} />
          <h3 className="subhead">Links</h3>
          <PeerTable peers={mesh.peers} />
          <KnownNodes known={mesh.known} peers={mesh.peers} />
          <h3 className="subhead">Frames</h3>
          <StatsList stats={mesh.stats} />
        </>
      )}
    </section>
  )
}

function PeerTable({ peers }: { peers: readonly PeerView[] }) {
  const node = useNode()
  if (peers.length === 0) return <p className="muted">No links yet.</p>
  return (
    <table className="table peer-table" data-testid="peer-table">
      <thead>
        <tr>
          <th scope="col">peer</th>
          <th scope="col">state</th>
          <th scope="col">via</th>
          <th scope="col">dialed by</th>
          <th scope="col">since</th>
          <th scope="col" className="num">
            rtt ms
          </th>
          <th scope="col" className="num">
            in / out
          </th>
          <th scope="col" className="num">
            drops
          </th>
          <th scope="col">
            <span className="visually-hidden">actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {peers.map((p) => (
          <tr key={p.id} data-testid="peer-row" data-peer={p.id} data-state={p.state} data-via={p.via}>
            <th scope="row" className="mono" title={p.id}>
              {shortId(p.id)}
              {p.purpose === 'response' && (
                <span className="tag peer-purpose" title="Opened to answer an intent">
                  response
                </span>
              )}
            </th>
            <td data-label="state">
              <span className={`peer-state peer-state-${p.state}`}>{p.state}</span>
            </td>
            <td data-label="via">{p.via}</td>
            <td
              data-label="dialed by"
              data-initiator={p.initiator}
              title={p.initiator ? 'This node dialed (initiator)' : 'The peer dialed'}
            >
              {p.initiator ? 'us' : 'peer'}
            </td>
            <td data-label="since" className="mono" title={isoTime(p.since)}>
              {clockTime(p.since)}
            </td>
            <td data-label="rtt ms" className="num">
              {p.rttMs === null ? '—' : formatCount(Math.round(p.rttMs))}
            </td>
            <td data-label="in / out" className="num">
              {formatCount(p.framesIn)} / {formatCount(p.framesOut)}
            </td>
            <td data-label="drops" className={p.dropped > 0 ? 'num warn-text' : 'num'}>
              {formatCount(p.dropped)}
            </td>
            <td className="peer-actions">
              <button
                type="button"
                className="button button-small"
                onClick={() => node.mesh?.disconnect(p.id)}
                aria-label={`Disconnect ${shortId(p.id)}`}
                data-testid="peer-disconnect"
              >
                Disconnect
              </button>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}

/** Known nodes not linked to, with a way to dial one. */
function KnownNodes({ known, peers }: { known: readonly KnownNode[]; peers: readonly PeerView[] }) {
  const node = useNode()
  const [dialing, setDialing] = useState<Record<string, 'dialing' | 'failed'>>({})
  const linked = new Set(peers.map((p) => p.id))
  const others = known.filter((k) => k.id !== node.id && !linked.has(k.id))
  if (others.length === 0) return null

  const connect = (peer: string) => {
    const mesh = node.mesh
    if (!mesh) return
    setDialing((d) => ({ ...d, [peer]: 'dialing' }))
    mesh.connect(peer).then(
      (ok) =>
        setDialing((d) => {
          const next = { ...d }
          if (ok) delete next[peer]
          else next[peer] = 'failed'
          return next
        }),
      (e: unknown) => {
        console.warn(errorMessage(e))
        setDialing((d) => ({ ...d, [peer]: 'failed' }))
      },
    )
  }

  return (
    <details className="known-nodes" data-testid="known-nodes">
      <summary>
        {countOf(others.length, 'other known node', 'other known nodes')} <span className="muted">(not linked)</span>
      </summary>
      <ul className="nodes">
        {others.map((k) => (
          <li key={k.id} className="node-item" data-testid="known-node" data-peer={k.id}>
            <div className="node-item-main">
              <code title={k.id}>{shortId(k.id)}</code>
              <span className="muted">from {k.source}</span>
              <span className="muted">
                {k.t > 0 ? `record lists ${countOf(k.peers.length, 'link', 'links')}` : 'no record yet'}
              </span>
            </div>
            <div className="node-item-side">
              {dialing[k.id] === 'failed' && <span className="warn-text small">could not connect</span>}
              <button
                type="button"
                className="button button-small"
                disabled={dialing[k.id] === 'dialing'}
                onClick={() => connect(k.id)}
                aria-label={`Connect to ${shortId(k.id)}`}
              >
                {dialing[k.id] === 'dialing' ? 'Connecting…' : 'Connect'}
              </button>
            </div>
          </li>
        ))}
      </ul>
    </details>
  )
}

function StatsList({ stats }: { stats: MeshStats }) {
  const dropped = DROP_REASONS.reduce((n, [k]) => n + stats.dropped[k], 0)
  const bad = BAD.some((k) => stats.dropped[k] > 0)
  return (
    <div className="mesh-stats" data-testid="mesh-stats">
      <dl className="stats mesh-stats-main">
        <FigureStat label="frames in" testId="frames-in" value={stats.framesIn} />
        <FigureStat label="frames out" testId="frames-out" value={stats.framesOut} />
        <FigureStat
          label="dropped"
          testId="frames-dropped"
          value={dropped}
          className={bad ? 'figure warn-text' : 'figure'}
        />
        <FigureStat label="signals relayed" testId="signals-relayed" value={stats.signalsRelayed} />
        <FigureStat
          label="abuse disconnects"
          testId="abuse-disconnects"
          value={stats.abuseDisconnects}
          className={stats.abuseDisconnects > 0 ? 'figure error-text' : 'figure'}
        />
        <div>
          <dt>connected via</dt>
          <dd>
            {formatCount(stats.connected.server)} server · {formatCount(stats.connected.mesh)} mesh
          </dd>
        </div>
      </dl>
      <dl className="drop-reasons" aria-label="Dropped frames by reason">
        {DROP_REASONS.map(([k, label]) => (
          <div
            key={k}
            className={stats.dropped[k] === 0 ? undefined : BAD.includes(k) ? 'has-drops is-bad' : 'has-drops'}
          >
            <dt>{label}</dt>
            <dd data-reason={k} data-value={stats.dropped[k]}>
              {formatCount(stats.dropped[k])}
            </dd>
          </div>
        ))}
      </dl>
    </div>
  )
}
