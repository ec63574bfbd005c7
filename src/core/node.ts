/**
 * createNode(deps): a node of the iR³ network — its series, and, when handed
 * a transport, its place in the mesh and its intents. The core is handed all
 * of its world through `deps`.
 */
import { Ir3Error, safetyCatch } from './errors.ts'
import { nameFromId, nodeIdFromPublicKey } from './identity.ts'
import type { JsonValue } from './json.ts'
import type {
  Bootstrap,
  ChunkStore,
  ChunkSwarm,
  Cipher,
  Clock,
  EventStore,
  Rng,
  Signer,
  Transport,
  Verifier,
} from './ports.ts'
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
import { Mesh, type KnownNode, type MeshOptions, type PeerView } from './mesh/mesh.ts'
import { Intents, type Declared, type DeclareOptions, type IntentHandler } from './intents/intents.ts'
import { limiterView, limitsReducer, type Budgets, type LimiterView } from './intents/limits.ts'
import type { IntentSummary } from './intents/reducers.ts'
import { Chunks, type ChunksOptions, type ChunksView, type OpenedSeries } from './chunks/service.ts'
import { exportSeries, importSeries, type ExportHeader } from './series/export.ts'
import { coreModuleList, coreModules } from './modules/core-modules.ts'
import { checkModules, createModuleHost, type ModuleHost } from './modules/host.ts'
import { select, type AnyModule, type ApiOf } from './modules/module.ts'

export interface NodeDeps {
  store: EventStore
  signer: Signer
  verifier: Verifier
  clock: Clock
  rng: Rng
  /** Without a transport the node has a series but no mesh. */
  transport?: Transport
  bootstrap?: Bootstrap | null
  mesh?: MeshOptions
  /** Extra reducers, after the built-in ones. */
  reducers?: readonly Reducer[]
  /** Apps (modules) this node runs, after the core's own (src/apps/index.ts lists them). */
  apps?: readonly AnyModule[]
  /** Key agreement + encryption (X25519, AES-GCM); without it, apps cannot encrypt (messages: ERR_NO_CIPHER). */
  cipher?: Cipher | null
  chunkSize?: number
  snapshotEvery?: number
  /** Group-commit window (see SeriesOptions.commitDelayMs). */
  commitDelayMs?: number
  /** With a transport, a chunk store and a swarm, the node serves, fetches and replicates chunks. */
  chunkStore?: ChunkStore
  swarm?: ChunkSwarm
  chunks?: ChunksOptions
}

export interface Ir3Node {
  readonly id: string
  readonly name: string
  /** Hex public key. */
  readonly publicKey: string
  readonly series: Series
  readonly mesh: Mesh | null
  readonly intents: Intents | null
  readonly chunkService: Chunks | null
  /** The module host: the apps this node runs, their API objects and counters. */
  readonly modules: ModuleHost
  /** API objects of the apps, by name (`window.ir3.apps`). */
  readonly apps: Readonly<Record<string, unknown>>
  /** The typed API of an app this node runs, or null if it does not run it. */
  app<M extends AnyModule>(m: M): ApiOf<M> | null
  readonly length: number
  readonly durableLength: number
  readonly status: SeriesStatus
  /** Entries the node's own layers (mesh, intents, chunks) could not record (the series refused them: backlog full). */
  readonly unrecorded: number
  readonly problems: readonly Problem[]
  append(kind: string, body: JsonValue): { seq: number; hash: string }
  flush(): Promise<number>
  entries(from: number, to: number): Promise<EntryView[]>
  state(atSeq?: number): Promise<States>
  verify(): Promise<VerifyReport>
  proof(seq: number, size?: number): Promise<InclusionProof>
  subscribe(fn: (e: SeriesEvent) => void): () => void
  /** Live links (empty without a mesh). */
  peers(): PeerView[]
  known(): KnownNode[]
  /** Declares an intent; returns its id and the promise of its outcome. Throws ERR_NO_MESH without a transport. */
  declare(kind: string, body: JsonValue, opts?: DeclareOptions): Declared
  intent(id: string): IntentSummary | null
  /** Registers the handler of an intent kind; returns its unregistration. */
  handle(kind: string, handler: IntentHandler): () => void
  /** Sets rate-limiter budgets (recorded as `limits-set`). */
  setLimits(budgets: Partial<Budgets>): void
  limits(): { budgets: Budgets; view: LimiterView }
  /** Own and held series with holders and seeding state, and downloads (null without chunks). */
  chunks(): ChunksView | null
  /** Fetches, verifies and opens another node's series read-only (throws ERR_NO_MESH without chunks). */
  openSeries(nodeId: string): Promise<OpenedSeries>
  /** This series as the lines of an export file (series/export.ts), up to the latest checkpoint. */
  exportSeries(): AsyncGenerator<string>
  /** Opens an export file read-only, checked against its signed checkpoint like any series. */
  importSeries(text: string): Promise<{ header: ExportHeader; series: Series }>
  destroy(): void
}

/** Reducers every node runs (the core's modules). */
export const builtInReducers: readonly Reducer[] = coreModules

export async function createNode(deps: NodeDeps): Promise<Ir3Node> {
  const id = nodeIdFromPublicKey(deps.signer.publicKey)
  const publicKey = toHex(deps.signer.publicKey)
  const apps = deps.apps ?? []
  checkModules([...coreModuleList, ...apps])
  const reducers: Reducer[] = [...coreModules, ...(deps.reducers ?? []), ...apps]
  const series = await Series.open({
    author: id,
    signer: deps.signer,
    verifier: deps.verifier,
    store: deps.store,
    clock: deps.clock,
    reducers,
    ...(deps.chunkSize ? { chunkSize: deps.chunkSize } : {}),
    ...(deps.snapshotEvery ? { snapshotEvery: deps.snapshotEvery } : {}),
    ...(deps.commitDelayMs ? { commitDelayMs: deps.commitDelayMs } : {}),
  })
  // A damaged or closed series cannot record: the mesh and intents then go on without recording rather than crash.
  // A full backlog (commits failing: the series is degraded) refuses appends too; the layers' own
  // records are then counted as lost here rather than thrown into a socket handler.
  const record = (kind: string, body: JsonValue) => {
    if (series.status === 'damaged' || destroyed) return
    try {
      series.append(kind, body)
    } catch (e: unknown) {
      unrecorded++
      safetyCatch(e)
    }
  }
  let unrecorded = 0
  let destroyed = false
  // Apps record through this one: it throws (ERR_DAMAGED, ERR_DESTROYED) rather than drop, so an app never
  // answers YES for what it could not record.
  const appRecord = (kind: string, body: JsonValue): { seq: number } => {
    if (destroyed) throw new Ir3Error('ERR_DESTROYED', 'this node was destroyed')
    return { seq: series.append(kind, body).seq }
  }
  const startHost = (m: Mesh | null, i: Intents | null): ModuleHost => {
    const h = createModuleHost({
      id,
      clock: deps.clock,
      rng: deps.rng,
      series,
      record: appRecord,
      intents: i,
      mesh: m,
      cipher: deps.cipher ?? null,
      modules: apps,
      reserved: coreModuleList,
    })
    h.start()
    return h
  }
  let host: ModuleHost | null = null
  let mesh: Mesh | null = null
  let intents: Intents | null = null
  let chunks: Chunks | null = null
  if (deps.transport) {
    mesh = new Mesh({
      id,
      publicKey,
      signer: deps.signer,
      verifier: deps.verifier,
      clock: deps.clock,
      rng: deps.rng,
      transport: deps.transport,
      bootstrap: deps.bootstrap ?? null,
      record,
      ...(deps.cipher ? { agreementKey: deps.cipher.publicKey } : {}),
      ...(deps.mesh ? { options: deps.mesh } : {}),
    })
    intents = new Intents({ mesh, clock: deps.clock, rng: deps.rng, record, state: () => series.current })
    // Apps are in place before the first link: no intent of theirs arrives to a node without its handler.
    host = startHost(mesh, intents)
    mesh.start()
    if (deps.chunkStore && deps.swarm) {
      chunks = new Chunks({
        id,
        publicKey,
        series,
        mesh,
        intents,
        store: deps.chunkStore,
        swarm: deps.swarm,
        clock: deps.clock,
        rng: deps.rng,
        verifier: deps.verifier,
        reducers,
        record,
        state: () => series.current,
        ...(deps.chunks ? { options: deps.chunks } : {}),
      })
      await chunks.start()
    }
  }
  const modules = host ?? startHost(null, null)
  const limitsState = () => select(series.current, limitsReducer)
  return {
    id,
    name: nameFromId(id),
    publicKey,
    series,
    mesh,
    intents,
    chunkService: chunks,
    modules,
    apps: modules.apis,
    app: <M extends AnyModule>(m: M) => (apps.includes(m) ? (modules.apis[m.name] as ApiOf<M>) : null),
    get length() {
      return series.length
    },
    get durableLength() {
      return series.durableLength
    },
    get status() {
      return series.status
    },
    get unrecorded() {
      return unrecorded
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
    peers: () => mesh?.peers() ?? [],
    known: () => mesh?.known() ?? [],
    declare(kind, body, opts) {
      if (!intents) throw new Ir3Error('ERR_NO_MESH', 'this node has no transport')
      return intents.declare(kind, body, opts)
    },
    intent: (iid) => intents?.summary(iid) ?? null,
    handle(kind, handler) {
      if (!intents) throw new Ir3Error('ERR_NO_MESH', 'this node has no transport')
      return intents.handle(kind, handler)
    },
    setLimits(budgets) {
      series.append('limits-set', { budgets: budgets as JsonValue })
    },
    limits: () => ({ budgets: limitsState().budgets, view: limiterView(limitsState(), deps.clock.now()) }),
    chunks: () => chunks?.view() ?? null,
    openSeries(nodeId) {
      if (!chunks) return Promise.reject(new Ir3Error('ERR_NO_MESH', 'this node has no chunk swarm'))
      return chunks.openSeries(nodeId)
    },
    exportSeries: () => exportSeries(series, publicKey),
    importSeries: (text) => importSeries(text, { verifier: deps.verifier, clock: deps.clock, reducers }),
    destroy() {
      if (destroyed) return
      destroyed = true
      modules.stop()
      chunks?.stop()
      intents?.stop()
      mesh?.stop()
      deps.swarm?.close()
      series.close()
      deps.store.close()
    },
  }
}
