/**
 * CLI: `node --import tsx signaling/main.ts [--port N] [--static DIR] [--signal-<option> N ...]`
 *
 * Port: `--port`, else `PORT`, else 8080 (0 picks a free one). Host: `HOST`,
 * else 127.0.0.1. Static dir: `--static` (relative to the working directory),
 * else `dist/` at the repository root. Prints exactly one line,
 * `iR³ Web listening on http://HOST:PORT/`, once listening; tests parse it.
 *
 * Signaling limits (docs/SIGNALING.md, "Limits"), each a flag or else an
 * environment variable, else the default: `--signal-sample-size` /
 * `SIGNAL_SAMPLE_SIZE`, and likewise every key of `SIGNAL_FLAGS` and
 * `HTTP_FLAGS` below (env: the flag in UPPER_SNAKE without the leading dashes,
 * e.g. `SIGNAL_MAX_PER_ADDRESS`, `SIGNAL_HEADERS_TIMEOUT_MS`).
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { createServer, DEFAULT_STATIC_DIR, type ServerOptions } from './server.ts'
import type { SignalOptions } from './signal.ts'

/** Flag (without `--signal-`) → the signaling option it sets. */
const SIGNAL_FLAGS = {
  'sample-size': 'sampleSize',
  'max-frame-bytes': 'maxFrameBytes',
  rate: 'ratePerSecond',
  burst: 'rateBurst',
  'abuse-limit': 'abuseLimit',
  'max-per-mesh': 'maxPerMesh',
  'max-per-address': 'maxPerAddress',
  'max-pending-per-address': 'maxPendingPerAddress',
  'loopback-per-address': 'loopbackPerAddress',
  'max-pending': 'maxPending',
  'max-connections': 'maxConnections',
  'hello-timeout-ms': 'helloTimeoutMs',
  'max-hello-failures': 'maxHelloFailures',
  'hello-failure-burst': 'helloFailureBurst',
  'hello-failures-per-minute': 'helloFailuresPerMinute',
  'inbound-rate': 'inboundRate',
  'inbound-burst': 'inboundBurst',
  'inbound-bytes-per-second': 'inboundBytesPerSecond',
  'inbound-burst-bytes': 'inboundBurstBytes',
  'reply-credits': 'replyCredits',
  'heartbeat-ms': 'heartbeatMs',
  'max-buffered-bytes': 'maxBufferedBytes',
  'close-timeout-ms': 'closeTimeoutMs',
} as const satisfies Record<string, keyof SignalOptions>

/** Limits of the HTTP server the endpoint runs on, under the same `--signal-` prefix. */
const HTTP_FLAGS = {
  'headers-timeout-ms': 'headersTimeoutMs',
  'max-tcp-connections': 'maxConnections',
  'max-tcp-connections-per-address': 'maxConnectionsPerAddress',
} as const satisfies Record<string, keyof ServerOptions>

const ALL_FLAGS = [...Object.keys(SIGNAL_FLAGS), ...Object.keys(HTTP_FLAGS)]

const USAGE =
  'usage: node --import tsx signaling/main.ts [--port N] [--static DIR] ' +
  ALL_FLAGS.map((flag) => `[--signal-${flag} N]`).join(' ')

function fail(message: string, code = 1): never {
  console.error(`error: ${message}`)
  process.exit(code)
}

function parsePort(value: string, source: string): number {
  const port = Number(value)
  if (!/^\d+$/.test(value) || port > 65535) fail(`${source} must be a port number 0–65535, got "${value}"`, 2)
  return port
}

function parseCount(value: string, source: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) fail(`${source} must be a whole number, got "${value}"`, 2)
  return n
}

let args: Record<string, string | undefined>
try {
  ;({ values: args } = parseArgs({
    options: {
      port: { type: 'string' },
      static: { type: 'string' },
      ...Object.fromEntries(ALL_FLAGS.map((flag) => [`signal-${flag}`, { type: 'string' as const }])),
    },
    strict: true,
    allowPositionals: false,
  }))
} catch (err) {
  fail(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`, 2)
}

const port =
  args['port'] !== undefined
    ? parsePort(args['port'], '--port')
    : process.env['PORT']
      ? parsePort(process.env['PORT'], 'PORT')
      : 8080
const host = process.env['HOST'] || '127.0.0.1'
const staticDir = args['static'] !== undefined ? path.resolve(args['static']) : DEFAULT_STATIC_DIR

/** The flag's value, else its environment variable's, else undefined (the default). */
function countOption(flag: string): number | undefined {
  const env = `SIGNAL_${flag.replaceAll('-', '_').toUpperCase()}`
  const fromFlag = args[`signal-${flag}`]
  if (fromFlag !== undefined) return parseCount(fromFlag, `--signal-${flag}`)
  if (process.env[env]) return parseCount(process.env[env], env)
  return undefined
}

const signal: SignalOptions = {}
for (const [flag, option] of Object.entries(SIGNAL_FLAGS)) {
  const value = countOption(flag)
  if (value !== undefined) signal[option] = value
}
const limits: Pick<ServerOptions, 'headersTimeoutMs' | 'maxConnections' | 'maxConnectionsPerAddress'> = {}
for (const [flag, option] of Object.entries(HTTP_FLAGS)) {
  const value = countOption(flag)
  if (value !== undefined) limits[option] = value
}

if (!existsSync(path.join(staticDir, 'index.html'))) {
  fail(
    `${path.join(staticDir, 'index.html')} not found: the app is not built.\n` +
      `Run \`npm run build\` first (or \`npm start\`, which builds and then starts the server).`,
  )
}

let server: ReturnType<typeof createServer>
try {
  server = createServer({ staticDir, port, host, signal, ...limits })
} catch (err) {
  fail(err instanceof Error ? err.message : String(err), 2)
}
try {
  const { url } = await server.listen()
  console.log(`iR³ Web listening on ${url}`)
} catch (err) {
  fail(`cannot listen on ${host}:${port}: ${err instanceof Error ? err.message : String(err)}`)
}

let stopping = false
function stop(signal: NodeJS.Signals): void {
  if (stopping) process.exit(130) // a second Ctrl-C: don't wait any longer
  stopping = true
  console.error(`${signal}: closing`)
  server.close().then(
    () => process.exit(0),
    (err: unknown) => fail(`while closing: ${String(err)}`),
  )
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
