/**
 * An in-memory network for core tests: links between nodes with random
 * latency (each direction in order, like a reliable ordered data channel),
 * partitions that cut links and block new ones, and a bootstrap server that
 * introduces nodes and relays signals within a mesh. Driven by a manual clock
 * and a seeded Rng, so a failing run repeats from its seed.
 */
import type { JsonValue } from '../json.ts'
import type { Bootstrap, BootstrapHandlers, Clock, Link, LinkHandlers, PeerInfo, Rng, Transport } from '../ports.ts'

export interface MemoryNetworkOptions {
  clock: Clock
  rng: Rng
  /** One-way message latency range in ms. Default [1, 15]. */
  latencyMs?: [number, number]
  /** Max samples returned by the bootstrap server. Default 8. */
  sampleSize?: number
}

export interface MemoryNetwork {
  /** The transport of node `id` (links know their owner, for partitions). */
  transport(id: string): Transport
  /** A bootstrap client for node `id` in `mesh`. */
  bootstrap(info: PeerInfo, mesh?: string): Bootstrap
  /** Cuts every link between `a` and `b` and blocks new ones and relays, until `heal`. */
  partition(a: Iterable<string>, b: Iterable<string>): void
  heal(): void
  /** Stops the bootstrap server (present clients get `closed`) or starts it again. */
  setServer(up: boolean): void
  readonly stats: { linksCreated: number; linksOpened: number; messages: number }
}

interface MemLink extends Link {
  owner: string
  peer: MemLink | null
  handlers: LinkHandlers
  open: boolean
  closed: boolean
  lastDelivery: number
  /** Messages in flight to `peer`, in send order (due times never decrease). */
  queue: { at: number; data: Uint8Array }[]
  draining: boolean
}

export function createMemoryNetwork(opts: MemoryNetworkOptions): MemoryNetwork {
  const { clock, rng } = opts
  const [lo, hi] = opts.latencyMs ?? [1, 15]
  const sampleSize = opts.sampleSize ?? 8
  const latency = () => lo + Math.floor(rng.next() * (hi - lo + 1))
  const offers = new Map<string, MemLink>()
  let cut: [Set<string>, Set<string>] | null = null
  let serverUp = true
  let tokens = 0
  const stats = { linksCreated: 0, linksOpened: 0, messages: 0 }
  const blocked = (a: string, b: string) =>
    !!cut && ((cut[0].has(a) && cut[1].has(b)) || (cut[1].has(a) && cut[0].has(b)))

  const later = (fn: () => void, ms = latency()) => void clock.setTimeout(fn, ms)

  function shut(l: MemLink, reason: string): void {
    if (l.closed) return
    l.closed = true
    l.open = false
    later(() => l.handlers.onClose(reason), 0)
    const p = l.peer
    if (p && !p.closed) later(() => shut(p, `remote closed: ${reason}`))
  }

  /** One timer per direction delivers due messages in order (timers alone don't keep order under a real clock). */
  function drain(link: MemLink): void {
    if (link.draining || link.queue.length === 0) return
    link.draining = true
    clock.setTimeout(
      () => {
        link.draining = false
        const p = link.peer
        const now = clock.now()
        while (link.queue.length > 0 && link.queue[0]!.at <= now) {
          const m = link.queue.shift()!
          if (p && !p.closed && p.open) p.handlers.onData(m.data)
        }
        drain(link)
      },
      Math.max(0, link.queue[0]!.at - clock.now()),
    )
  }

  function transport(owner: string): Transport {
    return {
      createLink({ initiator }, handlers): Link {
        stats.linksCreated++
        const link: MemLink = {
          owner,
          peer: null,
          handlers,
          open: false,
          closed: false,
          lastDelivery: 0,
          queue: [],
          draining: false,
          get bufferedAmount() {
            return 0
          },
          signal(data: JsonValue) {
            if (link.closed) return
            const d = data as { type?: unknown; token?: unknown }
            if (typeof d !== 'object' || d === null || typeof d.token !== 'string')
              return shut(link, 'malformed signal')
            if (d.type === 'offer' && !initiator && !link.peer) {
              const other = offers.get(d.token)
              if (!other || other.closed || other.peer) return shut(link, 'unknown offer')
              offers.delete(d.token)
              link.peer = other
              other.peer = link
              later(() => !link.closed && handlers.onSignal({ type: 'answer', token: d.token as string }))
            } else if (d.type === 'answer' && initiator && link.peer) {
              const other = link.peer
              if (blocked(owner, other.owner)) {
                later(() => shut(link, 'ice failed'), 50)
                return
              }
              later(() => {
                if (link.closed || other.closed) return
                link.open = true
                other.open = true
                stats.linksOpened++
                handlers.onOpen()
                other.handlers.onOpen()
              })
            } else shut(link, 'unexpected signal')
          },
          send(data: Uint8Array) {
            const p = link.peer
            if (!link.open || link.closed || !p) return false
            if (blocked(owner, p.owner)) {
              shut(link, 'partitioned')
              return false
            }
            stats.messages++
            const at = Math.max(clock.now() + latency(), link.lastDelivery)
            link.lastDelivery = at
            link.queue.push({ at, data: data.slice() })
            drain(link)
            return true
          },
          close() {
            shut(link, 'closed')
          },
        }
        if (initiator) {
          const token = `t${tokens++}`
          offers.set(token, link)
          later(() => !link.closed && handlers.onSignal({ type: 'offer', token }))
        }
        return link
      },
    }
  }

  interface Client {
    info: PeerInfo
    mesh: string
    handlers: BootstrapHandlers
    up: boolean
  }
  const clients = new Map<string, Client>()

  function sample(c: Client): PeerInfo[] {
    const others = [...clients.values()].filter((o) => o.up && o.mesh === c.mesh && o.info.id !== c.info.id)
    for (let i = others.length - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1))
      ;[others[i], others[j]] = [others[j]!, others[i]!]
    }
    return others.slice(0, sampleSize).map((o) => o.info)
  }

  function bootstrap(info: PeerInfo, mesh = 'default'): Bootstrap {
    let client: Client | null = null
    return {
      start(handlers) {
        client = { info, mesh, handlers, up: false }
        clients.set(info.id, client)
        const c = client
        handlers.onState('connecting', '')
        later(() => {
          if (!serverUp || clients.get(info.id) !== c) return handlers.onState('closed', 'server down')
          c.up = true
          handlers.onState('open', '')
          handlers.onPeers(sample(c))
        })
      },
      requestPeers() {
        const c = client
        if (c?.up) later(() => c.handlers.onPeers(sample(c)))
      },
      signal(to, data) {
        const c = client
        if (!c?.up) return false
        later(() => {
          const target = clients.get(to)
          if (!target?.up || target.mesh !== c.mesh || blocked(c.info.id, to))
            c.handlers.onError('NOT_PRESENT', 'not present', to)
          else target.handlers.onSignal(c.info.id, data)
        })
        return true
      },
      stop() {
        if (client) clients.delete(info.id)
        client = null
      },
    }
  }

  return {
    transport,
    bootstrap,
    partition(a, b) {
      cut = [new Set(a), new Set(b)]
    },
    heal() {
      cut = null
    },
    setServer(up) {
      serverUp = up
      for (const c of clients.values()) {
        if (!up && c.up) {
          c.up = false
          later(() => c.handlers.onState('closed', 'server down'))
        } else if (up && !c.up) {
          c.up = true
          later(() => {
            c.handlers.onState('open', '')
            c.handlers.onPeers(sample(c))
          })
        }
      }
    },
    stats,
  }
}
