/**
 * End-to-end tests: Debian's Chromium driven by @playwright/test against the
 * real server. Run them with `bash e2e/run.sh` (or `npm run test:e2e`), which
 * first enters a loopback-only network namespace so no traffic leaves the machine.
 *
 * Environment:
 *   CHROMIUM_PATH   browser binary (default /usr/bin/chromium; never `npx playwright install`)
 *   E2E_BASE_URL    test an already running server instead of starting one
 *   E2E_STATIC_DIR  serve this directory instead of dist/ (passed as `--static`),
 *                   e.g. to try the pipeline before the app builds
 */
import { defineConfig } from '@playwright/test'
import { CHROMIUM_ARGS } from './e2e/chromium.ts'

const PORT = 4173
const baseURL = process.env['E2E_BASE_URL'] || `http://127.0.0.1:${PORT}`
const staticDir = process.env['E2E_STATIC_DIR']
const shellQuote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`

export default defineConfig({
  testDir: 'e2e',
  outputDir: 'test-results/e2e',
  timeout: 60_000,
  expect: { timeout: 10_000 },
  retries: 0,
  workers: 1, // 2-core machines; a test opens many tabs by itself
  fullyParallel: false,
  forbidOnly: !!process.env['CI'],
  // `list` prints one line per test and ends with the "N passed (Xs)" summary.
  reporter: [['list']],
  use: {
    baseURL,
    headless: true,
    // Not inherited by `browser.newContext()`: pass it there too.
    permissions: ['camera', 'microphone'],
    screenshot: 'only-on-failure',
    trace: 'off', // `bash e2e/run.sh --trace on` when needed
    launchOptions: {
      executablePath: process.env['CHROMIUM_PATH'] || '/usr/bin/chromium',
      args: CHROMIUM_ARGS,
    },
  },
  // With E2E_BASE_URL set, the server under test is someone else's to start.
  ...(process.env['E2E_BASE_URL']
    ? {}
    : {
        webServer: {
          command: `node --import tsx signaling/main.ts --port ${PORT}${staticDir ? ` --static ${shellQuote(staticDir)}` : ''}`,
          url: `http://127.0.0.1:${PORT}/health`,
          env: { HOST: '127.0.0.1' }, // zsh and some CI images export HOST=<hostname>
          reuseExistingServer: !process.env['CI'],
          timeout: 30_000,
          stdout: 'ignore',
          stderr: 'pipe',
        },
      }),
})
