/**
 * The foundation, end to end in real Chromium with real IndexedDB: a tab is a
 * node, reload keeps it, duplicates don't share it, damage is caught.
 */
import { expect, test, type Page } from '@playwright/test'
import { nodeReady } from './helpers.ts'

/** Each test in its own mesh, so tabs of different tests never meet. */
const app = (query = '') =>
  `/?mesh=series-${test
    .info()
    .testId.slice(0, 12)
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '')}${query}`
const notes = (page: Page) =>
  page.evaluate(async () => (await window.ir3!.entries(0, window.ir3!.length)).filter((e) => e.kind === 'note-added'))

test('two tabs become two nodes with separate series', async ({ context }) => {
  const a = await context.newPage()
  const b = await context.newPage()
  await a.goto(app())
  await b.goto(app())
  const na = await nodeReady(a)
  const nb = await nodeReady(b)
  expect(na.id).toMatch(/^[0-9a-f]{32}$/)
  expect(nb.id).not.toBe(na.id)
  await a.evaluate(() => {
    window.ir3!.append('note-added', { text: 'only in a' })
    return window.ir3!.flush()
  })
  expect(await notes(b)).toEqual([])
  expect((await notes(a)).map((e) => (e.body as { text: string }).text)).toEqual(['only in a'])
  const nodes = await b.evaluate(() => window.ir3!.nodes())
  expect(nodes.map((n) => n.id).sort()).toEqual([na.id, nb.id].sort())
  expect(nodes.every((n) => n.running)).toBe(true)
})

test('a reloaded tab is the same node with the same series, and 1,000 appends survive', async ({ page }) => {
  await page.goto(app())
  const before = await nodeReady(page)
  const appended = await page.evaluate(async () => {
    const ir3 = window.ir3!
    let last = ''
    for (let i = 0; i < 1000; i++) last = ir3.append('note-added', { text: `e2e note ${i}`, i }).hash
    await ir3.flush()
    return { last, checkpoint: ir3.checkpoint() as { size: number } }
  })
  await page.reload()
  const after = await nodeReady(page)
  expect(after.id).toBe(before.id)
  expect(after.status).toBe('ok')
  expect(after.length).toBeGreaterThanOrEqual(appended.checkpoint.size)
  expect(await page.evaluate(() => window.ir3!.how)).toBe('resumed')
  const kept = await notes(page)
  expect(kept).toHaveLength(1000)
  expect(kept.slice(-2).map((e) => (e.body as { text: string }).text)).toEqual(['e2e note 998', 'e2e note 999'])
  expect(kept[999]!.hash).toBe(appended.last)
  const head = await page.evaluate(() => window.ir3!.entries(0, window.ir3!.length))
  expect(head.slice(0, appended.checkpoint.size).at(-1)!.hash).toBe(appended.last)
  await page.evaluate(() => window.ir3!.flush())
  const report = await page.evaluate(() => window.ir3!.verify())
  expect(report.ok).toBe(true)
  expect(report.checked).toBe(report.size)
  const noteSeq = kept[499]!.seq
  const mid = (await page.evaluate((s) => window.ir3!.state(s), noteSeq)) as { notes: { count: number } }
  expect(mid.notes.count).toBe(500)
})

test('a tab that copies a live tab’s session becomes a new node; a node no tab runs can be resumed', async ({
  context,
}) => {
  const first = await context.newPage()
  await first.goto(app())
  const original = await nodeReady(first)
  await first.evaluate(() => {
    window.ir3!.append('note-added', { text: 'original' })
    return window.ir3!.flush()
  })

  // What a duplicated tab does: same sessionStorage, fresh document.
  const dup = await context.newPage()
  await dup.addInitScript((id) => sessionStorage.setItem('ir3.nodeId', id), original.id)
  await dup.goto(app())
  const copy = await nodeReady(dup)
  expect(copy.id).not.toBe(original.id)
  expect(await notes(dup)).toEqual([])
  expect(await dup.evaluate(() => window.ir3!.how)).toBe('created')

  // While the original runs, asking for it by id also yields a new node.
  const thief = await context.newPage()
  await thief.goto(app(`&node=${original.id}`))
  expect((await nodeReady(thief)).id).not.toBe(original.id)

  // Once no tab runs it, it can be resumed by id with its series.
  await first.close()
  const resumer = await context.newPage()
  await resumer.goto(app(`&node=${original.id}`))
  const resumed = await nodeReady(resumer)
  expect(resumed).toMatchObject({ id: original.id, status: 'ok' })
  expect((await notes(resumer)).map((e) => (e.body as { text: string }).text)).toEqual(['original'])
  expect(await resumer.evaluate(() => window.ir3!.how)).toBe('requested')
})

test('a record tampered in IndexedDB is shown as damage after reload, and nothing is signed over it', async ({
  page,
}) => {
  await page.goto(app())
  const { id } = await nodeReady(page)
  const cp = await page.evaluate(async () => {
    const ir3 = window.ir3!
    for (let i = 0; i < 300; i++) ir3.append('note-added', { text: `note ${i}` })
    await ir3.flush()
    return ir3.checkpoint() as { size: number; root: string }
  })
  const note5 = (await notes(page))[5]!.seq
  // Change "note 5" to "note 6" inside the stored chunk: valid JSON, wrong hash.
  const changed = await page.evaluate(async (nodeId) => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const r = indexedDB.open('ir3')
      r.onsuccess = () => resolve(r.result)
      r.onerror = () => reject(r.error)
    })
    const tx = db.transaction('chunks', 'readwrite')
    const store = tx.objectStore('chunks')
    const rec = await new Promise<{ data: Uint8Array }>((resolve) => {
      const r = store.get([nodeId, 0])
      r.onsuccess = () => resolve(r.result as { data: Uint8Array })
    })
    const needle = new TextEncoder().encode('"note 5"')
    const data = rec.data
    let at = -1
    for (let i = 0; i + needle.length <= data.length && at < 0; i++) {
      let hit = true
      for (let j = 0; j < needle.length && hit; j++) hit = data[i + j] === needle[j]
      if (hit) at = i
    }
    if (at < 0) return false
    data[at + 6] = '6'.charCodeAt(0)
    store.put(rec)
    await new Promise((r) => (tx.oncomplete = r))
    db.close()
    return true
  }, id)
  expect(changed).toBe(true)

  await page.reload()
  await page.waitForFunction(() => window.ir3 !== undefined)
  await page.waitForFunction(() => window.ir3!.status === 'damaged', undefined, { timeout: 30_000 })
  const problems = await page.evaluate(() => window.ir3!.problems)
  expect(problems[0]).toEqual({ seq: note5 + 1, reason: 'prev does not match the hash of the previous entry' })
  await expect(page.getByTestId('damage')).toContainText(`seq ${note5 + 1}`)
  await expect(page.getByTestId('status')).toHaveText('damaged')

  const refused = await page.evaluate(() => {
    try {
      window.ir3!.append('note-added', { text: 'over the damage' })
      return null
    } catch (e) {
      return (e as { code?: string }).code ?? String(e)
    }
  })
  expect(refused).toBe('ERR_DAMAGED')
  expect(await page.evaluate(() => window.ir3!.checkpoint())).toEqual(cp)
  const stored = await page.evaluate(async (nodeId) => {
    const db = await new Promise<IDBDatabase>((resolve) => {
      const r = indexedDB.open('ir3')
      r.onsuccess = () => resolve(r.result)
    })
    const head = await new Promise<{ size: number; checkpoint: { size: number; root: string } }>((resolve) => {
      const r = db.transaction('heads').objectStore('heads').get(nodeId)
      r.onsuccess = () => resolve(r.result)
    })
    db.close()
    return head
  }, id)
  expect(stored.checkpoint).toEqual(cp)
  expect(stored.size).toBe(cp.size)
})

test('the EventStore contract passes on real IndexedDB', async ({ page }) => {
  await page.goto('/test-pages/store-contract.html')
  await page.waitForFunction(() => window.contractResults !== undefined)
  const results = await page.evaluate(() => window.contractResults!)
  expect(results.length).toBeGreaterThan(5)
  for (const r of results) expect(r, r.name).toMatchObject({ ok: true })
})

test('a note appended through the page shows in the series, verified, and in the derived state', async ({ page }) => {
  await page.goto(app())
  await nodeReady(page)
  await page.getByTestId('note-input').fill('hello from the UI <b>not bold</b>')
  await page.getByTestId('note-input').press('Enter')
  const length = await page.evaluate(() => window.ir3!.flush())
  await expect(page.getByTestId('durable-length')).toHaveAttribute('data-value', String(length))
  const row = page.getByTestId('entry-row').filter({ hasText: 'note-added' }).first()
  await expect(row).toContainText('hello from the UI <b>not bold</b>')
  await expect(page.locator('b', { hasText: 'not bold' })).toHaveCount(0)
  await expect(page.getByTestId('status')).toHaveText('ok')
  await expect(page.getByTestId('derived-notes')).toContainText('hello from the UI <b>not bold</b>')
})
