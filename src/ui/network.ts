/**
 * Plain functions behind the mesh, intents and limits panels (no React here):
 * reading the `intents` and `limits` derived states defensively, an intent's
 * outcome as bar segments, the decision the limiters lead to right now, the
 * mesh picture's deterministic layout, and the equality checks that let the
 * store keep unchanged mesh data by reference.
 */
import type { JsonValue } from '../core/json.ts'
import type { KnownNode, MeshStats, PeerView } from '../core/mesh/mesh.ts'
import { decide, WINDOW, type LimitsState, type Verdict } from '../core/intents/limits.ts'
import type { DeclaredIntent, IntentsState } from '../core/intents/reducers.ts'

/** The first 6 hex of a node id: how the panels name nodes. */
export function shortId(id: string): string {
  return id.slice(0, 6)
}

// ---- equality (the store keeps unchanged mesh data by reference) ----

export function samePeers(a: readonly PeerView[], b: readonly PeerView[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!
    const y = b[i]!
    if (
      x.id !== y.id ||
      x.state !== y.state ||
      x.via !== y.via ||
      x.initiator !== y.initiator ||
      x.purpose !== y.purpose ||
      x.since !== y.since ||
      x.rttMs !== y.rttMs ||
      x.framesIn !== y.framesIn ||
      x.framesOut !== y.framesOut ||
      x.dropped !== y.dropped
    )
      return false
  }
  return true
}

export function sameKnown(a: readonly KnownNode[], b: readonly KnownNode[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!
    const y = b[i]!
    if (x.id !== y.id || x.t !== y.t || x.source !== y.source || x.gossipAt !== y.gossipAt) return false
    if (x.peers.length !== y.peers.length || x.peers.some((p, j) => p !== y.peers[j])) return false
  }
  return true
}

export function sameStats(a: MeshStats, b: MeshStats): boolean {
  if (
    a.framesIn !== b.framesIn ||
    a.framesOut !== b.framesOut ||
    a.linksCreated !== b.linksCreated ||
    a.signalsRelayed !== b.signalsRelayed ||
    a.abuseDisconnects !== b.abuseDisconnects ||
    a.connected.server !== b.connected.server ||
    a.connected.mesh !== b.connected.mesh
  )
    return false
  const keys = Object.keys(a.dropped) as (keyof MeshStats['dropped'])[]
  return keys.every((k) => a.dropped[k] === b.dropped[k])
}

// ---- derived states, read defensively ----

type JsonObject = { [key: string]: JsonValue }

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function num(v: JsonValue | undefined): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0
}

const EMPTY_INTENTS: IntentsState = {
  declared: {},
  order: [],
  received: 0,
  answered: { yes: 0, no: 0, silent: 0 },
}

function isDeclared(v: JsonValue | undefined): v is DeclaredIntent {
  return (
    isObject(v) &&
    typeof v['kind'] === 'string' &&
    typeof v['t'] === 'number' &&
    Array.isArray(v['targets']) &&
    isObject(v['responses']) &&
    Array.isArray(v['silent'])
  )
}

/** The `intents` state (`states['intents']`), with anything of an unexpected shape left out. */
export function readIntents(s: JsonValue | undefined): IntentsState {
  if (!isObject(s)) return EMPTY_INTENTS
  const declared: IntentsState['declared'] = {}
  if (isObject(s['declared'])) {
    for (const [id, d] of Object.entries(s['declared'])) if (isDeclared(d)) declared[id] = d
  }
  const order = Array.isArray(s['order']) ? s['order'].filter((id): id is string => typeof id === 'string') : []
  const answered = isObject(s['answered']) ? s['answered'] : {}
  return {
    declared,
    order,
    received: num(s['received']),
    answered: { yes: num(answered['yes']), no: num(answered['no']), silent: num(answered['silent']) },
  }
}

/** The `limits` state (`states['limits']`), or null if it is missing or of an unexpected shape. */
export function readLimits(s: JsonValue | undefined): LimitsState | null {
  if (!isObject(s) || !isObject(s['budgets']) || !Array.isArray(s['intentSeqs']) || !isObject(s['origins'])) return null
  const b = s['budgets']
  if (!['storageBytes', 'loadMax', 'perOriginMax', 'maxDegree'].every((k) => typeof b[k] === 'number')) return null
  if (!Array.isArray(b['refuse'])) return null
  return s as LimitsState
}

// ---- outcomes ----

export interface Outcome {
  yes: number
  no: number
  /** Silence recorded, and no answer since. */
  silence: number
  /** Answered after the deadline (silence was recorded for most of them first). */
  late: number
  pending: number
  /** What the bar is proportional to: the targets, plus anyone else who answered. */
  total: number
}

/** Each target of an intent in exactly one segment: yes, no, late, silence or pending. */
export function outcomeOf(d: DeclaredIntent): Outcome {
  const o: Outcome = { yes: 0, no: 0, silence: 0, late: 0, pending: 0, total: 0 }
  const silent = new Set(d.silent)
  const targets = new Set(d.targets)
  const count = (r: DeclaredIntent['responses'][string]) => {
    if (r.late) o.late++
    else if (r.answer === 'yes') o.yes++
    else o.no++
  }
  for (const t of targets) {
    const r = d.responses[t]
    if (r) count(r)
    else if (silent.has(t)) o.silence++
    else o.pending++
  }
  for (const [peer, r] of Object.entries(d.responses)) if (!targets.has(peer)) count(r)
  o.total = o.yes + o.no + o.silence + o.late + o.pending
  return o
}

// ---- the limiters' decision ----

const PROBE = '(a new declarer)'

/**
 * What this node would answer an intent of `kind` from a declarer it has not
 * heard from, if it arrived now: the limiters are judged after the intent is
 * counted, as the node does (so `loadMax: 0` means NO to the next one).
 */
export function decisionNow(s: LimitsState, kind: string): Verdict {
  const seq = s.seq + 1
  const next: LimitsState = {
    ...s,
    seq,
    intentSeqs: [...s.intentSeqs.filter((q) => q > seq - WINDOW), seq],
    origins: { ...s.origins, [PROBE]: [seq] },
  }
  return decide(next, PROBE, kind)
}

export function verdictText(v: Verdict): string {
  return v.answer === 'yes'
    ? 'would answer YES'
    : v.answer === 'no'
      ? `would answer NO: ${v.reason}`
      : `would stay silent: ${v.reason}`
}

// ---- the mesh picture ----

export const GRAPH_SIZE = 400
const C = GRAPH_SIZE / 2
/** Ring radii; with no outer ring the inner one takes its room. */
const R_INNER = 80
const R_INNER_ALONE = 122
const R_OUTER = 134
/** Outer-ring labels are drawn up to this many nodes (beyond, hover titles only). */
export const MAX_OUTER_LABELS = 24
const MAX_EDGES = 800
const TAU = Math.PI * 2

export interface GraphNode {
  id: string
  x: number
  y: number
  /** Unit vector pointing away from the centre (where the label goes). */
  dx: number
  dy: number
  ring: 'self' | 'inner' | 'outer'
  /** Inner ring: the link. */
  peer: PeerView | null
  known: KnownNode | null
}

export interface GraphEdge {
  key: string
  from: GraphNode
  to: GraphNode
  /** Links of this node, or a link another node's peer record lists. */
  kind: 'server' | 'mesh' | 'record'
  connecting: boolean
}

export interface Graph {
  self: GraphNode
  nodes: GraphNode[]
  edges: GraphEdge[]
  /** Outer-ring nodes (known, not linked). */
  outer: number
  /** Radii of the rings drawn (the outer one only when it has nodes). */
  rings: number[]
}

/** FNV-1a: an id's place on its ring, the same in every tab and every render. */
export function hashAngle(id: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return ((h >>> 0) / 2 ** 32) * TAU
}

/** Pushes apart neighbours on a ring closer than `gap` (deterministic: same input, same output). */
function spread(items: { a: number }[], minGap: number): void {
  const n = items.length
  if (n < 2) return
  items.sort((x, y) => x.a - y.a)
  const gap = Math.min(minGap, TAU / n) * 0.999
  for (let round = 0; round < 200; round++) {
    let moved = false
    for (let i = 0; i < n; i++) {
      const j = (i + 1) % n
      const x = items[i]!
      const y = items[j]!
      const d = y.a - x.a + (j === 0 ? TAU : 0)
      if (d < gap) {
        const push = (gap - d) / 2 + 1e-6
        x.a -= push
        y.a += push
        moved = true
      }
    }
    if (!moved) break
  }
}

function place(id: string, a: number, r: number, ring: GraphNode['ring']): GraphNode {
  const dx = Math.cos(a)
  const dy = Math.sin(a)
  return { id, x: C + r * dx, y: C + r * dy, dx, dy, ring, peer: null, known: null }
}

/**
 * This node in the centre, its links on the inner ring, the other known nodes
 * on the outer ring, each at the angle its id hashes to (nudged apart when
 * too close); edges for this node's links and for the links known nodes'
 * peer records list.
 */
export function layoutGraph(selfId: string, peers: readonly PeerView[], known: readonly KnownNode[]): Graph {
  const self = place(selfId, -Math.PI / 2, 0, 'self')
  const linked = new Map(peers.filter((p) => p.id !== selfId).map((p) => [p.id, p]))
  const byId = new Map(known.map((k) => [k.id, k]))
  const inner = [...linked.keys()].map((id) => ({ id, a: hashAngle(id) }))
  const outer = known.filter((k) => k.id !== selfId && !linked.has(k.id)).map((k) => ({ id: k.id, a: hashAngle(k.id) }))
  spread(inner, TAU / 6)
  spread(outer, TAU / MAX_OUTER_LABELS)

  const rInner = outer.length === 0 ? R_INNER_ALONE : R_INNER
  const nodes: GraphNode[] = []
  const at = new Map<string, GraphNode>()
  for (const { id, a } of inner) {
    const n = place(id, a, rInner, 'inner')
    n.peer = linked.get(id) ?? null
    n.known = byId.get(id) ?? null
    nodes.push(n)
    at.set(id, n)
  }
  for (const { id, a } of outer) {
    const n = place(id, a, R_OUTER, 'outer')
    n.known = byId.get(id) ?? null
    nodes.push(n)
    at.set(id, n)
  }

  const edges: GraphEdge[] = []
  const seen = new Set<string>()
  for (const n of nodes) {
    if (n.peer)
      edges.push({
        key: `self:${n.id}`,
        from: self,
        to: n,
        kind: n.peer.via,
        connecting: n.peer.state !== 'ready',
      })
  }
  for (const k of known) {
    const from = at.get(k.id)
    if (!from) continue
    for (const p of k.peers) {
      const to = at.get(p)
      if (!to || to === from || edges.length >= MAX_EDGES) continue
      const key = k.id < p ? `${k.id}:${p}` : `${p}:${k.id}`
      if (seen.has(key)) continue
      seen.add(key)
      edges.push({ key, from, to, kind: 'record', connecting: false })
    }
  }
  // Records' edges under this node's links.
  edges.sort((x, y) => (x.kind === 'record' ? 0 : 1) - (y.kind === 'record' ? 0 : 1))
  return { self, nodes, edges, outer: outer.length, rings: outer.length === 0 ? [rInner] : [rInner, R_OUTER] }
}
