// @vitest-environment node
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import { CONTENT_SECURITY_POLICY, createServer, type Server } from '../signaling/server.ts'

const INDEX_HTML = '<!doctype html><html><head><title>iR³ test</title></head><body></body></html>'
const SECRET = 'secret outside the static dir'

interface RawResponse {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

let tmp: string
let server: Server
let port: number
let baseUrl: string
const echo = new WebSocketServer({ noServer: true })
echo.on('connection', (ws) => ws.on('message', (data) => ws.send(data)))

/** Sends `target` byte for byte (fetch would normalize `..` and `%2e%2e` away). */
function raw(target: string, method = 'GET'): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: target, method, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      )
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'ir3-server-test-'))
  const dist = path.join(tmp, 'dist')
  await mkdir(path.join(dist, 'assets'), { recursive: true })
  await writeFile(path.join(tmp, 'secret.txt'), SECRET)
  await writeFile(path.join(tmp, 'package.json'), SECRET)
  await writeFile(path.join(dist, 'index.html'), INDEX_HTML)
  await writeFile(path.join(dist, 'sw.js'), 'self.addEventListener("fetch", () => {});')
  await writeFile(path.join(dist, 'manifest.webmanifest'), '{"name":"iR³"}')
  await writeFile(path.join(dist, 'icon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>')
  await writeFile(path.join(dist, 'favicon.ico'), Buffer.from([0, 0, 1, 0]))
  await writeFile(path.join(dist, 'robots.txt'), 'User-agent: *')
  await writeFile(path.join(dist, 'data.bin'), Buffer.from([1, 2, 3]))
  await writeFile(path.join(dist, 'assets', 'index-abc123.js'), 'console.log(1);')
  await writeFile(path.join(dist, 'assets', 'index-abc123.js.map'), '{}')
  await writeFile(path.join(dist, 'assets', 'index-abc123.css'), 'body{}')
  await writeFile(path.join(dist, 'assets', 'worker-abc123.mjs'), 'export {};')
  await writeFile(path.join(dist, 'assets', 'logo-abc123.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47]))
  await writeFile(path.join(dist, 'assets', 'mod-abc123.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d]))
  await writeFile(path.join(dist, 'assets', 'data-abc123.json'), '{}')

  server = createServer({
    staticDir: dist,
    port: 0,
    upgrade: {
      '/echo': (req, socket, head) => echo.handleUpgrade(req, socket, head, (ws) => echo.emit('connection', ws, req)),
    },
  })
  ;({ port, url: baseUrl } = await server.listen())
})

afterAll(async () => {
  await server.close()
  echo.close()
  await rm(tmp, { recursive: true, force: true })
})

describe('static files', () => {
  it('serves index.html at / without caching it', async () => {
    const res = await fetch(baseUrl)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(res.headers.get('cache-control')).toBe('no-cache')
    expect(await res.text()).toBe(INDEX_HTML)
  })

  it('falls back to index.html for app routes without a file extension', async () => {
    for (const route of ['/inspector', '/apps/chat/room-1', '/assets', '/assets/', '/some/route?x=1#y']) {
      const res = await fetch(new URL(route, baseUrl))
      expect(res.status, route).toBe(200)
      expect(await res.text(), route).toBe(INDEX_HTML)
    }
  })

  it('answers 404 for a missing file with an extension', async () => {
    for (const file of ['/missing.js', '/assets/gone-123.css', '/deep/missing.png']) {
      const res = await fetch(new URL(file, baseUrl))
      expect(res.status, file).toBe(404)
    }
  })

  it.each([
    ['/sw.js', 'text/javascript; charset=utf-8'],
    ['/manifest.webmanifest', 'application/manifest+json; charset=utf-8'],
    ['/icon.svg', 'image/svg+xml'],
    ['/favicon.ico', 'image/x-icon'],
    ['/robots.txt', 'text/plain; charset=utf-8'],
    ['/data.bin', 'application/octet-stream'],
    ['/assets/index-abc123.js', 'text/javascript; charset=utf-8'],
    ['/assets/worker-abc123.mjs', 'text/javascript; charset=utf-8'],
    ['/assets/index-abc123.css', 'text/css; charset=utf-8'],
    ['/assets/index-abc123.js.map', 'application/json; charset=utf-8'],
    ['/assets/logo-abc123.png', 'image/png'],
    ['/assets/mod-abc123.wasm', 'application/wasm'],
    ['/assets/data-abc123.json', 'application/json; charset=utf-8'],
  ])('serves %s as %s', async (file, type) => {
    const res = await fetch(new URL(file, baseUrl))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe(type)
  })

  it('caches hashed assets for long and makes the service worker revalidate', async () => {
    const asset = await fetch(new URL('/assets/index-abc123.js', baseUrl))
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
    const sw = await fetch(new URL('/sw.js', baseUrl))
    expect(sw.headers.get('cache-control')).toBe('no-cache')
  })

  it('answers a matching If-None-Match with 304', async () => {
    const first = await fetch(baseUrl)
    const etag = first.headers.get('etag')
    expect(etag).toBeTruthy()
    const second = await fetch(baseUrl, { headers: { 'if-none-match': etag ?? '' } })
    expect(second.status).toBe(304)
  })

  it('answers HEAD with headers and no body', async () => {
    const res = await raw('/assets/index-abc123.js', 'HEAD')
    expect(res.status).toBe(200)
    expect(res.headers['content-length']).toBe(String('console.log(1);'.length))
    expect(res.body).toBe('')
  })
})

describe('untrusted paths', () => {
  it.each([
    '/../secret.txt',
    '/../package.json',
    '/%2e%2e/package.json',
    '/%2E%2E/secret.txt',
    '/..%2fsecret.txt',
    '/..%2Fpackage.json',
    '/..%5csecret.txt',
    '/%2e%2e%5cpackage.json',
    '/assets/..%5c..%5csecret.txt',
    '/assets/../../secret.txt',
    '/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
    '/..\\secret.txt',
    '/secret.txt%00.html',
  ])('never serves a file outside the static dir for %s', async (target) => {
    const res = await raw(target)
    expect(res.body).not.toContain(SECRET)
    expect(res.body).not.toContain('root:')
    expect([400, 404]).toContain(res.status)
  })

  it('does not serve a file by its absolute path', async () => {
    const res = await raw(path.join(tmp, 'secret.txt'))
    expect(res.body).not.toContain(SECRET)
  })

  it('answers malformed percent-encoding with 400 and keeps serving', async () => {
    for (const target of ['/%E0%A4%A', '/%', '/%zz', '/assets/%c0%ae%c0%ae/secret.txt']) {
      const res = await raw(target)
      expect(res.status, target).toBe(400)
    }
    const after = await fetch(baseUrl)
    expect(after.status).toBe(200)
    expect(await after.text()).toBe(INDEX_HTML)
  })

  it('answers a request line the HTTP parser rejects with 400 and keeps serving', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => socket.write('GARBAGE\r\n\r\n'))
      let data = ''
      socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')))
      socket.on('end', () => resolve(data))
      socket.on('error', reject)
    })
    expect(reply).toMatch(/^HTTP\/1\.1 400 /)
    expect((await fetch(baseUrl)).status).toBe(200)
  })
})

describe('methods and headers', () => {
  it.each(['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'])('answers %s with 405 and an Allow header', async (method) => {
    const res = await raw('/', method)
    expect(res.status).toBe(405)
    expect(res.headers['allow']).toBe('GET, HEAD')
  })

  it('sends the security headers on every kind of response', async () => {
    for (const [target, method] of [
      ['/', 'GET'],
      ['/assets/index-abc123.js', 'GET'],
      ['/missing.js', 'GET'],
      ['/%', 'GET'],
      ['/', 'POST'],
      ['/health', 'GET'],
    ] as const) {
      const res = await raw(target, method)
      expect(res.headers['content-security-policy'], `${method} ${target}`).toBe(CONTENT_SECURITY_POLICY)
      expect(res.headers['x-content-type-options'], `${method} ${target}`).toBe('nosniff')
      expect(res.headers['referrer-policy'], `${method} ${target}`).toBe('no-referrer')
    }
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'")
    expect(CONTENT_SECURITY_POLICY).toContain("connect-src 'self' ws: wss:")
    expect(CONTENT_SECURITY_POLICY).toContain("frame-ancestors 'none'")
  })
})

describe('/health', () => {
  it('reports ok, uptime, connections and named counters', async () => {
    await fetch(new URL('/nope.js', baseUrl))
    const res = await fetch(new URL('/health', baseUrl))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
    const body = (await res.json()) as Record<string, unknown>
    expect(body).toMatchObject({ ok: true, connections: 0 })
    expect(body['uptimeMs']).toBeTypeOf('number')
    const counters = body['counters'] as Record<string, unknown>
    for (const name of ['httpRequests', 'notFound', 'badRequests']) expect(counters[name], name).toBeTypeOf('number')
    expect(counters['httpRequests']).toBeGreaterThan(0)
    expect(counters['notFound']).toBeGreaterThan(0)
    expect(counters['badRequests']).toBeGreaterThan(0)
  })
})

describe('upgrades', () => {
  it('hands upgrades on a registered path to its handler and counts the connection', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`)
    const reply = await new Promise<string>((resolve, reject) => {
      ws.on('open', () => ws.send('hi'))
      ws.on('message', (data: Buffer) => resolve(data.toString()))
      ws.on('error', reject)
    })
    expect(reply).toBe('hi')
    const health = (await (await fetch(new URL('/health', baseUrl))).json()) as { connections: number }
    expect(health.connections).toBe(1)
    await new Promise<void>((resolve) => {
      ws.on('close', () => resolve())
      ws.close()
    })
  })

  it('destroys upgrades to any other path', async () => {
    const before = server.counters.upgradesRejected
    for (const target of ['/nope', '/echo/', '/%', '/echo?x']) {
      const ws = new WebSocket(`ws://127.0.0.1:${port}${target}`)
      const outcome = await new Promise<string>((resolve) => {
        ws.on('open', () => resolve('open'))
        ws.on('error', () => resolve('error'))
      })
      expect(outcome, target).toBe(target === '/echo?x' ? 'open' : 'error')
      ws.terminate()
    }
    expect(server.counters.upgradesRejected - before).toBe(3)
  })
})
