/** React access to the inspector: the app context, the store and the entry cache. */
import { createContext, useContext, type ReactNode } from 'react'
import { useStore } from 'zustand'
import type { StoreApi } from 'zustand/vanilla'
import type { NodeSummary } from '../adapters/node-registry.ts'
import type { Ir3Node } from '../core/node.ts'
import type { EntryCache } from './entry-cache.ts'
import type { InspectorState } from './store.ts'

/** What the page knows of how it runs its node. */
export interface AppContext {
  node: Ir3Node
  /** How this tab came to run the node. */
  how: 'created' | 'resumed' | 'requested'
  /** Why a remembered or requested node was not resumed, if so. */
  note: string | null
  listNodes(): Promise<NodeSummary[]>
}

interface Inspector {
  app: AppContext
  store: StoreApi<InspectorState>
  cache: EntryCache
}

const InspectorContext = createContext<Inspector | null>(null)

export function InspectorProvider({ value, children }: { value: Inspector; children: ReactNode }) {
  return <InspectorContext.Provider value={value}>{children}</InspectorContext.Provider>
}

function useInspectorContext(): Inspector {
  const ctx = useContext(InspectorContext)
  if (!ctx) throw new Error('inspector components must be rendered inside <InspectorProvider>')
  return ctx
}

/** A slice of the inspector state; select primitives or stable references. */
export function useInspector<T>(selector: (s: InspectorState) => T): T {
  return useStore(useInspectorContext().store, selector)
}

export function useApp(): AppContext {
  return useInspectorContext().app
}

export function useNode(): AppContext['node'] {
  return useInspectorContext().app.node
}

export function useEntryCache(): EntryCache {
  return useInspectorContext().cache
}
