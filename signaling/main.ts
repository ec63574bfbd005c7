/**
 * CLI: `node --import tsx signaling/main.ts [--port N] [--static DIR] [--signal-<option> N ...]`
 *
 * Port: `--port`, else `PORT`, else 8080 (0 picks a free one). Host: `HOST`,
 * else 127.0.0.1. Static dir: `--static` (relative to the working directory),
 * else `dist/` at the repository root. Prints exactly one line,
 * `iR³ Web listening on http://HOST:PORT/`, once listening; tests parse it.
 *
 * Signaling limits (docs/SIGNALING.md), each a flag or else an environment
 * variable, else the default: `--signal-sample-size` / `SIGNAL_SAMPLE_SIZE`,
 * `--signal-max-frame-bytes`, `--signal-rate`, `--signal-burst`,
 * `--signal-abuse-limit`, `--signal-max-per-mesh`, `--signal-max-per-address`,
 * `--signal-hello-timeout-ms`, `--signal-heartbeat-ms` (env: the flag in
 * UPPER_SNAKE without the dashes, e.g. `SIGNAL_MAX_PER_ADDRESS`).
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { createServer, DEFAULT_STATIC_DIR } from './server.ts'
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
  'hello-timeout-ms': 'helloTimeoutMs',
  'heartbeat-ms': 'heartbeatMs',
} as const satisfies Record<string, keyof SignalOptions>

const USAGE =
  'usage: node --import tsx signaling/main.ts [--port N] [--static DIR] ' +
  Object.keys(SIGNAL_FLAGS)
    .map((flag) => `[--signal-${flag} N]`)
    .join(' ')

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
      ...Object.fromEntries(Object.keys(SIGNAL_FLAGS).map((flag) => [`signal-${flag}`, { type: 'string' as const }])),
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

const signal: SignalOptions = {}
for (const [flag, option] of Object.entries(SIGNAL_FLAGS)) {
  const env = `SIGNAL_${flag.replaceAll('-', '_').toUpperCase()}`
  const fromFlag = args[`signal-${flag}`]
  if (fromFlag !== undefined) signal[option] = parseCount(fromFlag, `--signal-${flag}`)
  else if (process.env[env]) signal[option] = parseCount(process.env[env], env)
}

if (!existsSync(path.join(staticDir, 'index.html'))) {
  fail(
    `${path.join(staticDir, 'index.html')} not found: the app is not built.\n` +
      `Run \`npm run build\` first (or \`npm start\`, which builds and then starts the server).`,
  )
}

let server: ReturnType<typeof createServer>
try {
  server = createServer({ staticDir, port, host, signal })
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
