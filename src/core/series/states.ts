/**
 * Derived state as of any size (time travel): the nearest snapshot at or
 * before it — one not yet durable, or a stored one made by the same reducer
 * set — plus a replay of the entries after it.
 */
import { Ir3Error } from '../errors.ts'
import type { EventStore, Snapshot } from '../ports.ts'
import type { ChunkReader } from './chunk-reader.ts'
import { applyEntry, initialStates, type Reducer, type States } from './reducers.ts'

export interface StateSource {
  store: EventStore
  chunks: ChunkReader
  chunkSize: number
  reducers: readonly Reducer[]
  /** `reducerKey(reducers)`: a stored snapshot is only reused under the same key. */
  key: string
  /** Snapshots taken in memory and not yet committed. */
  pending: readonly Snapshot[]
}

/** Derived state after the first `size` entries. Throws ERR_DAMAGED if an entry it needs is missing or unreadable. */
export async function deriveStates(src: StateSource, size: number): Promise<States> {
  let base: Snapshot | null = null
  for (const p of src.pending) if (p.size <= size && (!base || p.size > base.size)) base = p
  if (!base) {
    const stored = await src.store.readSnapshot(size)
    if (stored && stored.key === src.key && stored.size <= size) base = stored
  }
  let states = base ? base.states : initialStates(src.reducers)
  let at = base ? base.size : 0
  const C = src.chunkSize
  while (at < size) {
    const k = Math.floor(at / C)
    const chunk = await src.chunks.chunk(k)
    if (!chunk) throw new Ir3Error('ERR_DAMAGED', `chunk ${k} is missing`)
    const end = Math.min(size - k * C, chunk.length)
    if (k * C + end <= at) throw new Ir3Error('ERR_DAMAGED', `chunk ${k} is short`)
    for (let i = at - k * C; i < end; i++) {
      const e = chunk.entry(i)
      if (!e) throw new Ir3Error('ERR_DAMAGED', `entry ${k * C + i}: ${chunk.broken ?? 'unreadable'}`)
      states = applyEntry(src.reducers, states, e, chunk.bytes(i)!.length)
    }
    at = k * C + end
  }
  return states
}
