/**
 * The inspector's state: a zustand vanilla store (no React here) fed by the
 * node's events. A busy node appends thousands of entries a second, so events
 * only mark the store dirty; it is brought up to date from the node's getters
 * at most once per animation frame.
 *
 * Time travel lives here too: `travelTo(seq)` debounces, asks the node for
 * the derived state as of `seq`, and drops answers to superseded requests.
 */
import { createStore, type StoreApi } from 'zustand/vanilla'
import type { Ir3Node } from '../core/node.ts'
import type { SignedCheckpoint } from '../core/ports.ts'
import type { States } from '../core/series/reducers.ts'
import type { Problem, SeriesStatus } from '../core/series/series.ts'
import { createFrameScheduler } from './frame.ts'

/** Node-driven refreshes at most this often (scrolling is not throttled: the virtualizer handles it). */
const NODE_REFRESH_MS = 66
import { errorMessage } from './format.ts'

export interface TimeTravel {
  /** The seq asked for; null when showing the live state. */
  target: number | null
  /** The seq `states` is as of (inclusive); null until a past state has loaded. */
  seq: number | null
  states: States | null
  loading: boolean
  error: string | null
}

export interface InspectorState {
  /** Entries appended so far. */
  length: number
  /** Entries on disk, covered by a signed checkpoint. */
  durableLength: number
  status: SeriesStatus
  problems: readonly Problem[]
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
    checkpoint: node.series.checkpoint,
    live: node.series.current,
  })

  const store = createStore<InspectorState>()((set, get) => ({
    ...snapshot(),
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
      store.setState(errors ? { ...snapshot(), errors } : snapshot())
    },
    250,
    NODE_REFRESH_MS,
  )

  const unsubscribe = node.subscribe((e) => {
    if (e.type === 'error') pendingErrors.push(e.message)
    frame.schedule()
  })
  // Anything that happened between the node's creation and our subscription
  // (damage found at load, a finished verification) is in the getters.
  frame.schedule()

  return {
    store,
    dispose() {
      unsubscribe()
      frame.cancel()
      clearTimeout(travelTimer)
      travelToken++
    },
  }
}
