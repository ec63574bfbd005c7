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

/** Ready links among `pages`, both ends agreeing: node id → ids it is linked to. */
export async function edges(pages: Page[]): Promise<Map<string, Set<string>>> {
  const views = await Promise.all(
    pages.map((p) =>
      p.evaluate(() => ({
        id: window.ir3!.id,
        peers: window
          .ir3!.peers()
          .filter((x) => x.state === 'ready')
          .map((x) => x.id),
      })),
    ),
  )
  const ids = new Set(views.map((v) => v.id))
  const g = new Map<string, Set<string>>(views.map((v) => [v.id, new Set(v.peers.filter((p) => ids.has(p)))]))
  for (const [a, peers] of g) for (const b of peers) if (!g.get(b)?.has(a)) peers.delete(b)
  return g
}

/** Whether every node of the graph reaches every other. */
export function connected(g: Map<string, Set<string>>): boolean {
  const [first] = g.keys()
  if (!first) return false
  const seen = new Set([first])
  const queue = [first]
  while (queue.length) {
    for (const n of g.get(queue.shift()!) ?? []) {
      if (!seen.has(n)) {
        seen.add(n)
        queue.push(n)
      }
    }
  }
  return seen.size === g.size
}
