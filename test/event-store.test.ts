import 'fake-indexeddb/auto'
import { describe, expect, it, vi } from 'vitest'
import { eventStoreContract } from './contract/event-store-contract.ts'
import { createMemoryEventStore, type MemoryEventStore } from '../src/core/testing/memory-store.ts'
import { createIdbEventStore, openIr3Db } from '../src/adapters/idb-store.ts'
import type { EventStore } from '../src/core/ports.ts'

describe('EventStore contract: memory store', () => {
  for (const c of eventStoreContract) {
    it(c.name, async () => {
      const stores = new Map<string, MemoryEventStore>()
      await c.run(async (id) => {
        let s = stores.get(id)
        if (!s) stores.set(id, (s = createMemoryEventStore()))
        return s
      })
    })
  }
})

let dbCounter = 0
describe('EventStore contract: IndexedDB store (fake-indexeddb)', () => {
  for (const c of eventStoreContract) {
    it(c.name, async () => {
      const db = await openIr3Db(`contract-${dbCounter++}`)
      try {
        await c.run(async (id): Promise<EventStore> => createIdbEventStore(db, id))
      } finally {
        db.close()
      }
    })
  }
})

describe('IndexedDB store: durability', () => {
  it('commits the head and its checkpoint in one transaction with strict durability', async () => {
    const db = await openIr3Db(`durability-${dbCounter++}`)
    const spy = vi.spyOn(IDBDatabase.prototype, 'transaction')
    try {
      const store = createIdbEventStore(db, 'strict-node')
      const head = { size: 1, lastHash: '0'.repeat(64), peaks: [new Uint8Array(32)], checkpoint: null }
      await store.commit({ chunks: [{ index: 0, count: 1, data: new Uint8Array([1, 2, 3]) }], head, snapshots: [] })
      const writes = spy.mock.calls
        .map((args, i) => ({ args, tx: spy.mock.results[i]?.value as IDBTransaction }))
        .filter(({ args }) => args[1] === 'readwrite')
      expect(writes).toHaveLength(1)
      expect([...writes[0]!.tx.objectStoreNames].sort()).toEqual(['chunks', 'heads', 'roots', 'snapshots'])
      expect(writes[0]!.args[2]).toEqual({ durability: 'strict' })
      expect(writes[0]!.tx.durability).toBe('strict')
      expect((await store.loadHead())?.size).toBe(1)
    } finally {
      spy.mockRestore()
      db.close()
    }
  })
})
