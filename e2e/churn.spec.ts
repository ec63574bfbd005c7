/**
 * Churn end to end: 12 tabs on one mesh; twice, a third of them close and as
 * many new tabs join. Afterwards no live node is isolated, the mesh is one
 * piece, and an intent from any live node reaches every other live node.
 */
import { expect, test, type Page } from '@playwright/test'
import { connected, edges, nodeReady, ownServer } from './helpers.ts'

const permissions = ['camera', 'microphone']
const own = ownServer()
const N = 12

test('churn: 12 tabs, a third closed and replaced twice — no node isolated, every live node reached by intents', async ({
  browser,
}) => {
  test.setTimeout(240_000)
  const context = await browser.newContext({ permissions })
  const mesh = `churn${Date.now().toString(36)}`
  const open = async (): Promise<{ page: Page; id: string }> => {
    const page = await context.newPage()
    await page.goto(`${own.url}?mesh=${mesh}&ui=off`)
    return { page, id: (await nodeReady(page)).id }
  }
  let tabs: { page: Page; id: string }[] = []
  for (let i = 0; i < N; i++) tabs.push(await open())

  const settled = async (label: string) => {
    await expect
      .poll(
        async () => {
          const g = await edges(tabs.map((t) => t.page))
          const isolated = [...g.values()].filter((p) => p.size === 0).length
          return { isolated, connected: connected(g) }
        },
        { timeout: 60_000, intervals: [500], message: `${label}: the mesh did not heal` },
      )
      .toEqual({ isolated: 0, connected: true })
  }

  /** Every live node reaches every other with a targeted ping from `from`. */
  const reachAll = async (from: { page: Page; id: string }, label: string) => {
    const targets = tabs.filter((t) => t !== from).map((t) => t.id)
    const outcome = await from.page.evaluate(async (t) => {
      const o = await window.ir3!.declare('ping', { churn: true }, { targets: t, deadlineMs: 8000 }).outcome
      return {
        yes: o.yes,
        no: o.no,
        silence: o.silence,
        unknown: o.insights.unknown,
        why: o.responders.filter((r) => r.answer === 'no').map((r) => r.reason),
      }
    }, targets)
    expect(outcome, `${label}: ping from ${from.id.slice(0, 6)}`).toEqual({
      why: [],
      yes: targets.length,
      no: 0,
      silence: 0,
      unknown: [],
    })
  }

  await settled('start')
  await reachAll(tabs[0]!, 'start')

  for (let round = 1; round <= 2; round++) {
    // A third leave (not always the same positions), and as many join.
    const leaving = tabs.filter((_, i) => i % 3 === round % 3)
    for (const t of leaving) await t.page.close()
    tabs = tabs.filter((t) => !leaving.includes(t))
    for (let i = 0; i < leaving.length; i++) tabs.push(await open())
    expect(tabs).toHaveLength(N)
    await settled(`round ${round}`)
    // From an old node and from a newcomer.
    await reachAll(tabs[0]!, `round ${round}`)
    await reachAll(tabs[tabs.length - 1]!, `round ${round}`)
  }
  await context.close()
})
