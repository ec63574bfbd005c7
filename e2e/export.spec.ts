/**
 * Export then import, through the page: a series saved as NDJSON opens
 * read-only in another tab, verified against its signed checkpoint; an
 * edited file opens as damaged with the seq.
 */
import { expect, test } from '@playwright/test'
import { readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { nodeReady } from './helpers.ts'

test('export a series to a file, import it in another tab: verified, same entries; an edited file shows damage', async ({
  browser,
}) => {
  const context = await browser.newContext({ permissions: ['camera', 'microphone'] })
  const A = await context.newPage()
  await A.goto('/?mesh=export-a')
  const a = await nodeReady(A)
  // Two notes through the form, more through the API so chunks get sealed.
  for (const text of ['first note', 'second note']) {
    await A.getByPlaceholder(/Something worth remembering/).fill(text)
    await A.getByRole('button', { name: 'Append' }).click()
  }
  await A.evaluate(async () => {
    for (let i = 0; i < 300; i++) window.ir3!.append('note-added', { text: `bulk ${i}` })
    await window.ir3!.flush()
  })
  const size = await A.evaluate(() => window.ir3!.checkpoint() as { size: number }).then((c) => c.size)
  const panel = A.getByTestId('transfer-panel')
  const [download] = await Promise.all([
    A.waitForEvent('download'),
    panel.getByRole('button', { name: 'Export series' }).click(),
  ])
  const file = join(tmpdir(), `ir3-export-${Date.now()}.ndjson`)
  await download.saveAs(file)
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n')
  expect(JSON.parse(lines[0]!)).toMatchObject({ format: 'ir3-series/v1', author: a.id, checkpoint: { size } })
  expect(lines).toHaveLength(size + 1)

  const B = await context.newPage()
  await B.goto('/?mesh=export-b')
  await nodeReady(B)
  const imp = B.getByTestId('transfer-panel')
  await imp.getByLabel('Series file to import').setInputFiles(file)
  const opened = imp.getByTestId('imported-series').getByTestId('opened-series')
  await expect(opened).toHaveAttribute('data-verified', 'true', { timeout: 20_000 })
  await expect(opened).toHaveAttribute('data-author', a.id)
  await expect(opened).toHaveAttribute('data-length', String(size))
  // The same file through window.ir3: verified, and A's derived state.
  const viaApi = await B.evaluate(async (text) => window.ir3!.importSeries(text), readFileSync(file, 'utf8'))
  expect(viaApi.verified.ok).toBe(true)
  expect(viaApi.state).toEqual(await A.evaluate((n) => window.ir3!.state(n - 1), size))

  // An edited entry: the file still parses, but the series opens damaged and says where.
  const at = lines.findIndex((l) => l.includes('"second note"'))
  expect(at).toBeGreaterThan(0)
  const edited = lines.map((l, i) => (i === at ? l.replace('second note', 'second n0te') : l)).join('\n') + '\n'
  const bad = join(tmpdir(), `ir3-edited-${Date.now()}.ndjson`)
  writeFileSync(bad, edited)
  await imp.getByLabel('Series file to import').setInputFiles(bad)
  await expect(opened).toHaveAttribute('data-verified', 'false', { timeout: 20_000 })
  await expect(opened).toContainText(/seq/)
  // Not an export at all: a clear error.
  writeFileSync(bad, 'hello\n')
  await imp.getByLabel('Series file to import').setInputFiles(bad)
  await expect(imp.getByTestId('transfer-error')).toContainText(/ERR_NOT_JSON|header/)
  await context.close()
})
