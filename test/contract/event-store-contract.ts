/**
 * The EventStore contract: every store (memory, IndexedDB via fake-indexeddb
 * in Node, real IndexedDB in Chromium) must pass these cases. Framework-free
 * so the same cases run under Vitest and in a browser page.
 */
import type { ChunkRecord, CommitBatch, EventStore, SeriesHead } from '../../src/core/ports.ts'
import { createNode } from '../../src/core/node.ts'
import { createManualClock, createSeededRng } from '../../src/core/testing/manual-clock.ts'
import { createWebCryptoSigner, createWebCryptoVerifier, generateKeyPair } from '../../src/adapters/webcrypto-signer.ts'

/** Makes a fresh store for `nodeId`; calls with the same id in one case reach the same data. */
export type MakeStore = (nodeId: string) => Promise<EventStore>

export interface ContractCase {
  name: string
  run(make: MakeStore): Promise<void>
}

function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(`contract: ${message}`)
}

function same(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill)

function head(size: number): SeriesHead {
  return {
    size,
    lastHash: size.toString(16).padStart(64, '0'),
    peaks: [bytes(32, 1), bytes(32, 2)],
    checkpoint: { author: 'a'.repeat(32), size, root: 'b'.repeat(64), t: 1234, sig: 'c'.repeat(128) },
  }
}

function chunk(index: number, count: number, sealed: boolean): ChunkRecord {
  const c: ChunkRecord = { index, count, data: bytes(10 + index, index & 0xff) }
  if (sealed) c.root = bytes(32, 100 + index)
  return c
}

function batch(chunks: ChunkRecord[], size: number, snapshots: CommitBatch['snapshots'] = []): CommitBatch {
  return { chunks, head: head(size), snapshots }
}

export const eventStoreContract: ContractCase[] = [
  {
    name: 'an empty store has no head, chunks, snapshots or roots',
    async run(make) {
      const s = await make('empty')
      assert((await s.loadHead()) === null, 'head should be null')
      assert((await s.readChunks(0, 10)).length === 0, 'no chunks')
      assert((await s.readSnapshot(1e9)) === null, 'no snapshot')
      assert((await s.readRoots(0, 10)).length === 0, 'no roots')
    },
  },
  {
    name: 'a committed head loads back exactly',
    async run(make) {
      const s = await make('head')
      await s.commit(batch([chunk(0, 3, false)], 3))
      const h = await s.loadHead()
      assert(h !== null, 'head present')
      assert(h.size === 3 && h.lastHash === head(3).lastHash, 'size and lastHash')
      assert(h.peaks.length === 2 && same(h.peaks[0], bytes(32, 1)) && same(h.peaks[1], bytes(32, 2)), 'peaks')
      assert(JSON.stringify(h.checkpoint) === JSON.stringify(head(3).checkpoint), 'checkpoint')
    },
  },
  {
    name: 'chunks come back in index order, missing ones absent, bytes and roots intact',
    async run(make) {
      const s = await make('chunks')
      await s.commit(batch([chunk(0, 4, true), chunk(1, 4, true), chunk(3, 2, false)], 14))
      const got = await s.readChunks(0, 5)
      assert(got.map((c) => c.index).join() === '0,1,3', `indices ${got.map((c) => c.index).join()}`)
      assert(same(got[0]!.data, chunk(0, 4, true).data) && same(got[2]!.data, chunk(3, 2, false).data), 'data')
      assert(same(got[1]!.root, bytes(32, 101)) && got[2]!.root === undefined, 'roots')
      assert((await s.readChunks(1, 2)).length === 1, 'half-open range')
      assert((await s.readChunks(2, 2)).length === 0, 'empty range')
    },
  },
  {
    name: 'rewriting the open chunk replaces it',
    async run(make) {
      const s = await make('rewrite')
      await s.commit(batch([{ index: 0, count: 1, data: bytes(5, 7) }], 1))
      await s.commit(batch([{ index: 0, count: 2, data: bytes(9, 8) }], 2))
      const [c] = await s.readChunks(0, 1)
      assert(c && c.count === 2 && same(c.data, bytes(9, 8)), 'latest version')
      assert((await s.loadHead())?.size === 2, 'head follows')
    },
  },
  {
    name: 'the snapshot read is the largest one at or before the size asked',
    async run(make) {
      const s = await make('snap')
      const snap = (size: number) => ({ size, key: 'view@1', states: { view: { count: size } } })
      await s.commit(batch([], 0, [snap(4), snap(8), snap(12)]))
      assert((await s.readSnapshot(3)) === null, 'none before 4')
      assert((await s.readSnapshot(4))?.size === 4, 'exact')
      assert((await s.readSnapshot(11))?.size === 8, 'floor')
      const last = await s.readSnapshot(1e9)
      assert(last?.size === 12 && JSON.stringify(last.states) === '{"view":{"count":12}}', 'states kept')
    },
  },
  {
    name: 'roots are read contiguously from the first index asked',
    async run(make) {
      const s = await make('roots')
      await s.commit(batch([chunk(0, 4, true), chunk(1, 4, true), chunk(2, 4, true)], 12))
      const r = await s.readRoots(1, 3)
      assert(r.length === 2 && same(r[0], bytes(32, 101)) && same(r[1], bytes(32, 102)), 'roots 1..2')
      assert((await s.readRoots(2, 10)).length === 1, 'stops at the first missing root')
    },
  },
  {
    name: 'stored values do not change when the caller mutates its inputs',
    async run(make) {
      const s = await make('copy')
      const c = chunk(0, 1, false)
      const b = batch([c], 1)
      await s.commit(b)
      c.data.fill(0xee)
      b.head.peaks[0]!.fill(0xee)
      const [got] = await s.readChunks(0, 1)
      assert(same(got?.data, chunk(0, 1, false).data), 'chunk data copied')
      assert(same((await s.loadHead())?.peaks[0], bytes(32, 1)), 'peaks copied')
    },
  },
  {
    name: 'the stores of two nodes do not see each other',
    async run(make) {
      const a = await make('node-a')
      const b = await make('node-b')
      await a.commit(batch([chunk(0, 4, true)], 4))
      assert((await b.loadHead()) === null, 'b has no head')
      assert((await b.readChunks(0, 10)).length === 0, 'b has no chunks')
      assert((await a.readChunks(0, 10)).length === 1, 'a keeps its chunk')
    },
  },
  {
    name: 'a series written through the store reopens whole and verifies',
    async run(make) {
      const pair = await generateKeyPair()
      const deps = {
        signer: createWebCryptoSigner(pair),
        verifier: createWebCryptoVerifier(),
        clock: createManualClock(),
        rng: createSeededRng(1),
        chunkSize: 16,
        snapshotEvery: 64,
      }
      const n1 = await createNode({ ...deps, store: await make('series') })
      for (let i = 0; i < 1000; i++) n1.append('note-added', { text: `n${i}`, i })
      await n1.flush()
      const before = await n1.state(499)
      n1.destroy()
      const n2 = await createNode({ ...deps, store: await make('series') })
      assert(n2.length === 1000, `length ${n2.length}`)
      const report = await n2.series.verified
      assert(report.ok && report.checked === 1000, `verify ${JSON.stringify(report.problems)}`)
      assert(JSON.stringify(await n2.state(499)) === JSON.stringify(before), 'time travel after reopen')
      const [e] = await n2.entries(999, 1000)
      assert(e?.seq === 999 && JSON.stringify(e.body) === '{"i":999,"text":"n999"}', 'last entry')
      n2.append('note-added', { text: 'after reopen' })
      assert((await n2.flush()) === 1001, 'appends after reopen')
      n2.destroy()
    },
  },
]
