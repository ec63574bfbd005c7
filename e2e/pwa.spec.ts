/**
 * Installable and offline: the manifest and service worker are served, the
 * service worker serves the shell with the server stopped, the node resumes
 * and appends offline, and rejoins when the server is back.
 */
import { chromium, expect, test } from '@playwright/test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CHROMIUM_ARGS } from './chromium.ts'
import { createServer, type Server } from '../signaling/server.ts'
import { nodeReady } from './helpers.ts'

test('the shell loads with the server stopped; offline appends persist; the node reconnects when the server is back', async ({
  browser,
}) => {
  let server: Server = createServer({})
  const { port, url } = await server.listen()
  const context = await browser.newContext({ permissions: ['camera', 'microphone'] })
  const page = await context.newPage()
  await page.goto(`${url}?mesh=pwa`)
  const { id } = await nodeReady(page)
  const manifest = await page.evaluate(async () => (await fetch('/manifest.webmanifest')).json())
  expect(manifest).toMatchObject({ name: 'iR³ Web', display: 'standalone', start_url: '/' })
  expect((manifest.icons as { sizes: string }[]).map((i) => i.sizes)).toEqual(
    expect.arrayContaining(['192x192', '512x512']),
  )
  await page.evaluate(() => navigator.serviceWorker.ready)
  await page.evaluate(async () => {
    window.ir3!.append('note-added', { text: 'online' })
    await window.ir3!.flush()
  })
  await expect.poll(() => page.evaluate(() => window.ir3!.mesh().server), { timeout: 10_000 }).toBe('open')

  await server.close()
  await page.reload()
  const offline = await nodeReady(page)
  expect(offline.id).toBe(id)
  const shellFromWorker = await page.evaluate(() => navigator.serviceWorker.controller !== null)
  expect(shellFromWorker).toBe(true)
  await page.evaluate(async () => {
    window.ir3!.append('note-added', { text: 'offline' })
    await window.ir3!.flush()
  })
  expect(await page.evaluate(() => window.ir3!.mesh().server)).not.toBe('open')

  server = createServer({ port })
  await server.listen()
  await expect.poll(() => page.evaluate(() => window.ir3!.mesh().server), { timeout: 40_000 }).toBe('open')
  await page.reload()
  await nodeReady(page)
  const notes = await page.evaluate(async () =>
    (await window.ir3!.entries(0, window.ir3!.length))
      .filter((e) => e.kind === 'note-added')
      .map((e) => (e.body as { text: string }).text),
  )
  expect(notes).toEqual(['online', 'offline'])
  await context.close()
  await server.close()
})

test('Chromium reports the app installable (manifest, icons, service worker)', async () => {
  // Incognito contexts are never installable, so this one has a real profile.
  const server = createServer({})
  const { url } = await server.listen()
  const profile = mkdtempSync(join(tmpdir(), 'ir3-pwa-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env['CHROMIUM_PATH'] || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    permissions: ['camera', 'microphone'],
  })
  try {
    const page = await context.newPage()
    await page.goto(`${url}?mesh=pwa-install`)
    await nodeReady(page)
    await page.evaluate(() => navigator.serviceWorker.ready)
    const cdp = await context.newCDPSession(page)
    const { installabilityErrors } = (await cdp.send('Page.getInstallabilityErrors')) as {
      installabilityErrors: unknown[]
    }
    expect(installabilityErrors).toEqual([])
  } finally {
    await context.close()
    await server.close()
    rmSync(profile, { recursive: true, force: true })
  }
})
