/*
 * iR³ Web service worker: keeps the app shell so a node can start without
 * the server (it then appends locally and rejoins the mesh when the server or
 * a peer is back).
 *
 * - install: fetch "/" and cache it with every /assets/ file it references
 *   (entry, CSS, module preloads), the manifest and the icons;
 * - navigations: network first, the cached shell when the network fails;
 * - /assets/*: cache first (names are content-hashed, so never stale), and
 *   cached on first fetch;
 * - everything else (/health, /signal, /test-pages, …) goes to the network.
 */
const SHELL = 'ir3-shell-v1'
const STATIC = ['/manifest.webmanifest', '/icon.svg', '/icon-192.png', '/icon-512.png']

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(SHELL)
      const res = await fetch('/', { cache: 'no-store' })
      const html = await res.clone().text()
      const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1])
      await cache.put('/', res)
      await cache.addAll([...new Set([...assets, ...STATIC])])
      await self.skipWaiting()
    })(),
  )
})

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) if (key !== SHELL) await caches.delete(key)
      await self.clients.claim()
    })(),
  )
})

self.addEventListener('fetch', (event) => {
  const req = event.request
  if (req.method !== 'GET') return
  const url = new URL(req.url)
  if (url.origin !== self.location.origin) return
  if (req.mode === 'navigate' && !url.pathname.startsWith('/test-pages/')) {
    event.respondWith(
      (async () => {
        try {
          const res = await fetch(req)
          if (res.ok && url.pathname === '/') (await caches.open(SHELL)).put('/', res.clone())
          return res
        } catch {
          return (await caches.match('/')) ?? Response.error()
        }
      })(),
    )
    return
  }
  if (url.pathname.startsWith('/assets/') || STATIC.includes(url.pathname)) {
    event.respondWith(
      (async () => {
        const hit = await caches.match(req)
        if (hit) return hit
        const res = await fetch(req)
        if (res.ok) (await caches.open(SHELL)).put(req, res.clone())
        return res
      })(),
    )
  }
})
