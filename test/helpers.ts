import { builtInReducers, createNode, type NodeDeps, type Ir3Node } from '../src/core/node.ts'
import type { Reducer } from '../src/core/series/reducers.ts'
import { appModules } from '../src/apps/index.ts'
import { createManualClock, createSeededRng } from '../src/core/testing/manual-clock.ts'
import { createMemoryEventStore, type MemoryEventStore } from '../src/core/testing/memory-store.ts'
import {
  createWebCryptoSigner,
  createWebCryptoVerifier,
  generateKeyPair,
  type KeyPair,
} from '../src/adapters/webcrypto-signer.ts'

/** The reducers a test node runs: the core's, then every app's (in that order, as createNode applies them). */
export const testNodeReducers: readonly Reducer[] = [...builtInReducers, ...appModules]

export interface TestNode {
  node: Ir3Node
  store: MemoryEventStore
  pair: KeyPair
  reopen(): Promise<Ir3Node>
}

/** A node over a memory store with a manual clock, running every app (as a tab does); `reopen` starts a new node over the same store and key. */
export async function makeTestNode(opts: Partial<NodeDeps> = {}, pair?: KeyPair): Promise<TestNode> {
  const keys = pair ?? (await generateKeyPair())
  const store = createMemoryEventStore()
  const deps = (): NodeDeps => ({
    store,
    signer: createWebCryptoSigner(keys),
    verifier: createWebCryptoVerifier(),
    clock: createManualClock(),
    rng: createSeededRng(7),
    chunkSize: 8,
    snapshotEvery: 32,
    apps: appModules,
    ...opts,
  })
  const node = await createNode(deps())
  return { node, store, pair: keys, reopen: () => createNode(deps()) }
}
