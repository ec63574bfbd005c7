/**
 * A seeded simulation of many nodes over the memory network with a manual
 * clock. Keys are derived from the seed and signatures are real Ed25519
 * (Node's synchronous crypto, so delivery order is the only source of
 * interleaving and a run repeats exactly from its seed).
 */
import { createPrivateKey, createPublicKey, sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto'
import { createNode, type Ir3Node } from '../../src/core/node.ts'
import { createManualClock, createSeededRng, type ManualClock } from '../../src/core/testing/manual-clock.ts'
import { createMemoryEventStore } from '../../src/core/testing/memory-store.ts'
import { createMemoryNetwork, type MemoryNetwork } from '../../src/core/testing/memory-network.ts'
import { nodeIdFromPublicKey } from '../../src/core/identity.ts'
import { toHex } from '../../src/core/series/hash.ts'
import type { Rng, Signer, Verifier } from '../../src/core/ports.ts'
import type { MeshOptions } from '../../src/core/mesh/mesh.ts'
import type { ChunksOptions } from '../../src/core/chunks/service.ts'
import type { AnyModule } from '../../src/core/modules/module.ts'
import { appModules } from '../../src/apps/index.ts'
import { createSyncCipher } from './cipher.ts'
import {
  createMemoryChunkStore,
  createMemorySwarmNetwork,
  type MemoryChunkStore,
  type MemorySwarmNetwork,
} from '../../src/core/testing/memory-chunks.ts'

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

export function seededSigner(rng: Rng): Signer {
  const seed = Buffer.from(Array.from({ length: 32 }, () => Math.floor(rng.next() * 256)))
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' })
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' })
  const publicKey = new Uint8Array(spki.subarray(spki.length - 32))
  return { publicKey, sign: async (m) => new Uint8Array(edSign(null, m, key)) }
}

export function syncVerifier(): Verifier {
  const keys = new Map<string, KeyObject>()
  return {
    async verify(pub, msg, sig) {
      const hex = toHex(pub)
      let k = keys.get(hex)
      if (!k)
        keys.set(
          hex,
          (k = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, Buffer.from(pub)]), format: 'der', type: 'spki' })),
        )
      try {
        return edVerify(null, msg, k, sig)
      } catch {
        return false
      }
    },
  }
}

export interface Sim {
  seed: number
  clock: ManualClock
  net: MemoryNetwork
  nodes: Ir3Node[]
  /** Adds and starts a node (running the sim's apps, or `apps`). */
  add(opts?: { chunks?: ChunksOptions; apps?: readonly AnyModule[] }): Promise<Ir3Node>
  /** Restarts a node's tab: the same identity and stored series, a new node (like a reload). */
  reload(node: Ir3Node): Promise<Ir3Node>
  /** Closes a node's tab: it leaves the mesh and the swarm. */
  remove(node: Ir3Node): void
  /** The chunk store of a node (with `chunks` on). */
  chunkStore(node: Ir3Node): MemoryChunkStore
  swarms: MemorySwarmNetwork
  /** Advances simulated time in small steps, letting all promise work settle between steps. */
  run(ms: number, step?: number): Promise<void>
  /** Ids reachable from `from` over ready links (both ends ready). */
  component(from: Ir3Node, among?: Ir3Node[]): Set<string>
  byId(id: string): Ir3Node
}

const settle = () => new Promise<void>((r) => setImmediate(r))

export async function createSim(opts: {
  seed: number
  mesh?: MeshOptions
  latencyMs?: [number, number]
  mesh_name?: string
  /** Gives every node a chunk store and a memory swarm. */
  chunks?: ChunksOptions
  chunkSize?: number
  /** Apps every node runs (default: every app in src/apps/index.ts). */
  apps?: readonly AnyModule[]
}): Promise<Sim> {
  const clock = createManualClock()
  const rng = createSeededRng(opts.seed)
  const net = createMemoryNetwork({ clock, rng, ...(opts.latencyMs ? { latencyMs: opts.latencyMs } : {}) })
  const verifier = syncVerifier()
  const nodes: Ir3Node[] = []
  const gone = new Set<string>()
  const stores = new Map<string, MemoryChunkStore>()
  const identities = new Map<
    string,
    {
      signer: Signer
      store: ReturnType<typeof createMemoryEventStore>
      apps: readonly AnyModule[]
      chunks: ChunksOptions | undefined
    }
  >()
  const swarms = createMemorySwarmNetwork({ clock, reachable: (a, b) => !gone.has(a) && !gone.has(b) })
  const sim: Sim = {
    swarms,
    remove(node) {
      gone.add(node.id)
      node.destroy()
      const i = nodes.indexOf(node)
      if (i >= 0) nodes.splice(i, 1)
    },
    chunkStore(node) {
      const st = stores.get(node.id)
      if (!st) throw new Error('no chunk store')
      return st
    },
    seed: opts.seed,
    clock,
    net,
    nodes,
    async add(o = {}) {
      const signer = seededSigner(rng)
      return start(signer, createMemoryEventStore(), o.apps ?? opts.apps ?? appModules, o.chunks)
    },
    async reload(node) {
      const ident = identities.get(node.id)
      if (!ident) throw new Error('unknown node')
      sim.remove(node)
      gone.delete(node.id)
      return start(ident.signer, ident.store, ident.apps, ident.chunks)
    },
    async run(ms, step = 5) {
      for (let t = 0; t < ms; t += step) {
        clock.advance(step)
        await settle()
      }
    },
    component(from, among = nodes) {
      const live = new Map(among.map((n) => [n.id, n]))
      const seen = new Set([from.id])
      const queue = [from]
      while (queue.length > 0) {
        const n = queue.shift()!
        for (const p of n.peers()) {
          const other = live.get(p.id)
          if (p.state !== 'ready' || !other || seen.has(p.id)) continue
          if (!other.peers().some((q) => q.id === n.id && q.state === 'ready')) continue
          seen.add(p.id)
          queue.push(other)
        }
      }
      return seen
    },
    byId(id) {
      const n = nodes.find((x) => x.id === id)
      if (!n) throw new Error(`no node ${id}`)
      return n
    },
  }
  async function start(
    signer: Signer,
    store: ReturnType<typeof createMemoryEventStore>,
    apps: readonly AnyModule[],
    chunks: ChunksOptions | undefined,
  ): Promise<Ir3Node> {
    const id = nodeIdFromPublicKey(signer.publicKey)
    identities.set(id, { signer, store, apps, chunks })
    const node = await createNode({
      store,
      signer,
      verifier,
      clock,
      rng,
      apps,
      cipher: await createSyncCipher(signer, rng),
      transport: net.transport(id),
      bootstrap: net.bootstrap({ id, publicKey: toHex(signer.publicKey) }, opts.mesh_name ?? 'default'),
      ...(opts.mesh ? { mesh: opts.mesh } : {}),
      ...(opts.chunkSize ? { chunkSize: opts.chunkSize, snapshotEvery: opts.chunkSize * 16 } : {}),
      ...(opts.chunks || chunks
        ? (() => {
            const st = stores.get(id) ?? createMemoryChunkStore()
            stores.set(id, st)
            return { chunkStore: st, swarm: swarms.swarm(id), chunks: { ...opts.chunks, ...chunks } }
          })()
        : {}),
    })
    nodes.push(node)
    return node
  }
  return sim
}

/** Entries of `kind` in a node's series (memory store: cheap). */
export async function entriesOf(
  node: Ir3Node,
  kind: string,
): Promise<{ seq: number; body: Record<string, unknown> }[]> {
  const all = await node.entries(0, node.length)
  return all.filter((e) => e.kind === kind).map((e) => ({ seq: e.seq, body: e.body as Record<string, unknown> }))
}

/** A seed from SIM_SEED or the clock, printed so a failure can be repeated. */
export function pickSeed(name: string): number {
  const env = process.env['SIM_SEED']
  const seed = env ? Number(env) : Math.floor(Math.random() * 2 ** 31)
  console.log(`${name}: seed ${seed} (repeat with SIM_SEED=${seed})`)
  return seed
}

/** Runs the simulation until `p` settles (at most `ms` of simulated time); returns its value or throws its error. */
export async function until<T>(sim: Sim, p: Promise<T>, ms = 15_000): Promise<T> {
  let done = false
  let value: T | undefined
  let error: unknown = null
  p.then(
    (v) => ((done = true), (value = v)),
    (e: unknown) => ((done = true), (error = e ?? new Error('rejected'))),
  )
  for (let t = 0; t < ms && !done; t += 50) await sim.run(50)
  if (!done) throw new Error(`seed ${sim.seed}: not settled within ${ms} ms`)
  if (error) throw error
  return value as T
}

/** A mesh of `n` nodes with chunks on (chunk size `chunkSize`, replication every second), joined. */
export async function createChunkSim(
  seed: number,
  n: number,
  chunkSize: number,
  chunks: ChunksOptions = {},
): Promise<Sim> {
  const sim = await createSim({ seed, latencyMs: [1, 10], chunkSize, chunks: { replicateEveryMs: 1000, ...chunks } })
  for (let i = 0; i < n; i++) await sim.add()
  await sim.run(3000, 10)
  return sim
}
