// The JS face of mesh: createMesh, Mesh (an EventTarget), meshFetch, MeshError.
//
// A thin shim over the wasm module's MeshNode: it fetches what needs the page's network
// before the node starts (bootstrapUrl, the manifest), turns fetch handles into streaming
// Responses, wires AbortSignal, and loads data-cid elements. Every byte it hands out was
// verified by the node; the only exception is the degraded mode (the wasm module failed to
// start), where requests go to the origin as plain fetches, as the page would without mesh.

/** An error of the mesh, with a `kind`: config, integrity, origin, unavailable, unsupported,
 * not-found, aborted, closed, busy, worker. */
export class MeshError extends Error {
  constructor(kind, message, options) {
    super(message, options);
    this.name = 'MeshError';
    this.kind = kind;
  }
}

const toMeshError = (e) => {
  if (e instanceof MeshError) return e;
  if (e && typeof e === 'object' && typeof e.kind === 'string') return new MeshError(e.kind, e.message);
  return new MeshError('internal', String(e?.message ?? e), { cause: e });
};

const abortError = (signal) =>
  new MeshError('aborted', 'the fetch was aborted', { cause: signal?.reason });

/** Resolves with `promise`, or rejects with an `aborted` MeshError when `signal` fires first
 * (calling `onAbort` then). */
function raceAbort(promise, signal, onAbort) {
  if (!signal) return promise;
  if (signal.aborted) {
    onAbort();
    return Promise.reject(abortError(signal));
  }
  return new Promise((resolve, reject) => {
    const listener = () => {
      onAbort();
      reject(abortError(signal));
    };
    signal.addEventListener('abort', listener, { once: true });
    promise.then(
      (v) => { signal.removeEventListener('abort', listener); resolve(v); },
      (e) => { signal.removeEventListener('abort', listener); reject(e); },
    );
  });
}

async function getJson(url, what) {
  let res;
  try {
    res = await fetch(url, { mode: 'cors' });
  } catch (e) {
    throw new MeshError('config', `cannot fetch the ${what} at ${url}: ${e.message}`, { cause: e });
  }
  if (!res.ok) throw new MeshError('config', `the ${what} at ${url} answered HTTP ${res.status}`);
  return res.text();
}

/** The figures of a mesh without a node (degraded): the shape of `stats()`, all zero. */
const emptyStats = (degraded) => ({
  degraded, peerId: null,
  peers: { connected: 0, mesh: 0, bootstrap: 0, routingTable: 0 },
  bytes: { peer: 0, origin: 0, cache: 0 }, bytesServed: 0, offloadRatio: null, fallbacks: 0,
  ttfbMs: { peer: null, origin: null, cache: null },
  store: { usedBytes: 0, budgetBytes: 0, blocks: 0, evictions: 0, rejected: 0 },
  serve: {
    blocksServed: 0, bytesServed: 0, overBudget: 0, peerBusy: 0, overPeerShare: 0, paused: 0,
    notHeld: 0, serving: false,
  },
  corruptBlocksReceived: 0, webCryptoHashes: 0, ignoredPeers: [], malformedRequests: 0,
  malformedResponses: 0,
  reachable: false, warming: false, p2p: 'off',
  persist: {
    state: 'off', restoredBlocks: 0, restoredAssets: 0, corruptBlocks: 0, savedAssets: 0,
    savedBlocks: 0, deletedBlocks: 0, pendingWrites: 0, errors: 0,
  },
});

/** The media type a blob must have for `el` to use it: scripts and style sheets are refused
 * with the wrong one (the type of a CID the manifest does not list is unknown). */
function blobTypeFor(el, type) {
  if (el.tagName === 'SCRIPT' && !/javascript|ecmascript/.test(type)) return 'text/javascript';
  if (el.tagName === 'LINK' && el.rel === 'stylesheet' && !type.startsWith('text/css')) return 'text/css';
  return null;
}

/** Resolves with false if script `el`, whose src was just set, has not fired `load` or
 * `error` within a second: a script the browser runs is fetched at once (a blob: URL is in
 * memory) and fires within a few event-loop turns, unless it is very large; an inert one
 * (from injected HTML) never fires. */
const inert = (el) => new Promise((resolve) => {
  const timer = setTimeout(() => resolve(false), 1000);
  const settle = () => clearTimeout(timer);
  el.addEventListener('load', settle, { once: true });
  el.addEventListener('error', settle, { once: true });
});

/** Resolves once `el` fired `load`, rejects on `error` (call before setting its URL). */
const loaded = (el) => new Promise((resolve, reject) => {
  el.addEventListener('load', resolve, { once: true });
  el.addEventListener('error', () => reject(new MeshError('internal', `the browser could not use the verified bytes of ${el.tagName.toLowerCase()}`)), { once: true });
});

/** When a tab stops serving other tabs (upload care), each with the option that overrides it
 * (default false: the tab does not serve then). Read where the browser tells: the Page
 * Visibility API, and the Network Information API (`navigator.connection`, Chromium only). */
const SERVE_OVERRIDES = {
  /** The tab is in the background: the user is not looking, and the upload is theirs. */
  serveWhenHidden: ['hidden', () => globalThis.document?.visibilityState === 'hidden'],
  /** The user asked the browser to save data. */
  serveOnSaveData: ['save-data', () => globalThis.navigator?.connection?.saveData === true],
  /** A cellular link, or one the browser rates 2g or slower (likely metered or scarce). */
  serveOnMetered: ['metered', () => {
    const c = globalThis.navigator?.connection;
    return c?.type === 'cellular' || c?.effectiveType === '2g' || c?.effectiveType === 'slow-2g';
  }],
};

/** The options createMesh knows. The node checks their values; unknown names are caught here,
 * because the wasm side reads only the names it knows from the object (a typo such as
 * `fallbackMS` would otherwise be ignored silently). */
const OPTIONS = new Set(['bootstrap', 'bootstrapUrl', 'namespace', 'fallbackMs', 'cacheBytes',
  'uploadBytesPerMinute', 'manifest', 'p2p', 'originBase', 'logLevel', 'statsIntervalMs',
  'iceServers', 'warmPeers', 'largeFallbackMs', 'persist', 'cacheName', 'maxPeerConnections',
  'maxHandshakes', 'maxStreamsPerPeer', 'receiveBufferBytes', 'serve', 'uploadPeerSharePercent',
  'worker', ...Object.keys(SERVE_OVERRIDES)]);

/** Logical processors from which `worker: 'auto'` runs the node in a worker. A worker pays off
 * when it has a core to itself: with two, the extra thread crossings of every request cost
 * more than the main thread saves once tabs compete (docs/BENCHMARKS-WEBRTC.md). */
const AUTO_WORKER_CORES = 4;
const spareCore = () => (globalThis.navigator?.hardwareConcurrency ?? 0) >= AUTO_WORKER_CORES;

const ATTACH_SELECTOR = 'img[data-cid], script[data-cid], link[data-cid], video[data-cid], audio[data-cid], source[data-cid]';

/** A running mesh node in this tab. Create it with `createMesh`. */
export class Mesh extends EventTarget {
  #node = null;
  #options;
  #siteBase;
  #manifestJson;
  #degraded = null;
  /** Where the node runs: 'worker', 'window', or null (degraded). */
  #runsIn = null;
  #observers = [];
  #objectUrls = [];
  #closed = false;
  /** The bootstrap list's URL, fetched only once consent is given ('after-consent'). */
  #deferredBootstrapUrl = null;
  /** Why serving is paused now (`hidden`, `save-data`, `metered`). */
  #pausedBy = [];
  #unwatch = () => {};

  /** @internal */
  constructor(options) {
    super();
    this.#options = { ...options };
  }

  /** Why the mesh runs degraded (plain origin fetches), or null. */
  get degraded() { return this.#degraded; }

  /** Where this tab's node runs: `'worker'` (a dedicated worker), `'window'` (the page's main
   * thread: `worker: false`, `'auto'` on a machine with fewer than 4 cores, or no worker could
   * be started), or null when degraded. */
  get runsIn() { return this.#runsIn; }

  /** This tab's libp2p peer id (null when degraded). */
  get peerId() { return this.#node ? this.#node.peerId : null; }

  /** Why this tab does not serve other tabs now: `hidden`, `save-data`, `metered` (empty
   * while it serves, or when the `serve` option is false). */
  get servingPausedBy() { return [...this.#pausedBy]; }

  /** @internal */
  async _start(loadWasm, startWorker) {
    for (const name of Object.keys(this.#options)) {
      if (!OPTIONS.has(name)) {
        throw new MeshError('config', `option \`${name}\`: unknown option (known: ${[...OPTIONS].join(', ')})`);
      }
    }
    const { bootstrapUrl, manifest, worker = 'auto', ...rest } = this.#options;
    const options = { ...rest };
    if (typeof worker !== 'boolean' && worker !== 'auto') {
      throw new MeshError('config', `option \`worker\`: ${JSON.stringify(worker)} is not true, false or 'auto'`);
    }
    for (const name of Object.keys(SERVE_OVERRIDES)) {
      if (options[name] !== undefined && typeof options[name] !== 'boolean') {
        throw new MeshError('config', `option \`${name}\`: ${JSON.stringify(options[name])} is not true or false`);
      }
      delete options[name];
    }
    let manifestJson;
    this.#siteBase = globalThis.location?.href;
    if (typeof manifest === 'string' || manifest instanceof URL) {
      const url = new URL(manifest, globalThis.location?.href);
      manifestJson = await getJson(url.href, 'manifest');
      this.#siteBase = url.href;
    } else if (manifest && typeof manifest === 'object') {
      manifestJson = JSON.stringify(manifest);
    }
    // The node owns the manifest (it checks it, decodes paths and answers `resolve`); only
    // the degraded mode, which has no node to ask, reads it here, and only to find a CID's path.
    this.#manifestJson = manifestJson;
    if (bootstrapUrl && options.p2p === 'after-consent') {
      // Before consent nothing leaves for the bootstrap node, not even this request.
      this.#deferredBootstrapUrl = String(bootstrapUrl);
    } else if (bootstrapUrl) {
      options.bootstrap = [...(options.bootstrap ?? []), ...await this.#bootstrapList(String(bootstrapUrl))];
    }
    const onEvent = (type, detail) => this.dispatchEvent(new CustomEvent(type, { detail }));
    const inWorker = worker === true || (worker === 'auto' && spareCore());
    const started = (inWorker && startWorker && typeof Worker !== 'undefined'
      ? await this.#startInWorker(startWorker, options, manifestJson, onEvent)
      : null) ?? await this.#startInWindow(loadWasm, options, manifestJson, onEvent);
    if (started && options.serve !== false) this.#watchServing();
  }

  /** Marks the mesh degraded (plain origin fetches) for `why`. */
  #degrade(why) {
    this.#degraded = why;
    console.warn(`mesh: ${why}; assets load from the origin directly`);
  }

  /** Starts the node in a dedicated worker. True once it runs there; false if it cannot run
   * at all (degraded); null if no worker could run it (the window may still). */
  async #startInWorker(startWorker, options, manifestJson, onEvent) {
    // The worker failing later (an uncaught error there, a panic of the node) takes the node
    // with it: the mesh goes on degraded, its fetches plain origin fetches, as without mesh.
    let node = null;
    const onDead = (e) => {
      if (this.#node !== node || node === null) return;
      this.#node = null;
      this.#runsIn = null;
      this.#unwatch();
      this.#degrade(String(e?.message ?? e)); // "the node's worker failed: …"
      this.dispatchEvent(new CustomEvent('warning', { detail: { message: this.#degraded } }));
    };
    try {
      node = await startWorker(options, manifestJson, onEvent, onDead);
      this.#node = node;
      this.#runsIn = 'worker';
      return true;
    } catch (e) {
      const err = toMeshError(e);
      if (err.kind === 'config') throw err;
      if (err.kind === 'worker') {
        console.warn(`mesh: ${err.message}; the node runs on the page's main thread instead`);
        return null;
      }
      this.#degrade(err.kind === 'wasm'
        ? `the wasm module failed to load: ${err.message}`
        : `the node failed to start: ${err.message}`);
      return false;
    }
  }

  /** Starts the node on the page's main thread. True once it runs, false if degraded. */
  async #startInWindow(loadWasm, options, manifestJson, onEvent) {
    try {
      await loadWasm();
    } catch (e) {
      this.#degrade(`the wasm module failed to load: ${e?.message ?? e}`);
      return false;
    }
    try {
      this.#node = this._MeshNode.start(options, manifestJson, onEvent);
      this.#runsIn = 'window';
      return true;
    } catch (e) {
      const err = toMeshError(e);
      if (err.kind === 'config') throw err;
      this.#degrade(`the node failed to start: ${err.message}`);
      return false;
    }
  }

  /** The addresses at `url` (a bootstrap node's `/addrs`); none, with a `warning` event, if
   * they cannot be had: the node still runs (origin, verified) and says so. */
  async #bootstrapList(url) {
    try {
      const addrs = JSON.parse(await getJson(url, 'bootstrap address list'));
      if (!Array.isArray(addrs)) throw new MeshError('config', `${url} did not return a JSON array`);
      return addrs;
    } catch (e) {
      console.warn(`mesh: ${e.message}; continuing without it`);
      this.dispatchEvent(new CustomEvent('warning', { detail: { message: e.message } }));
      return [];
    }
  }

  /** Pauses serving while any reason of SERVE_OVERRIDES holds (unless its option says to
   * serve anyway), and resumes when none does; follows the browser's change events. */
  #watchServing() {
    const check = () => {
      const reasons = Object.entries(SERVE_OVERRIDES)
        .filter(([option, [, holds]]) => this.#options[option] !== true && holds())
        .map(([, [reason]]) => reason);
      const changed = reasons.join() !== this.#pausedBy.join();
      this.#pausedBy = reasons;
      if (changed || reasons.length > 0) this.#node?.pauseServing(reasons.length > 0);
    };
    check();
    const doc = globalThis.document;
    const connection = globalThis.navigator?.connection;
    doc?.addEventListener('visibilitychange', check);
    connection?.addEventListener?.('change', check);
    this.#unwatch = () => {
      doc?.removeEventListener('visibilitychange', check);
      connection?.removeEventListener?.('change', check);
    };
  }

  /**
   * Fetches an asset by CID or site path. Resolves with a streaming Response once the first
   * verified bytes are in (or the asset is complete); rejects with a MeshError.
   * `init.url` is the origin URL to fall back to; `init.signal` aborts.
   */
  async fetch(cidOrPath, init = {}) {
    if (this.#closed) throw new MeshError('closed', 'the mesh is closed');
    const { signal } = init;
    if (signal?.aborted) throw abortError(signal);
    const node = this.#node;
    if (!node) return this.#plainFetch(cidOrPath, init);
    // The node's worker stopped before a byte was handed out: the mesh is degraded now, and
    // this fetch goes to the origin as the later ones do.
    const failed = (e) => {
      const err = toMeshError(e);
      if (err.kind === 'worker' && !this.#node && !this.#closed) return this.#plainFetch(cidOrPath, init);
      throw err;
    };
    let target;
    try {
      // A promise when the node runs in a worker.
      target = await node.resolve(String(cidOrPath));
    } catch (e) {
      return failed(e);
    }
    const url = this.#originUrl(target, init);
    let handle;
    try {
      handle = node.fetch(target.cid, url);
    } catch (e) {
      throw toMeshError(e);
    }
    const cancel = () => handle.cancel();
    let first;
    try {
      first = await raceAbort(handle.next(), signal, cancel);
    } catch (e) {
      if (signal?.aborted) throw toMeshError(e);
      return failed(e);
    }
    const headers = new Headers({
      'content-type': target.type ?? handle.contentType ?? 'application/octet-stream',
      'x-mesh-source': first.done ? first.done.source : first.source,
      'x-mesh-cid': target.cid,
      'x-mesh-verified': 'true',
    });
    const size = target.size ?? first.done?.size;
    if (size !== undefined) headers.set('content-length', String(size));
    let settle;
    const summary = new Promise((resolve, reject) => { settle = { resolve, reject }; });
    summary.catch(() => {}); // observed through the body; never an unhandled rejection
    let onAbort;
    let response;
    const body = new ReadableStream({
      start(controller) {
        if (first.data) controller.enqueue(first.data);
        if (first.done) {
          controller.close();
          settle.resolve(first.done);
          return;
        }
        if (signal) {
          onAbort = () => {
            cancel();
            const err = abortError(signal);
            settle.reject(err);
            try { controller.error(err); } catch { /* already closed */ }
          };
          signal.addEventListener('abort', onAbort, { once: true });
        }
      },
      async pull(controller) {
        try {
          const next = await handle.next();
          if (next.done) {
            // The whole body's source (`mixed` if peers and the origin both contributed).
            response.headers.set('x-mesh-source', next.done.source);
            signal?.removeEventListener('abort', onAbort);
            controller.close();
            settle.resolve(next.done);
          } else {
            controller.enqueue(next.data);
          }
        } catch (e) {
          const err = signal?.aborted ? abortError(signal) : toMeshError(e);
          signal?.removeEventListener('abort', onAbort);
          settle.reject(err);
          try { controller.error(err); } catch { /* already errored by abort */ }
        }
      },
      cancel() {
        signal?.removeEventListener('abort', onAbort);
        cancel();
        // The body will never be read to the end: the summary says so rather than wait.
        settle.reject(new MeshError('aborted', 'the body was cancelled'));
      },
    }, { highWaterMark: 0 });
    response = new Response(body, { status: 200, headers });
    Object.defineProperty(response, 'mesh', { value: { cid: target.cid, summary } });
    return response;
  }

  /** The one place a page's origin URL is chosen: `init.url`, else `target.url`
   * (`originBase/<cid>`, which the node builds), else the asset's path under the site (the
   * manifest's location). */
  #originUrl(target, init) {
    if (init.url != null) return new URL(init.url, globalThis.location?.href).href;
    if (target.url !== undefined) return target.url;
    if (target.path !== undefined && this.#siteBase) return new URL(target.path, this.#siteBase).href;
    return undefined;
  }

  /** What `resolve` answers, without a node (degraded): a site path as given, a CID's path
   * from the manifest, and `originBase/<cid>`. */
  #plainTarget(cidOrPath) {
    const key = String(cidOrPath);
    if (key.startsWith('/')) return { path: key };
    let assets = {};
    try { assets = JSON.parse(this.#manifestJson ?? '{}')?.assets ?? {}; } catch { /* no paths then */ }
    const path = Object.entries(assets).find(([, a]) => a?.cid === key)?.[0];
    const { originBase } = this.#options;
    const url = originBase ? `${String(originBase).replace(/\/?$/, '/')}${key}` : undefined;
    return { cid: key, path, url };
  }

  async #plainFetch(cidOrPath, init) {
    const url = this.#originUrl(this.#plainTarget(cidOrPath), init);
    if (!url) throw new MeshError('unavailable', `the mesh is degraded (${this.#degraded}) and ${cidOrPath} has no origin URL`);
    let res;
    try {
      res = await fetch(url, { signal: init.signal });
    } catch (e) {
      if (init.signal?.aborted) throw abortError(init.signal);
      throw new MeshError('origin', `GET ${url}: ${e.message}`, { cause: e });
    }
    if (!res.ok) throw new MeshError('origin', `GET ${url}: HTTP ${res.status}`);
    const headers = new Headers(res.headers);
    // The body is already decoded: its encoded length and encoding no longer apply.
    if (headers.has('content-encoding')) {
      headers.delete('content-encoding');
      headers.delete('content-length');
    }
    headers.set('x-mesh-source', 'origin');
    headers.set('x-mesh-verified', 'false');
    return new Response(res.body, { status: 200, headers });
  }

  /** The node's figures: peers, bytes by source, bytes served, offload ratio, TTFB. */
  async stats() {
    if (this.#closed) throw new MeshError('closed', 'the mesh is closed');
    if (!this.#node) return emptyStats(this.#degraded);
    try {
      return { degraded: null, ...(await this.#node.stats()) };
    } catch (e) {
      throw toMeshError(e);
    }
  }

  /** Resolves with `stats()` once the node's first warm connection is up: the bootstrap node
   * is connected and a provider of the site (found through the manifest) is ready, or the
   * lookup and the dials ended without one. A page whose assets can wait for peers (below the
   * fold, a later view) starts them then, so they are asked of connected peers rather than
   * raced against the origin while the first WebRTC connection is set up (0.2–1 s, longer than
   * the fallback deadline). Waits at most `timeoutMs` (default 3000; it never rejects for
   * slowness), and not at all when the mesh is degraded or peers are off. */
  async ready({ timeoutMs = 3000 } = {}) {
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
      throw new MeshError('config', `ready(): timeoutMs must be a number >= 0, not ${timeoutMs}`);
    }
    const end = performance.now() + timeoutMs;
    for (;;) {
      const s = await this.stats();
      if (!s.warming || s.p2p !== 'on' || performance.now() >= end) return s;
      await new Promise((resolve) => { setTimeout(resolve, Math.min(50, Math.max(0, end - performance.now()))); });
    }
  }

  /** Allows peer connections when created with `p2p: 'after-consent'`, or again after
   * `revokeConsent()`. In 'after-consent' mode the `bootstrapUrl` list is fetched only now.
   * Resolves once the node has it. */
  async consent() {
    if (!this.#node) return;
    const url = this.#deferredBootstrapUrl;
    this.#deferredBootstrapUrl = null;
    const addrs = url ? await this.#bootstrapList(url) : undefined;
    try {
      await this.#node?.consent(addrs);
    } catch (e) {
      throw toMeshError(e);
    }
  }

  /** Withdraws consent: closes every peer connection, stops serving and announcing. Fetches
   * go on from the origin and the cache, verified. `consent()` joins again. */
  revokeConsent() {
    this.#node?.revokeConsent();
  }

  /**
   * Loads `<img|script|link|video|audio|source data-cid>` under `root` through the mesh, now
   * and as they are added. Each element gets `data-mesh-source` and a `mesh-load` or
   * `mesh-error` event. Resolves when the elements present now have loaded or failed.
   */
  attach(root = globalThis.document) {
    const load = (el) => this.#loadElement(el);
    const present = [...root.querySelectorAll(ATTACH_SELECTOR)].map(load);
    if (typeof MutationObserver !== 'undefined') {
      const observer = new MutationObserver((records) => {
        for (const r of records) {
          for (const n of r.addedNodes) {
            if (n.nodeType !== 1) continue;
            if (n.matches(ATTACH_SELECTOR)) load(n);
            n.querySelectorAll?.(ATTACH_SELECTOR).forEach(load);
          }
        }
      });
      observer.observe(root.documentElement ?? root, { childList: true, subtree: true });
      this.#observers.push(observer);
    }
    return Promise.all(present);
  }

  async #loadElement(el) {
    if (el.dataset.meshState) return;
    el.dataset.meshState = 'loading';
    const cid = el.dataset.cid;
    const url = el.dataset.src ?? el.dataset.href;
    try {
      const res = await this.fetch(cid, url ? { url: new URL(url, globalThis.location?.href).href } : {});
      let blob = await res.blob();
      const type = blobTypeFor(el, blob.type);
      if (type) blob = new Blob([blob], { type });
      const objectUrl = URL.createObjectURL(blob);
      this.#objectUrls.push(objectUrl);
      const source = res.headers.get('x-mesh-source');
      if (el.tagName === 'SCRIPT') {
        // The src goes on the element itself, never on a copy: the browser then runs it only
        // if the page inserted it (parsed with the document, or created by the page's own
        // script); a script that arrived in injected HTML (innerHTML and the like) stays
        // inert, as without mesh. A copy would run whatever any injected markup names.
        const ran = loaded(el);
        el.src = objectUrl;
        const started = await Promise.race([ran.then(() => true), inert(el)]);
        if (!started) {
          // Not run within a second: most likely never (or a very large script, which then
          // still counts as loaded when it fires).
          el.dataset.meshState = 'inert';
          ran.then(() => this.#loaded(el, cid, source), () => {});
          return { element: el, cid, source, inert: true };
        }
      }
      // Style sheets and images are waited for (they are usable then); media load lazily.
      const ready = el.tagName === 'LINK' || (el.tagName === 'IMG' && el.loading !== 'lazy') ? loaded(el) : null;
      if (el.tagName === 'LINK') el.href = objectUrl;
      else if (el.tagName !== 'SCRIPT') el.src = objectUrl;
      await ready;
      return this.#loaded(el, cid, source);
    } catch (e) {
      const error = toMeshError(e);
      el.dataset.meshState = 'error';
      el.dataset.meshError = error.kind;
      el.dispatchEvent(new CustomEvent('mesh-error', { detail: { cid, error } }));
      return { element: el, cid, error };
    }
  }

  /** Marks `el` loaded from `source` and says so with `mesh-load`. */
  #loaded(el, cid, source) {
    el.dataset.meshState = 'loaded';
    el.dataset.meshSource = source;
    el.dispatchEvent(new CustomEvent('mesh-load', { detail: { cid, source } }));
    return { element: el, cid, source };
  }

  /** Stops the node: closes its connections, aborts its requests, stops attach(). */
  async close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#unwatch();
    this.#observers.forEach((o) => o.disconnect());
    this.#objectUrls.forEach((u) => URL.revokeObjectURL(u));
    const node = this.#node;
    this.#node = null;
    if (!node) return;
    await node.close();
    try {
      node.free();
    } catch {
      // A call still borrows it (a stats() in flight): the garbage collector frees it later.
    }
  }
}

/** @internal Builds createMesh/meshFetch for one way of loading the wasm module.
 * `startWorker(options, manifestJson, onEvent, onDead)`, if given, starts a node in a
 * dedicated worker (worker-node.js); the default entry gives it (see the `worker` option). */
export function makeApi(MeshNode, loadWasm, startWorker) {
  let defaultOptions = {};
  let defaultMesh = null;

  async function createMesh(options = {}) {
    const mesh = new Mesh(options);
    mesh._MeshNode = MeshNode;
    await mesh._start(loadWasm, startWorker);
    return mesh;
  }

  /** Sets the options of the default instance `meshFetch` uses (before its first call). */
  function configureMesh(options) {
    if (defaultMesh) throw new MeshError('config', 'configureMesh must be called before the first meshFetch');
    defaultOptions = { ...options };
  }

  /** `mesh.fetch` on a default instance created on first use. */
  async function meshFetch(cid, init) {
    if (!defaultMesh) {
      defaultMesh = createMesh(defaultOptions);
      // A failed start is not cached: the next call tries again.
      defaultMesh.catch(() => { defaultMesh = null; });
    }
    return (await defaultMesh).fetch(cid, init);
  }

  return { createMesh, configureMesh, meshFetch };
}
