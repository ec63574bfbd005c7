/**
 * One panel per app the node runs, in the order of src/apps/index.ts. Panels
 * are loaded lazily (each app's `panel.tsx`); a panel that fails to load or
 * render says so in its place, and the rest of the inspector carries on.
 */
import { Component, lazy, Suspense, useMemo, type ComponentType, type ErrorInfo, type ReactNode } from 'react'
import { apps } from '../apps/index.ts'
import { errorMessage } from './format.ts'
import { useNode } from './inspector-context.tsx'

/**
 * What every app panel is given. A panel declares its app's API type
 * (`AppPanelProps<MessagesApi>`); the one cast from `unknown` is below, where
 * the panel is loaded next to the module that made that API.
 */
export interface AppPanelProps<Api = unknown> {
  /** The app's API object (`window.ir3.apps.<name>`). */
  api: Api
}

class PanelBoundary extends Component<{ name: string; children: ReactNode }, { error: string | null }> {
  override state = { error: null as string | null }
  static getDerivedStateFromError(e: unknown) {
    return { error: errorMessage(e) }
  }
  override componentDidCatch(e: unknown, info: ErrorInfo) {
    console.error(`app panel ${this.props.name} failed`, e, info.componentStack)
  }
  override render() {
    if (this.state.error)
      return (
        <section className="panel" role="alert">
          <p className="error-text">
            The {this.props.name} panel failed: {this.state.error}
          </p>
        </section>
      )
    return this.props.children
  }
}

export function AppPanels() {
  const node = useNode()
  const panels = useMemo(
    () =>
      node.modules.modules.flatMap((m) => {
        const entry = apps.find((a) => a.module === m)
        if (!entry) return []
        const Panel = lazy(async () => (await entry.panel()) as { default: ComponentType<AppPanelProps> })
        return [{ name: m.name, Panel }]
      }),
    [node],
  )
  if (panels.length === 0) return null
  return (
    <div className="app-panels" data-testid="app-panels">
      {panels.map(({ name, Panel }) => (
        <div className="column app-panel" key={name} data-app={name}>
          <PanelBoundary name={name}>
            <Suspense fallback={<section className="panel muted">Loading the {name} app…</section>}>
              <Panel api={node.apps[name]} />
            </Suspense>
          </PanelBoundary>
        </div>
      ))}
    </div>
  )
}
