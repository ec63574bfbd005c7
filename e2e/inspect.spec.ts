/** The series list's body search and the derived-state comparison, through the page. */
import { expect, test } from '@playwright/test'
import { nodeReady } from './helpers.ts'

test('search entry bodies; compare the derived state at two seqs', async ({ page }) => {
  await page.goto('/?mesh=inspect')
  await nodeReady(page)
  const first = await page.evaluate(async () => {
    const at = window.ir3!.length
    for (let i = 0; i < 40; i++) window.ir3!.append('note-added', { text: i % 10 === 3 ? `needle ${i}` : `hay ${i}` })
    await window.ir3!.flush()
    return at
  })
  await page.getByLabel('Search entry bodies').fill('NEEDLE')
  const rows = page.getByTestId('entry-row')
  await expect(rows).toHaveCount(4)
  for (const seq of await rows.evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq')))))
    expect((seq - first) % 10).toBe(3)
  await expect(page.getByTestId('series-summary')).toContainText('containing “needle”')
  await page.getByLabel('Search entry bodies').fill('')
  await expect(rows.first()).toBeVisible()

  const diff = page.getByTestId('state-diff')
  await diff.getByLabel('Compare from seq').fill(String(first - 1))
  await diff.getByLabel('Compare to seq').fill(String(first + 19))
  await diff.getByRole('button', { name: 'Compare' }).click()
  const result = diff.getByTestId('state-diff-result')
  await expect(result).toBeVisible()
  await expect(result).toContainText('notes.count')
  await expect(result.locator('tr', { hasText: 'notes.count' })).toContainText('20')
  await expect(result.locator('tr', { hasText: 'view.byKind.note-added' })).toContainText('20')
})
