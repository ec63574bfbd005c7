/**
 * The inspector end to end, through the UI: clicks and typing in real
 * Chromium tabs against the real signaling server (started here, one per
 * test). `window.ir3` is used only to set tabs up and to check results.
 *
 * The screenshot test writes one PNG per panel and width to
 * test-results/screens/<panel>-<desktop|phone>.png, for people to look at.
 */
import { expect, test, type Browser, type BrowserContext, type Locator, type Page } from '@playwright/test'
import { nodeReady, ownServer } from './helpers.ts'

const permissions = ['camera', 'microphone']
const DESKTOP = { width: 1280, height: 900 }
const PHONE = { width: 390, height: 844 }

const own = ownServer()

/** A mesh of this test's own, so tabs of different tests never meet. */
const meshName = (tag: string) => `ui${tag}${Date.now().toString(36)}`

function newContext(browser: Browser): Promise<BrowserContext> {
  return browser.newContext({ permissions, viewport: DESKTOP })
}

/** Opens a tab of `mesh` and waits for its node; `extra` is more of the query (`&ui=off`…). */
async function openTab(context: BrowserContext, mesh: string, extra = ''): Promise<{ page: Page; id: string }> {
  const page = await context.newPage()
  await page.goto(`${own.url}?mesh=${mesh}${extra}`)
  const { id } = await nodeReady(page)
  return { page, id }
}

/** Appends a note through the Note form; returns the seq the form reports. */
async function appendNote(page: Page, text: string): Promise<number> {
  const form = page.getByTestId('append-form')
  await form.getByLabel('Note', { exact: true }).fill(text)
  await form.getByRole('button', { name: 'Append' }).click()
  await expect(form.getByLabel('Note', { exact: true })).toHaveValue('')
  const status = form.getByText(/^Appended as seq \d+\.$/)
  await expect(status).toBeVisible()
  return Number(/seq (\d+)/.exec((await status.textContent()) ?? '')![1])
}

/** The short id the panels show for a node. */
const short = (id: string) => id.slice(0, 6)

test('ping declared from the Intents panel: the outcome bar fills with YES, NO and, at the deadline, SILENCE', async ({
  browser,
}) => {
  test.setTimeout(60_000)
  const context = await newContext(browser)
  const mesh = meshName('ping')
  // A takes on no replicas of the others' (short) series, so the one intent it declares is the ping.
  const A = await openTab(context, mesh, '&replicate=off')
  // Three more nodes, without the inspector: B answers YES, C refuses pings (NO), D treats A as a flood (SILENCE).
  const B = await openTab(context, mesh, '&ui=off')
  const C = await openTab(context, mesh, '&ui=off')
  const D = await openTab(context, mesh, '&ui=off')
  await C.page.evaluate(() => window.ir3!.setLimits({ refuse: ['ping'] }))
  await D.page.evaluate(() => window.ir3!.setLimits({ perOriginMax: 0 }))
  await A.page.bringToFront()

  // A's Mesh panel shows its three links ready.
  const meshPanel = A.page.getByTestId('mesh-panel')
  await expect(meshPanel.getByTestId('degree')).toHaveAttribute('data-value', '3', { timeout: 30_000 })
  for (const other of [B, C, D])
    await expect(meshPanel.locator(`[data-testid="peer-row"][data-peer="${other.id}"]`)).toHaveAttribute(
      'data-state',
      'ready',
    )

  const panel = A.page.getByTestId('intents-panel')
  await expect(panel.getByText('None yet.', { exact: false })).toBeVisible()
  const form = panel.getByRole('form', { name: 'Declare an intent' })
  await form.getByLabel('kind').selectOption('ping')
  await form.getByLabel('deadline ms').fill('4000')
  await form.getByLabel('TTL (hops)').fill('3')
  await form.getByLabel('body (JSON)').fill('{"from": "the UI test"}')
  await form.getByRole('button', { name: 'Declare' }).click()

  const done = form.getByTestId('declare-done')
  await expect(done).toHaveText(/^Declared [0-9a-f]{6} to 3 nodes\.$/)
  const intentId = (await done.getAttribute('data-intent'))!
  expect(intentId).toMatch(/^[0-9a-f]{32}$/)
  await expect(panel.getByTestId('intents-declared')).toHaveAttribute('data-value', '1')

  const row = panel.locator(`[data-testid="intent-row"][data-intent="${intentId}"]`)
  await expect(row).toBeVisible()
  await expect(row.getByTestId('intent-toggle')).toContainText('ping')
  await expect(row.getByTestId('intent-toggle')).toContainText('to 3 nodes')
  const bar = row.getByRole('img')
  await expect(bar).toHaveAttribute('data-targets', '3')

  // Before the deadline: B's YES and C's NO are in; D's silence is still pending.
  await expect(bar).toHaveAccessibleName('1 yes · 1 no · 0 silence · 0 late · 1 pending')
  await expect(row.getByText('waiting', { exact: true })).toBeVisible()
  await expect(bar.locator('[data-segment="pending"]')).toHaveAttribute('data-value', '1')

  // At the deadline the outcome is final: one third each of YES, NO and SILENCE.
  await expect(bar).toHaveAccessibleName('1 yes · 1 no · 1 silence · 0 late', { timeout: 10_000 })
  await expect(row.getByText('closed', { exact: true })).toBeVisible()
  await expect(row).toHaveAttribute('data-pending', '0')
  await expect(row.getByTestId('outcome-counts')).toHaveText('1 yes · 1 no · 1 silence · 0 late')
  const segments = bar.locator('[data-segment]')
  await expect(segments).toHaveCount(3)
  for (const [i, kind] of ['yes', 'no', 'silence'].entries()) {
    await expect(segments.nth(i)).toHaveAttribute('data-segment', kind)
    await expect(segments.nth(i)).toHaveAttribute('data-value', '1')
    await expect(segments.nth(i)).toHaveAttribute('style', /width: 33\.33/)
  }
  const segmentWidths = await segments.evaluateAll((els) => els.map((e) => e.getBoundingClientRect().width))
  const barWidth = await bar.evaluate((e) => e.clientWidth)
  expect(segmentWidths.reduce((a, b) => a + b, 0)).toBeCloseTo(barWidth, 0)
  await row.screenshot({ path: 'test-results/screens/intents-outcome-desktop.png', animations: 'disabled' })

  // Who answered what, opened from the row.
  await row.getByTestId('intent-toggle').click()
  await expect(row.getByTestId('intent-toggle')).toHaveAttribute('aria-expanded', 'true')
  const responders = row.getByTestId('responders')
  await expect(responders.getByTestId('responder')).toHaveCount(2)
  await expect(responders.locator(`[data-peer="${B.id}"]`)).toContainText('YES')
  await expect(responders.locator(`[data-peer="${C.id}"]`)).toContainText('NO')
  await expect(responders.locator(`[data-peer="${C.id}"]`)).toContainText('objective')
  const insights = row.getByTestId('insights')
  await expect(insights.locator('[data-insight="available"]')).toContainText(short(B.id))
  await expect(insights.locator('[data-insight="congested"]')).toContainText(short(C.id))
  await expect(insights.locator('[data-insight="unknown"]')).toContainText(short(D.id))

  // What the UI shows is what the series recorded.
  const summary = await A.page.evaluate((id) => window.ir3!.intent(id), intentId)
  expect(summary).toMatchObject({ kind: 'ping', targets: 3, yes: 1, no: 1, silence: 1, late: 0, pending: 0 })
  await context.close()
})

test('time travel: notes appended through the form, the derived state shown as of earlier seqs, then now again', async ({
  browser,
}) => {
  const context = await newContext(browser)
  const { page } = await openTab(context, meshName('travel'))
  const derived = page.getByTestId('derived-state')
  const notesHeading = derived.getByRole('heading', { name: /^Latest notes/ })
  const noteRow = derived.getByTestId('derived-by-kind').getByRole('row').filter({ hasText: 'note-added' })
  const noteCount = noteRow.getByRole('cell').nth(1)

  const seqs: number[] = []
  for (let i = 1; i <= 5; i++) seqs.push(await appendNote(page, `travel note ${i}`))
  expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
  await expect(derived.getByTestId('derived-live')).toBeVisible()
  await expect(notesHeading).toHaveText('Latest notes (5 in all)')
  await expect(noteCount).toHaveText('5')
  const travel = derived.getByRole('group', { name: 'Time travel' })
  await expect(travel.getByText('showing now')).toBeVisible()

  // Back to the third note by typing its seq.
  const third = seqs[2]!
  const asOf = travel.getByLabel('As of seq')
  await asOf.fill(String(third))
  await asOf.press('Enter')
  await expect(derived.getByTestId('derived-as-of')).toHaveText(`as of seq ${third}`)
  await expect(travel.getByText(`showing seq ${third}`)).toBeVisible()
  await expect(derived.getByTestId('derived-count')).toHaveAttribute('data-value', String(third + 1))
  await expect(notesHeading).toHaveText('Latest notes (3 in all)')
  await expect(noteCount).toHaveText('3')
  const notes = derived.getByTestId('derived-notes')
  await expect(notes.getByRole('listitem')).toHaveText(['travel note 3', 'travel note 2', 'travel note 1'])
  await expect(travel.getByRole('button', { name: 'Now' })).toBeEnabled()
  const past = (await page.evaluate((s) => window.ir3!.state(s), third)) as { view: { count: number } }
  expect(past.view.count).toBe(third + 1)

  // One step back with the slider, from the keyboard: the third note is gone.
  const slider = travel.getByRole('slider', { name: 'Seq to show the derived state as of' })
  await expect(slider).toHaveValue(String(third))
  await slider.focus()
  await slider.press('ArrowLeft')
  await expect(slider).toHaveValue(String(third - 1))
  await expect(derived.getByTestId('derived-as-of')).toHaveText(`as of seq ${third - 1}`)
  await expect(asOf).toHaveValue(String(third - 1))
  await expect(notesHeading).toHaveText('Latest notes (2 in all)')
  await expect(notes.getByRole('listitem')).toHaveText(['travel note 2', 'travel note 1'])

  // To the very first entry: no notes at all.
  await slider.press('Home')
  await expect(derived.getByTestId('derived-as-of')).toHaveText('as of seq 0')
  await expect(derived.getByTestId('derived-count')).toHaveAttribute('data-value', '1')
  await expect(notesHeading).toHaveText('Latest notes (0 in all)')
  await expect(derived.getByText('No notes.')).toBeVisible()

  // And back to now.
  await travel.getByRole('button', { name: 'Now' }).click()
  await expect(derived.getByTestId('derived-live')).toBeVisible()
  await expect(travel.getByText('showing now')).toBeVisible()
  await expect(travel.getByRole('button', { name: 'Now' })).toBeDisabled()
  await expect(notesHeading).toHaveText('Latest notes (5 in all)')
  await expect(noteCount).toHaveText('5')
  await expect(notes.getByRole('listitem').first()).toHaveText('travel note 5')
  const length = await page.evaluate(() => window.ir3!.length)
  await expect(derived.getByTestId('derived-count')).toHaveAttribute('data-value', String(length))
  await context.close()
})

test('screenshots of every panel at desktop and phone widths', async ({ browser }) => {
  test.setTimeout(60_000)
  const context = await newContext(browser)
  const mesh = meshName('shots')
  // A takes on no replicas (its own series is replicated by B): its newest intent is the ping declared below.
  const A = await openTab(context, mesh, '&replicate=off')
  // Enough entries to seal a chunk, so the Chunks panel has something to show.
  await A.page.evaluate(async () => {
    for (let i = 0; i < 300; i++) window.ir3!.append('note-added', { text: `setup note ${i}` })
    await window.ir3!.flush()
  })
  const B = await openTab(context, mesh, '&ui=off')
  const page = A.page
  // The newest tab is in front; a background tab gets few animation frames, and actions wait on them.
  await page.bringToFront()
  await expect(page.getByTestId('degree')).toHaveAttribute('data-value', '1', { timeout: 30_000 })

  // Some life in the panels, through the UI: notes, a ping, an opened entry, a verification.
  for (let i = 1; i <= 3; i++)
    await appendNote(page, `screenshot note ${i}: a longer text, to see how a body wraps or is cut in the series row`)
  const intents = page.getByTestId('intents-panel')
  await intents.getByLabel('deadline ms').fill('1000')
  await intents.getByRole('button', { name: 'Declare' }).click()
  const row = intents.getByTestId('intent-row').first()
  await expect(row.getByText('closed', { exact: true })).toBeVisible({ timeout: 10_000 })
  await row.getByTestId('intent-toggle').click()
  await expect(row.getByTestId('responders').locator(`[data-peer="${B.id}"]`)).toContainText('YES')

  await page
    .getByRole('listbox', { name: 'Entries' })
    .getByRole('option')
    .filter({ hasText: 'screenshot note 2' })
    .click()
  const detail = page.getByTestId('entry-detail')
  await expect(detail.getByTestId('detail-kind')).toHaveText('note-added')
  await expect(detail.getByTestId('detail-body')).toContainText('screenshot note 2')
  await page.evaluate(() => window.ir3!.flush())
  await detail.getByRole('button', { name: 'Prove' }).click()
  await expect(detail.getByTestId('proof-result')).toBeVisible()

  const verify = page.getByTestId('verify-panel')
  await verify.getByRole('button', { name: 'Verify now' }).click()
  await expect(verify.getByTestId('verify-result')).toContainText('ok:')
  await expect(page.getByTestId('chunks-panel').getByTestId('chunks-series-row').first()).toBeVisible({
    timeout: 20_000,
  })
  await expect(page.getByTestId('nodes-list').getByTestId('node-item')).toHaveCount(2)

  const panels: [string, Locator][] = [
    ['node-header', page.getByRole('banner')],
    ['series', page.getByRole('region', { name: 'Series' })],
    ['entry-detail', detail],
    ['derived-state', page.getByTestId('derived-state')],
    ['verification', verify],
    ['nodes', page.getByTestId('nodes-list')],
    ['mesh', page.getByTestId('mesh-panel')],
    ['chunks', page.getByTestId('chunks-panel')],
    ['intents', intents],
    ['rate-limiters', page.getByTestId('limits-panel')],
  ]
  for (const [width, viewport] of [
    ['desktop', DESKTOP],
    ['phone', PHONE],
  ] as const) {
    await page.setViewportSize(viewport)
    // The page itself never scrolls sideways (wide tables scroll inside their panel).
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth)
    expect(scrollWidth, `${width}: page is ${scrollWidth}px wide`).toBeLessThanOrEqual(viewport.width)
    for (const [name, panel] of panels) {
      await expect(panel).toBeVisible()
      await panel.screenshot({ path: `test-results/screens/${name}-${width}.png`, animations: 'disabled' })
    }
  }
  await context.close()
})
