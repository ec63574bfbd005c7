/**
 * The one place where adapters are wired into the core: IndexedDB store,
 * WebCrypto signer, the real clock; then the UI and `window.ir3`.
 */
import { createNode } from './core/node.ts'
import { realClock, realRng } from './adapters/real-clock.ts'
import { createIdbChunkStore, createIdbEventStore, openIr3Db } from './adapters/idb-store.ts'
import { createWebTorrentSwarm } from './adapters/webtorrent-swarm.ts'
import { claimNode, listNodes } from './adapters/node-registry.ts'
import { createWebCryptoSigner, createWebCryptoVerifier } from './adapters/webcrypto-signer.ts'
import { createWebCryptoCipher } from './adapters/webcrypto-cipher.ts'
import { selectApps } from './apps/index.ts'
import { MESH_NAME } from './core/wire/signaling.ts'
import { createSimplePeerTransport } from './adapters/simple-peer-transport.ts'
import { createWsBootstrap } from './adapters/ws-bootstrap.ts'
import { createApi, type Ir3Api } from './api.ts'
import { mountApp } from './ui/app.tsx'

declare global {
  interface Window {
    ir3?: Ir3Api
    /** Set when the node failed to start; tests read it. */
    ir3Error?: string
    /** ms since navigation start when the node was interactive (series loaded, derived state ready, UI mounted). */
    ir3ReadyMs?: number
  }
}

const clock = realClock
const rng = realRng

/** An integer page parameter in [min, max], or undefined when absent; anything else is refused, never replaced. */
function intParam(params: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const raw = params.get(name)
  if (raw === null) return undefined
  const n = Number(raw)
  if (raw.trim() === '' || !Number.isInteger(n) || n < min || n > max)
    throw new Error(`?${name}=${raw} is not an integer from ${min} to ${max}`)
  return n
}

async function start(): Promise<void> {
  const root = document.getElementById('root')
  if (!root) throw new Error('no #root element')
  const params = new URLSearchParams(location.search)
  // Page parameters are checked before anything starts: a bad one is reported, not replaced by a default.
  const meshParam = params.get('mesh')
  if (meshParam !== null && !MESH_NAME.test(meshParam))
    throw new Error(`?mesh=${meshParam} is not a mesh name (${MESH_NAME.source})`)
  const meshName = meshParam ?? 'default'
  const degree = intParam(params, 'degree', 1, 16)
  const target = intParam(params, 'replicas', 0, 16)
  // ?apps=a,b runs only those apps (all by default); unknown names are reported, not ignored.
  const selected = selectApps(params.get('apps'))
  if (selected.unknown.length > 0) throw new Error(`?apps= names unknown apps: ${selected.unknown.join(', ')}`)
  const db = await openIr3Db()
  const claim = await claimNode(db, params.get('node'))
  const signer = createWebCryptoSigner({ publicKey: claim.record.publicKey, privateKey: claim.record.privateKey })
  const chunkStore = createIdbChunkStore(db, claim.record.id)
  const swarm = createWebTorrentSwarm()
  const cipher = await createWebCryptoCipher(signer)
  if (!cipher) console.warn('iR³: this browser has no X25519 in WebCrypto; direct messages cannot be encrypted here')
  const node = await createNode({
    apps: selected.modules,
    cipher,
    chunkStore,
    swarm,
    chunks: {
      // ?replicate=off: this tab serves what it holds but takes on nothing by itself.
      replicate: params.get('replicate') !== 'off',
      ...(target !== undefined ? { replicationTarget: target } : {}),
    },
    store: createIdbEventStore(db, claim.record.id),
    signer,
    verifier: createWebCryptoVerifier(),
    clock,
    rng,
    commitDelayMs: 4,
    transport: createSimplePeerTransport(),
    bootstrap: createWsBootstrap({
      url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/signal`,
      mesh: meshName,
      id: claim.record.id,
      signer,
    }),
    mesh: {
      ...(degree !== undefined ? { targetDegree: degree } : {}),
      // ?probe=on lets the unsigned flood-and-echo probe through (benchmarks only).
      probes: params.get('probe') === 'on',
    },
  })
  const nodes = () => listNodes(db)
  const test =
    params.get('test') === 'on'
      ? {
          async tamperHeld(author: string, index: number) {
            const head = (await chunkStore.heads()).find((h) => h.author === author)
            const [c] = await chunkStore.chunks(author, index, index + 1)
            if (!head || !c) return false
            const data = c.data.slice()
            data[Math.floor(data.length / 2)]! ^= 0x20
            await chunkStore.put(head, [{ index, data }])
            swarm.forget(author)
            return true
          },
        }
      : null
  window.ir3 = createApi(node, claim.how, nodes, meshName, { swarm, test })
  // ?ui=off runs the node without the inspector (headless nodes, benchmarks).
  if (params.get('ui') === 'off') root.textContent = `iR³ node ${node.name} (${node.id}) running without the inspector.`
  else mountApp(root, { node, how: claim.how, note: claim.note ?? null, listNodes: nodes })
  requestAnimationFrame(() => {
    window.ir3ReadyMs = performance.now()
    performance.mark('ir3-ready')
  })
  addEventListener('pagehide', () => {
    void node.flush().catch(() => undefined)
  })
  // Leaving: close links now so peers see the departure at once rather than at a timeout.
  addEventListener('beforeunload', () => node.mesh?.stop())
}

// The service worker keeps the app shell for offline starts (public/sw.js). Not in `vite` dev.
if (import.meta.env.PROD && 'serviceWorker' in navigator) {
  navigator.serviceWorker.register('/sw.js').catch((e: unknown) => console.warn('service worker not registered', e))
}

start().catch((e: unknown) => {
  const message = e instanceof Error ? e.message : String(e)
  window.ir3Error = message
  const root = document.getElementById('root')
  if (root) {
    const p = document.createElement('p')
    p.setAttribute('role', 'alert')
    p.textContent = `This tab could not start its node: ${message}`
    root.replaceChildren(p)
  }
  console.error(e)
})
