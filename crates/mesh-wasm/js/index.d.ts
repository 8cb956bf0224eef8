// Types of the `mesh-loader` package (both entry points, `mesh-loader` and
// `mesh-loader/bundler`, export the same API). Hand-written: the shim in mesh.js is plain JS,
// and the option and stats shapes follow the Rust side (src/config.rs, src/report.rs).

/** What `MeshError.kind` can be. */
export type MeshErrorKind =
  /** A bad option or manifest (names the option), or a CID/path that is neither. */
  | 'config'
  /** Bytes did not match their CID (the origin served other content): nothing was used. */
  | 'integrity'
  /** The origin failed: network error, HTTP error, truncated or oversized body. */
  | 'origin'
  /** No peer had the asset and there was no origin URL to fall back to. */
  | 'unavailable'
  /** A CID mesh cannot fetch (CIDv0, a codec other than raw or dag-pb, a hash other than sha2-256). */
  | 'unsupported'
  /** A site path that is not in the manifest. */
  | 'not-found'
  /** The fetch's AbortSignal fired (or the Response body was cancelled). */
  | 'aborted'
  /** The mesh was closed. */
  | 'closed'
  /** Too many calls queued at once; retry. */
  | 'busy'
  /** The node's worker stopped while this fetch's body was streaming (an uncaught error
   * there); the mesh is degraded from then on, and later fetches go to the origin directly. */
  | 'worker'
  /** A bug: please report it. */
  | 'internal';

/** An error of the mesh. */
export class MeshError extends Error {
  constructor(kind: MeshErrorKind, message: string, options?: { cause?: unknown });
  readonly name: 'MeshError';
  readonly kind: MeshErrorKind;
}

/** A site manifest (what `mesh manifest DIR` writes, and mesh-origin serves at
 * `/.well-known/mesh/manifest.json`). */
export interface Manifest {
  version: number;
  /** Site path (`/img/logo.svg`) → asset. */
  assets: Record<string, { cid: string; size: number; type: string; [key: string]: unknown }>;
  [key: string]: unknown;
}

/** Options of `createMesh` and `configureMesh`. Unknown options are refused (`config` error). */
export interface MeshOptions {
  /** Where the node runs. `true`: in a dedicated worker, so that its CPU work (framing,
   * hashing, planning, the store) stays off the page's main thread, which only relays WebRTC
   * (window-only) to it. `false`: on the page's main thread. `'auto'` (default): in a worker on
   * machines with at least 4 logical processors, in the window on fewer (there the thread
   * crossings of every request cost more than they save). If no worker can be started (a
   * Content-Security-Policy without `worker-src`, a package served from another origin) the
   * node runs in the window, with a console warning. The `mesh-loader/bundler` entry always
   * runs it in the window. */
  worker?: boolean | 'auto';
  /** Bootstrap multiaddrs, each ending in `/p2p/<peer id>`; only `/ws`, `/wss` and
   * `/webrtc-direct` addresses are dialled (others are dropped). */
  bootstrap?: string[];
  /** URL of a JSON array of bootstrap multiaddrs (a bootstrap node's `/addrs`), added to
   * `bootstrap`. If it cannot be fetched the mesh still starts, without peers, and dispatches
   * a `warning` event. */
  bootstrapUrl?: string;
  /** Announce what this tab holds and serve other tabs. Default true. When false the tab only
   * fetches: it announces nothing, holds no relay reservation and serves nothing. */
  serve?: boolean;
  /** Most of the upload budget one peer may take, in percent (1–100). Default 25. */
  uploadPeerSharePercent?: number;
  /** Serve other tabs while this one is hidden (`document.visibilityState`). Default false. */
  serveWhenHidden?: boolean;
  /** Serve other tabs when the browser asks to save data (`navigator.connection.saveData`).
   * Default false. */
  serveOnSaveData?: boolean;
  /** Serve other tabs on a cellular or 2g-or-slower connection, where the browser says so
   * (`navigator.connection.type` / `effectiveType`). Default false. */
  serveOnMetered?: boolean;
  /** The deployment's namespace: only tabs with the same namespace share content. Default `default`. */
  namespace?: string;
  /** Milliseconds to wait for peers before the origin is asked too (0–10000). Default 200. */
  fallbackMs?: number;
  /** The tab's block-store budget in bytes (at least 1 MiB). Default 64 MiB. */
  cacheBytes?: number;
  /** Upload budget: bytes served to other tabs per minute; 0 serves nothing. Default 64 MiB. */
  uploadBytesPerMinute?: number;
  /** The site manifest: its URL (fetched at start; site paths resolve against it) or the
   * object itself. Lets `mesh.fetch('/path')` work and gives responses their content type. */
  manifest?: string | URL | Manifest;
  /** When peer connections may open: `on` (default), `off` (origin only, still verified) or
   * `after-consent` (off until `mesh.consent()`; `bootstrapUrl` is fetched only then). */
  p2p?: 'on' | 'off' | 'after-consent';
  /** Base URL of assets named by CID alone: they are fetched from `<originBase>/<cid>`. */
  originBase?: string;
  /** Console log level of the node. Default `warn`. The published package is built without
   * log statements (they cost ~68 KB gzipped) and prints nothing; a debug build
   * (`wasm-pack build --dev`) logs at this level. */
  logLevel?: 'error' | 'warn' | 'info' | 'debug' | 'trace';
  /** Interval of `stats` events in ms (0 disables). Default 1000. */
  statsIntervalMs?: number;
  /** ICE servers of tab-to-tab WebRTC connections, as in `RTCConfiguration.iceServers`
   * (STUN, TURN). Default `[]`: host candidates only, no third party involved. A STUN
   * server learns the address of every tab that uses it; name your own for tabs behind NAT. */
  iceServers?: { urls: string | string[]; username?: string; credential?: string }[];
  /** Direct connections kept open to other tabs holding the manifest's assets, so fetches
   * find a warm peer within the deadline. Default 4; 0 opens none in advance. */
  warmPeers?: number;
  /** Origin deadline for multi-block assets (> 256 KiB), in ms. Default: `fallbackMs`. The
   * simulator suggests 800 (more offload for large files; docs/SIMULATION.md#defaults). */
  largeFallbackMs?: number;
  /** Keep the cache across visits and navigations in IndexedDB, within `cacheBytes`: a
   * returning tab serves (and announces) what it holds at start, every block verified again
   * as it is read back. Default `true`; without IndexedDB (a private window) the node runs in
   * memory and dispatches a `persist` event of kind `unavailable`. */
  persist?: boolean;
  /** Name of the IndexedDB database of the persistent cache. Default `mesh-<namespace>`. */
  cacheName?: string;
  /** Tab-to-tab RTCPeerConnections at once, including those being set up; at least
   * `warmPeers`. Default 64. (docs/SECURITY.md, "Browser node", for what each cap defends.) */
  maxPeerConnections?: number;
  /** Tab-to-tab handshakes (signaling, ICE, DTLS) in progress at once. Default 8. */
  maxHandshakes?: number;
  /** Streams one peer may have open to this tab at once. Default 64. */
  maxStreamsPerPeer?: number;
  /** Bytes one tab-to-tab connection may have received and not yet read; at least 2 MiB.
   * Default 8 MiB. */
  receiveBufferBytes?: number;
}

/** Detail of a `persist` event: the cache of an earlier visit is back, or something failed
 * (the node then goes on with its memory cache). */
export type PersistEvent =
  | { event: 'restored'; blocks: number; bytes: number; assets: number; corrupt: number; incomplete: number }
  | { event: 'error'; kind: 'unavailable' | 'quota' | 'storage'; message: string };

/** Where the bytes of a response came from. */
export type MeshSource = 'peer' | 'origin' | 'cache' | 'mixed';

/** `mesh.stats()` and the detail of `stats` events. */
export interface MeshStats {
  /** Why the mesh runs degraded (plain origin fetches), or null. */
  degraded: string | null;
  /** This tab's peer id (null when degraded). */
  peerId: string | null;
  peers: {
    /** All open peer connections. */
    connected: number;
    /** Connections to other mesh nodes (tabs, seeders). */
    mesh: number;
    /** Connections to bootstrap nodes. */
    bootstrap: number;
    /** Routing servers the tab finds providers through: its connected bootstrap nodes
     *  (the tab carries no DHT of its own; it asks them). */
    routingTable: number;
  };
  /** Verified bytes handed to the page, by source. */
  bytes: { peer: number; origin: number; cache: number };
  /** Bytes of blocks this tab served to other peers. */
  bytesServed: number;
  /** Share of fetched bytes that came from peers (null before any fetch). */
  offloadRatio: number | null;
  /** Fetches that brought in the origin. */
  fallbacks: number;
  /** Median time to first verified byte by source, in ms (null: none yet). */
  ttfbMs: { peer: number | null; origin: number | null; cache: number | null };
  store: { usedBytes: number; budgetBytes: number; blocks: number; evictions: number; rejected: number };
  serve: {
    blocksServed: number; bytesServed: number; overBudget: number; peerBusy: number; notHeld: number;
    /** Requests refused because the peer spent its `uploadPeerSharePercent`. */
    overPeerShare: number;
    /** Requests refused while serving was paused. */
    paused: number;
    /** Whether this tab serves other tabs now. */
    serving: boolean;
  };
  /** Blocks peers sent that did not match their CID (those peers are then ignored). */
  corruptBlocksReceived: number;
  /** Blocks hashed by the browser's WebCrypto, which is much faster than the SHA-256 in the
   * node's wasm: those from peers of 16 KiB and more, the origin's, and those the persistent
   * cache restored.
   * 0 where the page has no `crypto.subtle` (it exists on https and localhost pages only); the
   * node then hashes every block itself. */
  webCryptoHashes: number;
  /** Peer ids ignored for sending bad data. */
  ignoredPeers: string[];
  malformedRequests: number;
  malformedResponses: number;
  /** Whether a relay reservation is held (other tabs can reach this one). */
  reachable: boolean;
  /** Whether the first warm connections are still to come: the bootstrap node is not
   * connected yet, or providers of the site are being looked up or dialled and no peer is
   * ready yet (`ready()` waits for this to end). */
  warming: boolean;
  /** `on`, `off`, `after-consent` (until consent is given) or `revoked` (consent withdrawn). */
  p2p: 'on' | 'off' | 'after-consent' | 'revoked';
  /** The persistent cache: `state` is `off` (`persist: false`), `loading`, `on` or
   * `unavailable`; blocks and assets restored at start, blocks that failed verification
   * there (deleted, never served), and writes since. */
  persist: {
    state: 'off' | 'loading' | 'on' | 'unavailable';
    restoredBlocks: number;
    restoredAssets: number;
    corruptBlocks: number;
    savedAssets: number;
    savedBlocks: number;
    deletedBlocks: number;
    pendingWrites: number;
    errors: number;
  };
}

/** The summary of a completed fetch: the `fetch` event's detail and `response.mesh.summary`. */
export interface FetchSummary {
  cid: string;
  source: MeshSource;
  size: number;
  bytesPeer: number;
  bytesOrigin: number;
  bytesCache: number;
  /** Time to the first verified byte, in ms. */
  ttfbMs: number | null;
  elapsedMs: number;
  /** Whether the origin was brought in. */
  fellBack: boolean;
  /** Verified bytes per peer id. */
  peers: Record<string, number>;
}

/** The `fetch` event's detail when a fetch failed. */
export interface FetchFailure {
  cid: string | null;
  error: { kind: MeshErrorKind; message: string };
}

/** The `peer` event's detail. */
export interface PeerChange {
  peer: string;
  state: 'connected' | 'disconnected';
  kind: 'bootstrap' | 'mesh';
}

export interface MeshEventMap {
  stats: CustomEvent<MeshStats>;
  peer: CustomEvent<PeerChange>;
  fetch: CustomEvent<FetchSummary | FetchFailure>;
  warning: CustomEvent<{ message: string }>;
  /** The persistent cache was restored at start, or failed (the node goes on in memory). */
  persist: CustomEvent<PersistEvent>;
}

export interface MeshFetchInit {
  /** The origin URL of the asset, used if peers fall short (default: from the manifest or
   * `originBase`). */
  url?: string | URL;
  /** Aborts the fetch: the promise, or the body being read, rejects with an `aborted` MeshError. */
  signal?: AbortSignal;
}

/** A Response from `mesh.fetch`. Headers: `content-type` (from the manifest or the origin),
 * `content-length` when known, `x-mesh-cid`, `x-mesh-source` (where the first bytes came
 * from; once the body has been read, where all of it came from, `mixed` if peers and the
 * origin both contributed) and `x-mesh-verified` (`true`; `false` marks a degraded-mode
 * response, which was not checked against a CID). */
export interface MeshResponse extends Response {
  /** Absent in degraded mode. */
  readonly mesh?: {
    cid: string;
    /** Resolves when the body has been read to the end; rejects with the body's error, or
     * with kind `aborted` once the body is cancelled. */
    summary: Promise<FetchSummary>;
  };
}

/** What `attach()` did with one element. */
export interface AttachResult {
  element: Element;
  cid: string;
  source?: MeshSource;
  error?: MeshError;
  /** A script the browser did not run within a second (from injected HTML, most likely). */
  inert?: true;
}

/** A running mesh node in this tab. */
export class Mesh extends EventTarget {
  private constructor();
  /** Why the mesh runs degraded (plain origin fetches), or null. */
  readonly degraded: string | null;
  /** Where the node runs: `'worker'` (a dedicated worker), `'window'` (the page's main
   * thread), or null when degraded. See the `worker` option. */
  readonly runsIn: 'worker' | 'window' | null;
  /** This tab's libp2p peer id (null when degraded). */
  readonly peerId: string | null;
  /** Fetches an asset by CID or site path. Resolves once the first verified bytes are in;
   * the body streams the rest. */
  fetch(cidOrPath: string, init?: MeshFetchInit): Promise<MeshResponse>;
  /** The node's figures. */
  stats(): Promise<MeshStats>;
  /** Resolves with `stats()` once the first warm connection is up (or the site's providers
   * were looked up and dialled and none is), after `timeoutMs` (default 3000) at most, at
   * once when degraded or peers are off. For assets that can wait for peers. */
  ready(options?: { timeoutMs?: number }): Promise<MeshStats>;
  /** Why this tab does not serve other tabs now: `hidden`, `save-data`, `metered`. */
  readonly servingPausedBy: ('hidden' | 'save-data' | 'metered')[];
  /** Allows peer connections when created with `p2p: 'after-consent'` (fetching
   * `bootstrapUrl` now), or again after `revokeConsent()`. */
  consent(): Promise<void>;
  /** Withdraws consent: closes every peer connection, stops serving and announcing; fetches
   * go on from the origin and the cache, verified. */
  revokeConsent(): void;
  /** Loads `img`, `script`, `link`, `video`, `audio` and `source` elements with `data-cid`
   * (and `data-src` / `data-href` as the origin URL) under `root`, now and as they are added.
   * Each gets `data-mesh-source` (or `data-mesh-error`) and a `mesh-load` (or `mesh-error`)
   * event. Resolves when the elements present now have loaded or failed. A script's `src` is
   * set on the element itself, never on a copy: one from injected HTML (`innerHTML`), which
   * the browser does not run, stays inert (`data-mesh-state="inert"`). */
  attach(root?: Document | Element): Promise<AttachResult[]>;
  /** Stops the node: closes its connections, aborts its requests, stops `attach`. */
  close(): Promise<void>;

  addEventListener<K extends keyof MeshEventMap>(
    type: K,
    listener: (this: Mesh, ev: MeshEventMap[K]) => unknown,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  removeEventListener<K extends keyof MeshEventMap>(
    type: K,
    listener: (this: Mesh, ev: MeshEventMap[K]) => unknown,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
}

/** Starts a mesh node in this tab. Rejects with a `config` MeshError for bad options; if the
 * wasm module cannot load, resolves with a degraded mesh that fetches from the origin. */
export function createMesh(options?: MeshOptions): Promise<Mesh>;

/** Sets the options of the default mesh `meshFetch` uses; call before the first `meshFetch`. */
export function configureMesh(options: MeshOptions): void;

/** `mesh.fetch` on a default mesh, created on first use with the `configureMesh` options. */
export function meshFetch(cidOrPath: string, init?: MeshFetchInit): Promise<MeshResponse>;
