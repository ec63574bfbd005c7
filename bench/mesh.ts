/**
 * npm run bench -- mesh
 *
 * N tabs (BENCH_TABS, default 20) of one headless Chromium join one mesh
 * through the real signaling server over loopback WebRTC. Figures:
 *  - joinFirstMs: page load → first link ready, median over tabs that had a peer waiting;
 *  - joinDegreeMs: page load → D links ready (D = target degree), median over tabs opened after D others;
 *  - intentAllMs: declare `ping` → every other tab's YES recorded, median over K intents from different tabs;
 *  - rawFloodEchoMs: the same flood-and-echo over the same links with bare messages (no signing, no
 *    series, no validation), median, interleaved with the intents;
 *  - ratio = intentAllMs / rawFloodEchoMs;
 *  - copiesPerNode: intent frames received per intent per node (flood cost; target ≤ D);
 *  - meshSignaledShare: share of links whose signaling went through the mesh rather than the server.
 */
import type { Page } from '@playwright/test'
import { launchBench, median, report } from './browser.ts'

const N = Number(process.env['BENCH_TABS'] ?? 20)
const K = Math.min(Number(process.env['BENCH_INTENTS'] ?? 7), N)

const bench = await launchBench()
const { url, browser } = bench
try {
  const context = await browser.newContext({ permissions: ['camera', 'microphone'] })
  const mesh = `bench${Date.now().toString(36)}`
  const pages: Page[] = []
  const t0 = Date.now()
  for (let i = 0; i < N; i++) {
    const page = await context.newPage()
    await page.goto(`${url}?mesh=${mesh}&probe=on${process.env['BENCH_UI'] === 'off' ? '&ui=off' : ''}`)
    await page.waitForFunction(() => window.ir3 !== undefined, undefined, { timeout: 60_000 })
    pages.push(page)
  }
  const loadAllMs = Date.now() - t0
  const D = await pages[0]!.evaluate(() => window.ir3!.mesh().targetDegree)
  const want = Math.min(D, N - 1)
  const deadline = Date.now() + 60_000
  for (;;) {
    const degrees = await Promise.all(
      pages.map((p) => p.evaluate(() => window.ir3!.peers().filter((x) => x.state === 'ready').length)),
    )
    if (degrees.every((d) => d >= Math.min(want, 2)) || Date.now() > deadline) break
    await new Promise((r) => setTimeout(r, 500))
  }
  await new Promise((r) => setTimeout(r, 3000))

  const joins = await Promise.all(
    pages.map((p) =>
      p.evaluate(async (d) => {
        const all = await window.ir3!.entries(0, window.ir3!.length)
        const connects = all.filter((e) => e.kind === 'peer-connected')
        const origin = performance.timeOrigin
        return {
          first: connects[0] ? connects[0].t - origin : null,
          degree: connects[d - 1] ? connects[d - 1]!.t - origin : null,
          viaMesh: connects.filter((e) => (e.body as { via: string }).via === 'mesh').length,
          total: connects.length,
        }
      }, want),
    ),
  )
  const joinFirst = joins.slice(1).flatMap((j) => (j.first === null ? [] : [j.first]))
  const joinDegree = joins.slice(want).flatMap((j) => (j.degree === null ? [] : [j.degree]))

  const ids = await Promise.all(pages.map((p) => p.evaluate(() => window.ir3!.id)))
  const intentTimes: number[] = []
  const rawTimes: number[] = []
  const copies: number[] = []
  let incomplete = 0
  for (let k = 0; k < K; k++) {
    const origin = pages[(k * 3) % N]!
    const raw = await origin.evaluate((w) => window.ir3!.probe(w), N - 1)
    if (raw.echoes === N - 1) rawTimes.push(raw.ms)
    const targets = ids.filter((id) => id !== ids[(k * 3) % N])
    const id = await origin.evaluate(
      (t) => window.ir3!.declare('ping', { bench: true }, { targets: t, deadlineMs: 10_000, ttl: 8 }).id,
      targets,
    )
    const done = await origin
      .waitForFunction(
        ([iid, n]) => {
          const s = window.ir3!.intent(iid as string)
          return s && s.yes + s.no >= (n as number) ? s : null
        },
        [id, N - 1] as const,
        { timeout: 12_000, polling: 20 },
      )
      .then((h) => h.jsonValue())
      .catch(() => null)
    if (!done || done.yes !== N - 1) incomplete++
    else intentTimes.push(Math.max(...done.responders.map((r) => r.latencyMs)))
    await new Promise((r) => setTimeout(r, 300))
    const got = await Promise.all(pages.map((p) => p.evaluate((iid) => window.ir3!.intentCopies(iid), id)))
    copies.push(got.reduce((a, b) => a + b, 0) / (N - 1))
  }

  const viaMesh = joins.reduce((a, j) => a + j.viaMesh, 0)
  const total = joins.reduce((a, j) => a + j.total, 0)
  const intentAllMs = Number(median(intentTimes).toFixed(1))
  const rawFloodEchoMs = Number(median(rawTimes).toFixed(1))
  const json = {
    bench: 'mesh',
    tabs: N,
    targetDegree: D,
    loadAllMs,
    joinFirstMs: Math.round(median(joinFirst)),
    joinDegreeMs: Math.round(median(joinDegree)),
    intentAllMs,
    rawFloodEchoMs,
    ratio: Number((intentAllMs / rawFloodEchoMs).toFixed(2)),
    copiesPerNode: Number(median(copies).toFixed(2)),
    meshSignaledShare: Number((viaMesh / Math.max(1, total)).toFixed(2)),
    intents: intentTimes.length,
    incompleteIntents: incomplete,
  }
  report(
    'mesh',
    [
      ['tabs', N, `target degree ${D}; all loaded in ${loadAllMs} ms`],
      ['joinFirstMs', json.joinFirstMs, 'page load → first link ready, median (target < 500)'],
      ['joinDegreeMs', json.joinDegreeMs, `page load → ${want} links, median (target < 1500)`],
      ['intentAllMs', intentAllMs, `declare → ${N - 1} YES recorded, median of ${intentTimes.length}`],
      ['rawFloodEchoMs', rawFloodEchoMs, 'same flood-and-echo, bare messages on the same links'],
      ['ratio', json.ratio, 'intentAllMs / rawFloodEchoMs (target ≤ 1.5)'],
      ['copiesPerNode', json.copiesPerNode, `intent frames per node per intent (target ≤ ${D})`],
      ['meshSignaledShare', json.meshSignaledShare, 'links signaled through the mesh'],
    ],
    json,
  )
  await context.close()
} finally {
  await bench.close()
}
