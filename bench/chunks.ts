/**
 * npm run bench -- chunks
 *
 * Headless Chromium tabs on one mesh, the real server, real IndexedDB,
 * WebRTC and WebTorrent. Figures (last line JSON):
 *  - fetchMBps: tab B fetches A's whole series (BENCH_ENTRIES, default 100k
 *    entries) through our chunk path — want-chunk, head, segments over
 *    WebTorrent on data channels of the mesh link, every chunk verified and
 *    stored in IndexedDB — chunk bytes / wall time;
 *  - rawChannelMBps: the same bytes over a bare RTCDataChannel between the
 *    same two tabs in the same run (16 KiB messages, backpressure, a warm-up
 *    megabyte first); ratio = fetchMBps / rawChannelMBps;
 *  - replicate100kMs: A's series → 3 holders (three fresh tabs replicating on
 *    their own, target 3): from their join until all three hold every sealed chunk;
 *  - sealToFetchableMs: A appends the entry that seals a chunk → B holds that
 *    chunk, verified (B asks at once, in a loop), median of 5;
 *  - liveTorrentsPerTab: the most torrents live in A's tab and in a reader's
 *    tab while the reader fetches a 1M-entry series of A (BENCH_1M=0 skips it).
 */
import type { Page } from '@playwright/test'
import { launchBench, median, report } from './browser.ts'

const ENTRIES = Number(process.env['BENCH_ENTRIES'] ?? 100_000)
const BIG = process.env['BENCH_1M'] === '0' ? 0 : Number(process.env['BENCH_BIG'] ?? 1_000_000)

const bench = await launchBench()
const { url, browser } = bench
const mb = (bytes: number, ms: number) => +(bytes / 1e6 / (ms / 1000)).toFixed(2)

async function fill(page: Page, n: number, text: number): Promise<number> {
  return page.evaluate(
    async ({ n, text }) => {
      const pad = 'x'.repeat(text)
      for (let i = 0; i < n; i++) {
        window.ir3!.append('note-added', { text: `${i} ${pad}` })
        if (i % 20_000 === 19_999) await window.ir3!.flush()
      }
      return window.ir3!.flush()
    },
    { n, text },
  )
}

async function linked(a: Page, b: Page): Promise<void> {
  const id = await b.evaluate(() => window.ir3!.id)
  for (let i = 0; i < 60; i++) {
    const ready = await a.evaluate((x) => window.ir3!.peers().some((p) => p.id === x && p.state === 'ready'), id)
    if (ready) return
    if (i % 10 === 9) await a.evaluate((x) => window.ir3!.connect(x), id)
    await new Promise((r) => setTimeout(r, 500))
  }
  throw new Error('tabs did not link')
}

/** ms to move `bytes` over a bare RTCDataChannel between two tabs (a fresh RTCPeerConnection pair, loopback, no STUN), after a warm-up megabyte. */
async function rawTransfer(a: Page, b: Page, bytes: number): Promise<number> {
  // tsx keeps function names with a `__name` helper that the page does not have.
  for (const p of [a, b]) await p.evaluate('globalThis.__name = (f) => f')
  await b.evaluate(() => {
    const pc = new RTCPeerConnection({ iceServers: [] })
    ;(window as unknown as Record<string, unknown>)['rawPc'] = pc
    pc.ondatachannel = (e) => {
      const dc = e.channel
      dc.binaryType = 'arraybuffer'
      let got = 0
      let want = Infinity
      let t0 = 0
      dc.onmessage = (m) => {
        if (typeof m.data === 'string') {
          want = Number(m.data)
          got = 0
          t0 = performance.now()
          return
        }
        got += (m.data as ArrayBuffer).byteLength
        if (got >= want) {
          want = Infinity
          dc.send(String(performance.now() - t0))
        }
      }
    }
  })
  const offer = await a.evaluate(async () => {
    const pc = new RTCPeerConnection({ iceServers: [] })
    const w = window as unknown as Record<string, unknown>
    w['rawPc'] = pc
    w['rawDc'] = pc.createDataChannel('raw')
    await pc.setLocalDescription(await pc.createOffer())
    await new Promise<void>((r) => {
      if (pc.iceGatheringState === 'complete') r()
      pc.onicegatheringstatechange = () => {
        if (pc.iceGatheringState === 'complete') r()
      }
    })
    return pc.localDescription!.toJSON()
  })
  const answer = await b.evaluate(async (o) => {
    const pc = (window as unknown as Record<string, RTCPeerConnection>)['rawPc']!
    await pc.setRemoteDescription(o)
    await pc.setLocalDescription(await pc.createAnswer())
    await new Promise<void>((r) => {
      if (pc.iceGatheringState === 'complete') r()
      pc.onicegatheringstatechange = () => {
        if (pc.iceGatheringState === 'complete') r()
      }
    })
    return pc.localDescription!.toJSON()
  }, offer)
  return a.evaluate(
    async ({ answer, bytes }) => {
      const w = window as unknown as Record<string, unknown>
      const pc = w['rawPc'] as RTCPeerConnection
      const dc = w['rawDc'] as RTCDataChannel
      dc.binaryType = 'arraybuffer'
      await pc.setRemoteDescription(answer)
      if (dc.readyState !== 'open') await new Promise((r) => dc.addEventListener('open', r, { once: true }))
      dc.bufferedAmountLowThreshold = 256 * 1024
      const msg = new Uint8Array(16 * 1024)
      const send = async (n: number): Promise<number> => {
        const done = new Promise<number>((r) =>
          dc.addEventListener('message', (m) => r(Number(m.data)), { once: true }),
        )
        dc.send(String(n))
        for (let sent = 0; sent < n; sent += msg.length) {
          if (dc.bufferedAmount > 1 << 20)
            await new Promise((r) => dc.addEventListener('bufferedamountlow', r, { once: true }))
          dc.send(msg)
        }
        return done
      }
      await send(1 << 20)
      const ms = await send(Math.ceil(bytes / msg.length) * msg.length)
      pc.close()
      return ms
    },
    { answer, bytes },
  )
}

try {
  const context = await browser.newContext({ permissions: ['camera', 'microphone'] })
  const mesh = `bench${Date.now().toString(36)}`
  const tab = async (extra: string) => {
    const page = await context.newPage()
    await page.goto(`${url}?mesh=${mesh}&ui=off${extra}`)
    await page.waitForFunction(() => window.ir3 !== undefined, undefined, { timeout: 60_000 })
    return page
  }
  const A = await tab('&replicate=off')
  const aId = await A.evaluate(() => window.ir3!.id)
  await fill(A, ENTRIES, 100)
  const B = await tab('&replicate=off')
  await linked(B, A)

  // The baseline is noisy on a shared machine (SCTP warm-up, CPU): three runs, one before and two after ours, median.
  const rawRuns: number[] = []
  rawRuns.push(await rawTransfer(A, B, 25_000_000))
  // Our chunk path: the whole series, verified and stored.
  const t0 = Date.now()
  const got = await B.evaluate((a) => window.ir3!.fetchSeries(a), aId)
  const fetchMs = Date.now() - t0
  if (!got) throw new Error('fetch failed')
  const fetchMBps = mb(got.bytes, fetchMs)
  const phases = await B.evaluate(() => {
    const st = window.ir3!.chunks()!.stats
    return { swarmMs: Math.round(st.swarmMs), verifyMs: Math.round(st.verifyMs), storeMs: Math.round(st.storeMs) }
  })
  const seeding = await A.evaluate(() => window.ir3!.chunks()!.swarm)
  const reading = await B.evaluate(() => window.ir3!.chunks()!.swarm)
  console.log(
    `fetch phases, ms summed over segments in flight: reader ${JSON.stringify(phases)}, reader download ${Math.round(reading?.downloadMs ?? 0)}, author seeding ${Math.round(seeding?.seedMs ?? 0)}; errors ${JSON.stringify([...(reading?.errors ?? []), ...(seeding?.errors ?? [])])}`,
  )
  for (let i = 0; i < 2; i++) rawRuns.push(await rawTransfer(A, B, got.bytes))
  rawRuns[0] = (rawRuns[0]! * got.bytes) / 25_000_000
  const rawMs = median(rawRuns)
  const rawChannelMBps = mb(got.bytes, rawMs)

  // seal → fetchable, 5 times.
  const seal: number[] = []
  for (let k = 0; k < 5; k++) {
    const len = await A.evaluate(() => window.ir3!.length)
    const toSeal = 256 - (len % 256)
    const target = Math.floor(len / 256) + 1
    const ts = await A.evaluate(async (n) => {
      for (let i = 0; i < n - 1; i++) window.ir3!.append('note-added', { text: `fill ${i}` })
      await window.ir3!.flush()
      const at = Date.now()
      window.ir3!.append('note-added', { text: 'seals it' })
      return at
    }, toSeal)
    const done = await B.evaluate(
      async ({ a, target }) => {
        for (let i = 0; i < 400; i++) {
          const h = await window.ir3!.fetchSeries(a)
          if (h && h.chunks >= target) return Date.now()
        }
        return 0
      },
      { a: aId, target },
    )
    if (done) seal.push(done - ts)
  }

  // Replication to three holders.
  const r0 = Date.now()
  const holders = [await tab(''), await tab(''), await tab('')]
  const sealed = Math.floor((await A.evaluate(() => window.ir3!.durableLength)) / 256)
  let replicateMs = 0
  for (const deadline = Date.now() + 300_000; Date.now() < deadline;) {
    const have = await Promise.all(
      holders.map((h) => h.evaluate((a) => window.ir3!.chunks()?.series.find((s) => s.author === a)?.chunks ?? 0, aId)),
    )
    if (have.every((n) => n >= sealed)) {
      replicateMs = Date.now() - r0
      break
    }
    await new Promise((r) => setTimeout(r, 250))
  }
  for (const p of [B, ...holders]) await p.close()

  // Live torrents while a reader fetches a 1M-entry series.
  let liveA = 0
  let liveReader = 0
  let bigMs = 0
  let bigMBps = 0
  if (BIG > 0) {
    const big = await tab('&replicate=off')
    const bigId = await big.evaluate(() => window.ir3!.id)
    await fill(big, BIG, 8)
    const reader = await tab('&replicate=off')
    await linked(reader, big)
    let polling = true
    const poll = (async () => {
      while (polling) {
        const [a, r] = await Promise.all([
          big.evaluate(() => window.ir3!.chunks()?.liveTorrents ?? 0),
          reader.evaluate(() => window.ir3!.chunks()?.liveTorrents ?? 0),
        ])
        liveA = Math.max(liveA, a)
        liveReader = Math.max(liveReader, r)
        await new Promise((res) => setTimeout(res, 200))
      }
    })()
    const b0 = Date.now()
    const h = await reader.evaluate((a) => window.ir3!.fetchSeries(a), bigId)
    bigMs = Date.now() - b0
    polling = false
    await poll
    bigMBps = h ? mb(h.bytes, bigMs) : 0
  }

  const ratio = +(fetchMBps / rawChannelMBps).toFixed(2)
  const bestRaw = Math.max(...rawRuns.map((ms) => mb(got.bytes, ms)))
  const ratioVsBestRaw = +(fetchMBps / bestRaw).toFixed(2)
  report(
    'chunks',
    [
      ['entries', ENTRIES],
      ['series bytes (sealed chunks)', got.bytes],
      ['fetchMBps', fetchMBps, `our path: want-chunk, head, WebTorrent, verify, IndexedDB (${fetchMs} ms)`],
      [
        'rawChannelMBps',
        rawChannelMBps,
        `bare RTCDataChannel, same tabs, same bytes; median of ${rawRuns.map((ms) => mb(got.bytes, ms)).join(', ')}`,
      ],
      ['ratio', ratio, 'target >= 0.7 (against the median baseline)'],
      ['ratioVsBestRaw', ratioVsBestRaw, 'against the fastest baseline run'],
      ['replicate100kMs', replicateMs, `${ENTRIES} entries to 3 holders, from their join`],
      ['sealToFetchableMs', Math.round(median(seal)), `median of ${seal.length}: ${seal.join(', ')}`],
      ['liveTorrentsPerTab', Math.max(liveA, liveReader), `${BIG} entries: author ${liveA}, reader ${liveReader}`],
      ['bigFetchMBps', bigMBps, `${BIG} entries in ${bigMs} ms`],
    ],
    {
      entries: ENTRIES,
      bytes: got.bytes,
      fetchMBps,
      rawChannelMBps,
      rawChannelRunsMBps: rawRuns.map((ms) => mb(got.bytes, ms)),
      ratio,
      ratioVsBestRaw,
      replicate100kMs: replicateMs,
      sealToFetchableMs: Math.round(median(seal)),
      liveTorrentsPerTab: Math.max(liveA, liveReader),
      liveTorrentsAuthor: liveA,
      liveTorrentsReader: liveReader,
      bigEntries: BIG,
      bigFetchMs: bigMs,
      bigFetchMBps: bigMBps,
    },
  )
} finally {
  await bench.close()
}
