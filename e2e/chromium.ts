/** Flags for Debian's headless Chromium in tests and benchmarks (why: docs/ARCHITECTURE.md, "Testing in Chromium"). */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Without the next two, Chromium gathers no ICE candidates in a
  // loopback-only namespace (camera/mic permission also required).
  '--allow-loopback-in-peer-connection',
  '--use-fake-ui-for-media-stream',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  // Many tabs per browser: keep background ones running at full speed.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
]
