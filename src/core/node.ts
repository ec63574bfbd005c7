/**
 * createNode(deps): a node of the iR³ network. For now a node is its series
 * (and everything derived from it); the mesh, intents and chunks attach here
 * in later layers. The core is handed all of its world through `deps`.
 */
import { nameFromId, nodeIdFromPublicKey } from './identity.ts'
import type { JsonValue } from './json.ts'
import type { Clock, EventStore, Rng, Signer, Verifier } from './ports.ts'
import { toHex } from './series/hash.ts'
import type { Reducer, States } from './series/reducers.ts'
import {
  Series,
  type EntryView,
  type InclusionProof,
  type Problem,
  type SeriesEvent,
  type SeriesStatus,
  type VerifyReport,
} from './series/series.ts'

export interface NodeDeps {
  store: EventStore
  signer: Signer
  verifier: Verifier
  clock: Clock
  rng: Rng
  reducers?: readonly Reducer[]
  chunkSize?: number
  snapshotEvery?: number
}

export interface Ir3Node {
  readonly id: string
  readonly name: string
  /** Hex public key. */
  readonly publicKey: string
  readonly series: Series
  readonly length: number
  readonly durableLength: number
  readonly status: SeriesStatus
  readonly problems: readonly Problem[]
  append(kind: string, body: JsonValue): { seq: number; hash: string }
  flush(): Promise<number>
  entries(from: number, to: number): Promise<EntryView[]>
  state(atSeq?: number): Promise<States>
  verify(): Promise<VerifyReport>
  proof(seq: number, size?: number): Promise<InclusionProof>
  subscribe(fn: (e: SeriesEvent) => void): () => void
  destroy(): void
}

export async function createNode(deps: NodeDeps): Promise<Ir3Node> {
  const id = nodeIdFromPublicKey(deps.signer.publicKey)
  const series = await Series.open({
    author: id,
    signer: deps.signer,
    verifier: deps.verifier,
    store: deps.store,
    clock: deps.clock,
    ...(deps.reducers ? { reducers: deps.reducers } : {}),
    ...(deps.chunkSize ? { chunkSize: deps.chunkSize } : {}),
    ...(deps.snapshotEvery ? { snapshotEvery: deps.snapshotEvery } : {}),
  })
  let destroyed = false
  return {
    id,
    name: nameFromId(id),
    publicKey: toHex(deps.signer.publicKey),
    series,
    get length() {
      return series.length
    },
    get durableLength() {
      return series.durableLength
    },
    get status() {
      return series.status
    },
    get problems() {
      return series.problems
    },
    append: (kind, body) => series.append(kind, body),
    flush: () => series.flush(),
    entries: (from, to) => series.entries(from, to),
    state: (atSeq) => series.state(atSeq),
    verify: () => series.verify(),
    proof: (seq, size) => series.inclusionProof(seq, size),
    subscribe: (fn) => series.subscribe(fn),
    destroy() {
      if (destroyed) return
      destroyed = true
      series.close()
      deps.store.close()
    },
  }
}
