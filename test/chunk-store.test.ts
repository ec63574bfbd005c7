/**
 * The ChunkStore contract (other nodes' chunks a node holds), run against the
 * memory store and the IndexedDB store over fake-indexeddb, plus IndexedDB-only
 * cases: node ids sharing a database, and the v1 → v2 schema upgrade.
 */
import 'fake-indexeddb/auto'
import { openDB } from 'idb'
import { afterEach, describe, expect, it as vitestIt } from 'vitest'
import { createMemoryChunkStore } from '../src/core/testing/memory-chunks.ts'
import { createIdbChunkStore, DB_VERSION, openIr3Db, type Ir3Db, type NodeRecord } from '../src/adapters/idb-store.ts'
import type { ChunkStore, HeldSeries } from '../src/core/ports.ts'

const hex = (n: number, seed: number) => {
  let s = ''
  for (let i = 0; s.length < n; i++) s += ((seed * 31 + i * 7) & 0xff).toString(16).padStart(2, '0')
  return s.slice(0, n)
}

const NODE_A = hex(32, 1)
const NODE_B = hex(32, 2)
const AUTHOR_1 = hex(32, 11)
const AUTHOR_2 = hex(32, 12)

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill)

/** Chunk `index` of an author: distinct bytes per author and index. */
const chunk = (author: string, index: number) => {
  const data = new Uint8Array(40 + index)
  const salt = parseInt(author.slice(0, 2), 16)
  for (let i = 0; i < data.length; i++) data[i] = (salt + index * 13 + i) & 0xff
  return { index, data }
}

/** A well-formed head of `author` with `chunks` sealed chunks held (the store verifies nothing). */
function heldHead(author: string, chunks: number, tailLength = 12): HeldSeries {
  const size = chunks * 8 + 3
  const roots = Array.from({ length: chunks + 1 }, (_, i) => hex(64, i + 100))
  let total = 0
  for (let i = 0; i < chunks; i++) total += chunk(author, i).data.length
  return {
    author,
    publicKey: hex(64, parseInt(author.slice(0, 2), 16)),
    checkpoint: { author, size, root: hex(64, size), t: 1_700_000_000_000 + size, sig: hex(128, size + 1) },
    roots,
    tail: bytes(tailLength, 0xa0 + chunks),
    chunks,
    bytes: total,
  }
}

const chunkList = (author: string, indexes: number[]) => indexes.map((i) => chunk(author, i))

/** Compares a stored head with the expected one, field by field, bytes included. */
function expectHead(got: HeldSeries | undefined, want: HeldSeries) {
  expect(got).toBeDefined()
  const h = got!
  expect(h.author).toBe(want.author)
  expect(h.publicKey).toBe(want.publicKey)
  expect(h.checkpoint).toEqual(want.checkpoint)
  expect(h.roots).toEqual(want.roots)
  expect(h.tail).toBeInstanceOf(Uint8Array)
  expect([...h.tail]).toEqual([...want.tail])
  expect(h.chunks).toBe(want.chunks)
  expect(h.bytes).toBe(want.bytes)
  expect(Object.keys(h).sort()).toEqual(Object.keys(want).sort())
}

function expectChunks(got: { index: number; data: Uint8Array }[], want: { index: number; data: Uint8Array }[]) {
  expect(got.map((c) => c.index)).toEqual(want.map((c) => c.index))
  for (let i = 0; i < want.length; i++) {
    expect(got[i]!.data).toBeInstanceOf(Uint8Array)
    expect([...got[i]!.data]).toEqual([...want[i]!.data])
  }
}

const byAuthor = (heads: HeldSeries[]) => new Map(heads.map((h) => [h.author, h]))

let dbCounter = 0
const openDbs: Ir3Db[] = []
async function freshDb(): Promise<Ir3Db> {
  const db = await openIr3Db(`chunk-store-${dbCounter++}`)
  openDbs.push(db)
  return db
}
afterEach(() => {
  for (const db of openDbs.splice(0)) db.close()
})

interface Subject {
  name: string
  make(): Promise<ChunkStore>
  /**
   * Cases this store is known to fail, run with `it.fails` so the suite stays
   * green and turns red once the store is fixed (then remove the entry).
   */
  knownBugs?: readonly string[]
}

const RETURNED_TAIL = 'mutating a returned head’s tail bytes does not change what is stored'
const RETURNED_ROOTS = 'mutating a returned head’s roots does not change what is stored'
const RETURNED_CHECKPOINT = 'mutating a returned head’s checkpoint does not change what is stored'
const PASSED_CHECKPOINT = 'mutating the passed-in checkpoint after put does not change what is stored'

const subjects: Subject[] = [
  {
    name: 'memory store',
    make: async () => createMemoryChunkStore(),
  },
  { name: 'IndexedDB store (fake-indexeddb)', make: async () => createIdbChunkStore(await freshDb(), NODE_A) },
]

for (const subject of subjects) {
  describe(`ChunkStore contract: ${subject.name}`, () => {
    const it = (name: string, fn: () => Promise<void>) =>
      (subject.knownBugs?.includes(name) ? vitestIt.fails : vitestIt)(name, fn)

    it('an empty store has no heads and no chunks', async () => {
      const s = await subject.make()
      expect(await s.heads()).toEqual([])
      expect(await s.chunks(AUTHOR_1, 0, 100)).toEqual([])
    })

    it('put then chunks returns them in index order with identical bytes, missing indexes absent', async () => {
      const s = await subject.make()
      // Put out of order, with gaps at 2 and 4.
      await s.put(heldHead(AUTHOR_1, 6), chunkList(AUTHOR_1, [5, 0, 3, 1]))
      expectChunks(await s.chunks(AUTHOR_1, 0, 6), chunkList(AUTHOR_1, [0, 1, 3, 5]))
      expectChunks(await s.chunks(AUTHOR_1, 0, 100), chunkList(AUTHOR_1, [0, 1, 3, 5]))
      // [from, to): `to` is exclusive, `from` inclusive.
      expectChunks(await s.chunks(AUTHOR_1, 1, 5), chunkList(AUTHOR_1, [1, 3]))
      expectChunks(await s.chunks(AUTHOR_1, 3, 4), chunkList(AUTHOR_1, [3]))
      expectChunks(await s.chunks(AUTHOR_1, 2, 3), [])
      expectChunks(await s.chunks(AUTHOR_1, 6, 10), [])
    })

    it('an empty or inverted range returns []', async () => {
      const s = await subject.make()
      await s.put(heldHead(AUTHOR_1, 4), chunkList(AUTHOR_1, [0, 1, 2, 3]))
      expect(await s.chunks(AUTHOR_1, 2, 2)).toEqual([])
      expect(await s.chunks(AUTHOR_1, 0, 0)).toEqual([])
      expect(await s.chunks(AUTHOR_1, 3, 1)).toEqual([])
      expect(await s.chunks(AUTHOR_1, 4, 0)).toEqual([])
    })

    it('chunks of an unknown author are []', async () => {
      const s = await subject.make()
      await s.put(heldHead(AUTHOR_1, 2), chunkList(AUTHOR_1, [0, 1]))
      expect(await s.chunks(AUTHOR_2, 0, 10)).toEqual([])
    })

    it('heads returns the stored head with every field', async () => {
      const s = await subject.make()
      const head = heldHead(AUTHOR_1, 3)
      await s.put(head, chunkList(AUTHOR_1, [0, 1, 2]))
      const heads = await s.heads()
      expect(heads).toHaveLength(1)
      expectHead(heads[0], heldHead(AUTHOR_1, 3))
    })

    it('a head with no chunks and an empty tail is stored as is', async () => {
      const s = await subject.make()
      const head = heldHead(AUTHOR_1, 0, 0)
      await s.put(head, [])
      const heads = await s.heads()
      expect(heads).toHaveLength(1)
      expectHead(heads[0], heldHead(AUTHOR_1, 0, 0))
      expect(await s.chunks(AUTHOR_1, 0, 10)).toEqual([])
    })

    it('a second put replaces the head and adds chunks', async () => {
      const s = await subject.make()
      await s.put(heldHead(AUTHOR_1, 2), chunkList(AUTHOR_1, [0, 1]))
      await s.put(heldHead(AUTHOR_1, 5, 20), chunkList(AUTHOR_1, [2, 3, 4]))
      const heads = await s.heads()
      expect(heads).toHaveLength(1)
      expectHead(heads[0], heldHead(AUTHOR_1, 5, 20))
      expectChunks(await s.chunks(AUTHOR_1, 0, 10), chunkList(AUTHOR_1, [0, 1, 2, 3, 4]))
    })

    it('a put of an existing index replaces that chunk', async () => {
      const s = await subject.make()
      await s.put(heldHead(AUTHOR_1, 2), chunkList(AUTHOR_1, [0, 1]))
      const replacement = { index: 1, data: bytes(7, 0x5a) }
      await s.put(heldHead(AUTHOR_1, 2), [replacement])
      expectChunks(await s.chunks(AUTHOR_1, 0, 2), [chunk(AUTHOR_1, 0), replacement])
    })

    it('two authors stay apart', async () => {
      const s = await subject.make()
      await s.put(heldHead(AUTHOR_1, 3), chunkList(AUTHOR_1, [0, 1, 2]))
      await s.put(heldHead(AUTHOR_2, 2), chunkList(AUTHOR_2, [0, 1]))
      const heads = byAuthor(await s.heads())
      expect(heads.size).toBe(2)
      expectHead(heads.get(AUTHOR_1), heldHead(AUTHOR_1, 3))
      expectHead(heads.get(AUTHOR_2), heldHead(AUTHOR_2, 2))
      expectChunks(await s.chunks(AUTHOR_1, 0, 10), chunkList(AUTHOR_1, [0, 1, 2]))
      expectChunks(await s.chunks(AUTHOR_2, 0, 10), chunkList(AUTHOR_2, [0, 1]))
    })

    it('drop removes that author’s head and all its chunks and leaves the other author intact', async () => {
      const s = await subject.make()
      await s.put(heldHead(AUTHOR_1, 4), chunkList(AUTHOR_1, [0, 1, 2, 3]))
      await s.put(heldHead(AUTHOR_1, 6), chunkList(AUTHOR_1, [4, 5]))
      await s.put(heldHead(AUTHOR_2, 2), chunkList(AUTHOR_2, [0, 1]))
      await s.drop(AUTHOR_1)
      const heads = await s.heads()
      expect(heads.map((h) => h.author)).toEqual([AUTHOR_2])
      expectHead(heads[0], heldHead(AUTHOR_2, 2))
      expect(await s.chunks(AUTHOR_1, 0, 100)).toEqual([])
      expectChunks(await s.chunks(AUTHOR_2, 0, 10), chunkList(AUTHOR_2, [0, 1]))
      // Dropping again, or an author never held, is harmless.
      await s.drop(AUTHOR_1)
      await s.drop(hex(32, 99))
      expect((await s.heads()).map((h) => h.author)).toEqual([AUTHOR_2])
      // The author can be held again afterwards, from scratch.
      await s.put(heldHead(AUTHOR_1, 1), chunkList(AUTHOR_1, [0]))
      expectChunks(await s.chunks(AUTHOR_1, 0, 100), chunkList(AUTHOR_1, [0]))
      expectHead(byAuthor(await s.heads()).get(AUTHOR_1), heldHead(AUTHOR_1, 1))
    })

    it('mutating passed-in bytes after put does not change what is stored', async () => {
      const s = await subject.make()
      const head = heldHead(AUTHOR_1, 2)
      const list = chunkList(AUTHOR_1, [0, 1])
      await s.put(head, list)
      head.tail.fill(0xff)
      head.roots[0] = 'f'.repeat(64)
      for (const c of list) c.data.fill(0xee)
      expectChunks(await s.chunks(AUTHOR_1, 0, 2), chunkList(AUTHOR_1, [0, 1]))
      expectHead((await s.heads())[0], heldHead(AUTHOR_1, 2))
    })

    it('mutating returned chunk bytes does not change what is stored', async () => {
      const s = await subject.make()
      await s.put(heldHead(AUTHOR_1, 2), chunkList(AUTHOR_1, [0, 1]))
      for (const c of await s.chunks(AUTHOR_1, 0, 2)) c.data.fill(0xee)
      expectChunks(await s.chunks(AUTHOR_1, 0, 2), chunkList(AUTHOR_1, [0, 1]))
    })

    it(RETURNED_TAIL, async () => {
      const s = await subject.make()
      await s.put(heldHead(AUTHOR_1, 2), chunkList(AUTHOR_1, [0, 1]))
      ;(await s.heads())[0]!.tail.fill(0xff)
      expectHead((await s.heads())[0], heldHead(AUTHOR_1, 2))
    })

    it(RETURNED_ROOTS, async () => {
      const s = await subject.make()
      await s.put(heldHead(AUTHOR_1, 2), chunkList(AUTHOR_1, [0, 1]))
      const got = (await s.heads())[0]!
      got.roots[0] = 'f'.repeat(64)
      got.roots.push('e'.repeat(64))
      expectHead((await s.heads())[0], heldHead(AUTHOR_1, 2))
    })

    it(RETURNED_CHECKPOINT, async () => {
      const s = await subject.make()
      await s.put(heldHead(AUTHOR_1, 2), chunkList(AUTHOR_1, [0, 1]))
      ;(await s.heads())[0]!.checkpoint.size = 999
      expectHead((await s.heads())[0], heldHead(AUTHOR_1, 2))
    })

    it(PASSED_CHECKPOINT, async () => {
      const s = await subject.make()
      const head = heldHead(AUTHOR_1, 2)
      await s.put(head, [])
      head.checkpoint.size = 999
      head.checkpoint.sig = '0'.repeat(128)
      expectHead((await s.heads())[0], heldHead(AUTHOR_1, 2))
    })
  })
}

describe('ChunkStore: IndexedDB only', () => {
  vitestIt('two node ids in the same database keep their held data apart', async () => {
    const db = await freshDb()
    const a = createIdbChunkStore(db, NODE_A)
    const b = createIdbChunkStore(db, NODE_B)
    // Both nodes hold the same author, with different heads and chunks.
    await a.put(heldHead(AUTHOR_1, 3), chunkList(AUTHOR_1, [0, 1, 2]))
    await b.put(heldHead(AUTHOR_1, 1), [{ index: 0, data: bytes(9, 0x33) }])
    await b.put(heldHead(AUTHOR_2, 2), chunkList(AUTHOR_2, [0, 1]))

    expect((await a.heads()).map((h) => h.author)).toEqual([AUTHOR_1])
    expectHead((await a.heads())[0], heldHead(AUTHOR_1, 3))
    expectChunks(await a.chunks(AUTHOR_1, 0, 10), chunkList(AUTHOR_1, [0, 1, 2]))
    expect(await a.chunks(AUTHOR_2, 0, 10)).toEqual([])

    const bHeads = byAuthor(await b.heads())
    expect(bHeads.size).toBe(2)
    expectHead(bHeads.get(AUTHOR_1), heldHead(AUTHOR_1, 1))
    expectChunks(await b.chunks(AUTHOR_1, 0, 10), [{ index: 0, data: bytes(9, 0x33) }])

    // Dropping an author at one node leaves the other node's copy.
    await b.drop(AUTHOR_1)
    expect((await b.heads()).map((h) => h.author)).toEqual([AUTHOR_2])
    expect(await b.chunks(AUTHOR_1, 0, 10)).toEqual([])
    expectHead((await a.heads())[0], heldHead(AUTHOR_1, 3))
    expectChunks(await a.chunks(AUTHOR_1, 0, 10), chunkList(AUTHOR_1, [0, 1, 2]))

    // A new store object over the same database and node id sees the same data.
    const a2 = createIdbChunkStore(db, NODE_A)
    expectChunks(await a2.chunks(AUTHOR_1, 0, 10), chunkList(AUTHOR_1, [0, 1, 2]))
  })

  vitestIt('held data survives closing and reopening the database', async () => {
    const name = `chunk-store-reopen-${dbCounter++}`
    const db1 = await openIr3Db(name)
    await createIdbChunkStore(db1, NODE_A).put(heldHead(AUTHOR_1, 2), chunkList(AUTHOR_1, [0, 1]))
    db1.close()
    const db2 = await openIr3Db(name)
    openDbs.push(db2)
    const s = createIdbChunkStore(db2, NODE_A)
    expectHead((await s.heads())[0], heldHead(AUTHOR_1, 2))
    expectChunks(await s.chunks(AUTHOR_1, 0, 10), chunkList(AUTHOR_1, [0, 1]))
  })

  vitestIt('a v1 database upgrades to v2 without losing v1 records', async () => {
    expect(DB_VERSION).toBe(2)
    const name = `chunk-store-v1-${dbCounter++}`
    const node: Omit<NodeRecord, 'privateKey'> & { privateKey: null } = {
      id: NODE_A,
      name: 'tab one',
      publicKey: bytes(32, 0x42),
      privateKey: null,
      createdAt: 1_700_000_000_000,
      lastOpenedAt: 1_700_000_001_000,
    }
    const headRow = {
      node: NODE_A,
      size: 11,
      lastHash: hex(64, 11),
      peaks: [bytes(32, 1), bytes(32, 2)],
      checkpoint: { author: NODE_A, size: 11, root: hex(64, 12), t: 1_700_000_002_000, sig: hex(128, 13) },
    }
    const chunkRow = { node: NODE_A, index: 0, count: 8, data: bytes(64, 0x17), root: bytes(32, 0x18) }

    // The v1 schema, written with raw IndexedDB (idb's untyped openDB).
    const v1 = await openDB(name, 1, {
      upgrade(db) {
        db.createObjectStore('nodes', { keyPath: 'id' })
        db.createObjectStore('heads', { keyPath: 'node' })
        db.createObjectStore('chunks', { keyPath: ['node', 'index'] })
        db.createObjectStore('roots', { keyPath: ['node', 'index'] })
        db.createObjectStore('snapshots', { keyPath: ['node', 'size'] })
      },
    })
    await v1.put('nodes', node)
    await v1.put('heads', headRow)
    await v1.put('chunks', chunkRow)
    expect([...v1.objectStoreNames].sort()).toEqual(['chunks', 'heads', 'nodes', 'roots', 'snapshots'])
    v1.close()

    const db = await openIr3Db(name)
    openDbs.push(db)
    expect(db.version).toBe(2)
    expect([...db.objectStoreNames].sort()).toEqual([
      'chunks',
      'heads',
      'held',
      'heldHeads',
      'nodes',
      'roots',
      'snapshots',
    ])

    const gotNode = await db.get('nodes', NODE_A)
    expect(gotNode).toBeDefined()
    expect(gotNode!.name).toBe('tab one')
    expect([...gotNode!.publicKey]).toEqual([...node.publicKey])
    expect(gotNode!.createdAt).toBe(node.createdAt)
    const gotHead = await db.get('heads', NODE_A)
    expect(gotHead).toBeDefined()
    expect(gotHead!.size).toBe(11)
    expect(gotHead!.checkpoint).toEqual(headRow.checkpoint)
    expect(gotHead!.peaks.map((p) => [...p])).toEqual(headRow.peaks.map((p) => [...p]))
    const gotChunk = await db.get('chunks', [NODE_A, 0])
    expect([...gotChunk!.data]).toEqual([...chunkRow.data])

    // The new stores start empty and work.
    expect(await db.count('held')).toBe(0)
    expect(await db.count('heldHeads')).toBe(0)
    const s = createIdbChunkStore(db, NODE_A)
    expect(await s.heads()).toEqual([])
    await s.put(heldHead(AUTHOR_1, 1), chunkList(AUTHOR_1, [0]))
    expectChunks(await s.chunks(AUTHOR_1, 0, 1), chunkList(AUTHOR_1, [0]))
    // And the v1 records are still there after a v2 write.
    expect((await db.get('heads', NODE_A))!.size).toBe(11)
  })
})
