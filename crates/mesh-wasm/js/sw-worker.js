// The service worker of mesh-loader's service-worker mode (a classic script: load it with
// `importScripts` from the site's own worker script, or serve it as that script).
//
// A service worker cannot run a mesh node (WebRTC is window-only), so it routes: a request for
// a path of the site's manifest is handed to a window that runs a node (sw.js, the page half,
// announces it), which fetches it with `mesh.fetch` and streams the verified bytes back over a
// MessageChannel, one piece per pull. Everything else, and any manifest path while no window
// node is up, goes to the network as if there were no service worker. Bytes reach the page
// only from a node that verified them, or from the network as a plain response (never marked
// verified); a node that proved the bytes wrong (kind `integrity`) gets an error response, not
// the network's copy of those bytes.
//
// Settings, from the query string of the worker script's URL (what `register` was given):
//   manifest   the manifest's URL (default /.well-known/mesh/manifest.json)
//   timeoutMs  how long a node may stay silent (default 5000; one silent for half of it is
//              asked whether it is at work on the request, and one that says so is waited
//              for, a gone one is not): past it a request that has no bytes yet goes to the
//              network, a body in progress moves to another node (see `body`); while a tab is
//              in line to take over, a body waits longer for it (STARTING_MS)
/* eslint-env serviceworker */
'use strict';

(() => {
  const settings = new URL(self.location.href).searchParams;
  const MANIFEST_URL = new URL(settings.get('manifest') ?? '/.well-known/mesh/manifest.json', self.location.href).href;
  const TIMEOUT_MS = Number(settings.get('timeoutMs') ?? 5000);
  /** How long the worker waits for windows to say whether they run a node, when it has not
   * heard from any since it started (a restarted worker forgets them). */
  const PROBE_MS = 150;
  /** How long a body in progress waits for a node to come up while a tab is in line to take
   * over (a follower: the browser grants it the election's lock once the leader's tab is gone,
   * and it starts its node): its only other way out is to fail. That usually takes well under
   * a second; on a loaded machine it took more than TIMEOUT_MS. */
  const STARTING_MS = Math.max(30_000, TIMEOUT_MS);
  /** How long a manifest that could not be loaded is not asked for again. */
  const MANIFEST_RETRY_MS = 10_000;

  const SITE = new URL(MANIFEST_URL).origin;

  /** Site paths of the manifest (decoded, as its keys), loaded once per worker lifetime;
   * `loaded` holds them once they are in, so most requests are decided without waiting. */
  let paths = null;
  let loaded = null;
  function manifestPaths() {
    paths ??= fetch(MANIFEST_URL, { cache: 'no-cache' })
      .then((res) => {
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        return res.json();
      })
      .then((m) => {
        loaded = new Set(Object.keys(m?.assets ?? {}));
        return loaded;
      })
      .catch((e) => {
        console.warn(`mesh sw: manifest ${MANIFEST_URL}: ${e.message}; requests go to the network`);
        // Retried after a while, not on every request: meanwhile they go to the network at
        // once instead of each waiting for the manifest again.
        setTimeout(() => { paths = null; }, MANIFEST_RETRY_MS);
        return new Set();
      });
    return paths;
  }

  /** Ids of window clients that announced a running node, most recent last. */
  const nodes = new Set();
  /** Ids of window clients in line to take over the node (followers). */
  const successors = new Set();
  /** Whether `nodes` is complete: true once the windows were asked since this worker started
   * (later nodes announce themselves). */
  let probed = false;
  /** The probe under way: requests that arrive together share it. */
  let probing = null;
  let probeWaiters = [];
  /** Counts a window's answer while a probe runs. */
  let onAnswer = null;

  self.addEventListener('message', (event) => {
    const msg = event.data;
    if (msg?.type !== 'mesh-node' || !event.source) return;
    nodes.delete(event.source.id);
    successors.delete(event.source.id);
    if (msg.successor) successors.add(event.source.id);
    onAnswer?.();
    if (msg.up) {
      nodes.add(event.source.id);
      probeWaiters.forEach((wake) => wake());
      probeWaiters = [];
    }
  });

  /** Asks every window whether it runs a node; resolves once one says so, once all said they
   * do not, or after PROBE_MS (a page without the page half never answers). */
  async function probe() {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    if (windows.length === 0) return;
    let answers = 0;
    const answered = new Promise((resolve) => {
      probeWaiters.push(resolve);
      onAnswer = () => {
        answers += 1;
        if (answers >= windows.length) resolve();
      };
      setTimeout(resolve, PROBE_MS);
    });
    windows.forEach((w) => w.postMessage({ type: 'mesh-probe' }));
    await answered;
    onAnswer = null;
  }

  /** The window whose node should serve a request of `clientId`: its own if it runs one (one
   * node per tab), else the most recently announced live one; never the window `except`. */
  async function nodeFor(clientId, except) {
    if (!probed) {
      probing ??= probe().finally(() => { probed = true; });
      await probing;
    }
    if (clientId && clientId !== except && nodes.has(clientId)) {
      const own = await self.clients.get(clientId);
      if (own) return own;
    }
    for (const id of [...nodes].reverse()) {
      if (id === except) continue;
      const client = await self.clients.get(id);
      if (client) return client;
      nodes.delete(id); // the tab is gone
    }
    return null;
  }

  /** Whether `clientId` is a node's dedicated worker (mesh-loader's node-worker.js, under a
   * bundler's hashed name too; see the `worker` option): its requests are the node's own. */
  async function isNodeWorker(clientId) {
    const client = clientId ? await self.clients.get(clientId) : null;
    return client?.type === 'worker' && /\/node-worker[^/]*\.js$/.test(new URL(client.url).pathname);
  }

  /** The URL path of `request` when it may be a manifest path the mesh should answer, else
   * null: GETs of the site's files without a query or a Range (a page's own navigations,
   * partial requests and URLs with a query go to the network untouched). */
  function candidatePath(request) {
    if (request.method !== 'GET' || request.mode === 'navigate' || request.headers.has('range')) return null;
    const url = new URL(request.url);
    if (url.origin !== SITE || url.search || /%2f/i.test(url.pathname)) return null;
    return url.pathname;
  }

  /** Whether the (percent-encoded) URL path `path` is in the manifest's `assets`. */
  function listed(assets, path) {
    try {
      return assets.has(decodeURIComponent(path));
    } catch {
      return false; // not a UTF-8 path: not in any manifest
    }
  }

  self.addEventListener('install', () => self.skipWaiting());
  self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

  self.addEventListener('fetch', (event) => {
    const path = candidatePath(event.request);
    // Decided now when the manifest is in; until then every candidate waits for it.
    if (!path || (loaded && !listed(loaded, path))) return;
    event.respondWith(answer(event, path));
  });

  async function answer(event, path) {
    const { request, clientId } = event;
    if (!listed(await manifestPaths(), path)) return fetch(request);
    const node = await nodeFor(clientId);
    // A node's own `fetch()` (its origin requests; destination '') goes to the network: asking
    // the node again would loop. A page's fetch() in a tab without a node is served by one.
    if (!node || (request.destination === '' && (nodes.has(clientId) || await isNodeWorker(clientId)))) {
      return fetch(request);
    }
    const read = new NodeRead(node, path, request.url);
    const head = await read.head;
    if (head.type !== 'head' || head.verified !== true) {
      read.cancel();
      if (head.kind === 'integrity') {
        // The node proved these bytes wrong: the network would hand the page the same bytes.
        return new Response(`mesh: ${head.message}`, {
          status: 502, headers: { 'content-type': 'text/plain', 'x-mesh-error': 'integrity' },
        });
      }
      return fetch(request);
    }
    const headers = new Headers({
      'content-type': head.contentType,
      'x-mesh-source': head.source,
      'x-mesh-cid': head.cid,
      'x-mesh-verified': 'true',
    });
    if (head.size != null) headers.set('content-length', String(head.size));
    return new Response(body(read, head.cid, path, request.url, clientId), { status: 200, headers });
  }

  /** Node failures after which the rest of a body is asked of another node (or the same one,
   * once more): its tab went away, or it went quiet. */
  const CONTINUABLE = new Set(['closed', 'timeout', 'unavailable']);
  /** How many times one body may move to another node. */
  const MAX_MOVES = 3;

  /**
   * The body of a response: the pieces of `read`, one per pull. When the serving node goes
   * away mid-body, the rest comes from the next node that is up within TIMEOUT_MS (the tab
   * that takes over), which fetches the asset again: the bytes already sent are skipped, and
   * only a node that names the same CID may continue, so every byte is verified.
   */
  function body(first, cid, path, url, clientId) {
    let read = first;
    let sent = 0;
    let skip = 0;
    let moves = 0;
    return new ReadableStream({
      async pull(controller) {
        for (;;) {
          const msg = await read.next();
          if (msg.type === 'data') {
            let piece = new Uint8Array(msg.chunk);
            const dropped = Math.min(skip, piece.length);
            skip -= dropped;
            piece = piece.subarray(dropped);
            if (piece.length === 0) continue;
            sent += piece.length;
            controller.enqueue(piece);
            return;
          }
          if (msg.type === 'done' && skip === 0) {
            controller.close();
            return;
          }
          const why = msg.type === 'done' ? 'the next node sent fewer bytes' : `${msg.kind}: ${msg.message}`;
          read.cancel();
          // The node that failed is not asked again for this body: a tab that closed may
          // still be listed among the clients while it unloads, its goodbye not yet in.
          const movable = CONTINUABLE.has(msg.kind) && moves < MAX_MOVES;
          const next = movable ? await moveOn(cid, path, url, clientId, read.clientId) : null;
          if (!next) {
            // The page sees only a network error: the console says why.
            const waited = movable
              ? `; no other node served it within ${TIMEOUT_MS} ms (or ${STARTING_MS} ms while a tab was in line)`
              : '';
            console.warn(`mesh sw: the body of ${path} failed after ${sent} bytes and ${moves} move(s): ${why}${waited}`);
            controller.error(new Error(`mesh: ${why}`));
            return;
          }
          moves += 1;
          read = next;
          skip = sent;
        }
      },
      cancel() { read.cancel(); },
    }, { highWaterMark: 0 });
  }

  /** A read of `path` at the next node up within TIMEOUT_MS whose head names `cid`, or null. */
  async function moveOn(cid, path, url, clientId, failed) {
    const node = await nodeWithin(clientId, failed);
    if (!node) return null;
    const read = new NodeRead(node, path, url);
    const head = await read.head;
    if (head.type === 'head' && head.verified === true && head.cid === cid) return read;
    console.warn(`mesh sw: ${path}: the node that took over answered ${head.type === 'head' ? `CID ${head.cid}, verified ${head.verified}` : `${head.kind}: ${head.message}`}`);
    read.cancel();
    return null;
  }

  /** `nodeFor` (but never `except`), waiting up to TIMEOUT_MS for a node to come up (a tab
   * taking over) when none is, and up to STARTING_MS while a live tab is in line to take over. */
  async function nodeWithin(clientId, except) {
    const start = Date.now();
    for (;;) {
      const node = await nodeFor(clientId, except);
      const wait = (await successorAlive()) ? STARTING_MS : TIMEOUT_MS;
      const left = start + wait - Date.now();
      if (node || left <= 0) return node;
      await new Promise((resolve) => {
        probeWaiters.push(resolve);
        setTimeout(resolve, left);
      });
    }
  }

  /** Whether a tab in line to take over is still open (tabs that went away are forgotten). */
  async function successorAlive() {
    for (const id of [...successors]) {
      if (await self.clients.get(id)) return true;
      successors.delete(id);
    }
    return false;
  }

  /**
   * One request at one window's node, over a MessageChannel: `head` resolves with the node's
   * first message (`head`, or an error: `{ kind, message }`), then each `next()` pulls one
   * message (`data`, `done` or an error). A node that says nothing for TIMEOUT_MS counts as
   * the error `timeout`. After TIMEOUT_MS / 2 of silence the worker asks (`alive?`), and a
   * node still at work on the request (restoring its cache, fetching) answers `alive`, which
   * restarts the wait. The node answers from its message handler, not a timer: browsers
   * throttle timers in background tabs, and the leader's tab is often one. A message that
   * comes while nothing waits (the error of a tab that closed, between two pulls) is kept for
   * the next `next()`.
   */
  class NodeRead {
    #port;
    #waiting = null;
    #unread = [];
    #timer;

    constructor(client, path, url) {
      /** The window whose node serves it. */
      this.clientId = client.id;
      const { port1, port2 } = new MessageChannel();
      this.#port = port1;
      port1.onmessage = ({ data }) => (data?.type === 'alive' ? this.#arm() : this.#settle(data));
      this.head = this.#await();
      client.postMessage({ type: 'mesh-fetch', path, url }, [port2]);
    }

    next() {
      const message = this.#await();
      this.#port.postMessage({ type: 'pull' });
      return message;
    }

    cancel() {
      clearTimeout(this.#timer);
      this.#port.postMessage({ type: 'cancel' });
      this.#port.close();
    }

    #await() {
      if (this.#unread.length > 0) return Promise.resolve(this.#unread.shift());
      return new Promise((resolve) => {
        this.#waiting = resolve;
        this.#arm();
      });
    }

    /** (Re)starts the wait for the node's next word, if a message is awaited: half of it
     * silent, then the question, then the other half for the answer. */
    #arm() {
      if (!this.#waiting) return;
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => {
        this.#port.postMessage({ type: 'alive?' });
        this.#timer = setTimeout(() => this.#settle({
          type: 'error', kind: 'timeout', message: `the node sent nothing for ${TIMEOUT_MS} ms`,
        }), TIMEOUT_MS / 2);
      }, TIMEOUT_MS / 2);
    }

    #settle(msg) {
      clearTimeout(this.#timer);
      const resolve = this.#waiting;
      this.#waiting = null;
      if (resolve) resolve(msg);
      else this.#unread.push(msg);
    }
  }
})();
