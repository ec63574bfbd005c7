/**
 * `window.ir3`: the console API. Scripts and tests get the same powers as the
 * UI. Documented in README.md ("Console API").
 */
import type { JsonValue } from './core/json.ts'
import type { Ir3Node } from './core/node.ts'
import type { EntryView, Problem, SeriesStatus, VerifyReport, InclusionProof } from './core/series/series.ts'
import type { Degraded } from './core/series/types.ts'
import type { States } from './core/series/reducers.ts'
import type { NodeSummary } from './adapters/node-registry.ts'
import type { KnownNode, MeshStats, PeerView } from './core/mesh/mesh.ts'
import type { Declared, DeclareOptions } from './core/intents/intents.ts'
import type { ModuleStats } from './core/modules/host.ts'
import type { MessagesApi } from './apps/messages/app.ts'
import type { NotesApi } from './apps/notes/app.ts'
import type { PingApi } from './apps/ping/app.ts'
import type { IntentSummary } from './core/intents/reducers.ts'
import type { Budgets, LimiterView } from './core/intents/limits.ts'
import type { ChunksView } from './core/chunks/service.ts'
import type { Series } from './core/series/series.ts'
import { coreModuleList } from './core/modules/core-modules.ts'
import type { WebTorrentSwarm } from './adapters/webtorrent-swarm.ts'

/** Another node's series as opened here: verified, with its derived state. */
export interface OpenedSummary {
  author: string
  length: number
  /** Where the head came from: 'mesh' (fetched now) or 'local' (held copy). */
  from: string | null
  status: SeriesStatus
  verified: VerifyReport
  state: States
}

/** Only with `?test=on`: ways to misbehave on purpose, for tests of the honest nodes. */
export interface TestHooks {
  /** Flips a byte of a held chunk of `author` in IndexedDB (this node then serves it tampered). */
  tamperHeld(author: string, index: number): Promise<boolean>
}

/** The API objects of the apps this tab runs (`?apps=` selects; absent ones are undefined). */
export interface AppApis {
  messages?: MessagesApi
  notes?: NotesApi
  ping?: PingApi
  [name: string]: unknown
}

export interface Ir3Api {
  /** This node's id (hex, 32 chars). */
  readonly id: string
  /** Short human-friendly name derived from the id. */
  readonly name: string
  /** Hex Ed25519 public key. */
  readonly publicKey: string
  /** How this tab got its node: created, resumed (reload) or requested (?node=). */
  readonly how: string
  /** Entries appended so far (durable or not). */
  readonly length: number
  /** Entries on disk, covered by a signed checkpoint. */
  readonly durableLength: number
  /** 'verifying' while the load-time check runs, 'ok', or 'damaged'. */
  readonly status: SeriesStatus
  /** What is wrong and where, when damaged. */
  readonly problems: readonly Problem[]
  /** Set while commits fail (the node keeps what it appends in memory, up to a bound, and retries): why, since when, next retry. */
  readonly degraded: Degraded | null
  /** Appends an entry; returns at once. */
  append(kind: string, body: JsonValue): { seq: number; hash: string }
  /** Resolves with the durable length once everything appended so far is on disk. */
  flush(): Promise<number>
  /** Entries [from, to) with hash and size. */
  entries(from: number, to: number): Promise<EntryView[]>
  /** Derived state as of `atSeq` (inclusive), or now. */
  state(atSeq?: number): Promise<States>
  /** Full verification of the stored series. */
  verify(): Promise<VerifyReport>
  /** Resolves when the load-time background verification is done. */
  verified(): Promise<VerifyReport>
  /** RFC 6962 inclusion proof of an entry against the latest checkpoint. */
  proof(seq: number): Promise<InclusionProof>
  /** The nodes this browser holds. */
  nodes(): Promise<NodeSummary[]>
  /** The latest signed checkpoint. */
  checkpoint(): unknown
  /** The mesh this tab joined (`?mesh=`), the bootstrap connection's state, and frame counters. */
  mesh(): { name: string; server: string; stats: MeshStats | null; targetDegree: number }
  /** Live links: id, state, how signaled, rtt, frames, drops. */
  peers(): PeerView[]
  /** Nodes known from the server and from gossip. */
  known(): KnownNode[]
  /** Dials a node (through the mesh when possible); resolves true once connected. */
  connect(id: string): Promise<boolean>
  /** Closes the link to a node and does not redial it for a minute. */
  disconnect(id: string): boolean
  /** Declares an intent (e.g. `declare('ping', null, { deadlineMs: 3000 })`); returns its id at once, and the promise of its outcome. */
  declare(kind: string, body: JsonValue, opts?: DeclareOptions): Declared
  /** The apps this tab runs, by name: `ir3.apps.messages.send(to, text)`, … */
  readonly apps: AppApis
  /** Modules run by this node (core and apps) with their versions, kinds and counters. */
  modules(): { name: string; version: number; kinds: readonly string[]; app: boolean; stats: ModuleStats | null }[]
  /** Outcome of an intent this node declared: YES / NO / SILENCE / late counts, responders, insights. */
  intent(id: string): IntentSummary | null
  /** Sets rate-limiter budgets (recorded in the series), e.g. `{ loadMax: 0 }` to answer NO to everything. */
  setLimits(budgets: Partial<Budgets>): void
  /** Current budgets and limiter values. */
  limits(): { budgets: Budgets; view: LimiterView }
  /**
   * Measures the mesh itself: floods an unsigned probe over the same links (no
   * signing, no series) and resolves when `want` nodes echoed it back (with `only`: when that node did).
   */
  probe(want: number, ttl?: number, only?: string): Promise<{ ms: number; echoes: number }>
  /** Frames this node received for an intent (first copy and duplicates). */
  intentCopies(id: string): number
  /** Own and held series (holders, seeding), downloads with progress, live torrents. */
  chunks():
    (ChunksView & { torrents: ReturnType<WebTorrentSwarm['torrents']>; swarm: WebTorrentSwarm['stats'] | null }) | null
  /** Fetches, verifies and opens another node's series read-only (from its author if online, else holders). */
  openSeries(nodeId: string): Promise<OpenedSummary>
  /** Brings this node's copy of another node's series up to date (want-chunk, head, segments); what it holds after. */
  fetchSeries(nodeId: string): Promise<{ chunks: number; size: number; bytes: number } | null>
  /** Derived state of an opened series as of `atSeq` (time travel), or now. */
  openedState(nodeId: string, atSeq?: number): Promise<States>
  /** Entries [from, to) of an opened series. */
  openedEntries(nodeId: string, from: number, to: number): Promise<EntryView[]>
  /** This series as an NDJSON export file (header + one canonical entry per line, up to the latest checkpoint). */
  exportSeries(): Promise<string>
  /** Opens an export file read-only (verified against its signed checkpoint); reachable with openedState/openedEntries by its author id. */
  importSeries(text: string): Promise<OpenedSummary>
  /** Test hooks (`?test=on` only). */
  readonly test: TestHooks | null
}

export function createApi(
  node: Ir3Node,
  how: string,
  nodes: () => Promise<NodeSummary[]>,
  meshName = 'default',
  extra: { swarm?: WebTorrentSwarm; test?: TestHooks | null } = {},
): Ir3Api {
  const opened = new Map<string, Series>()
  const openedSeries = (id: string): Series => {
    const s = opened.get(id)
    if (!s) throw new Error(`series ${id.slice(0, 8)} is not open here: call openSeries first`)
    return s
  }
  return {
    id: node.id,
    name: node.name,
    publicKey: node.publicKey,
    how,
    get length() {
      return node.length
    },
    get durableLength() {
      return node.durableLength
    },
    get status() {
      return node.status
    },
    get problems() {
      return node.problems
    },
    get degraded() {
      return node.series.degraded
    },
    append: (kind, body) => node.append(kind, body),
    flush: () => node.flush(),
    entries: (from, to) => node.entries(from, to),
    state: (atSeq) => node.state(atSeq),
    verify: () => node.verify(),
    verified: () => node.series.verified,
    proof: (seq) => node.proof(seq),
    nodes,
    checkpoint: () => node.series.checkpoint,
    mesh: () => ({
      name: meshName,
      server: node.mesh?.bootstrapState ?? 'none',
      stats: node.mesh?.stats ?? null,
      targetDegree: node.mesh?.options.targetDegree ?? 0,
    }),
    peers: () => node.peers(),
    known: () => node.known(),
    connect: (id) => node.mesh?.connect(id) ?? Promise.resolve(false),
    disconnect: (id) => node.mesh?.disconnect(id) ?? false,
    declare: (kind, body, opts) => node.declare(kind, body, opts),
    apps: node.apps as AppApis,
    modules: () => [
      ...coreModuleList.map((m) => ({ name: m.name, version: m.version, kinds: m.kinds, app: false, stats: null })),
      ...node.modules.modules.map((m) => ({
        name: m.name,
        version: m.version,
        kinds: m.kinds,
        app: true,
        stats: node.modules.stats[m.name] ?? null,
      })),
    ],
    intent: (id) => node.intent(id),
    setLimits: (b) => node.setLimits(b),
    limits: () => node.limits(),
    probe: (want, ttl, only) =>
      node.mesh?.probe(want, ttl, 10_000, only ?? null) ?? Promise.resolve({ ms: 0, echoes: 0 }),
    intentCopies: (id) => node.intents?.copies.get(id) ?? 0,
    chunks() {
      const v = node.chunks()
      if (!v) return null
      return { ...v, torrents: extra.swarm?.torrents() ?? [], swarm: extra.swarm ? { ...extra.swarm.stats } : null }
    },
    async openSeries(nodeId) {
      const o = await node.openSeries(nodeId)
      opened.get(nodeId)?.close()
      if (o.series !== node.series) opened.set(nodeId, o.series)
      const verified = await o.series.verified
      return {
        author: o.author,
        length: o.series.length,
        from: o.from,
        status: o.series.status,
        verified,
        state: await o.series.state(),
      }
    },
    async fetchSeries(nodeId) {
      const h = await node.chunkService?.fetchSeries(nodeId, 'open')
      return h ? { chunks: h.chunks, size: h.checkpoint.size, bytes: h.bytes } : null
    },
    openedState: (nodeId, atSeq) => (nodeId === node.id ? node.state(atSeq) : openedSeries(nodeId).state(atSeq)),
    openedEntries: (nodeId, from, to) =>
      nodeId === node.id ? node.entries(from, to) : openedSeries(nodeId).entries(from, to),
    async exportSeries() {
      const lines: string[] = []
      for await (const l of node.exportSeries()) lines.push(l)
      return lines.join('\n') + '\n'
    },
    async importSeries(text) {
      const { header, series } = await node.importSeries(text)
      opened.get(header.author)?.close()
      opened.set(header.author, series)
      const verified = series.status === 'damaged' ? await series.verify() : await series.verified
      return {
        author: header.author,
        length: series.length,
        from: 'file',
        status: series.status,
        verified,
        state: await series.state(),
      }
    },
    test: extra.test ?? null,
  }
}
