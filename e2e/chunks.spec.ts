/**
 * Chunks end to end: real Chromium tabs, the real signaling server, real
 * IndexedDB, WebRTC and WebTorrent (over data channels of the mesh's own
 * connections; no tracker). A's history outlives A's tab.
 */
import { expect, test, type Page } from '@playwright/test'
import { nodeReady, ownServer } from './helpers.ts'

const permissions = ['camera', 'microphone']
const C = 256

const own = ownServer()

async function entries(page: Page, kind: string) {
  return page.evaluate(
    async (k) => (await window.ir3!.entries(0, window.ir3!.length)).filter((e) => e.kind === k),
    kind,
  )
}

/** What `page` holds of `author`: sealed chunks and the size of its head. */
function held(page: Page, author: string) {
  return page.evaluate((a) => {
    const s = window.ir3!.chunks()?.series.find((x) => x.author === a)
    return { chunks: s?.chunks ?? 0, size: s?.size ?? 0 }
  }, author)
}

test('A seals chunks, B, C and T replicate them; A closes; D opens A from the holders with the server gone; T serves a tampered chunk and is rejected', async ({
  browser,
}) => {
  test.setTimeout(240_000)
  const context = await browser.newContext({ permissions })
  const mesh = `chunks${Date.now().toString(36)}`
  const open = async (extra = '') => {
    const page = await context.newPage()
    await page.goto(`${own.url}?mesh=${mesh}&ui=off&test=on${extra}`)
    const { id } = await nodeReady(page)
    return { page, id }
  }
  const A = await open('&replicate=off')
  const B = await open()
  const Cc = await open()
  const T = await open()

  // A appends enough to seal five chunks (and some), as notes.
  await A.page.evaluate(async () => {
    for (let i = 0; i < 5 * 256 + 40; i++) window.ir3!.append('note-added', { text: `note ${i}` })
    await window.ir3!.flush()
  })
  const notes = await A.page.evaluate(() => window.ir3!.length)
  const sealed = Math.floor(notes / C)
  expect(sealed).toBeGreaterThanOrEqual(5)
  // A seeds its own chunks and says so; B, C and T replicate them (target 3), head and open chunk included.
  await expect
    .poll(async () => (await A.page.evaluate(() => window.ir3!.chunks()!.series[0]!)).chunks, { timeout: 20_000 })
    .toBeGreaterThanOrEqual(sealed)
  for (const h of [B, Cc, T])
    await expect
      .poll(
        async () => {
          const x = await held(h.page, A.id)
          return x.chunks >= sealed && x.size >= notes && x.chunks === Math.floor(x.size / C)
        },
        { timeout: 90_000, message: 'a holder never caught up with A' },
      )
      .toBe(true)
  for (const h of [B, Cc, T]) {
    const stored = (await entries(h.page, 'chunk-stored')).filter((e) => (e.body as { author: string }).author === A.id)
    expect(stored.length).toBeGreaterThanOrEqual(sealed)
  }
  // A's derived state at each size a holder has: what D must see.
  const sizes = [...new Set(await Promise.all([B, Cc, T].map(async (h) => (await held(h.page, A.id)).size)))]
  const expected = new Map<number, unknown>()
  for (const s of sizes) expected.set(s, await A.page.evaluate((n) => window.ir3!.state(n - 1), s))

  // T tampers with chunk 2 of its copy; A's tab closes.
  expect(await T.page.evaluate((a) => window.ir3!.test!.tamperHeld(a, 2), A.id)).toBe(true)
  await A.page.close()

  // D joins, then the server goes away: everything after bootstrap runs on the mesh.
  const D = await open('&replicate=off')
  await expect
    .poll(() => D.page.evaluate(() => window.ir3!.peers().filter((p) => p.state === 'ready').length), {
      timeout: 20_000,
    })
    .toBeGreaterThanOrEqual(2)
  await own.stop()

  // First try: the honest holders' limiters refuse want-chunk (NO), so only T offers; its chunk 2 is rejected.
  for (const h of [B, Cc]) await h.page.evaluate(() => window.ir3!.setLimits({ refuse: ['want-chunk'] }))
  const first = await D.page.evaluate(
    (a) =>
      window.ir3!.openSeries(a).then(
        () => 'opened',
        (e: unknown) => String(e),
      ),
    A.id,
  )
  expect(first).toMatch(/ERR_NOT_FOUND/)
  const rejected = await entries(D.page, 'chunk-rejected')
  expect(rejected.length).toBeGreaterThan(0)
  expect(rejected[0]!.body).toMatchObject({ author: A.id, index: 2, seeders: [T.id] })
  // The reason and seq say what is wrong where (the flipped byte lands in an entry or a length prefix).
  const { reason, seq } = rejected[0]!.body as { reason: string; seq: number }
  expect(reason.length).toBeGreaterThan(0)
  expect(seq).toBeGreaterThanOrEqual(2 * C)
  expect(seq).toBeLessThan(3 * C)

  // B and C serve again: D opens A's series from them, verifies it, and sees A's derived state.
  for (const h of [B, Cc]) await h.page.evaluate(() => window.ir3!.setLimits({ refuse: [] }))
  const opened = await D.page.evaluate((a) => window.ir3!.openSeries(a), A.id)
  expect(opened.verified.ok).toBe(true)
  expect(opened.status).toBe('ok')
  expect(opened.length).toBeGreaterThanOrEqual(notes)
  expect(expected.has(opened.length), `D got ${opened.length}, holders had ${sizes.join(', ')}`).toBe(true)
  expect(opened.state).toEqual(expected.get(opened.length))
  // Time travel in the opened series.
  const early = await D.page.evaluate((a) => window.ir3!.openedState(a, 99), A.id)
  expect((early['view'] as { count: number }).count).toBe(100)
  // D's own series records where each chunk came from.
  const stored = (await entries(D.page, 'chunk-stored')).filter((e) => (e.body as { author: string }).author === A.id)
  expect(stored.length).toBeGreaterThanOrEqual(sealed)
  // Chunks 0 and 1 from T checked out and were kept; chunk 2 came from the honest holders.
  const second = stored.filter((e) => (e.body as { index: number }).index === 2)
  expect(second).toHaveLength(1)
  expect((second[0]!.body as { from: string[] }).from).not.toContain(T.id)
  const standing = await D.page.evaluate(
    (t) =>
      (window.ir3!.state() as Promise<Record<string, { standing: Record<string, number> }>>).then(
        (s) => s['chunks']!.standing[t],
      ),
    T.id,
  )
  expect(standing).toBeLessThan(0)
  const chunks = await D.page.evaluate(() => window.ir3!.chunks())
  expect(chunks!.swarm!.fetched).toBeGreaterThan(0)
  await context.close()
})

test('through the Chunks panel: B sees A seeding, opens A read-only, verifies it and time-travels', async ({
  browser,
}) => {
  test.setTimeout(120_000)
  const context = await browser.newContext({ permissions, viewport: { width: 1280, height: 900 } })
  const mesh = `chunksui${Date.now().toString(36)}`
  const A = await context.newPage()
  await A.goto(`${own.url}?mesh=${mesh}&replicate=off`)
  const a = await nodeReady(A)
  await A.evaluate(async () => {
    for (let i = 0; i < 600; i++) window.ir3!.append('note-added', { text: `ui note ${i}` })
    await window.ir3!.flush()
  })
  const B = await context.newPage()
  await B.goto(`${own.url}?mesh=${mesh}&replicate=off`)
  await nodeReady(B)
  const panel = B.getByTestId('chunks-panel')
  await expect(panel).toBeVisible()
  // B learns from A's signed record that A holds its own two sealed chunks.
  await expect(panel.locator(`[data-testid="chunks-series-row"][data-author="${a.id}"]`)).toBeVisible({
    timeout: 30_000,
  })
  await panel.getByLabel('Node id to open').fill(a.id)
  await panel.getByLabel('Node id to open').press('Enter')
  const opened = panel.getByTestId('opened-series')
  await expect(opened).toBeVisible({ timeout: 30_000 })
  await expect(opened.getByTestId('opened-verified')).toContainText(/ok|verified/i, { timeout: 30_000 })
  const length = Number(await opened.getByTestId('opened-length').getAttribute('data-value'))
  expect(length).toBeGreaterThanOrEqual(600)
  await opened.scrollIntoViewIfNeeded()
  await B.screenshot({ path: 'test-results/screens/chunks-panel-desktop.png', fullPage: true })
  await B.setViewportSize({ width: 390, height: 844 })
  await B.screenshot({ path: 'test-results/screens/chunks-panel-phone.png', fullPage: true })
  await context.close()
})
