/**
 * Derived state of chunks, from the series: who holds which series (as their
 * signed peer records said, `chunk-holders` summaries: `{ changes: [[node,
 * author, chunks], …] }`, chunks −1 for gone, 0 for the head alone; the
 * older one-holder form `{ node, author, chunks }` with 0 for gone is still
 * read), at most `MAX_HOLDERS` nodes per series and `MAX_AUTHORS` series
 * (further ones are not added), what this node holds of others
 * (`chunk-stored`, `chunk-dropped`), what it refused (`chunk-rejected`) and
 * the standing of seeders that served bad chunks.
 */
import type { JsonValue } from '../json.ts'
import type { Reducer } from '../series/reducers.ts'

export interface ChunksState {
  [k: string]: JsonValue
  /** author → node → sealed chunks it holds (0: the head and open chunk only). */
  holders: { [author: string]: { [node: string]: number } }
  /** author → what this node holds of it. */
  held: { [author: string]: { chunks: number; bytes: number } }
  stored: number
  dropped: number
  rejectedCount: number
  /** The latest rejections, newest last. */
  rejected: { author: string; index: number; seq: number; reason: string; seeders: string[]; t: number }[]
  /** Seeders' standing: minus one per rejected chunk they served. */
  standing: { [node: string]: number }
}

const KEEP = 20
/** Holders kept per series, and series kept: a flood of records cannot grow derived state without bound. */
export const MAX_HOLDERS = 64
export const MAX_AUTHORS = 2048

/** Whether derived state has room for `node` as a new holder of `author`. */
export function holderFits(s: ChunksState, author: string, node: string): boolean {
  const of = s.holders[author]
  if (!of) return Object.keys(s.holders).length < MAX_AUTHORS
  return of[node] !== undefined || Object.keys(of).length < MAX_HOLDERS
}

/** Applies holder changes (chunks < 0: gone) to a copy of `holders`, within the caps. */
function applyHolders(s: ChunksState, changes: [string, string, number][]): ChunksState {
  const holders = { ...s.holders }
  const copied = new Set<string>()
  for (const [node, author, n] of changes) {
    if (!node || !author) continue
    if (n >= 0 && !holderFits({ ...s, holders }, author, node)) continue
    if (!copied.has(author)) {
      copied.add(author)
      holders[author] = { ...(holders[author] ?? {}) }
    }
    const of = holders[author]!
    if (n >= 0) of[node] = n
    else delete of[node]
    if (Object.keys(of).length === 0) {
      delete holders[author]
      copied.delete(author)
    }
  }
  return { ...s, holders }
}
const obj = (v: JsonValue | undefined): Record<string, JsonValue> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {}
const str = (v: JsonValue | undefined): string => (typeof v === 'string' ? v : '')
const num = (v: JsonValue | undefined): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0)
const strs = (v: JsonValue | undefined): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []

export const chunksReducer: Reducer<ChunksState> = {
  name: 'chunks',
  // 2: holders come in summaries; 0 chunks means the head alone, not gone.
  version: 2,
  initial: { holders: {}, held: {}, stored: 0, dropped: 0, rejectedCount: 0, rejected: [], standing: {} },
  reduce(s, e) {
    const b = obj(e.body)
    switch (e.kind) {
      case 'chunk-holders': {
        const list = b['changes']
        if (Array.isArray(list)) {
          const changes: [string, string, number][] = []
          for (const c of list.slice(0, 1024))
            if (Array.isArray(c) && c.length === 3 && typeof c[2] === 'number' && Number.isFinite(c[2]))
              changes.push([str(c[0]), str(c[1]), c[2] < 0 ? -1 : c[2]])
          return applyHolders(s, changes)
        }
        const n = num(b['chunks'])
        return applyHolders(s, [[str(b['node']), str(b['author']), n > 0 ? n : -1]])
      }
      case 'chunk-stored': {
        const author = str(b['author'])
        const h = s.held[author] ?? { chunks: 0, bytes: 0 }
        const held = {
          ...s.held,
          [author]: { chunks: Math.max(h.chunks, num(b['index']) + 1), bytes: h.bytes + num(b['bytes']) },
        }
        return { ...s, held, stored: s.stored + 1 }
      }
      case 'chunk-dropped': {
        // Fetched but not kept (`first`: the storage budget said no): what was held before stays held.
        if (typeof b['first'] === 'number') return { ...s, dropped: s.dropped + num(b['chunks']) }
        const held = { ...s.held }
        delete held[str(b['author'])]
        return { ...s, held, dropped: s.dropped + num(b['chunks']) }
      }
      case 'chunk-rejected': {
        const seeders = strs(b['seeders'])
        const standing = { ...s.standing }
        for (const p of seeders) standing[p] = (standing[p] ?? 0) - 1
        const r = {
          author: str(b['author']),
          index: num(b['index']),
          seq: num(b['seq']),
          reason: str(b['reason']),
          seeders,
          t: e.t,
        }
        const rejected = s.rejected.length >= KEEP ? [...s.rejected.slice(1), r] : [...s.rejected, r]
        return { ...s, rejected, rejectedCount: s.rejectedCount + 1, standing }
      }
      default:
        return s
    }
  },
}
