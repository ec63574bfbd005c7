/**
 * The one HTTP server of iR³ Web: it serves the built app (a Vite SPA) and,
 * on the same port, routes WebSocket upgrades by path (signaling, and a
 * WebTorrent tracker where one is needed). It keeps no data beyond live
 * sockets and never crashes on bad input: anything it cannot parse is a 400.
 *
 * Routes:
 *   GET|HEAD /health   → `{ ok, uptimeMs, connections, counters }` (JSON)
 *   GET|HEAD /<file>   → the file from `staticDir`, if it exists
 *   GET|HEAD /<route>  → `index.html` (SPA fallback) when the last segment has
 *                        no extension; 404 when it has one
 *   other methods      → 405
 *   upgrade /signal    → bootstrap signaling (signal.ts, docs/SIGNALING.md),
 *                        unless `signal: false` or `upgrade['/signal']` is given
 *   upgrade /<path>    → `upgrade[path]`, else the socket is destroyed
 */
import { createReadStream, type Stats } from 'node:fs'
import { stat } from 'node:fs/promises'
import http from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { pipeline } from 'node:stream'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  addressKey,
  createSignalCounters,
  createSignalServer,
  type SignalCounters,
  type SignalOptions,
} from './signal.ts'

/**
 * Takes over an upgraded socket, e.g.
 * `(req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))`
 * for a `ws` server made with `{ noServer: true }`.
 */
export type UpgradeHandler = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void

export interface ServerOptions {
  /** Directory holding the built app. Default: `dist/` at the repository root. */
  staticDir?: string
  /** Default 0: an ephemeral port, reported by `listen()`. */
  port?: number
  /** Default `127.0.0.1`. */
  host?: string
  /** WebSocket endpoints by exact path (e.g. `'/signal'`). Upgrades to any other path are refused. */
  upgrade?: Readonly<Record<string, UpgradeHandler>>
  /** Options of the signaling endpoint at `/signal`, or `false` for none. Default: its defaults. */
  signal?: SignalOptions | false
  /**
   * A connection that has not sent complete request headers this long after
   * it opened (or after its previous request) gets 408 and is destroyed —
   * never left half-open. Checked every `headersTimeoutMs / 4` (at most every
   * 30 s). Default 10 s.
   */
  headersTimeoutMs?: number
  /** TCP connections open at once, HTTP and WebSocket together; more are destroyed on accept. Default 10000. */
  maxConnections?: number
  /** TCP connections open at once from one address (IPv4 address; IPv6 /64); more are destroyed on accept. Default 256. */
  maxConnectionsPerAddress?: number
  /** Unexpected errors (a file vanishing mid-read, a throwing upgrade handler). Default: stderr. */
  onError?: (err: unknown) => void
}

export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000
export const DEFAULT_MAX_CONNECTIONS = 10_000
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 256
/** How long a refused connection may take to receive its error response before it is destroyed anyway. */
const ERROR_RESPONSE_GRACE_MS = 1_000

/** Named event counts reported by `/health`; later modules add their own and increment them. */
export interface Counters extends SignalCounters {
  httpRequests: number
  notFound: number
  badRequests: number
  methodNotAllowed: number
  upgradesRejected: number
  serverErrors: number
  /** Connections destroyed for not sending complete headers within `headersTimeoutMs`. */
  headersTimeouts: number
  /** Connections destroyed on accept because `maxConnections` were open. */
  connectionsDropped: number
  /** Connections destroyed on accept because their address had `maxConnectionsPerAddress` open. */
  addressConnectionsDropped: number
}

export interface Server {
  readonly http: http.Server
  readonly counters: Counters
  /** Resolves once listening; `url` ends with `/`. */
  listen(): Promise<{ port: number; url: string }>
  /** Stops listening and ends every open connection, upgraded ones (signaling included). Idempotent. */
  close(): Promise<void>
}

export const DEFAULT_STATIC_DIR = fileURLToPath(new URL('../dist/', import.meta.url))

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self' ws: wss:",
  "worker-src 'self' blob:",
  "manifest-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ')

const SECURITY_HEADERS = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
} as const

const MIME_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
}

/** Vite puts content-hashed files, and only those, under `/assets/`. */
const IMMUTABLE = 'public, max-age=31536000, immutable'
/**
 * Everything else — above all `index.html` and the service worker `sw.js` —
 * is revalidated on every load (cheaply, by ETag), or clients keep an old build.
 */
const REVALIDATE = 'no-cache'

export function createServer(opts: ServerOptions = {}): Server {
  const root = path.resolve(opts.staticDir ?? DEFAULT_STATIC_DIR)
  const host = opts.host ?? '127.0.0.1'
  const onError = opts.onError ?? ((err: unknown) => console.error('server error:', err))
  const startedAt = performance.now()
  const upgraded = new Set<Duplex>()
  const counters: Counters = {
    httpRequests: 0,
    notFound: 0,
    badRequests: 0,
    methodNotAllowed: 0,
    upgradesRejected: 0,
    serverErrors: 0,
    headersTimeouts: 0,
    connectionsDropped: 0,
    addressConnectionsDropped: 0,
    ...createSignalCounters(),
  }
  const signal = opts.signal === false ? null : createSignalServer(counters, { onError, ...(opts.signal ?? {}) })
  const upgradeRoutes = new Map(Object.entries({ ...(signal && { '/signal': signal.upgrade }), ...opts.upgrade }))

  const headersTimeout = opts.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS
  const maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS
  const maxConnectionsPerAddress = opts.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS
  for (const [name, value] of Object.entries({
    headersTimeoutMs: headersTimeout,
    maxConnections,
    maxConnectionsPerAddress,
  }))
    if (!Number.isSafeInteger(value) || value < 1)
      throw new RangeError(`server option ${name} must be an integer ≥ 1, got ${String(value)}`)
  const httpOptions = {
    headersTimeout,
    requestTimeout: Math.max(headersTimeout, 30_000),
    connectionsCheckingInterval: Math.min(30_000, Math.max(10, Math.floor(headersTimeout / 4))),
  }
  const server = http.createServer(httpOptions, (req, res) => {
    counters.httpRequests++
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value)
    handleRequest(req, res).catch((err: unknown) => {
      counters.serverErrors++
      onError(err)
      if (!res.headersSent) sendText(res, 500, 'Internal Server Error')
      else res.destroy()
    })
  })

  server.maxConnections = maxConnections
  server.on('drop', () => counters.connectionsDropped++)
  const connectionsPerAddress = new Map<string, number>()
  server.on('connection', (socket: Socket) => {
    const key = addressKey(socket.remoteAddress)
    const open = connectionsPerAddress.get(key) ?? 0
    if (open >= maxConnectionsPerAddress) {
      counters.addressConnectionsDropped++
      socket.destroy()
      return
    }
    connectionsPerAddress.set(key, open + 1)
    socket.once('close', () => {
      const left = (connectionsPerAddress.get(key) ?? 1) - 1
      if (left > 0) connectionsPerAddress.set(key, left)
      else connectionsPerAddress.delete(key)
    })
  })

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
    if (timedOut) counters.headersTimeouts++
    else counters.badRequests++
    if (!socket.writable) return socket.destroy()
    const status = timedOut
      ? '408 Request Timeout'
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? '431 Request Header Fields Too Large'
        : '400 Bad Request'
    // end() alone leaves the socket half-open until the peer closes its side, which an attacker never does.
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy())
    setTimeout(() => socket.destroy(), ERROR_RESPONSE_GRACE_MS).unref()
  })

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    // A reset socket must not take the process down.
    socket.on('error', () => socket.destroy())
    const urlPath = requestPath(req.url)
    const route = urlPath === null ? undefined : upgradeRoutes.get(urlPath)
    if (!route) {
      counters.upgradesRejected++
      socket.destroy()
      return
    }
    upgraded.add(socket)
    socket.once('close', () => upgraded.delete(socket))
    try {
      route(req, socket, head)
    } catch (err) {
      counters.serverErrors++
      onError(err)
      socket.destroy()
    }
  })

  async function handleRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      counters.methodNotAllowed++
      res.setHeader('Allow', 'GET, HEAD')
      return sendText(res, 405, 'Method Not Allowed')
    }
    const urlPath = requestPath(req.url)
    if (urlPath === null) {
      counters.badRequests++
      return sendText(res, 400, 'Bad Request')
    }

    if (urlPath === '/health') return sendHealth(res)

    const file = await findFile(urlPath)
    if (file) return sendFile(req, res, urlPath, file)
    if (path.posix.extname(urlPath) === '') {
      const index = await findFile('/index.html')
      if (index) return sendFile(req, res, '/index.html', index)
    }
    counters.notFound++
    return sendText(res, 404, 'Not Found')
  }

  /** The regular file at `urlPath` inside `root`, or null. */
  async function findFile(urlPath: string): Promise<{ file: string; stats: Stats } | null> {
    const file = path.resolve(root, '.' + urlPath)
    if (!file.startsWith(root + path.sep)) return null
    try {
      const stats = await stat(file)
      return stats.isFile() ? { file, stats } : null
    } catch {
      return null
    }
  }

  function sendFile(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    urlPath: string,
    { file, stats }: { file: string; stats: Stats },
  ): void {
    const etag = `W/"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`
    res.setHeader('Content-Type', MIME_TYPES[path.posix.extname(urlPath).toLowerCase()] ?? 'application/octet-stream')
    res.setHeader('Cache-Control', urlPath.startsWith('/assets/') ? IMMUTABLE : REVALIDATE)
    res.setHeader('ETag', etag)
    res.setHeader('Last-Modified', stats.mtime.toUTCString())
    if (req.headers['if-none-match'] === etag) {
      res.statusCode = 304
      res.end()
      return
    }
    res.setHeader('Content-Length', stats.size)
    if (req.method === 'HEAD') {
      res.end()
      return
    }
    pipeline(createReadStream(file), res, (err) => {
      // ERR_STREAM_PREMATURE_CLOSE: the client went away mid-transfer.
      if (err && err.code !== 'ERR_STREAM_PREMATURE_CLOSE') {
        counters.serverErrors++
        onError(err)
      }
    })
  }

  function sendHealth(res: http.ServerResponse): void {
    const body = {
      ok: true,
      uptimeMs: Math.round(performance.now() - startedAt),
      connections: upgraded.size,
      counters,
    }
    res.setHeader('Cache-Control', 'no-store')
    sendBody(res, 200, 'application/json; charset=utf-8', JSON.stringify(body))
  }

  let closing: Promise<void> | undefined
  return {
    http: server,
    counters,
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject)
        server.listen(opts.port ?? 0, host, () => {
          server.off('error', reject)
          const { port } = server.address() as { port: number }
          const urlHost = host.includes(':') ? `[${host}]` : host
          resolve({ port, url: `http://${urlHost}:${port}/` })
        })
      }),
    close: () =>
      (closing ??= new Promise((resolve) => {
        signal?.close()
        if (!server.listening) return resolve()
        server.close(() => resolve())
        server.closeAllConnections()
        for (const socket of upgraded) socket.destroy()
      })),
  }
}

/**
 * The decoded, normalized path of a request target, or null for anything a
 * browser would not send: no leading `/`, malformed percent-encoding, NUL
 * bytes, backslashes or `..` segments (browsers resolve those themselves).
 */
function requestPath(target: string | undefined): string | null {
  if (!target?.startsWith('/')) return null
  let decoded: string
  try {
    decoded = decodeURIComponent(target.replace(/[?#].*$/s, ''))
  } catch {
    return null
  }
  if (/[\0\\]/.test(decoded) || decoded.split('/').includes('..')) return null
  return path.posix.normalize(decoded)
}

function sendText(res: http.ServerResponse, status: number, text: string): void {
  res.setHeader('Cache-Control', 'no-store')
  sendBody(res, status, 'text/plain; charset=utf-8', text + '\n')
}

function sendBody(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.statusCode = status
  res.setHeader('Content-Type', type)
  res.setHeader('Content-Length', Buffer.byteLength(body))
  res.end(res.req.method === 'HEAD' ? undefined : body)
}
