/**
 * Which node this tab is. A browser holds many nodes (one IndexedDB, keys
 * prefixed by node id); each tab runs exactly one, and each node is run by at
 * most one tab: the tab holds the Web Lock `ir3-node:<id>` for as long as it
 * lives. The tab remembers its node in sessionStorage, so a reload resumes
 * it. A duplicated tab copies sessionStorage but cannot take the lock (the
 * original tab holds it), so it becomes a new node. `?node=<id>` asks to
 * resume a node that no tab is running.
 */
import { nameFromId, nodeIdFromPublicKey } from '../core/identity.ts'
import type { Ir3Db, NodeRecord } from './idb-store.ts'
import { generateKeyPair } from './webcrypto-signer.ts'

const SESSION_KEY = 'ir3.nodeId'
const LOCK_PREFIX = 'ir3-node:'
/** How long a reloaded tab waits for its previous document to release the lock. */
const RELOAD_WAIT_MS = 2000

export interface NodeClaim {
  record: NodeRecord
  /** How this tab came to run the node. */
  how: 'created' | 'resumed' | 'requested'
  /** Why a remembered or requested node was not resumed, if so. */
  note?: string
  /** Releases the lock (the node may then be resumed elsewhere). */
  release(): void
}

export interface NodeSummary {
  id: string
  name: string
  createdAt: number
  lastOpenedAt: number
  size: number
  /** True if some tab holds the node's lock right now. */
  running: boolean
}

/** Tries to take the node's lock, waiting at most `waitMs`. Resolves to a release function, or null. */
function takeLock(id: string, waitMs: number): Promise<(() => void) | null> {
  return new Promise((resolve) => {
    let release!: () => void
    const held = new Promise<void>((r) => (release = r))
    const opts: LockOptions =
      waitMs > 0 ? { mode: 'exclusive', signal: AbortSignal.timeout(waitMs) } : { mode: 'exclusive', ifAvailable: true }
    navigator.locks
      .request(LOCK_PREFIX + id, opts, (lock) => {
        if (!lock) {
          resolve(null)
          return undefined
        }
        resolve(release)
        return held
      })
      .catch(() => resolve(null))
  })
}

function navigationType(): string {
  const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined
  return nav?.type ?? 'navigate'
}

export async function claimNode(db: Ir3Db, requested: string | null): Promise<NodeClaim> {
  const remembered = sessionStorage.getItem(SESSION_KEY)
  let note: string | undefined
  const tryResume = async (id: string, waitMs: number, how: NodeClaim['how']): Promise<NodeClaim | null> => {
    const record = await db.get('nodes', id)
    if (!record) {
      note = `node ${id} is not held by this browser`
      return null
    }
    const release = await takeLock(id, waitMs)
    if (!release) {
      note = `node ${record.name} is running in another tab`
      return null
    }
    record.lastOpenedAt = Date.now()
    await db.put('nodes', record)
    sessionStorage.setItem(SESSION_KEY, id)
    return { record, how, release }
  }
  if (requested) {
    const c = await tryResume(requested, 0, 'requested')
    if (c) return c
  } else if (remembered) {
    const c = await tryResume(remembered, navigationType() === 'reload' ? RELOAD_WAIT_MS : 0, 'resumed')
    if (c) return c
  }
  const pair = await generateKeyPair()
  const id = nodeIdFromPublicKey(pair.publicKey)
  const now = Date.now()
  const record: NodeRecord = {
    id,
    name: nameFromId(id),
    publicKey: pair.publicKey,
    privateKey: pair.privateKey,
    createdAt: now,
    lastOpenedAt: now,
  }
  const release = await takeLock(id, 0)
  await db.put('nodes', record)
  sessionStorage.setItem(SESSION_KEY, id)
  const claim: NodeClaim = { record, how: 'created', release: release ?? (() => undefined) }
  if (note) claim.note = note
  return claim
}

/** Every node this browser holds, newest first, with whether a tab runs it. */
export async function listNodes(db: Ir3Db): Promise<NodeSummary[]> {
  const [records, heads, locks] = await Promise.all([db.getAll('nodes'), db.getAll('heads'), navigator.locks.query()])
  const held = new Set((locks.held ?? []).map((l) => l.name))
  const sizes = new Map(heads.map((h) => [h.node, h.size]))
  return records
    .map((r) => ({
      id: r.id,
      name: r.name,
      createdAt: r.createdAt,
      lastOpenedAt: r.lastOpenedAt,
      size: sizes.get(r.id) ?? 0,
      running: held.has(LOCK_PREFIX + r.id),
    }))
    .sort((a, b) => b.lastOpenedAt - a.lastOpenedAt)
}
