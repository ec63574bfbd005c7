/**
 * The ports the core is handed by `createNode(deps)`. The core never reaches
 * for Date.now, Math.random, IndexedDB, WebCrypto or the DOM itself: whoever
 * wires a node (src/main.tsx in the tab, a test in Node) supplies these.
 */
import type { JsonValue } from './json.ts'

/** Milliseconds since the epoch and timers. Tests use a manual clock. */
export interface Clock {
  now(): number
  /** Runs `fn` after `ms`; returns a function that cancels it. */
  setTimeout(fn: () => void, ms: number): () => void
}

/** Seeded or real randomness. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number
}

/** Holds a node's private key. The key never leaves the signer. */
export interface Signer {
  /** Raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array
  sign(message: Uint8Array): Promise<Uint8Array>
}

/** Verifies Ed25519 signatures by anyone. */
export interface Verifier {
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean>
}

/** A checkpoint: the author's signed statement of the series' size and Merkle root. */
export interface Checkpoint {
  /** Node id of the author. */
  author: string
  size: number
  /** Hex Merkle root (RFC 6962) over the first `size` entries. */
  root: string
  /** Author's claimed ms time. */
  t: number
}

export interface SignedCheckpoint extends Checkpoint {
  /** Hex Ed25519 signature over `checkpointMessage(checkpoint)`. */
  sig: string
}

/**
 * One stored chunk: the entries [index·C, index·C + count), each encoded
 * canonically and framed by a 4-byte big-endian length. A chunk with
 * count === C is sealed and carries its subtree root.
 */
export interface ChunkRecord {
  index: number
  count: number
  data: Uint8Array
  /** Merkle subtree root of a sealed chunk (32 bytes). */
  root?: Uint8Array
}

/** What a node needs to resume its series without reading all of it. */
export interface SeriesHead {
  size: number
  /** Hex hash of entry size-1 (zero hash when empty). */
  lastHash: string
  /** Merkle frontier peaks at `size`, largest subtree first. */
  peaks: Uint8Array[]
  checkpoint: SignedCheckpoint | null
}

/** Derived state of all reducers after the first `size` entries. */
export interface Snapshot {
  size: number
  /** Identifies the reducer set (names and versions) that produced `states`. */
  key: string
  states: Record<string, JsonValue>
}

/** Everything one group commit writes, atomically. */
export interface CommitBatch {
  /** Chunks rewritten whole (the open tail, and chunks sealed since the last commit). */
  chunks: ChunkRecord[]
  head: SeriesHead
  snapshots: Snapshot[]
}

/**
 * Durable storage of one node's series. `commit` must be atomic: after a
 * crash either the whole batch is there or none of it.
 */
export interface EventStore {
  loadHead(): Promise<SeriesHead | null>
  commit(batch: CommitBatch): Promise<void>
  /** Chunks with index in [from, to), in order; missing ones are absent. */
  readChunks(from: number, to: number): Promise<ChunkRecord[]>
  /** The snapshot with the greatest size <= `size`, if any. */
  readSnapshot(size: number): Promise<Snapshot | null>
  /** Roots of sealed chunks with index in [from, to), in order (a small read, for proofs). */
  readRoots(from: number, to: number): Promise<Uint8Array[]>
  close(): void
}

/** A node as the bootstrap server or a peer record introduces it. */
export interface PeerInfo {
  id: string
  /** Hex raw Ed25519 public key. */
  publicKey: string
}

/** Callbacks of one link; the transport calls them, never synchronously from `createLink`. */
export interface LinkHandlers {
  /** A signal (offer, answer or candidate) to carry to the remote side's `Link.signal`. Opaque JSON. */
  onSignal(data: JsonValue): void
  /** The data channel is open both ways. */
  onOpen(): void
  /** One message, as sent (messages are ordered and reliable). */
  onData(data: Uint8Array): void
  /** The link is gone (closed by either side, failed, or never opened). Called once. */
  onClose(reason: string): void
}

/** One peer-to-peer data channel (a WebRTC connection in the tab). */
export interface Link {
  /** Feeds a signal produced by the remote side. Malformed signals close the link. */
  signal(data: JsonValue): void
  /** Queues one message; returns false (and drops it) if the link is not open. */
  send(data: Uint8Array): boolean
  /** Bytes queued and not yet sent. */
  readonly bufferedAmount: number
  /** Closes the link; `onClose` follows. Idempotent. */
  close(): void
  /** The adapter's own connection object while open (the simple-peer instance in the tab), for adapters that share it. */
  readonly native?: unknown
}

/**
 * Makes links. The initiator's link emits the first signal (an offer); the
 * other side creates its link with `initiator: false` and feeds it that
 * signal. How signals travel (server or mesh) is the caller's business.
 */
export interface Transport {
  createLink(opts: { initiator: boolean }, handlers: LinkHandlers): Link
}

export type BootstrapState = 'connecting' | 'open' | 'closed'

export interface BootstrapHandlers {
  onState(state: BootstrapState, detail: string): void
  /** A random sample of present nodes (on welcome, and on `requestPeers`). */
  onPeers(peers: PeerInfo[]): void
  /** A signal relayed by the server from node `from`. */
  onSignal(from: string, data: JsonValue): void
  /** An error the server reported (e.g. NOT_PRESENT for `to`). */
  onError(code: string, message: string, to?: string): void
}

/**
 * The bootstrap (signaling) server as the node sees it: it introduces a few
 * present nodes and relays signals to them. The adapter proves the node's key
 * to the server and reconnects with backoff until stopped.
 */
export interface Bootstrap {
  start(handlers: BootstrapHandlers): void
  requestPeers(): void
  /** Relays a signal; false if not connected. */
  signal(to: string, data: JsonValue): boolean
  stop(): void
}

/**
 * What a node holds of another node's series: a verified head (checkpoint,
 * chunk roots, open-chunk entries) and the sealed chunks 0…chunks-1.
 */
export interface HeldSeries {
  author: string
  /** Hex Ed25519 public key of the author. */
  publicKey: string
  checkpoint: SignedCheckpoint
  /** Hex roots of the chunks the checkpoint covers (the last may be the open chunk's). */
  roots: string[]
  /** Framed entries of the open chunk up to the checkpoint. */
  tail: Uint8Array
  /** Sealed chunks held, from chunk 0. */
  chunks: number
  /** Bytes of the sealed chunks held. */
  bytes: number
}

/** Durable storage of other nodes' chunks (a node's own chunks live in its EventStore). */
export interface ChunkStore {
  /** Stores chunks of `author` and its head in one transaction. */
  put(head: HeldSeries, chunks: { index: number; data: Uint8Array }[]): Promise<void>
  /** Chunks with index in [from, to), in order; missing ones are absent. */
  chunks(author: string, from: number, to: number): Promise<{ index: number; data: Uint8Array }[]>
  heads(): Promise<HeldSeries[]>
  /** Drops everything held of `author`. */
  drop(author: string): Promise<void>
}

/** A request to fetch sealed chunks of one segment (a torrent of up to SEGMENT_CHUNKS chunk files). */
export interface SwarmFetch {
  author: string
  segment: number
  /** Chunk files in the torrent: chunks [segment·S, segment·S + count). */
  count: number
  /** Wanted file indexes within the segment. */
  files: number[]
  /** Nodes to fetch from; each holds the whole segment as described. */
  holders: string[]
}

export interface SwarmProgress {
  bytes: number
  total: number
  peers: number
}

/** Bytes of the wanted files, and the holders whose torrent (same content) they came from. */
export interface SwarmResult {
  files: Map<number, Uint8Array>
  from: string[]
}

/** What the swarm may use of the mesh: links to nodes and direct messages on its own channel. */
export interface SwarmLinks {
  /** Resolves true once a link to `id` is ready (negotiated through the mesh if need be). */
  connect(id: string): Promise<boolean>
  /** Sends a direct message to a linked node on the swarm's channel; false if not linked or too big. */
  send(id: string, d: JsonValue): boolean
  onMessage(fn: (from: string, d: JsonValue) => void): void
  /** The open link's native connection and whether this node initiated it, or null. */
  native(id: string): { link: unknown; initiator: boolean } | null
}

/** Serves a segment to peers: the chunk data, or null if this node does not hold it. */
export type SegmentSource = (author: string, segment: number, count: number) => Promise<Uint8Array[] | null>

/**
 * Moves sealed chunks between nodes (WebTorrent in the tab). It carries
 * bytes only: the core verifies every chunk against its author's checkpoint.
 */
export interface ChunkSwarm {
  serve(source: SegmentSource, links: SwarmLinks): void
  fetch(req: SwarmFetch, onProgress?: (p: SwarmProgress) => void): Promise<SwarmResult>
  /** Torrents live now (seeding or fetching). */
  live(): number
  /** Stops serving anything of `author` made from data this node no longer holds. */
  forget?(author: string): void
  close(): void
}

/**
 * Key agreement and authenticated encryption between two nodes: X25519, then
 * HKDF-SHA-256 over the shared secret (salt: both public keys, sorted; info
 * `ir3/seal/v1`) to an AES-256-GCM key. Both ends derive the same key, so
 * a sealed text can be opened by its sender and its recipient, and by nobody
 * else — what is stored in a (public, replicated) series stays private.
 */
export interface Cipher {
  /** This node's key-agreement public key as peer records carry it (`x25519:<64 hex>`). */
  readonly publicKey: string
  /** Encrypts `plain` for the holder of `peerKey`; returns iv (12 bytes) ‖ ciphertext ‖ tag (16 bytes). */
  seal(peerKey: string, plain: Uint8Array, aad: Uint8Array): Promise<Uint8Array>
  /** Decrypts what `seal` made with this node's or `peerKey`'s side; null if malformed, tampered or another key's. */
  open(peerKey: string, sealed: Uint8Array, aad: Uint8Array): Promise<Uint8Array | null>
}
