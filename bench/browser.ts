/** Shared bench plumbing: the real server over dist/, Debian's Chromium with an on-disk profile. */
import { chromium, type Browser, type BrowserContext } from '@playwright/test'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer, type Server } from '../signaling/server.ts'
import { CHROMIUM_ARGS } from '../e2e/chromium.ts'

export { CHROMIUM_ARGS }

export interface BenchEnv {
  url: string
  context: BrowserContext
  close(): Promise<void>
}

export interface BenchOptions {
  /** Directory the server serves the app from (default: dist/). */
  staticDir?: string
}

export async function startBench(opts: BenchOptions = {}): Promise<BenchEnv> {
  const server: Server = createServer(opts.staticDir ? { staticDir: opts.staticDir } : {})
  const { url } = await server.listen()
  const profile = mkdtempSync(join(tmpdir(), 'ir3-bench-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env['CHROMIUM_PATH'] || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    permissions: ['camera', 'microphone'],
  })
  return {
    url,
    context,
    async close() {
      await context.close()
      await server.close()
      rmSync(profile, { recursive: true, force: true })
    },
  }
}

/** The real server and Debian's headless Chromium (in-memory profiles): for benchmarks with many tabs. */
export async function launchBench(): Promise<{ url: string; browser: Browser; close(): Promise<void> }> {
  const server: Server = createServer({})
  const { url } = await server.listen()
  const browser = await chromium.launch({
    executablePath: process.env['CHROMIUM_PATH'] || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
  })
  return {
    url,
    browser,
    async close() {
      await browser.close()
      await server.close()
    },
  }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** Prints a table, then the JSON object as the last line, and saves it. */
export function report(name: string, rows: [string, string | number, string?][], json: Record<string, unknown>): void {
  const w = Math.max(...rows.map((r) => r[0].length))
  console.log(`\n${name}`)
  for (const [k, v, note] of rows) console.log(`  ${k.padEnd(w)}  ${String(v).padStart(12)}${note ? `  ${note}` : ''}`)
  mkdirSync('bench/results', { recursive: true })
  writeFileSync(`bench/results/${name}.json`, JSON.stringify(json, null, 2) + '\n')
  console.log(JSON.stringify(json))
}
