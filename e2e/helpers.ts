import { expect, test, type Page } from '@playwright/test'
import { createServer, type Server } from '../signaling/server.ts'

/**
 * A signaling server of the calling test file's own, started before each test
 * and stopped after it (a test may stop it earlier, to see what works without
 * it). Serves E2E_STATIC_DIR when set (a build of one's own), else dist/.
 */
export function ownServer(): { readonly url: string; stop(): Promise<void> } {
  let server: Server | null = null
  let url = ''
  test.beforeEach(async () => {
    const staticDir = process.env['E2E_STATIC_DIR']
    server = createServer(staticDir ? { staticDir } : {})
    url = (await server.listen()).url
  })
  test.afterEach(async () => {
    await server?.close()
  })
  return {
    get url() {
      return url
    },
    stop: () => server?.close() ?? Promise.resolve(),
  }
}

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
