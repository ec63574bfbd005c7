/**
 * The messages app end to end, through its panel: real Chromium tabs, the
 * real server (one per test), WebRTC links and IndexedDB. Each node gets a
 * browser context of its own, so its storage is its own: what the
 * recipient's browser holds is exactly what the plaintext check reads.
 * `window.ir3` is used only to set tabs up and to check results.
 */
import { expect, test, type Browser, type Locator, type Page } from '@playwright/test'
import { nodeReady, ownServer } from './helpers.ts'

const own = ownServer()
const permissions = ['camera', 'microphone']

/** A mesh of this test's own, so tabs of different tests never meet. */
const meshName = (tag: string) => `msg${tag}${Date.now().toString(36)}`

interface Tab {
  page: Page
  id: string
  name: string
}

/** Opens a node of `mesh` in a browser context of its own and waits for it. */
async function openNode(browser: Browser, mesh: string): Promise<Tab> {
  const context = await browser.newContext({ permissions, viewport: { width: 1280, height: 900 } })
  const page = await context.newPage()
  await page.goto(`${own.url}?mesh=${mesh}`)
  const { id } = await nodeReady(page)
  const name = await page.evaluate(() => window.ir3!.name)
  return { page, id, name }
}

/** Until `tab` holds `peer`'s key-agreement key (its signed peer record reached it). */
async function keyOf(tab: Tab, peer: Tab): Promise<void> {
  await expect
    .poll(
      () =>
        tab.page.evaluate(
          (p) => window.ir3!.apps.messages!.contacts().some((c) => c.id === p && c.ek !== null),
          peer.id,
        ),
      { timeout: 30_000, message: `${tab.name} never got ${peer.name}'s key` },
    )
    .toBe(true)
}

const panelOf = (tab: Tab) => tab.page.getByTestId('messages-panel')
const conversationWith = (panel: Locator, peer: Tab) =>
  panel.locator(`[data-testid="conversation"][data-peer="${peer.id}"]`)
const messageWith = (panel: Locator, text: string) => panel.getByTestId('message').filter({ hasText: text })

/** Starts (or reopens) the conversation with `peer` from the contact list. */
async function openContact(tab: Tab, peer: Tab): Promise<void> {
  const panel = panelOf(tab)
  const contact = panel.locator(`[data-testid="contact"][data-peer="${peer.id}"]`)
  await expect(contact).toBeEnabled()
  await contact.click()
  await expect(panel.getByTestId('thread-name')).toHaveText(peer.name)
}

/** Types `text` into the open conversation and sends it with the button or Enter. */
async function compose(tab: Tab, text: string, how: 'button' | 'enter'): Promise<void> {
  const panel = panelOf(tab)
  const box = panel.getByRole('textbox', { name: /^Message to / })
  await box.fill(text)
  await expect(panel.getByTestId('byte-count')).toHaveAttribute('data-bytes', String(Buffer.byteLength(text)))
  if (how === 'enter') await box.press('Enter')
  else await panel.getByRole('button', { name: 'Send' }).click()
  await expect(box).toHaveValue('')
  await expect(panel.getByTestId('messages-error')).toHaveCount(0)
}

/** Every string in this origin's IndexedDB (byte arrays read as UTF-8), joined. */
function indexedDbText(page: Page): Promise<string> {
  return page.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const req = indexedDB.open('ir3')
      req.onsuccess = () => resolve(req.result)
      req.onerror = () => reject(req.error)
    })
    const decoder = new TextDecoder()
    const parts: string[] = []
    const walk = (v: unknown, depth: number): void => {
      if (depth > 12 || v === null || v === undefined) return
      if (typeof v === 'string') parts.push(v)
      else if (v instanceof ArrayBuffer) parts.push(decoder.decode(v))
      else if (ArrayBuffer.isView(v)) parts.push(decoder.decode(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)))
      else if (typeof v === 'object') for (const x of Object.values(v)) walk(x, depth + 1)
    }
    for (const store of db.objectStoreNames) {
      const values = await new Promise<unknown[]>((resolve, reject) => {
        const req = db.transaction(store).objectStore(store).getAll()
        req.onsuccess = () => resolve(req.result)
        req.onerror = () => reject(req.error)
      })
      walk(values, 0)
    }
    db.close()
    return parts.join('\n')
  })
}

test('two tabs message each other through the panel: unread badge, ✓ delivered, no plaintext stored, kept across a reload', async ({
  browser,
}) => {
  test.setTimeout(60_000)
  const mesh = meshName('dm')
  const A = await openNode(browser, mesh)
  const B = await openNode(browser, mesh)
  await keyOf(A, B)
  await keyOf(B, A)
  const nonce = Date.now().toString(36)
  const hello = `hello ${nonce} from A`
  const helloText = `${hello} — grüße ✓\nsecond line`
  const reply = `reply ${nonce} from B`

  // A writes to B: sealed, and B's YES turns the mark to ✓.
  const a = panelOf(A)
  await openContact(A, B)
  await compose(A, helloText, 'button')
  const sent = messageWith(a, hello)
  await expect(sent).toHaveAttribute('data-dir', 'out')
  await expect(sent).toHaveAttribute('data-status', 'delivered', { timeout: 15_000 })
  await expect(sent.getByTestId('mark')).toContainText('✓')
  await expect(sent.getByTestId('message-text')).toHaveText(helloText)

  // B sees a conversation with A, unread; opening it reads it.
  const b = panelOf(B)
  const withA = conversationWith(b, A)
  await expect(withA).toContainText(A.name)
  await expect(withA.getByTestId('unread')).toHaveAttribute('data-value', '1')
  await b.screenshot({ path: 'test-results/screens/messages-unread-desktop.png', animations: 'disabled' })
  await withA.click()
  await expect(withA).toHaveAttribute('aria-current', 'true')
  const received = messageWith(b, hello)
  await expect(received).toHaveAttribute('data-dir', 'in')
  await expect(received.getByTestId('message-text')).toHaveText(helloText)
  await expect(withA.getByTestId('unread')).toHaveCount(0)
  expect(
    await B.page.evaluate((p) => window.ir3!.apps.messages!.conversations().find((c) => c.peer === p)?.unread, A.id),
  ).toBe(0)

  // Too long is refused in the panel, not cut: Send is disabled and says why.
  const box = b.getByRole('textbox', { name: /^Message to / })
  await box.fill('é'.repeat(2049))
  await expect(b.getByTestId('byte-count')).toHaveAttribute('data-bytes', '4098')
  await expect(b.getByTestId('compose-blocked')).toContainText('over the limit')
  await expect(b.getByRole('button', { name: 'Send' })).toBeDisabled()
  await expect(box).toHaveValue('é'.repeat(2049))

  // B answers with Enter; A has the conversation open and sees it arrive.
  await compose(B, reply, 'enter')
  await expect(messageWith(b, reply)).toHaveAttribute('data-status', 'delivered', { timeout: 15_000 })
  const answer = messageWith(a, reply)
  await expect(answer).toHaveAttribute('data-dir', 'in')
  await expect(a.getByTestId('message')).toHaveCount(2)
  await expect(conversationWith(a, B)).toContainText('2 messages')

  // B's series and everything in B's IndexedDB hold ciphertext only.
  await B.page.evaluate(() => window.ir3!.flush())
  const entries = await B.page.evaluate(async () =>
    (await window.ir3!.entries(0, window.ir3!.length)).map((e) => ({ kind: e.kind, body: JSON.stringify(e.body) })),
  )
  expect(entries.filter((e) => e.kind === 'msg-received')).toHaveLength(1)
  expect(entries.filter((e) => e.body.includes(nonce))).toEqual([])
  const stored = await indexedDbText(B.page)
  expect(stored, 'the scan reads the stored entries').toContain('msg-received')
  expect(stored.includes(nonce), 'plaintext in IndexedDB').toBe(false)

  // B reloads: the same node, the same conversation, decrypted again.
  await B.page.reload()
  const again = await nodeReady(B.page)
  expect(again.id).toBe(B.id)
  expect(await B.page.evaluate(() => window.ir3!.how)).toBe('resumed')
  await expect(withA).toContainText('2 messages')
  await expect(withA.getByTestId('unread')).toHaveCount(0)
  await withA.click()
  await expect(b.getByTestId('message')).toHaveCount(2)
  await expect(messageWith(b, hello)).toHaveAttribute('data-dir', 'in')
  await expect(messageWith(b, hello).getByTestId('message-text')).toHaveText(helloText)
  await expect(messageWith(b, reply)).toHaveAttribute('data-status', 'delivered')
  await expect(messageWith(b, reply).getByTestId('mark')).toContainText('✓')

  await a.screenshot({ path: 'test-results/screens/messages-desktop.png', animations: 'disabled' })
  await A.page.setViewportSize({ width: 390, height: 844 })
  const scrollWidth = await A.page.evaluate(() => document.documentElement.scrollWidth)
  expect(scrollWidth, `phone: page is ${scrollWidth}px wide`).toBeLessThanOrEqual(390)
  await a.screenshot({ path: 'test-results/screens/messages-phone.png', animations: 'disabled' })
  await A.page
    .getByTestId('app-panels')
    .screenshot({ path: 'test-results/screens/apps-phone.png', animations: 'disabled' })
  await A.page.setViewportSize({ width: 1280, height: 900 })
  await A.page
    .getByTestId('app-panels')
    .screenshot({ path: 'test-results/screens/apps-desktop.png', animations: 'disabled' })
  for (const t of [A, B]) await t.page.context().close()
})

test('a message to a tab that has closed ends silent (·) at its deadline', async ({ browser }) => {
  test.setTimeout(60_000)
  const mesh = meshName('gone')
  const A = await openNode(browser, mesh)
  const B = await openNode(browser, mesh)
  const C = await openNode(browser, mesh)
  await keyOf(A, C)
  await openContact(A, C)

  await C.page.close()
  await C.page.context().close()
  const text = `are you there, ${C.name}?`
  await compose(A, text, 'button')
  const sent = messageWith(panelOf(A), text)
  await expect(sent).toHaveAttribute('data-dir', 'out')
  await expect(sent).toHaveAttribute('data-status', 'pending')
  await expect(sent.getByTestId('mark')).toContainText('…')
  // Nobody answers: silence is recorded at the deadline (10 s).
  await expect(sent).toHaveAttribute('data-status', 'silent', { timeout: 20_000 })
  await expect(sent.getByTestId('mark')).toContainText('·')
  await panelOf(A).screenshot({ path: 'test-results/screens/messages-silent-desktop.png', animations: 'disabled' })
  const listed = await A.page.evaluate((p) => window.ir3!.apps.messages!.list(p), C.id)
  expect(listed.map((m) => [m.text, m.status])).toEqual([[text, 'silent']])
  for (const t of [A, B]) await t.page.context().close()
})
