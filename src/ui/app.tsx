/**
 * The inspector: the first page of iR³ Web. `mountApp` wires a node to the
 * React tree through a vanilla store (src/ui/store.ts) and an entry cache
 * (src/ui/entry-cache.ts), both owned by the mount and disposed with it.
 */
import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { AppendForm } from './append-form.tsx'
import { ChunksPanel } from './chunks-panel.tsx'
import { DamageAlert } from './damage-alert.tsx'
import { DerivedState } from './derived-state.tsx'
import { createEntryCache } from './entry-cache.ts'
import { EntryDetail } from './entry-detail.tsx'
import { InspectorProvider, type AppContext } from './inspector-context.tsx'
import { AppPanels } from './app-panels.tsx'
import { IntentsPanel } from './intents-panel.tsx'
import { LimitsPanel } from './limits-panel.tsx'
import { MeshPanel } from './mesh-panel.tsx'
import { NodeHeader } from './node-header.tsx'
import { NodesList } from './nodes-list.tsx'
import { SeriesList } from './series-list.tsx'
import { createInspectorStore } from './store.ts'
import { VerifyPanel } from './verify-panel.tsx'
import { TransferPanel } from './transfer-panel.tsx'
import './styles.css'

export type { AppContext }

function App() {
  return (
    <div className="app">
      <NodeHeader />
      <DamageAlert />
      <main className="layout-rows">
        {/* The apps this node runs, one panel each (src/apps/index.ts). */}
        <AppPanels />
        <div className="layout">
          <div className="column column-main">
            <SeriesList append={<AppendForm />} />
          </div>
          <div className="column column-side">
            <EntryDetail />
            <DerivedState />
            <VerifyPanel />
            <TransferPanel />
            <NodesList />
          </div>
        </div>
        {/* The node's place in the network. A grid of its own: the sticky series column stays in its row. */}
        <div className="layout layout-net">
          <div className="column column-net">
            <MeshPanel />
            <ChunksPanel />
          </div>
          <div className="column column-side">
            <IntentsPanel />
            <LimitsPanel />
          </div>
        </div>
      </main>
    </div>
  )
}

/** Renders the inspector into `el`; returns a function that unmounts it. */
export function mountApp(el: HTMLElement, ctx: AppContext): () => void {
  const inspector = createInspectorStore(ctx.node)
  const cache = createEntryCache(ctx.node)
  const root = createRoot(el)
  root.render(
    <StrictMode>
      <InspectorProvider value={{ app: ctx, store: inspector.store, cache }}>
        <App />
      </InspectorProvider>
    </StrictMode>,
  )
  return () => {
    root.unmount()
    inspector.dispose()
    cache.dispose()
  }
}
