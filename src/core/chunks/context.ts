/**
 * What the parts of chunks share: the node's ports (`ChunksDeps`), the
 * options with their defaults, the series held for others, the fetch jobs
 * and downloads in progress, and the counters the view shows. Holders,
 * serving, fetching, replication and opening each read and write these;
 * none keeps a copy. Nothing here talks to the network.
 */
import { safetyCatch } from '../errors.ts'
import type { JsonValue } from '../json.ts'
import type { ChunkStore, ChunkSwarm, Clock, HeldSeries, Rng, Verifier } from '../ports.ts'
import type { Mesh } from '../mesh/mesh.ts'
import type { Intents } from '../intents/intents.ts'
import type { Series } from '../series/series.ts'
import type { Reducer, States } from '../series/reducers.ts'
import type { ChunksState } from './reducers.ts'
import { emptyRequestStats, type RequestStats } from './request.ts'

export interface ChunksOptions {
  /** Holders wanted per series besides its author. Default 3. */
  replicationTarget?: number
  /** Whether this node replicates others' series on its own. Default true. */
  replicate?: boolean
  /** How often replication looks for work, ms. Default 3000. */
  replicateEveryMs?: number
  /** How long a `want-chunk` waits for answers, ms. Default 2500. */
  wantDeadlineMs?: number
  /** Segments served per 10 s before `want-chunk` gets NO (uploads). Default 40. */
  maxUploads?: number
  /** Time for one direct request, ms. Default 8000. */
  requestTimeoutMs?: number
  /** Segments fetched at once. Default 6. */
  segmentsInFlight?: number
}

export interface ChunksDeps {
  id: string
  publicKey: string
  series: Series
  mesh: Mesh
  intents: Intents
  store: ChunkStore
  swarm: ChunkSwarm
  clock: Clock
  rng: Rng
  verifier: Verifier
  reducers: readonly Reducer[]
  record(kind: string, body: JsonValue): void
  state(): States
  options?: ChunksOptions
}

/** A fetch in progress, for the UI. */
export interface DownloadView {
  author: string
  segment: number
  chunks: number
  bytes: number
  total: number
  peers: number
  holders: string[]
}

export interface ChunksStats {
  fetchedChunks: number
  fetchedBytes: number
  /** Time spent, ms: in the swarm (ask, seed, transfer), checking chunks, storing them. */
  swarmMs: number
  verifyMs: number
  storeMs: number
  rejectedChunks: number
  servedSegments: number
  headsServed: number
  jobs: number
  jobFailures: number
  /** The `series` channel: requests, replies, and the messages dropped and counted. */
  wire: RequestStats
}

/** A node's YES to `want-chunk` (or a node known to have more): sealed chunks held, entries its head covers. */
export interface Source {
  id: string
  chunks: number
  size: number
}

export interface ChunksContext {
  readonly deps: ChunksDeps
  readonly o: Readonly<Required<ChunksOptions>>
  /** Entries per chunk. */
  readonly C: number
  /** What this node holds of others' series, by author. */
  readonly held: Map<string, HeldSeries>
  /** Bytes promised to fetches between their budget check and their `chunk-stored` (see storage.ts). */
  reserved: number
  readonly stats: ChunksStats
  /** Fetch jobs running, by author: one at a time per author. */
  readonly jobs: Map<string, Promise<HeldSeries | null>>
  readonly downloads: Map<string, DownloadView>
  /** When replication may try an author again after a job that got nowhere. */
  readonly retryAt: Map<string, number>
  /** True once paused: jobs and replication end; serving goes on. */
  readonly stopped: boolean
  /** Resolves when paused, so waits end at once. */
  readonly whenStopped: Promise<void>
  /** Tells listeners that holdings or downloads changed. */
  changed(): void
  chunksState(): ChunksState
  /** Sealed chunks of this node's own series. */
  ownChunks(): number
  /** Sealed chunks this node holds of `author` (its own included). */
  chunksHeld(author: string): number
}

export interface ChunksCore extends ChunksContext {
  /** Ends jobs and replication (idempotent). */
  pause(): void
  subscribe(fn: () => void): () => void
}

export function resolveOptions(o: ChunksOptions = {}): Required<ChunksOptions> {
  return {
    replicationTarget: o.replicationTarget ?? 3,
    replicate: o.replicate ?? true,
    replicateEveryMs: o.replicateEveryMs ?? 3000,
    wantDeadlineMs: o.wantDeadlineMs ?? 2500,
    maxUploads: o.maxUploads ?? 40,
    requestTimeoutMs: o.requestTimeoutMs ?? 8000,
    segmentsInFlight: o.segmentsInFlight ?? 6,
  }
}

export function createContext(deps: ChunksDeps): ChunksCore {
  const listeners = new Set<() => void>()
  let stopped = false
  let resolveStopped: () => void = () => {}
  const whenStopped = new Promise<void>((r) => (resolveStopped = r))
  const C = deps.series.chunkSize
  const ownChunks = () => Math.floor(deps.series.durableLength / C)
  const ctx: ChunksCore = {
    deps,
    o: resolveOptions(deps.options),
    C,
    held: new Map(),
    reserved: 0,
    stats: {
      fetchedChunks: 0,
      fetchedBytes: 0,
      swarmMs: 0,
      verifyMs: 0,
      storeMs: 0,
      rejectedChunks: 0,
      servedSegments: 0,
      headsServed: 0,
      jobs: 0,
      jobFailures: 0,
      wire: emptyRequestStats(),
    },
    jobs: new Map(),
    downloads: new Map(),
    retryAt: new Map(),
    get stopped() {
      return stopped
    },
    whenStopped,
    changed() {
      for (const fn of listeners) {
        try {
          fn()
        } catch (e: unknown) {
          // A listener's failure must not break chunks; a bug in it still surfaces.
          safetyCatch(e)
        }
      }
    },
    chunksState: () => deps.state()['chunks'] as ChunksState,
    ownChunks,
    chunksHeld: (author) => (author === deps.id ? ownChunks() : (ctx.held.get(author)?.chunks ?? 0)),
    pause() {
      stopped = true
      resolveStopped()
    },
    subscribe(fn) {
      listeners.add(fn)
      return () => listeners.delete(fn)
    },
  }
  return ctx
}
