/** The parts of WebTorrent 3 (prebuilt browser bundle) this app uses. */
declare module 'webtorrent' {
  interface WtFile {
    name: string
    path: string
    length: number
    done: boolean
    select(): void
    deselect(): void
    arrayBuffer(): Promise<ArrayBuffer>
    on(ev: 'done', fn: () => void): void
    once(ev: 'done', fn: () => void): void
  }
  interface WtTorrent {
    infoHash: string
    files: WtFile[]
    downloaded: number
    uploaded: number
    numPeers: number
    ready: boolean
    destroyed: boolean
    addPeer(peer: unknown): boolean
    deselect(from: number, to: number): void
    destroy(opts?: { destroyStore?: boolean }, cb?: (err?: Error) => void): void
    on(ev: string, fn: (...args: unknown[]) => void): void
    once(ev: string, fn: (...args: unknown[]) => void): void
    removeListener(ev: string, fn: (...args: unknown[]) => void): void
  }
  interface WtOptions {
    tracker?: unknown
    dht?: boolean
    lsd?: boolean
    webSeeds?: boolean
    utp?: boolean
    natUpnp?: boolean
    natPmp?: boolean
  }
  interface WtTorrentOptions {
    announce?: string[]
    name?: string
    pieceLength?: number
    store?: unknown
    storeCacheSlots?: number
    deselect?: boolean
    destroyStoreOnDestroy?: boolean
    createdBy?: string
    creationDate?: Date
  }
  class WebTorrent {
    constructor(opts?: WtOptions)
    torrents: WtTorrent[]
    seed(input: unknown, opts?: WtTorrentOptions, onseed?: (t: WtTorrent) => void): WtTorrent
    add(id: string, opts?: WtTorrentOptions, ontorrent?: (t: WtTorrent) => void): WtTorrent
    destroy(cb?: (err?: Error) => void): void
    on(ev: string, fn: (...args: unknown[]) => void): void
  }
  export default WebTorrent
  export type { WtTorrent, WtFile }
}
