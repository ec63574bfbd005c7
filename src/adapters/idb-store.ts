/**
 * The IndexedDB EventStore. One database per origin holds every node of this
 * browser; all keys start with the node id, so nodes' data stays apart.
 *
 * Granularity: one record per chunk (C entries framed together), not per
 * entry. A group commit is one readwrite transaction that rewrites the open
 * chunk, adds chunks sealed since the last commit (and their roots), any
 * derived-state snapshots, and the head with its signed checkpoint. The
 * transaction is atomic, so a torn write leaves the previous head intact.
 *
 * Durable means durable: that transaction is opened with `durability:
 * 'strict'`, so `commit` resolves only once the browser has flushed it to
 * disk. Chromium's default ('relaxed') reports completion before the OS has
 * the data; an OS crash could then roll the store back behind a checkpoint
 * the node already advertised, and the honest author would look like a
 * forker once it re-signs different entries at the same seq. Group commits
 * amortize the flush over a burst.
 *
 * Schema changes are recorded in CHANGELOG.md; bump DB_VERSION and add an
 * upgrade step for each.
 */
import { openDB, type DBSchema, type IDBPDatabase } from 'idb'
import type {
  ChunkRecord,
  ChunkStore,
  CommitBatch,
  EventStore,
  HeldSeries,
  SeriesHead,
  SignedCheckpoint,
  Snapshot,
} from '../core/ports.ts'
import type { JsonValue } from '../core/json.ts'

export const DB_NAME = 'ir3'
export const DB_VERSION = 2

export interface NodeRecord {
  id: string
  name: string
  publicKey: Uint8Array
  /** Non-extractable Ed25519 private key. */
  privateKey: CryptoKey
  createdAt: number
  lastOpenedAt: number
}

interface HeadRow {
  node: string
  size: number
  lastHash: string
  peaks: Uint8Array[]
  checkpoint: SignedCheckpoint | null
}

interface ChunkRow {
  node: string
  index: number
  count: number
  data: Uint8Array
  root?: Uint8Array
}

interface RootRow {
  node: string
  index: number
  root: Uint8Array
}

interface SnapshotRow {
  node: string
  size: number
  key: string
  states: Record<string, JsonValue>
}

/** A chunk of another node's series held by node `node`. */
interface HeldChunkRow {
  node: string
  author: string
  index: number
  data: Uint8Array
}

interface HeldHeadRow extends HeldSeries {
  node: string
}

export interface Ir3Schema extends DBSchema {
  held: { key: [string, string, number]; value: HeldChunkRow }
  heldHeads: { key: [string, string]; value: HeldHeadRow }
  nodes: { key: string; value: NodeRecord }
  heads: { key: string; value: HeadRow }
  chunks: { key: [string, number]; value: ChunkRow }
  roots: { key: [string, number]; value: RootRow }
  snapshots: { key: [string, number]; value: SnapshotRow }
}

export type Ir3Db = IDBPDatabase<Ir3Schema>

export function openIr3Db(name: string = DB_NAME): Promise<Ir3Db> {
  return openDB<Ir3Schema>(name, DB_VERSION, {
    upgrade(db, oldVersion) {
      if (oldVersion < 1) {
        db.createObjectStore('nodes', { keyPath: 'id' })
        db.createObjectStore('heads', { keyPath: 'node' })
        db.createObjectStore('chunks', { keyPath: ['node', 'index'] })
        db.createObjectStore('roots', { keyPath: ['node', 'index'] })
        db.createObjectStore('snapshots', { keyPath: ['node', 'size'] })
      }
      if (oldVersion < 2) {
        // v2: chunks of other nodes' series that a node holds (issue 4).
        db.createObjectStore('held', { keyPath: ['node', 'author', 'index'] })
        db.createObjectStore('heldHeads', { keyPath: ['node', 'author'] })
      }
    },
  })
}

/** The durability of the transaction that commits the head and its checkpoint (see the header). */
export const COMMIT_DURABILITY: IDBTransactionDurability = 'strict'

function toChunk(r: ChunkRow): ChunkRecord {
  return r.root
    ? { index: r.index, count: r.count, data: r.data, root: r.root }
    : { index: r.index, count: r.count, data: r.data }
}

/** The EventStore of node `nodeId` in `db`. */
export function createIdbEventStore(db: Ir3Db, nodeId: string): EventStore {
  const range = (from: number, to: number) => IDBKeyRange.bound([nodeId, from], [nodeId, to - 1])
  return {
    async loadHead(): Promise<SeriesHead | null> {
      const row = await db.get('heads', nodeId)
      if (!row) return null
      return { size: row.size, lastHash: row.lastHash, peaks: row.peaks, checkpoint: row.checkpoint }
    },
    async commit(batch: CommitBatch): Promise<void> {
      const tx = db.transaction(['chunks', 'roots', 'heads', 'snapshots'], 'readwrite', {
        durability: COMMIT_DURABILITY,
      })
      const chunks = tx.objectStore('chunks')
      const roots = tx.objectStore('roots')
      const writes: Promise<unknown>[] = []
      for (const c of batch.chunks) {
        const row: ChunkRow = { node: nodeId, index: c.index, count: c.count, data: c.data }
        if (c.root) {
          row.root = c.root
          writes.push(roots.put({ node: nodeId, index: c.index, root: c.root }))
        }
        writes.push(chunks.put(row))
      }
      const snaps = tx.objectStore('snapshots')
      for (const s of batch.snapshots)
        writes.push(snaps.put({ node: nodeId, size: s.size, key: s.key, states: s.states }))
      const h = batch.head
      writes.push(
        tx
          .objectStore('heads')
          .put({ node: nodeId, size: h.size, lastHash: h.lastHash, peaks: h.peaks, checkpoint: h.checkpoint }),
      )
      await Promise.all([...writes, tx.done])
    },
    async readChunks(from, to) {
      if (to <= from) return []
      return (await db.getAll('chunks', range(from, to))).map(toChunk)
    },
    async readSnapshot(size): Promise<Snapshot | null> {
      const tx = db.transaction('snapshots', 'readonly')
      const cursor = await tx.store.openCursor(IDBKeyRange.bound([nodeId, 0], [nodeId, size]), 'prev')
      const v = cursor?.value
      await tx.done.catch(() => undefined)
      return v ? { size: v.size, key: v.key, states: v.states } : null
    },
    async readRoots(from, to) {
      if (to <= from) return []
      const rows = await db.getAll('roots', range(from, to))
      const out: Uint8Array[] = []
      for (let i = 0; i < rows.length && rows[i]!.index === from + i; i++) out.push(rows[i]!.root)
      return out
    },
    close() {
      // The database handle is shared by every node of the tab; whoever opened it closes it.
    },
  }
}

/** The ChunkStore of node `nodeId`: other nodes' chunks it holds, one record per chunk, the head beside them. */
export function createIdbChunkStore(db: Ir3Db, nodeId: string): ChunkStore {
  return {
    async put(head, chunks) {
      const tx = db.transaction(['held', 'heldHeads'], 'readwrite')
      const held = tx.objectStore('held')
      const writes: Promise<unknown>[] = chunks.map((c) =>
        held.put({ node: nodeId, author: head.author, index: c.index, data: c.data }),
      )
      writes.push(tx.objectStore('heldHeads').put({ ...head, node: nodeId }))
      await Promise.all([...writes, tx.done])
    },
    async chunks(author, from, to) {
      if (to <= from) return []
      const rows = await db.getAll('held', IDBKeyRange.bound([nodeId, author, from], [nodeId, author, to - 1]))
      return rows.map((r) => ({ index: r.index, data: r.data }))
    },
    async heads() {
      const rows = await db.getAll('heldHeads', IDBKeyRange.bound([nodeId, ''], [nodeId, '\uffff']))
      return rows.map(({ node: _node, ...h }) => h)
    },
    async drop(author) {
      const tx = db.transaction(['held', 'heldHeads'], 'readwrite')
      await Promise.all([
        tx
          .objectStore('held')
          .delete(IDBKeyRange.bound([nodeId, author, 0], [nodeId, author, Number.MAX_SAFE_INTEGER])),
        tx.objectStore('heldHeads').delete([nodeId, author]),
        tx.done,
      ])
    },
  }
}
