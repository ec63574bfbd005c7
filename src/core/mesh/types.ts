/**
 * The mesh's public types and options, shared by its parts (links.ts,
 * signaling.ts, records.ts, topology.ts, probe.ts) and re-exported by
 * mesh.ts, which composes them.
 */
import type { JsonValue } from '../json.ts'
import type { Bootstrap, Clock, Link, Rng, Signer, Transport, Verifier } from '../ports.ts'

export interface MeshOptions {
  /** Links to keep (D). Default 6. */
  targetDegree?: number
  /** Links accepted at most, including ones opened to answer an intent. Default D + 4. */
  maxDegree?: number
  /** Maintenance period. Default 1000 ms. */
  tickMs?: number
  connectTimeoutMs?: number
  /** Own peer record is re-sent this often (and on change). Default 10 s. */
  recordEveryMs?: number
  /** Hops a peer record travels. Default 3. */
  recordTtl?: number
  /** A node not heard of for this long is forgotten. Default 60 s. */
  recordMaxAgeMs?: number
  /**
   * How often to look for parts of the mesh this node no longer hears of
   * (after a partition heals): it asks the server for a sample and dials one
   * sampled node whose peer record has not reached it lately. Default 15 s.
   */
  exploreEveryMs?: number
  /**
   * Links (ready or pending) this node holds at most, whatever their purpose.
   * Chromium refuses a page's 501st live RTCPeerConnection. Default 64.
   */
  linkBudget?: number
  /** Let unsigned probe frames through (the mesh benchmark's baseline). Default false. */
  probes?: boolean
  /** Per-link frame rate: sustained per second and burst. Default 400 / 800. */
  frameRate?: number
  frameBurst?: number
  /** Bad frames (malformed, bad signature) tolerated from one link before disconnecting it. Default 20. */
  maxBadFrames?: number
  /** Frames over the rate tolerated from one link before disconnecting it. Default 1000. */
  maxFloodFrames?: number
  /**
   * One bad frame is forgiven every this many ms (the bad-frame count is a
   * leaky bucket): a steady rate below one per `badFrameForgiveMs` never adds
   * up to a ban, a burst of more than `maxBadFrames` still does. Default 2000.
   */
  badFrameForgiveMs?: number
  /** One frame over the rate is forgiven every this many ms (like `badFrameForgiveMs`). Default 100. */
  floodFrameForgiveMs?: number
}

/** Options with their defaults filled in. */
export type ResolvedOptions = Readonly<Required<MeshOptions>>

export function resolveOptions(o: MeshOptions = {}): ResolvedOptions {
  const D = o.targetDegree ?? 6
  return {
    targetDegree: D,
    maxDegree: o.maxDegree ?? D + 4,
    tickMs: o.tickMs ?? 1000,
    connectTimeoutMs: o.connectTimeoutMs ?? 5_000,
    recordEveryMs: o.recordEveryMs ?? 10_000,
    recordTtl: o.recordTtl ?? 3,
    recordMaxAgeMs: o.recordMaxAgeMs ?? 60_000,
    exploreEveryMs: o.exploreEveryMs ?? 15_000,
    linkBudget: o.linkBudget ?? 64,
    probes: o.probes ?? false,
    frameRate: o.frameRate ?? 400,
    frameBurst: o.frameBurst ?? 800,
    maxBadFrames: o.maxBadFrames ?? 20,
    maxFloodFrames: o.maxFloodFrames ?? 1000,
    badFrameForgiveMs: o.badFrameForgiveMs ?? 2000,
    floodFrameForgiveMs: o.floodFrameForgiveMs ?? 100,
  }
}

/** How a link was signaled. */
export type Via = 'server' | 'mesh'
/** Why a link was made: to keep the mesh, or to answer (or fetch from) one node. */
export type Purpose = 'mesh' | 'response'

/** What the inspector shows of a link. */
export interface PeerView {
  id: string
  state: 'connecting' | 'open' | 'ready'
  via: Via
  initiator: boolean
  purpose: Purpose
  since: number
  rttMs: number | null
  framesIn: number
  framesOut: number
  dropped: number
}

export interface KnownNode {
  id: string
  key: string
  /** Time of its latest peer record (0 if only the server introduced it). */
  t: number
  peers: string[]
  /** Series whose sealed chunks it says it holds: [author, chunks]. */
  holds: [string, number][]
  seenAt: number
  /** When its latest signed record reached us (0: never). */
  gossipAt: number
  /** Its key-agreement public key from its latest signed record (see PeerRecord.ek), or null. */
  ek: string | null
  source: 'server' | 'gossip'
  /**
   * Vouched for by links this node chose: reachable from a peer this node
   * dialed itself through links both ends' signed records name (recomputed
   * every few seconds). Nodes only strangers told us of, or that only dialed
   * in, are not; they are forgotten first and dialed last.
   */
  vouched: boolean
}

export interface MeshStats {
  framesIn: number
  framesOut: number
  dropped: {
    oversize: number
    malformed: number
    badSignature: number
    notReady: number
    flood: number
    stale: number
    duplicate: number
    /** Peer records of new nodes, or signals, over the per-link or global budget (see records.ts, signaling.ts). */
    budget: number
  }
  linksCreated: number
  connected: { server: number; mesh: number }
  signalsRelayed: number
  abuseDisconnects: number
  /** Offers this node made that were answered "busy" (the other side was full). */
  refusedBusy: number
  /** Signals this node sent, received (addressed to it, verified), and received without a matching link. */
  signals: { sent: number; received: number; unmatched: number }
  /** The latest link attempts that failed, newest last (at most 20). */
  failures: { id: string; via: Via; initiator: boolean; reason: string; ms: number }[]
}

export function emptyStats(): MeshStats {
  return {
    framesIn: 0,
    framesOut: 0,
    dropped: {
      oversize: 0,
      malformed: 0,
      badSignature: 0,
      notReady: 0,
      flood: 0,
      stale: 0,
      duplicate: 0,
      budget: 0,
    },
    linksCreated: 0,
    connected: { server: 0, mesh: 0 },
    signalsRelayed: 0,
    abuseDisconnects: 0,
    refusedBusy: 0,
    signals: { sent: 0, received: 0, unmatched: 0 },
    failures: [],
  }
}

export interface MeshDeps {
  id: string
  /** Hex raw Ed25519 public key of this node. */
  publicKey: string
  signer: Signer
  verifier: Verifier
  clock: Clock
  rng: Rng
  transport: Transport
  bootstrap: Bootstrap | null
  /** Appends an entry to the node's series. */
  record(kind: string, body: JsonValue): void
  /** This node's key-agreement public key, published in its peer records (PeerRecord.ek). */
  agreementKey?: string
  options?: MeshOptions
}

/** Signed payloads (hello, signals, records) further than this from our clock are refused. */
export const FRESH_MS = 5 * 60_000

/** A count that forgives one unit every so often, in whole units: `n` as of `at`. */
export interface Leak {
  n: number
  at: number
}

/** Adds one to `l` after forgiving one unit per `everyMs` since it last changed; returns the new count. */
export function leak(l: Leak, now: number, everyMs: number): number {
  if (l.n > 0) {
    const k = Math.floor((now - l.at) / everyMs)
    l.n = Math.max(0, l.n - k)
    l.at = l.n === 0 ? now : l.at + k * everyMs
  } else l.at = now
  return ++l.n
}

/** One link as the mesh's parts see it, from its first signal to its close (links.ts owns them). */
export interface Conn {
  id: string
  key: string | null
  link: Link
  nonce: string
  initiator: boolean
  via: Via
  purpose: Purpose
  state: 'connecting' | 'open' | 'ready'
  createdAt: number
  readyAt: number
  framesIn: number
  framesOut: number
  dropped: number
  /** Bad frames and frames over the rate, in total. */
  bad: number
  flood: number
  /** The same, as leaky buckets (see `badFrameForgiveMs`): what a ban is decided on. */
  badLeak: Leak
  floodLeak: Leak
  /** Peer records of nodes new to us this link may still deliver (token bucket, see records.ts). */
  newRecords: number
  newRecordsAt: number
  /** Signals (`sig` frames not seen before) this link may still deliver (token bucket, see signaling.ts). */
  signalTokens: number
  signalsAt: number
  tokens: number
  refilledAt: number
  rttMs: number | null
  pings: Map<number, number>
  waiters: ((ok: boolean) => void)[]
  /** When a frame other than ping/pong last went either way. */
  usedAt: number
  /** The remote's time on the signal that made this link (offer or answer); older offers can't replace it. */
  remoteT: number | null
  /** Neighbour a mesh-signaled offer came through, to route the answer back. */
  cameVia: string | null
}
