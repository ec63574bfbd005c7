/**
 * npm run bench -- ui
 *
 * The inspector (src/ui/) over a 1M-entry series, in headless Chromium with an
 * on-disk profile, through the real app. Figures (last line JSON):
 *  - firstPaintMs: reload with TOTAL entries stored → the first frame painted
 *    with the series list showing a loaded row (seq, kind, body…, not
 *    "loading…") inside the list's viewport. Measured in the page by an init
 *    script that runs before the app: each animation frame it posts a task
 *    (MessageChannel) that runs once the frame's rendering is done, checks the
 *    DOM as painted and stamps performance.now() (ms since navigation start).
 *    Median of 3 reloads. Also reported: a row of any kind (even "loading…")
 *    painted, and window.ir3ReadyMs (the app's own "interactive" mark).
 *  - scrollFrameMs: p95 rAF-to-rAF interval while the list's scroll container
 *    (1M rows, scaled scroll area) is scrolled down by SCROLL_STEP px each
 *    frame (scrollTop set in a rAF callback) for SCROLL_MS; with p50, max and
 *    the share of frames that painted a "loading…" row in view. Baseline: the
 *    same rAF loop on the same page, idle, before; ratio = p95 / idle p95.
 *  - appendRenderLagMs: with "Follow newest" on, the page appends PER entries
 *    every EVERY ms (1,000/s) for STREAM_MS. For the newest entry of each batch,
 *    the time from just before its append() until the first painted frame
 *    (checked as above) in which the list shows in view a row with that seq or
 *    a newer one. With ~10–14 rows in view and the list taking new counts a few
 *    times a second, most entries are scrolled past before they are ever
 *    shown, so "that seq or newer" is what "caught up" means; `exactShare` is
 *    the share of sampled seqs that were painted themselves. p95 is the figure
 *    (median beside it); `appendContentLagMs` is the same until the row is
 *    loaded (not "loading…"). Baseline: rAF-to-rAF intervals during the stream.
 *  - inputLatencyMs: during the same stream, keys pressed into the note input
 *    (one every 250 ms): keydown event timestamp → the next frame painted after
 *    it (checked as above); p95, median beside it.
 * Also counted: long tasks (PerformanceObserver 'longtask') during the scroll and the stream.
 * Env: BENCH_TOTAL (1000000), BENCH_STATIC_DIR (serve the app from there, not dist/),
 * BENCH_PROFILE=1 (CPU profile of the stream: bench/results/ui-stream.cpuprofile, top self times printed).
 */
import type { CDPSession, Page } from '@playwright/test'
import { mkdirSync, writeFileSync } from 'node:fs'
import { median, report, startBench } from './browser.ts'

const TOTAL = Number(process.env['BENCH_TOTAL'] ?? 1_000_000)
const STATIC_DIR = process.env['BENCH_STATIC_DIR']
const PROFILE = process.env['BENCH_PROFILE'] === '1'
const RELOADS = 3
const IDLE_MS = 3000
const SCROLL_MS = 3000
const SCROLL_STEP = 200
const STREAM_MS = 5000
const PER = 50
const EVERY = 50
const KEYS = 16

interface PaintMarks {
  rowPainted?: number
  loadedPainted?: number
}

interface FrameRun {
  /** Long tasks during the run: count and ms in all. */
  longTasks: number
  longMs: number
  /** rAF timestamps. */
  frames: number[]
  /** Frames checked after paint, and those with a "loading…" row in view. */
  checked: number
  loading: number
  scrolledPx: number
}

interface Sample {
  seq: number
  t0: number
  /** First painted frame showing this seq or a newer one in view. */
  shown?: number
  /** The same, with the row loaded. */
  loaded?: number
  /** This exact seq was painted in view. */
  exact?: boolean
}

interface StreamState {
  samples: Sample[]
  frames: number[]
  keys: number[]
  appended: number
  done: boolean
}

declare global {
  interface Window {
    __uibPaint?: PaintMarks
    __uibStream?: StreamState
    /** Long tasks (start, duration), from the init script. */
    __uibLong?: [number, number][]
  }
}

/**
 * Runs before the app in every document: the `__name` helper tsx's output may
 * call inside page.evaluate, and the first-paint watch (see firstPaintMs).
 * A plain string so that nothing here is transpiled.
 */
const INIT_SCRIPT = `
globalThis.__name = (f) => f;
window.__uibLong = [];
new PerformanceObserver((l) => {
  for (const e of l.getEntries()) window.__uibLong.push([e.startTime, e.duration]);
}).observe({ type: 'longtask' });
(() => {
  const marks = (window.__uibPaint = {});
  const afterPaint = (fn) => {
    const c = new MessageChannel();
    c.port1.onmessage = () => fn(performance.now());
    c.port2.postMessage(0);
  };
  const tick = () => {
    afterPaint((now) => {
      if (marks.loadedPainted !== undefined) return;
      const list = document.querySelector('[data-testid="series-list"]');
      if (!list) return;
      const box = list.getBoundingClientRect();
      for (const row of list.querySelectorAll('[data-testid="entry-row"]')) {
        const r = row.getBoundingClientRect();
        const mid = (r.top + r.bottom) / 2;
        if (mid < box.top || mid > box.bottom) continue;
        if (marks.rowPainted === undefined) marks.rowPainted = now;
        if (row.querySelector('.c-kind')) {
          marks.loadedPainted = now;
          return;
        }
      }
    });
    if (marks.loadedPainted === undefined) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();
`

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!
}

const intervals = (ts: number[]) => ts.slice(1).map((t, i) => t - ts[i]!)
const r1 = (x: number) => Number(x.toFixed(1))

/** Frame intervals: p50, p95, max, and frames dropped (an interval of n vsyncs drops n - 1; 60 Hz here). */
function frameStats(ts: number[]) {
  const d = intervals(ts)
  const dropped = d.reduce((a, x) => a + Math.max(0, Math.round(x / (1000 / 60)) - 1), 0)
  return { frames: d.length, p50: r1(quantile(d, 0.5)), p95: r1(quantile(d, 0.95)), max: r1(Math.max(...d)), dropped }
}

/** A rAF loop for `ms`, scrolling the list by `step` px a frame (0: idle). */
function runFrames(page: Page, ms: number, step: number): Promise<FrameRun> {
  return page.evaluate(
    ({ ms, step }) =>
      new Promise<FrameRun>((resolve) => {
        const el = document.querySelector<HTMLElement>('[data-testid="series-list"]')!
        const run: FrameRun = { frames: [], checked: 0, loading: 0, scrolledPx: 0, longTasks: 0, longMs: 0 }
        const start = el.scrollTop
        const check = () => {
          const box = el.getBoundingClientRect()
          run.checked++
          for (const p of el.querySelectorAll('.c-placeholder')) {
            const r = p.getBoundingClientRect()
            if (r.bottom > box.top && r.top < box.bottom) {
              run.loading++
              return
            }
          }
        }
        let t0 = -1
        const tick = (t: number) => {
          run.frames.push(t)
          if (t0 < 0) t0 = t
          if (t - t0 >= ms) {
            run.scrolledPx = el.scrollTop - start
            const long = (window.__uibLong ?? []).filter(([s]) => s >= t0)
            run.longTasks = long.length
            run.longMs = Math.round(long.reduce((a, [, d]) => a + d, 0))
            resolve(run)
            return
          }
          if (step) {
            el.scrollTop += step
            const c = new MessageChannel()
            c.port1.onmessage = check
            c.port2.postMessage(0)
          }
          requestAnimationFrame(tick)
        }
        requestAnimationFrame(tick)
      }),
    { ms, step },
  )
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[]
  samples?: number[]
  timeDeltas?: number[]
}

/** Saves the profile and prints the functions with the most self time. */
function printProfile(profile: CpuProfile): void {
  mkdirSync('bench/results', { recursive: true })
  writeFileSync('bench/results/ui-stream.cpuprofile', JSON.stringify(profile))
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map<string, number>()
  const samples = profile.samples ?? []
  const deltas = profile.timeDeltas ?? []
  let total = 0
  for (let i = 0; i < samples.length; i++) {
    const f = byId.get(samples[i]!)!.callFrame
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\//, '')}:${f.lineNumber + 1}`
    const d = (deltas[i + 1] ?? 0) / 1000
    self.set(key, (self.get(key) ?? 0) + d)
    total += d
  }
  console.log(`stream CPU profile (${Math.round(total)} ms sampled), top self time:`)
  for (const [k, ms] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25))
    console.log(`  ${ms.toFixed(0).padStart(6)} ms  ${k}`)
}

const env = await startBench(STATIC_DIR ? { staticDir: STATIC_DIR } : {})
try {
  await env.context.addInitScript(INIT_SCRIPT)
  const page = await env.context.newPage()
  await page.goto(env.url)
  await page.waitForFunction(() => window.ir3 !== undefined)

  // Fill as bench/series.ts does: appends return at once, group commits follow; yield now and then.
  const fillStart = Date.now()
  await page.evaluate(async (n) => {
    const ir3 = window.ir3!
    for (let i = ir3.length; i < n; i++) {
      ir3.append(i % 7 === 0 ? 'note-added' : 'thing-happened', { text: `entry ${i}`, i })
      if (i % 5000 === 4999) await new Promise((r) => setTimeout(r, 0))
    }
    await ir3.flush()
  }, TOTAL)
  const fillMs = Date.now() - fillStart
  console.log(`filled ${TOTAL.toLocaleString('en-US')} entries in ${(fillMs / 1000).toFixed(1)} s`)

  // firstPaintMs: reload, read the marks of the init script.
  const paints: Required<PaintMarks>[] = []
  const ready: number[] = []
  for (let i = 0; i < RELOADS; i++) {
    await page.reload()
    await page.waitForFunction(() => window.__uibPaint?.loadedPainted !== undefined, undefined, { timeout: 120_000 })
    await page.waitForFunction(() => window.ir3ReadyMs !== undefined)
    const m = await page.evaluate(() => ({
      marks: window.__uibPaint!,
      ready: window.ir3ReadyMs!,
      n: window.ir3!.length,
    }))
    if (m.n < TOTAL) throw new Error(`reloaded node has ${m.n} entries, expected at least ${TOTAL}`)
    paints.push(m.marks as Required<PaintMarks>)
    ready.push(m.ready)
    console.log(
      `reload ${i + 1}: row painted ${m.marks.rowPainted?.toFixed(0)} ms, ` +
        `loaded row painted ${m.marks.loadedPainted?.toFixed(0)} ms, ir3ReadyMs ${m.ready.toFixed(0)} ms`,
    )
  }
  const firstPaintMs = Math.round(median(paints.map((p) => p.loadedPainted)))
  const firstRowPaintMs = Math.round(median(paints.map((p) => p.rowPainted)))
  const readyMs = Math.round(median(ready))

  // Quiet page for the frame measurements: background verification done, list settled.
  const verifyStart = Date.now()
  await page.evaluate(() => window.ir3!.verified())
  console.log(`background verification done ${((Date.now() - verifyStart) / 1000).toFixed(1)} s after the last reload`)
  await page.waitForTimeout(500)

  const idle = await runFrames(page, IDLE_MS, 0)
  // From the top, downwards (scrolling up from the newest would also do: it turns "Follow newest" off).
  await page.evaluate(() => {
    document.querySelector<HTMLElement>('[data-testid="series-list"]')!.scrollTop = 0
  })
  await page.waitForTimeout(500)
  const scroll = await runFrames(page, SCROLL_MS, SCROLL_STEP)
  const idleF = frameStats(idle.frames)
  const scrollF = frameStats(scroll.frames)
  const { scrolledRows, rowsInView } = await page.evaluate(() => {
    const first = document.querySelector<HTMLElement>('[data-testid="entry-row"]')
    const el = document.querySelector<HTMLElement>('[data-testid="series-list"]')!
    return { scrolledRows: Number(first?.dataset['seq'] ?? 0), rowsInView: Math.round(el.clientHeight / 32) }
  })

  // Follow newest again, then stream.
  await page.getByTestId('follow-newest').click()
  await page.waitForFunction(() => {
    const el = document.querySelector<HTMLElement>('[data-testid="series-list"]')!
    return el.scrollTop + el.clientHeight >= el.scrollHeight - 2
  })
  await page.waitForTimeout(500)
  await page.getByTestId('note-input').click()

  let cdp: CDPSession | null = null
  if (PROFILE) {
    cdp = await page.context().newCDPSession(page)
    await cdp.send('Profiler.enable')
    await cdp.send('Profiler.setSamplingInterval', { interval: 200 })
    await cdp.send('Profiler.start')
  }
  await page.evaluate(
    ({ per, every, ms }) => {
      const ir3 = window.ir3!
      const el = document.querySelector<HTMLElement>('[data-testid="series-list"]')!
      const input = document.querySelector<HTMLElement>('[data-testid="note-input"]')!
      const st: StreamState = { samples: [], frames: [], keys: [], appended: 0, done: false }
      window.__uibStream = st
      const afterPaint = (fn: (now: number) => void) => {
        const c = new MessageChannel()
        c.port1.onmessage = () => fn(performance.now())
        c.port2.postMessage(0)
      }
      const batches = Math.round(ms / every)
      let n = 0
      let end = Infinity
      const timer = setInterval(() => {
        for (let i = 0; i < per; i++) {
          const t0 = performance.now()
          const { seq } = ir3.append('note-added', { text: `streamed ${n}.${i}` })
          if (i === per - 1) st.samples.push({ seq, t0 })
        }
        st.appended += per
        if (++n === batches) {
          clearInterval(timer)
          end = performance.now()
        }
      }, every)
      input.addEventListener('keydown', (e) => {
        const at = e.timeStamp
        requestAnimationFrame(() => afterPaint((now) => st.keys.push(now - at)))
      })
      let pending = 0
      const check = (now: number) => {
        const box = el.getBoundingClientRect()
        let newest = -1
        let newestLoaded = -1
        const shown = new Set<number>()
        for (const row of el.querySelectorAll<HTMLElement>('[data-testid="entry-row"]')) {
          const r = row.getBoundingClientRect()
          const mid = (r.top + r.bottom) / 2
          if (mid < box.top || mid > box.bottom) continue
          const seq = Number(row.dataset['seq'])
          shown.add(seq)
          newest = Math.max(newest, seq)
          if (row.querySelector('.c-kind')) newestLoaded = Math.max(newestLoaded, seq)
        }
        for (let i = pending; i < st.samples.length; i++) {
          const s = st.samples[i]!
          if (shown.has(s.seq)) s.exact = true
          if (s.shown === undefined && newest >= s.seq) s.shown = now
          if (s.loaded === undefined && newestLoaded >= s.seq) s.loaded = now
        }
        while (pending < st.samples.length && st.samples[pending]!.loaded !== undefined) pending++
      }
      const tick = (t: number) => {
        st.frames.push(t)
        afterPaint(check)
        if ((pending < st.samples.length || n < batches) && t - end < 10_000) requestAnimationFrame(tick)
        else st.done = true
      }
      requestAnimationFrame(tick)
    },
    { per: PER, every: EVERY, ms: STREAM_MS },
  )
  // Keys into the note input while the stream runs.
  await page.waitForTimeout(300)
  for (let i = 0; i < KEYS; i++) {
    await page.keyboard.press(String.fromCharCode(97 + (i % 26)))
    await page.waitForTimeout(250)
  }
  await page.waitForFunction(() => window.__uibStream!.done, undefined, { timeout: 60_000, polling: 200 })
  const stream = await page.evaluate(() => window.__uibStream!)
  if (cdp) printProfile((await cdp.send('Profiler.stop')).profile)
  const lag = stream.samples.filter((s) => s.shown !== undefined).map((s) => s.shown! - s.t0)
  const lagLoaded = stream.samples.filter((s) => s.loaded !== undefined).map((s) => s.loaded! - s.t0)
  const never = stream.samples.length - lagLoaded.length
  const exactShare = Number((stream.samples.filter((s) => s.exact).length / stream.samples.length).toFixed(2))
  const streamT0 = stream.samples[0]!.t0
  const streamT1 = stream.samples.at(-1)!.t0 + 500
  const streamLong = await page.evaluate(([a, b]) => (window.__uibLong ?? []).filter(([s]) => s >= a && s <= b), [
    streamT0,
    streamT1,
  ] as const)
  const streamF = frameStats(stream.frames.filter((t) => t >= streamT0 && t <= streamT1))

  const json = {
    bench: 'ui',
    entries: TOTAL,
    firstPaintMs,
    firstRowPaintMs,
    readyMs,
    scrollFrameMs: scrollF.p95,
    scrollFrameP50Ms: scrollF.p50,
    scrollFrameMaxMs: scrollF.max,
    scrollDroppedFrames: scrollF.dropped,
    scrollLoadingShare: Number((scroll.loading / Math.max(1, scroll.checked)).toFixed(3)),
    scrollLongTasks: scroll.longTasks,
    scrollLongMs: scroll.longMs,
    idleFrameMs: idleF.p95,
    idleFrameP50Ms: idleF.p50,
    idleFrameMaxMs: idleF.max,
    idleDroppedFrames: idleF.dropped,
    scrollRatio: Number((scrollF.p95 / idleF.p95).toFixed(2)),
    appendRenderLagMs: r1(quantile(lag, 0.95)),
    appendRenderLagP50Ms: r1(quantile(lag, 0.5)),
    appendContentLagMs: r1(quantile(lagLoaded, 0.95)),
    appendContentLagP50Ms: r1(quantile(lagLoaded, 0.5)),
    exactShare,
    samples: stream.samples.length,
    rowsInView,
    neverShown: never,
    streamFrameMs: streamF.p95,
    streamFrameP50Ms: streamF.p50,
    streamFrameMaxMs: streamF.max,
    streamDroppedFrames: streamF.dropped,
    streamLongTasks: streamLong.length,
    streamLongMs: Math.round(streamLong.reduce((a, [, d]) => a + d, 0)),
    inputLatencyMs: r1(quantile(stream.keys, 0.95)),
    inputLatencyP50Ms: r1(quantile(stream.keys, 0.5)),
    keys: stream.keys.length,
    fillMs,
  }
  const ms = (x: number) => x.toLocaleString('en-US')
  report(
    'ui',
    [
      [
        'firstPaintMs',
        json.firstPaintMs,
        `nav start → first frame painted with a loaded row in view, ${ms(TOTAL)} entries, median of ${RELOADS} (target < 1000)`,
      ],
      ['firstRowPaintMs', json.firstRowPaintMs, 'the same for any row in view (even "loading…")'],
      ['readyMs', json.readyMs, 'window.ir3ReadyMs (app: series loaded, derived state, UI mounted), median'],
      [
        'scrollFrameMs',
        json.scrollFrameMs,
        `p95 rAF interval, scrollTop += ${SCROLL_STEP} px a frame for ${SCROLL_MS / 1000} s (target < 16.7)`,
      ],
      [
        '  p50 / max',
        `${scrollF.p50} / ${scrollF.max}`,
        `${scrollF.frames} frames, ${scrollF.dropped} dropped, ${ms(scrolledRows)} rows passed`,
      ],
      ['  loading share', json.scrollLoadingShare, 'share of scroll frames painting a "loading…" row in view'],
      ['  long tasks', `${scroll.longTasks} / ${scroll.longMs} ms`, 'during the scroll (count / total)'],
      ['idleFrameMs', json.idleFrameMs, `baseline: p95 rAF interval, same page idle for ${IDLE_MS / 1000} s`],
      ['  p50 / max', `${idleF.p50} / ${idleF.max}`, `${idleF.frames} frames, ${idleF.dropped} dropped`],
      ['scrollRatio', json.scrollRatio, 'scrollFrameMs / idleFrameMs'],
      [
        'appendRenderLagMs',
        json.appendRenderLagMs,
        `p95 append() → painted with that seq or newer in view, ${(PER * 1000) / EVERY}/s, follow on`,
      ],
      ['  p50', json.appendRenderLagP50Ms, `${json.samples} sampled (newest of each batch of ${PER})`],
      [
        'appendContentLagMs',
        json.appendContentLagMs,
        `the same until that row is loaded; p50 ${json.appendContentLagP50Ms}`,
      ],
      [
        '  exact share',
        json.exactShare,
        `sampled seqs painted themselves (${rowsInView} rows in view); ${never} never caught up in 10 s`,
      ],
      ['streamFrameMs', json.streamFrameMs, 'baseline: p95 rAF interval during the stream'],
      ['  p50 / max', `${streamF.p50} / ${streamF.max}`, `${streamF.frames} frames, ${streamF.dropped} dropped`],
      ['  long tasks', `${json.streamLongTasks} / ${json.streamLongMs} ms`, 'during the stream (count / total)'],
      ['inputLatencyMs', json.inputLatencyMs, `p95 keydown → next painted frame, note input, while streaming`],
      ['  p50', json.inputLatencyP50Ms, `${json.keys} keys`],
    ],
    json,
  )
} finally {
  await env.close()
}
