import { describe, expect, it, vi } from 'vitest'
import { Series, type SeriesEvent, type SeriesOptions } from '../src/core/series/series.ts'
import { createManualClock, type ManualClock } from '../src/core/testing/manual-clock.ts'
import { createMemoryEventStore, type MemoryEventStore } from '../src/core/testing/memory-store.ts'
import { createWebCryptoSigner, createWebCryptoVerifier, generateKeyPair } from '../src/adapters/webcrypto-signer.ts'
import { nodeIdFromPublicKey } from '../src/core/identity.ts'
import { errorCode } from '../src/core/errors.ts'

interface Harness {
  series: Series
  store: MemoryEventStore
  clock: ManualClock
  events: SeriesEvent[]
  /** Commit attempts the store saw (failed ones included). */
  attempts(): number
  reopen(): Promise<Series>
}

async function open(opts: Partial<SeriesOptions> = {}): Promise<Harness> {
  const pair = await generateKeyPair()
  const store = createMemoryEventStore()
  let attempts = 0
  const commit = store.commit.bind(store)
  store.commit = (b) => {
    attempts++
    return commit(b)
  }
  const clock = createManualClock()
  const make = () =>
    Series.open({
      author: nodeIdFromPublicKey(pair.publicKey),
      signer: createWebCryptoSigner(pair),
      verifier: createWebCryptoVerifier(),
      store,
      clock,
      chunkSize: 8,
      snapshotEvery: 32,
      retry: { minMs: 100, maxMs: 300 },
      ...opts,
    })
  const series = await make()
  const events: SeriesEvent[] = []
  series.subscribe((e) => events.push(e))
  return { series, store, clock, events, attempts: () => attempts, reopen: make }
}

/** Lets the commit under way (WebCrypto signing, the store's promise) finish. */
const settle = () => new Promise((r) => setTimeout(r, 20))

describe('durability: a failing disk', () => {
  it('marks the series degraded with the reason, and advertises nothing new', async () => {
    const h = await open()
    for (let i = 0; i < 3; i++) h.series.append('thing-happened', { i })
    expect(await h.series.flush()).toBe(3)
    const cp = h.series.checkpoint
    h.store._testOnlyFailCommits(1)
    h.series.append('thing-happened', { i: 3 })
    h.series.append('thing-happened', { i: 4 })
    await expect(h.series.flush()).rejects.toThrow(/QuotaExceededError/)
    expect(h.series.degraded).toMatchObject({ reason: expect.stringMatching(/Quota/), failures: 1, backlog: 2 })
    expect(h.series.degraded!.retryAt).toBe(h.clock.now() + 100)
    expect(h.series.status).toBe('ok')
    expect(h.series.durableLength).toBe(3)
    expect(h.series.checkpoint).toEqual(cp)
    expect(h.events.filter((e) => e.type === 'durable').map((e) => e.type === 'durable' && e.size)).toEqual([3])
    expect(h.events).toContainEqual({ type: 'degraded', degraded: h.series.degraded })
    expect(h.events).toContainEqual({ type: 'error', message: expect.stringMatching(/^commit failed: .*Quota/) })
  })

  it('retries on the clock with doubling backoff up to its maximum, without another append, and is ok again', async () => {
    const h = await open()
    h.store._testOnlyFailCommits(4)
    h.series.append('thing-happened', { i: 0 })
    await vi.waitFor(() => expect(h.series.degraded?.failures).toBe(1))
    const delays: number[] = []
    for (let failures = 1; failures < 4; failures++) {
      const wait = h.series.degraded!.retryAt - h.clock.now()
      delays.push(wait)
      h.clock.advance(wait - 1)
      await settle()
      expect(h.attempts(), 'no retry before its time').toBe(failures)
      h.clock.advance(1)
      await vi.waitFor(() => expect(h.series.degraded?.failures).toBe(failures + 1))
    }
    expect(delays).toEqual([100, 200, 300])
    expect(h.series.degraded!.retryAt - h.clock.now()).toBe(300)
    h.clock.advance(300)
    await vi.waitFor(() => expect(h.series.degraded).toBeNull())
    expect(h.attempts()).toBe(5)
    expect(h.series.durableLength).toBe(1)
    expect(h.series.checkpoint?.size).toBe(1)
    expect(h.events.at(-1)).toEqual({ type: 'degraded', degraded: null })
    expect(h.clock.pending).toBe(0)
  })

  it('does not retry on appends while degraded: only the timer does', async () => {
    const h = await open()
    h.store._testOnlyFailCommits(1)
    h.series.append('thing-happened', { i: 0 })
    await vi.waitFor(() => expect(h.series.degraded).not.toBeNull())
    for (let i = 1; i < 20; i++) h.series.append('thing-happened', { i })
    await settle()
    expect(h.attempts()).toBe(1)
    const flushed = h.series.flush()
    await settle()
    expect(h.attempts()).toBe(1)
    h.clock.advance(100)
    expect(await flushed).toBe(20)
    expect(h.attempts()).toBe(2)
    expect(h.series.degraded).toBeNull()
  })

  it('refuses appends at the backlog bound with ERR_BACKLOG_FULL, and loses nothing: after recovery every entry appended before it is durable and the chain verifies', async () => {
    const h = await open({ maxBacklog: { entries: 50 } })
    h.store._testOnlyFailCommits(1000)
    const accepted: string[] = []
    let refused: unknown = null
    for (let i = 0; i < 80 && refused === null; i++) {
      try {
        accepted.push(h.series.append('thing-happened', { i }).hash)
      } catch (e: unknown) {
        refused = e
      }
      if (i === 10) await vi.waitFor(() => expect(h.series.degraded).not.toBeNull())
    }
    expect(accepted).toHaveLength(50)
    expect(errorCode(refused)).toBe('ERR_BACKLOG_FULL')
    expect(String(refused)).toMatch(/50 entries .* not on disk yet.*commits are failing \(.*Quota/)
    expect(h.series.length).toBe(50)
    expect(h.series.backlog).toBe(50)
    expect(() => h.series.append('thing-happened', { again: true })).toThrow(/ERR_BACKLOG_FULL/)

    h.store._testOnlyFailCommits(0)
    h.clock.advance(300)
    await vi.waitFor(() => expect(h.series.degraded).toBeNull())
    expect(h.series.durableLength).toBe(50)
    const entries = await h.series.entries(0, 50)
    expect(entries.map((e) => e.hash)).toEqual(accepted)
    expect(entries.map((e) => (e.body as { i: number }).i)).toEqual([...Array(50).keys()])
    expect(await h.series.verify()).toMatchObject({ ok: true, size: 50, checked: 50 })

    h.series.append('thing-happened', { after: true })
    expect(await h.series.flush()).toBe(51)
    h.series.close()
    const again = await h.reopen()
    expect(again.length).toBe(51)
    expect(await again.verified).toMatchObject({ ok: true, checked: 51 })
  })

  it('bounds the backlog in bytes too', async () => {
    const h = await open({ maxBacklog: { bytes: 2000 } })
    h.store._testOnlyFailCommits(1000)
    const text = 'x'.repeat(200)
    let n = 0
    expect(() => {
      for (; n < 100; n++) h.series.append('note-added', { text, n })
    }).toThrow(/ERR_BACKLOG_FULL/)
    expect(h.series.length).toBe(n)
    // Refused once at least 2,000 encoded bytes wait, not before.
    const sizes = (await h.series.entries(0, n)).map((e) => e.bytes)
    const total = sizes.reduce((a, b) => a + b, 0)
    expect(total).toBeGreaterThanOrEqual(2000)
    expect(total - sizes.at(-1)!).toBeLessThan(2000)
    h.series.close()
  })

  it('bounds the backlog of a healthy series whose disk is behind, and accepts again once it caught up', async () => {
    const h = await open({ maxBacklog: { entries: 10 } })
    for (let i = 0; i < 10; i++) h.series.append('thing-happened', { i })
    expect(() => h.series.append('thing-happened', { i: 10 })).toThrow(/ERR_BACKLOG_FULL.*the disk is behind/)
    expect(h.series.degraded).toBeNull()
    expect(await h.series.flush()).toBe(10)
    expect(h.series.append('thing-happened', { i: 10 }).seq).toBe(10)
  })

  it('stops retrying when closed', async () => {
    const h = await open()
    h.store._testOnlyFailCommits(1)
    h.series.append('thing-happened', {})
    await vi.waitFor(() => expect(h.series.degraded).not.toBeNull())
    expect(h.clock.pending).toBe(1)
    h.series.close()
    expect(h.clock.pending).toBe(0)
  })
})
