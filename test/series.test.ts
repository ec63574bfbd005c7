import { describe, expect, it } from 'vitest'
import { makeTestNode, testNodeReducers } from './helpers.ts'
import { createManualClock } from '../src/core/testing/manual-clock.ts'
import { decodeEntry } from '../src/core/series/encoding.ts'
import { frameEntries, unframeEntries } from '../src/core/series/frames.ts'
import { fromHex, leafHash, toHex } from '../src/core/series/hash.ts'
import { verifyConsistency, verifyInclusion } from '../src/core/series/merkle.ts'
import { verifyChunk } from '../src/core/series/chunk.ts'
import { signCheckpoint, verifyCheckpoint } from '../src/core/series/checkpoint.ts'
import { applyEntry, initialStates, type States } from '../src/core/series/reducers.ts'
import { createWebCryptoSigner, createWebCryptoVerifier, generateKeyPair } from '../src/adapters/webcrypto-signer.ts'
import type { Ir3Node } from '../src/core/node.ts'

const verifier = createWebCryptoVerifier()
const hex = (h: string) => fromHex(h)!

async function filled(n: number, chunkSize = 8) {
  const t = await makeTestNode({ chunkSize, snapshotEvery: chunkSize * 4 })
  for (let i = 0; i < n; i++) t.node.append(i % 3 === 0 ? 'note-added' : 'thing-happened', { i, text: `entry ${i}` })
  await t.node.flush()
  return t
}

/** Flips one byte inside the stored body of entry `seq`. */
function tamperEntry(t: Awaited<ReturnType<typeof filled>>, seq: number, mutate: (text: string) => string) {
  const C = t.node.series.chunkSize
  const rec = t.store._testOnlyChunks.get(Math.floor(seq / C))!
  const framed = unframeEntries(rec.data)
  const parts = framed.entries.map((b) => b.slice())
  const i = seq % C
  parts[i] = new TextEncoder().encode(mutate(new TextDecoder().decode(parts[i])))
  rec.data = frameEntries(parts)
}

describe('the series', () => {
  it('links each entry to the hash of the previous one, starting from the zero hash', async () => {
    const { node } = await filled(20)
    const entries = await node.entries(0, 20)
    expect(entries[0]!.prev).toBe('0'.repeat(64))
    for (let i = 1; i < 20; i++) expect(entries[i]!.prev).toBe(entries[i - 1]!.hash)
    expect(entries.map((e) => e.seq)).toEqual([...Array(20).keys()])
  })

  it('returns seq and hash at once from append, and the hash is the leaf hash of the stored bytes', async () => {
    const { node, store } = await makeTestNode()
    const r = node.append('note-added', { text: 'hi' })
    expect(r.seq).toBe(0)
    expect(node.durableLength).toBe(0)
    await node.flush()
    const stored = unframeEntries(store._testOnlyChunks.get(0)!.data).entries[0]!
    expect(toHex(leafHash(stored))).toBe(r.hash)
  })

  it('group-commits a burst of appends with one signed checkpoint', async () => {
    const { node, store } = await makeTestNode()
    let commits = 0
    const commit = store.commit.bind(store)
    store.commit = async (b) => {
      commits++
      return commit(b)
    }
    for (let i = 0; i < 100; i++) node.append('thing-happened', { i })
    expect(await node.flush()).toBe(100)
    expect(commits).toBe(1)
    expect(node.series.checkpoint?.size).toBe(100)
  })

  it('signs checkpoints that verify, and rejects forged ones', async () => {
    const { node, pair } = await filled(10)
    const cp = node.series.checkpoint!
    expect(await verifyCheckpoint(cp, pair.publicKey, verifier)).toEqual({ ok: true })
    expect(await verifyCheckpoint({ ...cp, size: 11 }, pair.publicKey, verifier)).toEqual({
      ok: false,
      reason: 'bad signature',
    })
    expect(await verifyCheckpoint({ ...cp, root: 'f'.repeat(64) }, pair.publicKey, verifier)).toEqual({
      ok: false,
      reason: 'bad signature',
    })
    const other = await generateKeyPair()
    expect(await verifyCheckpoint(cp, other.publicKey, verifier)).toEqual({
      ok: false,
      reason: 'key is not the author’s',
    })
    const forged = await signCheckpoint(
      { author: cp.author, size: 10, root: cp.root, t: cp.t },
      createWebCryptoSigner(other),
    )
    expect(await verifyCheckpoint(forged, pair.publicKey, verifier)).toEqual({ ok: false, reason: 'bad signature' })
    expect(await verifyCheckpoint({ ...cp, sig: 'zz' }, pair.publicKey, verifier)).toEqual({
      ok: false,
      reason: 'malformed signature',
    })
  })

  it('proves every entry is included in the latest checkpoint root', async () => {
    const { node } = await filled(45)
    const root = hex(node.series.checkpoint!.root)
    for (let seq = 0; seq < 45; seq++) {
      const p = await node.proof(seq)
      expect(verifyInclusion(seq, 45, hex(p.leaf), p.path.map(hex), root), `seq ${seq}`).toBe(true)
      expect(verifyInclusion(seq, 45, leafHash(new Uint8Array([1])), p.path.map(hex), root)).toBe(false)
    }
  })

  it('proves older checkpoints consistent with newer ones', async () => {
    const t = await makeTestNode()
    const roots: string[] = []
    for (let n = 1; n <= 40; n++) {
      t.node.append('thing-happened', { n })
      await t.node.flush()
      roots[n] = t.node.series.checkpoint!.root
    }
    for (let m = 1; m <= 40; m++) {
      const proof = (await t.node.series.consistencyProof(m)).map(hex)
      expect(verifyConsistency(m, 40, hex(roots[m]!), hex(roots[40]!), proof), `m=${m}`).toBe(true)
      if (m < 40) expect(verifyConsistency(m, 40, hex(roots[m === 1 ? 2 : m - 1]!), hex(roots[40]!), proof)).toBe(false)
    }
  })

  it('reopens as the same series, verified, and keeps appending', async () => {
    const t = await filled(50)
    const root = t.node.series.root
    t.node.destroy()
    const again = await t.reopen()
    expect(again.id).toBe(t.node.id)
    expect(again.length).toBe(50)
    expect((await again.series.verified).ok).toBe(true)
    expect(again.series.root).toBe(root)
    again.append('note-added', { text: 'more' })
    expect(await again.flush()).toBe(51)
    expect((await again.verify()).ok).toBe(true)
  })

  it('refuses bad input to append with a stable error code and appends nothing', async () => {
    const { node } = await makeTestNode()
    expect(() => node.append('Bad Kind', {})).toThrow(/ERR_BAD_KIND/)
    expect(() => node.append('note-added', { x: NaN })).toThrow(/ERR_NOT_JSON/)
    expect(() => node.append('note-added', 'x'.repeat(70_000))).toThrow(/ERR_ENTRY_TOO_LARGE/)
    expect(node.length).toBe(0)
  })

  it('rejects an entry whose UTF-8 is over the limit without changing the series, and stores large entries intact', async () => {
    const t = await makeTestNode()
    t.node.append('note-added', { text: 'before' })
    expect(() => t.node.append('note-added', { text: 'é'.repeat(40_000) })).toThrow(/ERR_ENTRY_TOO_LARGE/)
    const big = Array.from({ length: 5 }, (_, i) => String.fromCharCode(97 + i).repeat(60_000))
    for (const text of big) t.node.append('note-added', { text })
    t.node.append('note-added', { text: 'after' })
    await t.node.flush()
    const texts = (await t.node.entries(0, 7)).map((e) => (e.body as { text: string }).text)
    expect(texts).toEqual(['before', ...big, 'after'])
    t.node.destroy()
    const again = await t.reopen()
    expect((await again.series.verified).ok).toBe(true)
    expect((await again.entries(3, 4))[0]!.body).toEqual({ text: big[2] })
  })

  it('keeps entries and reports the error when a commit fails, then commits on the retry', async () => {
    const clock = createManualClock()
    const { node, store } = await makeTestNode({ clock })
    const errors: string[] = []
    node.subscribe((e) => e.type === 'error' && errors.push(e.message))
    store._testOnlyFailCommits(1)
    node.append('note-added', { text: 'a' })
    await expect(node.flush()).rejects.toThrow(/Quota/)
    expect(errors[0]).toMatch(/commit failed/)
    expect(node.length).toBe(1)
    expect(node.series.degraded?.reason).toMatch(/Quota/)
    const flushed = node.flush()
    clock.advance(node.series.degraded!.retryAt - clock.now())
    expect(await flushed).toBe(1)
    expect(node.series.degraded).toBeNull()
    expect((await node.verify()).ok).toBe(true)
  })
})

describe('verification reports what is wrong and where', () => {
  async function damaged(mutate: (t: Awaited<ReturnType<typeof filled>>) => void) {
    const t = await filled(40)
    mutate(t)
    t.node.destroy()
    const again = await t.reopen()
    const report = again.status === 'damaged' ? { problems: again.problems } : await again.series.verified
    return { again, problems: report.problems }
  }

  it('catches a flipped byte in an entry body', async () => {
    const { again, problems } = await damaged((t) => tamperEntry(t, 13, (s) => s.replace('entry 13', 'entry 93')))
    expect(problems[0]).toEqual({ seq: 14, reason: 'prev does not match the hash of the previous entry' })
    expect(again.status).toBe('damaged')
  })

  it('catches a byte that breaks the encoding', async () => {
    const { problems } = await damaged((t) => tamperEntry(t, 5, (s) => s.replace('{"i"', '{ "i"')))
    expect(problems[0]).toEqual({ seq: 5, reason: 'entry does not decode: not canonical' })
  })

  it('catches a broken prev link', async () => {
    const { problems } = await damaged((t) =>
      tamperEntry(t, 9, (s) => s.replace(/"prev":"[0-9a-f]{64}"/, `"prev":"${'1'.repeat(64)}"`)),
    )
    expect(problems[0]).toEqual({ seq: 9, reason: 'prev does not match the hash of the previous entry' })
  })

  it('catches an entry that claims the wrong seq', async () => {
    const { problems } = await damaged((t) => tamperEntry(t, 3, (s) => s.replace('"seq":3', '"seq":4')))
    expect(problems[0]).toEqual({ seq: 3, reason: 'entry claims seq 4' })
  })

  it('catches a change to the last entry through the checkpoint', async () => {
    const { problems } = await damaged((t) => tamperEntry(t, 39, (s) => s.replace('entry 39', 'entry 38')))
    expect(problems[0]).toEqual({ seq: 39, reason: 'entry does not match the signed checkpoint' })
  })

  it('catches a truncated chunk', async () => {
    const { problems } = await damaged((t) => {
      const rec = t.store._testOnlyChunks.get(2)!
      rec.data = rec.data.subarray(0, rec.data.length - 7)
    })
    expect(problems[0]).toEqual({ seq: 23, reason: 'chunk 2: truncated entry' })
  })

  it('catches a missing chunk', async () => {
    const { problems } = await damaged((t) => t.store._testOnlyChunks.delete(1))
    expect(problems[0]!.seq).toBe(8)
    expect(problems[0]!.reason).toMatch(/chunk 1 is missing/)
  })

  it('catches a stored chunk root that does not match its entries', async () => {
    const { problems } = await damaged((t) => t.store._testOnlyChunks.get(0)!.root!.fill(3))
    expect(problems[0]).toEqual({ seq: 0, reason: 'chunk 0: stored root does not match its entries' })
  })

  it('catches a bad checkpoint signature', async () => {
    const { problems } = await damaged((t) => {
      const h = t.store._testOnlyHead()!
      h.checkpoint = { ...h.checkpoint!, sig: h.checkpoint!.sig.replace(/^./, (c) => (c === '0' ? '1' : '0')) }
    })
    expect(problems[0]).toEqual({ seq: 39, reason: 'checkpoint: bad signature' })
  })

  it('catches a checkpoint that does not match the entries', async () => {
    const { problems } = await damaged((t) => {
      const h = t.store._testOnlyHead()!
      h.checkpoint = { ...h.checkpoint!, root: 'a'.repeat(64) }
    })
    expect(problems[0]).toEqual({ seq: 39, reason: 'checkpoint root does not match the stored frontier' })
  })

  it('will not extend or sign a damaged series', async () => {
    const { again } = await damaged((t) => tamperEntry(t, 13, (s) => s.replace('entry 13', 'entry 93')))
    const cp = again.series.checkpoint
    expect(() => again.append('note-added', { text: 'x' })).toThrow(/ERR_DAMAGED/)
    expect(again.series.checkpoint).toBe(cp)
  })

  it('does not commit appends made while verification is still running if it then finds damage', async () => {
    const t = await filled(40)
    tamperEntry(t, 2, (s) => s.replace('entry 2', 'entry 7'))
    t.node.destroy()
    let open!: () => void
    const gate = new Promise<void>((r) => (open = r))
    const read = t.store.readChunks.bind(t.store)
    t.store.readChunks = async (a, b) => {
      if (a === 0) await gate
      return read(a, b)
    }
    const again = await t.reopen()
    expect(again.status).toBe('verifying')
    setTimeout(open, 10)
    again.append('note-added', { text: 'during verification' })
    await expect(again.flush()).rejects.toThrow(/ERR_DAMAGED/)
    expect(t.store._testOnlyHead()!.size).toBe(40)
  })
})

describe('chunks verify against any later checkpoint of their author', () => {
  it('accepts an honest sealed chunk with its audit path', async () => {
    const t = await filled(64)
    const later = t.node.series.checkpoint!
    for (let k = 0; k < 8; k++) {
      const rec = t.store._testOnlyChunks.get(k)!
      const path = await chunkPath(t.node, k)
      const v = await verifyChunk(
        { index: k, chunkSize: 8, data: rec.data, publicKey: t.pair.publicKey, checkpoint: later, path },
        verifier,
      )
      expect(v.ok, `chunk ${k}`).toBe(true)
    }
  })

  it('rejects tampered, truncated, misplaced or foreign chunks with a reason', async () => {
    const t = await filled(64)
    const cp = t.node.series.checkpoint!
    const rec = t.store._testOnlyChunks.get(3)!
    const path = await chunkPath(t.node, 3)
    const claim = { index: 3, chunkSize: 8, data: rec.data, publicKey: t.pair.publicKey, checkpoint: cp, path }
    const flipped = rec.data.slice()
    flipped[flipped.length - 3] = flipped[flipped.length - 3]! ^ 1
    expect(await verifyChunk({ ...claim, data: flipped }, verifier)).toMatchObject({
      ok: false,
      seq: 24,
      reason: 'chunk is not included in the checkpoint',
    })
    const early = rec.data.slice()
    early[40] = early[40]! ^ 1
    expect(await verifyChunk({ ...claim, data: early }, verifier)).toMatchObject({ ok: false, seq: 24 })
    const linked = unframeEntries(rec.data).entries.map((b) => b.slice())
    linked[2] = new TextEncoder().encode(new TextDecoder().decode(linked[2]).replace('entry 26', 'entry 62'))
    expect(await verifyChunk({ ...claim, data: frameEntries(linked) }, verifier)).toMatchObject({
      ok: false,
      seq: 27,
      reason: 'prev does not match the hash of the previous entry',
    })
    expect(await verifyChunk({ ...claim, data: rec.data.subarray(0, 50) }, verifier)).toMatchObject({
      ok: false,
      reason: 'truncated entry',
    })
    expect(await verifyChunk({ ...claim, index: 4 }, verifier)).toMatchObject({
      ok: false,
      reason: 'entry claims seq 24',
    })
    expect(await verifyChunk({ ...claim, path: path.slice(1) }, verifier)).toMatchObject({
      ok: false,
      reason: 'chunk is not included in the checkpoint',
    })
    const other = await generateKeyPair()
    expect(await verifyChunk({ ...claim, publicKey: other.publicKey }, verifier)).toMatchObject({
      ok: false,
      reason: 'checkpoint: key is not the author’s',
    })
    expect(await verifyChunk({ ...claim, checkpoint: { ...cp, size: 16 } }, verifier)).toMatchObject({
      ok: false,
      reason: 'checkpoint does not cover the chunk',
    })
  })
})

/** Audit path of chunk k among chunk roots, from the entry proof of its first entry. */
async function chunkPath(node: Ir3Node, k: number): Promise<string[]> {
  const C = node.series.chunkSize
  const p = await node.proof(k * C)
  return p.path.slice(Math.log2(C))
}

describe('derived state', () => {
  function replay(
    entries: { seq: number; t: number; kind: string; body: unknown; prev: string; bytes: number }[],
  ): States {
    let s = initialStates(testNodeReducers)
    for (const e of entries) s = applyEntry(testNodeReducers, s, decodeEntryFrom(e), e.bytes)
    return s
  }
  function decodeEntryFrom(e: { seq: number; t: number; kind: string; body: unknown; prev: string }) {
    return { seq: e.seq, t: e.t, kind: e.kind, body: e.body as never, prev: e.prev }
  }

  it('applied incrementally equals a full replay', async () => {
    const { node } = await filled(300)
    expect(node.series.current).toEqual(replay(await node.entries(0, 300)))
  })

  it('as of any seq equals a replay of the prefix (time travel), before and after reopening', async () => {
    const t = await filled(300)
    const all = await t.node.entries(0, 300)
    const seqs = [-1, 0, 1, 7, 8, 31, 32, 33, 100, 127, 128, 250, 298, 299]
    for (const seq of seqs) expect(await t.node.state(seq), `seq ${seq}`).toEqual(replay(all.slice(0, seq + 1)))
    t.node.destroy()
    const again = await t.reopen()
    for (const seq of seqs) expect(await again.state(seq), `reopened seq ${seq}`).toEqual(replay(all.slice(0, seq + 1)))
  })

  it('counts entries by kind and keeps the latest notes', async () => {
    const { node } = await filled(9)
    const s = node.series.current as {
      view: { count: number; byKind: Record<string, number> }
      notes: { count: number; latest: string[] }
    }
    expect(s.view.count).toBe(9)
    expect(s.view.byKind).toEqual({ 'note-added': 3, 'thing-happened': 6 })
    expect(s.notes).toEqual({ count: 3, latest: ['entry 0', 'entry 3', 'entry 6'] })
  })

  it('stores snapshots so time travel and reopening do not replay from the start', async () => {
    const t = await filled(200)
    expect(await t.store.readSnapshot(200)).toMatchObject({ size: 192 })
    let reads = 0
    const read = t.store.readChunks.bind(t.store)
    t.store.readChunks = async (a, b) => {
      reads += b - a
      return read(a, b)
    }
    await t.node.state(150)
    expect(reads).toBeLessThanOrEqual(4)
  })
})

it('decodes what it stores', async () => {
  const t = await filled(10)
  for (const b of unframeEntries(t.store._testOnlyChunks.get(0)!.data).entries) expect(decodeEntry(b).ok).toBe(true)
})
