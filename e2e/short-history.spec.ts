/**
 * A short history outlives its tab: real Chromium tabs, IndexedDB, WebRTC.
 * A writes five notes (nothing sealed); B and C replicate its head and open
 * chunk; A closes; D opens A's series from them, verified, with A's state.
 */
import { expect, test, type Page } from '@playwright/test'
import { nodeReady, ownServer } from './helpers.ts'

const permissions = ['camera', 'microphone']
const own = ownServer()

/** The size of the head `page` holds of `author` (0: none). */
function heldSize(page: Page, author: string) {
  return page.evaluate((a) => window.ir3!.chunks()?.series.find((x) => x.author === a)?.size ?? 0, author)
}

test('a tab with five entries closes and another tab opens its series from the holders', async ({ browser }) => {
  test.setTimeout(180_000)
  const context = await browser.newContext({ permissions })
  const mesh = `short${Date.now().toString(36)}`
  const open = async (extra = '') => {
    const page = await context.newPage()
    await page.goto(`${own.url}?mesh=${mesh}&ui=off&test=on${extra}`)
    const { id } = await nodeReady(page)
    return { page, id }
  }
  const A = await open('&replicate=off')
  const B = await open()
  const Cc = await open()
  await A.page.evaluate(async () => {
    for (let i = 0; i < 5; i++) window.ir3!.append('note-added', { text: `short note ${i}` })
    await window.ir3!.flush()
  })
  const notes = await A.page.evaluate(() => window.ir3!.length)
  expect(notes).toBeLessThan(256)
  // B and C take A's head and open chunk on (nothing of it is sealed).
  for (const h of [B, Cc])
    await expect
      .poll(() => heldSize(h.page, A.id), { timeout: 90_000, message: 'a holder never took A on' })
      .toBeGreaterThanOrEqual(notes)
  const sizes = [...new Set(await Promise.all([B, Cc].map((h) => heldSize(h.page, A.id))))]
  const expected = new Map<number, unknown>()
  for (const s of sizes) expected.set(s, await A.page.evaluate((n) => window.ir3!.state(n - 1), s))
  await A.page.close()

  const D = await open('&replicate=off')
  const opened = await D.page.evaluate((a) => window.ir3!.openSeries(a), A.id)
  expect(opened.verified.ok).toBe(true)
  expect(opened.length).toBeGreaterThanOrEqual(notes)
  expect(expected.has(opened.length), `D got ${opened.length}, holders had ${sizes.join(', ')}`).toBe(true)
  expect(opened.state).toEqual(expected.get(opened.length))
  await context.close()
})
