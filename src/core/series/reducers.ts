/**
 * Derived state. A reducer is a pure `(state, entry) => state` over JSON
 * values, registered by name. All state other than the series is derived by
 * reducers, applied incrementally on append; the state as of any seq is the
 * nearest snapshot at or before it plus a replay of the entries after it.
 */
import type { JsonValue } from '../json.ts'
import type { Entry } from './encoding.ts'

export interface Reducer<S extends JsonValue = JsonValue> {
  name: string
  /** Bump when the reducer's meaning changes: snapshots of other versions are ignored. */
  version: number
  initial: S
  /** `size` is the entry's encoded size in bytes. */
  reduce(state: S, entry: Entry, size: number): S
}

export type States = Record<string, JsonValue>

/** Identifies a reducer set; snapshots are only reused under the same key. */
export function reducerKey(reducers: readonly Reducer[]): string {
  return reducers
    .map((r) => `${r.name}@${r.version}`)
    .sort()
    .join(',')
}

export function initialStates(reducers: readonly Reducer[]): States {
  const s: States = {}
  for (const r of reducers) s[r.name] = r.initial
  return s
}

/** Applies one entry (of `size` encoded bytes) to every reducer; returns a new states object. */
export function applyEntry(reducers: readonly Reducer[], states: States, entry: Entry, size = 0): States {
  const next: States = {}
  for (const r of reducers) next[r.name] = r.reduce(states[r.name] ?? r.initial, entry, size)
  return next
}

export interface ViewState {
  [key: string]: JsonValue
  count: number
  byKind: { [kind: string]: number }
  firstT: number | null
  lastT: number | null
  /** The last few entries, newest last. */
  last: { seq: number; kind: string; t: number }[]
}

const LAST = 8

/** The generic view: counts by kind, time span, last entries. */
export const viewReducer: Reducer<ViewState> = {
  name: 'view',
  version: 1,
  initial: { count: 0, byKind: {}, firstT: null, lastT: null, last: [] },
  reduce(s, e) {
    const last = s.last.length >= LAST ? s.last.slice(1) : s.last.slice()
    last.push({ seq: e.seq, kind: e.kind, t: e.t })
    return {
      count: s.count + 1,
      byKind: { ...s.byKind, [e.kind]: (s.byKind[e.kind] ?? 0) + 1 },
      firstT: s.firstT ?? e.t,
      lastT: e.t,
      last,
    }
  },
}

export interface NotesState {
  [key: string]: JsonValue
  count: number
  /** The latest note texts, newest last. */
  latest: string[]
}

/** Notes a person appended by hand (`note-added` entries with `{ text }`). */
export const notesReducer: Reducer<NotesState> = {
  name: 'notes',
  version: 1,
  initial: { count: 0, latest: [] },
  reduce(s, e) {
    if (e.kind !== 'note-added') return s
    const b = e.body
    const text = typeof b === 'object' && b !== null && !Array.isArray(b) && typeof b.text === 'string' ? b.text : ''
    const latest = s.latest.length >= LAST ? s.latest.slice(1) : s.latest.slice()
    latest.push(text)
    return { count: s.count + 1, latest }
  },
}

export const defaultReducers: readonly Reducer[] = [viewReducer as Reducer, notesReducer as Reducer]
