/**
 * The ping app's panel: "Ping everyone" declares a ping intent and shows how
 * it was answered (YES, NO, silence, and who answered how fast); each linked
 * node has an RTT button for a direct echo over that one link.
 */
import { useEffect, useId, useMemo, useRef, useState } from 'react'
import { nameFromId } from '../../core/identity.ts'
import type { IntentOutcome } from '../../core/intents/intents.ts'
import type { AppPanelProps } from '../../ui/app-panels.tsx'
import { countOf, errorMessage, formatCount } from '../../ui/format.ts'
import { useInspector } from '../../ui/inspector-context.tsx'
import { FigureStat } from '../../ui/stat.tsx'
import type { PingApi } from './app.ts'

const DEADLINE_MS = 3000

type Rtt = { state: 'waiting' } | { state: 'done'; ms: number | null }

export default function PingPanel({ api }: AppPanelProps<PingApi>) {
  const id = useId()
  const peers = useInspector((s) => s.mesh?.peers)
  const linked = useMemo(() => (peers ?? []).filter((p) => p.state === 'ready').map((p) => p.id), [peers])
  const [ping, setPing] = useState<{ id: string; outcome: IntentOutcome | null } | null>(null)
  const [rtts, setRtts] = useState<Readonly<Record<string, Rtt>>>({})
  const [error, setError] = useState<string | null>(null)
  const alive = useRef(true)
  useEffect(() => {
    alive.current = true
    return () => {
      alive.current = false
    }
  }, [])

  const pingEveryone = () => {
    setError(null)
    try {
      const declared = api.ping({ deadlineMs: DEADLINE_MS })
      setPing({ id: declared.id, outcome: null })
      declared.outcome.then(
        (outcome) => {
          if (alive.current) setPing((p) => (p?.id === declared.id ? { id: declared.id, outcome } : p))
        },
        (e: unknown) => {
          if (alive.current) setError(errorMessage(e))
        },
      )
    } catch (e: unknown) {
      setError(errorMessage(e))
    }
  }

  const measure = (peer: string) => {
    setRtts((r) => ({ ...r, [peer]: { state: 'waiting' } }))
    api.rtt(peer).then(
      (ms) => {
        if (alive.current) setRtts((r) => ({ ...r, [peer]: { state: 'done', ms } }))
      },
      (e: unknown) => {
        if (!alive.current) return
        setRtts((r) => ({ ...r, [peer]: { state: 'done', ms: null } }))
        setError(errorMessage(e))
      },
    )
  }

  const waiting = ping !== null && ping.outcome === null
  return (
    <section className="panel ping-panel" data-testid="ping-panel" aria-labelledby={`${id}-title`}>
      <div className="panel-head">
        <h2 id={`${id}-title`}>Ping</h2>
        <button
          type="button"
          className="button button-primary"
          onClick={pingEveryone}
          disabled={waiting}
          data-testid="ping-everyone"
        >
          {waiting ? 'Pinging…' : 'Ping everyone'}
        </button>
      </div>
      <p className="muted small">
        Who is there: every node known to be present is asked, and has {DEADLINE_MS / 1000} s to answer.
      </p>
      {error !== null && (
        <p className="error-text" role="alert" data-testid="ping-error">
          {error}
        </p>
      )}
      {ping !== null && <PingResult outcome={ping.outcome} />}
      <h3 className="subhead">Linked nodes</h3>
      {linked.length === 0 ? (
        <p className="muted small">No link is ready.</p>
      ) : (
        <ul className="app-rows" data-testid="ping-peers">
          {linked.map((peer) => (
            <RttRow key={peer} peer={peer} rtt={rtts[peer]} onMeasure={measure} />
          ))}
        </ul>
      )}
    </section>
  )
}

function PingResult({ outcome }: { outcome: IntentOutcome | null }) {
  if (outcome === null)
    return (
      <p className="muted small" aria-live="polite" data-testid="ping-waiting">
        Waiting for answers…
      </p>
    )
  const responders = [...outcome.responders].sort((a, b) => a.latencyMs - b.latencyMs)
  return (
    <div className="ping-result" data-testid="ping-result" aria-live="polite">
      <dl className="stats">
        <FigureStat label="YES" testId="ping-yes" value={outcome.yes} className="figure ok-text" />
        <FigureStat label="NO" testId="ping-no" value={outcome.no} className="figure warn-text" />
        <FigureStat label="silence" testId="ping-silence" value={outcome.silence} className="figure muted" />
      </dl>
      {outcome.targets === 0 ? (
        <p className="muted small">No other node was known to be present.</p>
      ) : responders.length === 0 ? (
        <p className="muted small">Nobody answered among {countOf(outcome.targets, 'node', 'nodes')}.</p>
      ) : (
        <ul className="app-rows" data-testid="ping-responders">
          {responders.map((r) => (
            <li key={r.id} className="app-row" data-testid="ping-responder" data-peer={r.id} data-answer={r.answer}>
              <span className="app-row-name" title={r.id}>
                {nameFromId(r.id)}
              </span>
              <span className={r.answer === 'yes' ? 'answer answer-yes' : 'answer answer-no'}>
                {r.answer.toUpperCase()}
              </span>
              <span className="app-row-figure">{formatCount(Math.round(r.latencyMs))} ms</span>
              {r.reason !== null && <span className="muted small app-row-wide">{r.reason}</span>}
            </li>
          ))}
        </ul>
      )}
    </div>
  )
}

function RttRow({ peer, rtt, onMeasure }: { peer: string; rtt: Rtt | undefined; onMeasure: (peer: string) => void }) {
  const name = nameFromId(peer)
  return (
    <li className="app-row" data-testid="ping-peer" data-peer={peer}>
      <span className="app-row-name" title={peer}>
        {name}
      </span>
      <span
        className="app-row-figure"
        aria-live="polite"
        data-testid="rtt"
        data-value={rtt?.state === 'done' ? (rtt.ms ?? '') : ''}
      >
        {rtt === undefined
          ? ''
          : rtt.state === 'waiting'
            ? '…'
            : rtt.ms === null
              ? 'no answer'
              : `${rtt.ms < 10 ? rtt.ms.toFixed(1) : formatCount(Math.round(rtt.ms))} ms`}
      </span>
      <button
        type="button"
        className="button button-small"
        onClick={() => onMeasure(peer)}
        disabled={rtt?.state === 'waiting'}
        aria-label={`RTT to ${name}`}
      >
        RTT
      </button>
    </li>
  )
}
