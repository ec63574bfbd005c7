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
