/**
 * Reads the default reducers' states ('view' and 'notes') defensively: they
 * are JSON values, and a future reducer version may change their shape.
 */
import type { JsonValue } from '../core/json.ts'
import type { States } from '../core/series/reducers.ts'

export interface ViewSummary {
  count: number
  /** Kinds with their entry counts, by name. */
  byKind: [kind: string, count: number][]
  firstT: number | null
  lastT: number | null
}

export interface NotesSummary {
  count: number
  /** Newest last. */
  latest: string[]
}

type JsonObject = { [key: string]: JsonValue }

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function num(v: JsonValue | undefined): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null
}

export function readView(states: States): ViewSummary {
  const v = states['view']
  if (!isObject(v)) return { count: 0, byKind: [], firstT: null, lastT: null }
  const byKind: [string, number][] = []
  const kinds = v['byKind']
  if (isObject(kinds)) {
    for (const [kind, n] of Object.entries(kinds)) {
      const c = num(n)
      if (c !== null) byKind.push([kind, c])
    }
  }
  byKind.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  return { count: num(v['count']) ?? 0, byKind, firstT: num(v['firstT']), lastT: num(v['lastT']) }
}

export function readNotes(states: States): NotesSummary {
  const n = states['notes']
  if (!isObject(n)) return { count: 0, latest: [] }
  const latest = Array.isArray(n['latest']) ? n['latest'].filter((t): t is string => typeof t === 'string') : []
  return { count: num(n['count']) ?? 0, latest }
}
