/**
 * Rate limiters, derived from the series (reducer `limits`), and the decision
 * rule. Four limiters, after the origin:
 *
 *   economic   storage used by the series vs the storage budget
 *   objective  kinds this node refuses to serve
 *   load       intents received within the last 30 s (when the caller says
 *              what time it is; else among the last 100 entries) vs
 *              `loadMax`. An `intent-received` entry counts one, an
 *              `intents-summarized` entry the `received` it summarizes (at
 *              its own seq and time); intents not yet summarized are passed
 *              to `decide` as `pending`. (Version 2 counted only the last
 *              100 entries: with two entries per intent, load never
 *              exceeded 50.)
 *   topology   current degree (mesh links; not the short-lived links opened to
 *              answer or fetch) vs `maxDegree`
 *
 * plus a per-declarer limiter that doubles as flood protection: a declarer
 * with more than `perOriginMax` intents among the last 100 entries gets NO,
 * and beyond twice that, silence. Intents refused for `flood` or `load` are
 * not forwarded (intents.ts).
 * The rule: YES unless a limiter is critical, then NO with the reason.
 * Budgets are set with a `limits-set` entry, so they are part of the series.
 */
import type { JsonValue } from '../json.ts'
import type { Reducer } from '../series/reducers.ts'

export interface Budgets {
  [k: string]: JsonValue
  storageBytes: number
  loadMax: number
  perOriginMax: number
  maxDegree: number
  /** Intent kinds this node does not serve. */
  refuse: string[]
}

export const DEFAULT_BUDGETS: Budgets = {
  storageBytes: 100 * 1024 * 1024,
  loadMax: 200,
  perOriginMax: 20,
  maxDegree: 10,
  refuse: [],
}

export const WINDOW = 100
/** Intents older than this no longer load a node (a quiet series must not stay "loaded"). */
export const LOAD_WINDOW_MS = 30_000
/** A summary counts at most this many intents (load and per declarer): far beyond any budget that matters. */
export const SUMMARY_COUNT_MAX = 512
/** Intents kept for the load limiter at most (the newest). */
const COUNTED_MAX = 1024

/** Intents received and not yet in the series (they go into the next `intents-summarized`). */
export interface Pending {
  /** All of them, the one being decided included. */
  total: number
  /** Those of the declarer being decided. */
  origin: number
}

export interface LimitsState {
  [k: string]: JsonValue
  budgets: Budgets
  storageUsed: number
  /** Seq of the latest entry. */
  seq: number
  /** Seqs of intents received (a summary's seq once per intent it counts) within the last WINDOW entries or LOAD_WINDOW_MS. */
  intentSeqs: number[]
  /** Their times, in the same order. */
  intentTimes: number[]
  /** The same, per declarer. */
  origins: { [origin: string]: number[] }
  /** Mesh links (not the short-lived links opened to answer or fetch: those are `transient`). */
  degree: number
  /** Peers linked for a purpose other than the mesh (answers, chunk fetches): not topology. */
  transient: string[]
}

const obj = (v: JsonValue): Record<string, JsonValue> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {}

function mergeBudgets(b: Budgets, patch: Record<string, JsonValue>): Budgets {
  const next: Budgets = { ...b }
  for (const k of ['storageBytes', 'loadMax', 'perOriginMax', 'maxDegree'] as const) {
    const v = patch[k]
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) next[k] = v
  }
  const r = patch['refuse']
  if (Array.isArray(r)) next.refuse = r.filter((x): x is string => typeof x === 'string').slice(0, 64)
  return next
}

export const limitsReducer: Reducer<LimitsState> = {
  name: 'limits',
  version: 4,
  initial: {
    budgets: DEFAULT_BUDGETS,
    storageUsed: 0,
    seq: -1,
    intentSeqs: [],
    intentTimes: [],
    origins: {},
    degree: 0,
    transient: [],
  },
  reduce(s, e, size) {
    const next: LimitsState = { ...s, storageUsed: s.storageUsed + size, seq: e.seq }
    switch (e.kind) {
      case 'intent-received': {
        const origin = obj(e.body)['origin']
        return counted(s, next, e.seq, e.t, 1, typeof origin === 'string' ? { [origin]: 1 } : {})
      }
      case 'intents-summarized': {
        const b = obj(e.body)
        const received = typeof b['received'] === 'number' && b['received'] > 0 ? Math.floor(b['received']) : 0
        const byOrigin: Record<string, number> = {}
        for (const [o, n] of Object.entries(obj(b['origins'] ?? null)).slice(0, 64))
          if (typeof n === 'number' && n > 0) byOrigin[o] = Math.floor(n)
        return counted(s, next, e.seq, e.t, received, byOrigin)
      }
      case 'peer-connected': {
        const b = obj(e.body)
        const peer = typeof b['peer'] === 'string' ? b['peer'] : ''
        // A link opened to answer an intent or fetch chunks is pruned once idle: it is not the node's degree.
        if (b['purpose'] === 'response' && !(s.transient ?? []).includes(peer) && (s.transient ?? []).length < 256)
          next.transient = [...(s.transient ?? []), peer]
        else next.degree = s.degree + 1
        return next
      }
      case 'peer-disconnected': {
        const peer = obj(e.body)['peer']
        const t = s.transient ?? []
        if (typeof peer === 'string' && t.includes(peer)) next.transient = t.filter((x) => x !== peer)
        else next.degree = Math.max(0, s.degree - 1)
        return next
      }
      case 'mesh-started':
        next.degree = 0
        next.transient = []
        return next
      case 'chunk-stored':
      case 'chunk-dropped': {
        // Other nodes' chunks held here count against the same storage budget.
        const bytes = obj(e.body)['bytes']
        if (typeof bytes === 'number' && Number.isFinite(bytes) && bytes > 0)
          next.storageUsed = Math.max(0, next.storageUsed + (e.kind === 'chunk-stored' ? bytes : -bytes))
        return next
      }
      case 'limits-set':
        next.budgets = mergeBudgets(s.budgets, obj(obj(e.body)['budgets'] ?? null))
        return next
      default:
        return next
    }
  },
}

/** `next` with `n` intents received at entry `seq` (time `t`), `byOrigin` of them per declarer; the window slides on. */
function counted(
  s: LimitsState,
  next: LimitsState,
  seq: number,
  t: number,
  n: number,
  byOrigin: Record<string, number>,
): LimitsState {
  const floor = seq - WINDOW
  const times = s.intentTimes ?? []
  const keep = s.intentSeqs.findIndex((q, i) => q > floor || (times[i] ?? 0) > t - LOAD_WINDOW_MS)
  const from = Math.max(
    keep < 0 ? s.intentSeqs.length : keep,
    s.intentSeqs.length + Math.min(n, SUMMARY_COUNT_MAX) - COUNTED_MAX,
  )
  const k = Math.min(n, SUMMARY_COUNT_MAX)
  next.intentSeqs = [...s.intentSeqs.slice(from), ...Array<number>(k).fill(seq)]
  next.intentTimes = [...times.slice(from), ...Array<number>(k).fill(t)]
  const origins: LimitsState['origins'] = {}
  for (const [o, seqs] of Object.entries(s.origins)) {
    const kept = seqs.filter((q) => q > floor)
    if (kept.length > 0) origins[o] = kept
  }
  for (const [o, m] of Object.entries(byOrigin))
    origins[o] = [...(origins[o] ?? []), ...Array<number>(Math.min(m, SUMMARY_COUNT_MAX)).fill(seq)]
  next.origins = origins
  return next
}

export interface LimiterView {
  economic: { used: number; budget: number; critical: boolean }
  objective: { refused: string[] }
  load: { recent: number; max: number; critical: boolean }
  topology: { degree: number; max: number; critical: boolean }
}

export function limiterView(s: LimitsState, now?: number, pending = 0): LimiterView {
  const times = s.intentTimes ?? []
  const recent =
    pending +
    (now === undefined
      ? s.intentSeqs.filter((q) => q > s.seq - WINDOW).length
      : times.filter((t) => t > now - LOAD_WINDOW_MS).length)
  return {
    economic: {
      used: s.storageUsed,
      budget: s.budgets.storageBytes,
      critical: s.storageUsed >= s.budgets.storageBytes,
    },
    objective: { refused: s.budgets.refuse },
    load: { recent, max: s.budgets.loadMax, critical: recent > s.budgets.loadMax },
    topology: { degree: s.degree, max: s.budgets.maxDegree, critical: s.degree > s.budgets.maxDegree },
  }
}

/**
 * Intents whose answer stores nothing here: a node over its storage budget
 * still answers them (a full node must still serve its own chunks, or its
 * history could never be replicated).
 */
export const STORAGE_FREE = new Set(['ping', 'want-chunk'])

export type Verdict =
  { answer: 'yes' } | { answer: 'no'; reason: string; retryAfter: number | null } | { answer: 'silent'; reason: string }

/**
 * Decides whether to serve an intent of `kind` from `origin`, given the
 * limiters, with the intent itself counted: after its `intent-received`
 * entry, or in `pending` (with the other intents not yet summarized).
 */
export function decide(s: LimitsState, origin: string, kind: string, now?: number, pending?: Pending): Verdict {
  const fromOrigin = (s.origins[origin] ?? []).filter((q) => q > s.seq - WINDOW).length + (pending?.origin ?? 0)
  if (fromOrigin > 2 * s.budgets.perOriginMax) return { answer: 'silent', reason: 'flood' }
  if (fromOrigin > s.budgets.perOriginMax) return { answer: 'no', reason: 'flood', retryAfter: 10_000 }
  const v = limiterView(s, now, pending?.total ?? 0)
  if (s.budgets.refuse.includes(kind)) return { answer: 'no', reason: 'objective', retryAfter: null }
  if (v.economic.critical && !STORAGE_FREE.has(kind)) return { answer: 'no', reason: 'economic', retryAfter: null }
  if (v.load.critical) return { answer: 'no', reason: 'load', retryAfter: 2_000 }
  if (v.topology.critical) return { answer: 'no', reason: 'topology', retryAfter: 5_000 }
  return { answer: 'yes' }
}
