/**
 * Derived state of chunks, from the series: who holds which series (as their
 * signed peer records said, `chunk-holders`), what this node holds of others
 * (`chunk-stored`, `chunk-dropped`), what it refused (`chunk-rejected`) and
 * the standing of seeders that served bad chunks.
 */
import type { JsonValue } from '../json.ts'
import type { Reducer } from '../series/reducers.ts'

export interface ChunksState {
  [k: string]: JsonValue
  /** author → node → sealed chunks it holds. */
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
const obj = (v: JsonValue | undefined): Record<string, JsonValue> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {}
const str = (v: JsonValue | undefined): string => (typeof v === 'string' ? v : '')
const num = (v: JsonValue | undefined): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0)
const strs = (v: JsonValue | undefined): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []

export const chunksReducer: Reducer<ChunksState> = {
  name: 'chunks',
  version: 1,
  initial: { holders: {}, held: {}, stored: 0, dropped: 0, rejectedCount: 0, rejected: [], standing: {} },
  reduce(s, e) {
    const b = obj(e.body)
    switch (e.kind) {
      case 'chunk-holders': {
        const author = str(b['author'])
        const node = str(b['node'])
        const n = num(b['chunks'])
        const of = { ...(s.holders[author] ?? {}) }
        if (n > 0) of[node] = n
        else delete of[node]
        const holders = { ...s.holders, [author]: of }
        if (Object.keys(of).length === 0) delete holders[author]
        return { ...s, holders }
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
