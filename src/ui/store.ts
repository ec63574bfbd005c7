/**
 * The inspector's state: a zustand vanilla store (no React here) fed by the
 * node's events. A busy node appends thousands of entries a second, so events
 * only mark the store dirty; it is brought up to date from the node's getters
 * at most once per animation frame.
 *
 * Time travel lives here too: `travelTo(seq)` debounces, asks the node for
 * the derived state as of `seq`, and drops answers to superseded requests.
 *
 * The mesh slice (links, known nodes, server state, frame counters) is read
 * from the node's mesh on the same schedule: its change notifications, the
 * node's events and a slow tick (frame counters and round-trip times move
 * without either) all just mark the store dirty. Unchanged parts keep their
 * references, so the panels re-render only when something they show moved.
 */
import { createStore, type StoreApi } from 'zustand/vanilla'
import type { KnownNode, MeshStats, PeerView } from '../core/mesh/mesh.ts'
import type { Ir3Node } from '../core/node.ts'
import type { BootstrapState, SignedCheckpoint } from '../core/ports.ts'
import type { States } from '../core/series/reducers.ts'
import type { Degraded, Problem, SeriesStatus } from '../core/series/series.ts'
import { errorMessage } from './format.ts'
import { createFrameScheduler } from './frame.ts'
import { sameKnown, samePeers, sameStats } from './network.ts'

/** Node-driven refreshes at most this often (scrolling is not throttled: the virtualizer handles it). */
const NODE_REFRESH_MS = 66
/** Frame counters and round-trip times change without an event: they are re-read this often. */
const MESH_TICK_MS = 1000

export interface TimeTravel {
  /** The seq asked for; null when showing the live state. */
  target: number | null
  /** The seq `states` is as of (inclusive); null until a past state has loaded. */
  seq: number | null
  states: States | null
  loading: boolean
  error: string | null
}

/** What the page shows of the node's mesh. */
export interface MeshSlice {
  /** Links, in any state. */
  peers: readonly PeerView[]
  /** Nodes known from the server and from gossip. */
  known: readonly KnownNode[]
  serverState: BootstrapState
  /** A copy of the mesh's counters. */
  stats: MeshStats
  /** Ready links. */
  degree: number
  /** Links the mesh aims to keep. */
  target: number
}

export interface InspectorState {
  /** Entries appended so far. */
  length: number
  /** Entries on disk, covered by a signed checkpoint. */
  durableLength: number
  status: SeriesStatus
  problems: readonly Problem[]
  /** Set while commits fail (the reason, failures in a row, next retry); null when writing to disk works. */
  degraded: Degraded | null
  /** Commit failures reported by the series, oldest first (the last few). */
  errors: readonly string[]
  checkpoint: SignedCheckpoint | null
  /** Derived state after every entry appended so far. */
  live: States
  /** The row the keyboard selection is on. */
  selectedSeq: number | null
  /** The entry shown in the detail panel. */
  openSeq: number | null
  travel: TimeTravel
  /** Null when the node has no mesh (no transport). */
  mesh: MeshSlice | null

  select(seq: number | null): void
  /** Shows `seq` in the detail panel (and selects it). */
  open(seq: number | null): void
  /** Shows the derived state as of `seq`; null goes back to the live state. */
  travelTo(seq: number | null): void
}

export interface InspectorStore {
  readonly store: StoreApi<InspectorState>
  /** Stops listening to the node. */
  dispose(): void
}

const MAX_ERRORS = 20
const TRAVEL_DEBOUNCE_MS = 50
const LIVE: TimeTravel = { target: null, seq: null, states: null, loading: false, error: null }

export function createInspectorStore(node: Ir3Node): InspectorStore {
  let pendingErrors: string[] = []
  let travelTimer: ReturnType<typeof setTimeout> | undefined
  let travelToken = 0

  const snapshot = () => ({
    length: node.length,
    durableLength: node.durableLength,
    status: node.status,
    problems: node.problems,
    degraded: node.series.degraded,
    checkpoint: node.series.checkpoint,
    live: node.series.current,
  })

  const meshSnapshot = (prev: MeshSlice | null): MeshSlice | null => {
    const mesh = node.mesh
    if (!mesh) return null
    const peers = mesh.peers()
    const known = mesh.known()
    const s = mesh.stats
    const stats: MeshStats = { ...s, dropped: { ...s.dropped }, connected: { ...s.connected } }
    const next: MeshSlice = {
      peers: prev && samePeers(prev.peers, peers) ? prev.peers : peers,
      known: prev && sameKnown(prev.known, known) ? prev.known : known,
      serverState: mesh.bootstrapState,
      stats: prev && sameStats(prev.stats, stats) ? prev.stats : stats,
      degree: peers.filter((p) => p.state === 'ready').length,
      target: mesh.options.targetDegree,
    }
    const unchanged =
      prev !== null &&
      next.peers === prev.peers &&
      next.known === prev.known &&
      next.stats === prev.stats &&
      next.serverState === prev.serverState &&
      next.degree === prev.degree &&
      next.target === prev.target
    return unchanged ? prev : next
  }

  const store = createStore<InspectorState>()((set, get) => ({
    ...snapshot(),
    mesh: meshSnapshot(null),
    errors: [],
    selectedSeq: null,
    openSeq: null,
    travel: LIVE,

    select: (seq) => set({ selectedSeq: seq }),
    open: (seq) => set(seq === null ? { openSeq: null } : { openSeq: seq, selectedSeq: seq }),
    travelTo(seq) {
      const token = ++travelToken
      clearTimeout(travelTimer)
      if (seq === null || get().length === 0) {
        set({ travel: LIVE })
        return
      }
      const target = Math.min(Math.max(0, Math.floor(seq)), get().length - 1)
      set((s) => ({ travel: { ...s.travel, target, loading: true, error: null } }))
      travelTimer = setTimeout(() => {
        node.state(target).then(
          (states) => {
            if (token === travelToken) set({ travel: { target, seq: target, states, loading: false, error: null } })
          },
          (e: unknown) => {
            if (token === travelToken) set((s) => ({ travel: { ...s.travel, loading: false, error: errorMessage(e) } }))
          },
        )
      }, TRAVEL_DEBOUNCE_MS)
    },
  }))

  const frame = createFrameScheduler(
    () => {
      const errors = pendingErrors.length > 0 ? [...store.getState().errors, ...pendingErrors].slice(-MAX_ERRORS) : null
      pendingErrors = []
      const next = { ...snapshot(), mesh: meshSnapshot(store.getState().mesh) }
      store.setState(errors ? { ...next, errors } : next)
    },
    250,
    NODE_REFRESH_MS,
  )

  const unsubscribe = node.subscribe((e) => {
    if (e.type === 'error') pendingErrors.push(e.message)
    frame.schedule()
  })
  const unsubscribeMesh = node.mesh?.subscribe(() => frame.schedule())
  const meshTick = node.mesh ? setInterval(() => frame.schedule(), MESH_TICK_MS) : undefined
  // Anything that happened between the node's creation and our subscription
  // (damage found at load, a finished verification) is in the getters.
  frame.schedule()

  return {
    store,
    dispose() {
      unsubscribe()
      unsubscribeMesh?.()
      clearInterval(meshTick)
      frame.cancel()
      clearTimeout(travelTimer)
      travelToken++
    },
  }
}
