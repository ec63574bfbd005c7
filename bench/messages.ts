/**
 * npm run bench -- messages
 *
 * N tabs (BENCH_TABS, default 10) of one headless Chromium join one mesh over
 * loopback WebRTC. Two of them, A and B, exchange direct messages, R rounds
 * (BENCH_ROUNDS, default 24) alternating A→B and B→A so neither hits the
 * recipient's per-sender limit. Figures:
 *  - messageMs: `apps.messages.send(to, text)` → its outcome `delivered` (sealed with X25519 + AES-GCM,
 *    declared as a signed targeted intent, flooded, decided, decrypted, recorded, answered, recorded),
 *    median and p95;
 *  - rawEchoMs: `probe` to the same recipient over the same links — an unsigned flood that the recipient
 *    echoes back the way an answer goes (no signing, no series, no crypto), median and p95,
 *    interleaved with the messages;
 *  - ratio = messageMs / rawEchoMs (medians), and the same for p95.
 */
import type { Page } from '@playwright/test'
import { launchBench, median, report } from './browser.ts'

const N = Number(process.env['BENCH_TABS'] ?? 10)
const R = Number(process.env['BENCH_ROUNDS'] ?? 24)

const p95 = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil(s.length * 0.95) - 1)] ?? NaN
}

const bench = await launchBench()
const { url, browser } = bench
try {
  const context = await browser.newContext({ permissions: ['camera', 'microphone'] })
  const mesh = `benchmsg${Date.now().toString(36)}`
  const pages: Page[] = []
  for (let i = 0; i < N; i++) {
    const page = await context.newPage()
    await page.goto(`${url}?mesh=${mesh}&probe=on&ui=off`)
    await page.waitForFunction(() => window.ir3 !== undefined, undefined, { timeout: 60_000 })
    pages.push(page)
  }
  const ids = await Promise.all(pages.map((p) => p.evaluate(() => window.ir3!.id)))
  const A = pages[0]!
  // B: a tab A has no link to once the mesh settled (so messages cross the mesh), else the last one.
  await new Promise((r) => setTimeout(r, 3000))
  const linkedToA = new Set(
    await A.evaluate(() =>
      window
        .ir3!.peers()
        .filter((p) => p.state === 'ready')
        .map((p) => p.id),
    ),
  )
  const bi = Math.max(
    1,
    ids.findLastIndex((id, i) => i > 0 && !linkedToA.has(id)),
  )
  const B = pages[bi]!
  const [a, b] = [ids[0]!, ids[bi]!]
  // Both must know the other's key-agreement key (from its signed peer record).
  const keyed = (p: Page, other: string) =>
    p.waitForFunction((o) => window.ir3!.apps.messages!.contacts().some((c) => c.id === o && c.ek !== null), other, {
      timeout: 60_000,
      polling: 200,
    })
  await Promise.all([keyed(A, b), keyed(B, a)])
  await new Promise((r) => setTimeout(r, 2000))
  const linked = await A.evaluate((o) => window.ir3!.peers().some((p) => p.id === o && p.state === 'ready'), b)

  const send = (from: Page, to: string, i: number) =>
    from.evaluate(
      async ([t, k]) => {
        const t0 = performance.now()
        const m = await window.ir3!.apps.messages!.send(t as string, `bench message ${k}`).outcome
        return { ms: performance.now() - t0, status: m.status }
      },
      [to, i] as const,
    )
  const echo = (from: Page, to: string) => from.evaluate((t) => window.ir3!.probe(1, 6, t), to)

  // Warm-up: the first round over fresh paths and cold crypto keys is not typical.
  await send(A, b, -1)
  await send(B, a, -2)
  await echo(A, b)
  await echo(B, a)
  const messageTimes: number[] = []
  const rawTimes: number[] = []
  let undelivered = 0
  let noEcho = 0
  for (let i = 0; i < R; i++) {
    const [from, to] = i % 2 === 0 ? [A, b] : [B, a]
    const raw = await echo(from, to)
    if (raw.echoes >= 1) rawTimes.push(raw.ms)
    else noEcho++
    const m = await send(from, to, i)
    if (m.status === 'delivered') messageTimes.push(m.ms)
    else undelivered++
    await new Promise((r) => setTimeout(r, 100))
  }
  const json = {
    bench: 'messages',
    tabs: N,
    rounds: R,
    linked,
    messageMedianMs: Number(median(messageTimes).toFixed(1)),
    messageP95Ms: Number(p95(messageTimes).toFixed(1)),
    rawEchoMedianMs: Number(median(rawTimes).toFixed(1)),
    rawEchoP95Ms: Number(p95(rawTimes).toFixed(1)),
    ratio: Number((median(messageTimes) / median(rawTimes)).toFixed(2)),
    ratioP95: Number((p95(messageTimes) / p95(rawTimes)).toFixed(2)),
    undelivered,
    noEcho,
  }
  report(
    'messages',
    [
      ['tabs', N, `A and B ${linked ? 'linked directly' : 'not linked: messages cross the mesh'}`],
      ['messageMedianMs', json.messageMedianMs, `send → delivered, median of ${messageTimes.length}`],
      ['messageP95Ms', json.messageP95Ms, 'p95'],
      ['rawEchoMedianMs', json.rawEchoMedianMs, `probe → recipient's echo, same links, median of ${rawTimes.length}`],
      ['rawEchoP95Ms', json.rawEchoP95Ms, 'p95'],
      ['ratio', json.ratio, 'messageMedianMs / rawEchoMedianMs'],
      ['ratioP95', json.ratioP95, 'messageP95Ms / rawEchoP95Ms'],
      ['undelivered', undelivered, 'rounds not delivered (refused or silent)'],
    ],
    json,
  )
  await context.close()
} finally {
  await bench.close()
}
