import { expect, type Page } from '@playwright/test'

/** Waits until the tab's node is up and its load-time verification is done. */
export async function nodeReady(page: Page): Promise<{ id: string; length: number; status: string }> {
  await page.waitForFunction(() => window.ir3 !== undefined || window.ir3Error !== undefined, undefined, {
    timeout: 30_000,
  })
  const error = await page.evaluate(() => window.ir3Error)
  expect(error, 'node failed to start').toBeUndefined()
  await page.evaluate(() => window.ir3!.verified())
  return page.evaluate(() => ({ id: window.ir3!.id, length: window.ir3!.length, status: window.ir3!.status }))
}
