/// <reference types="vitest/config" />
import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'
import { fileURLToPath } from 'node:url'

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))

// simple-peer 9 and webtorrent expect Node globals (global, process, Buffer);
// their prebuilt browser bundles don't, so we alias to those (see docs/ARCHITECTURE.md).
export default defineConfig({
  plugins: [react()],
  resolve: {
    alias: {
      'simple-peer': here('./node_modules/simple-peer/simplepeer.min.js'),
      webtorrent: here('./node_modules/webtorrent/dist/webtorrent.min.js'),
    },
  },
  build: {
    target: 'es2022',
    sourcemap: true,
    rollupOptions: {
      input: {
        main: here('./index.html'),
        // Test pages ship with the app but are only linked from tests: they run
        // the same contract suites against real browser parts (IndexedDB).
        'store-contract': here('./test-pages/store-contract.html'),
        'transport-contract': here('./test-pages/transport-contract.html'),
      },
    },
  },
  test: {
    include: ['test/**/*.test.ts', 'src/apps/**/*.test.ts'],
    environment: 'node',
    testTimeout: 30_000,
  },
})
