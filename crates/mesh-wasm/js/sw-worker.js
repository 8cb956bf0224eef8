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
//   timeoutMs  how long a node may take to answer or to send the next piece (default 5000):
//              past it a request that has no bytes yet goes to the network, a body stops with
//              an error
/* eslint-env serviceworker */
'use strict';

(() => {
  const settings = new URL(self.location.href).searchParams;
  const MANIFEST_URL = new URL(settings.get('manifest') ?? '/.well-known/mesh/manifest.json', self.location.href).href;
  const TIMEOUT_MS = Number(settings.get('timeoutMs') ?? 5000);
  /** How long the worker waits for windows to say whether they run a node, when it has not
   * heard from any since it started (a restarted worker forgets them). */
  const PROBE_MS = 150;

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
        paths = null; // retried on the next request
        return new Set();
      });
    return paths;
  }

  /** Ids of window clients that announced a running node, most recent last. */
  const nodes = new Set();
  /** Whether `nodes` is complete: true once the windows were asked since this worker started
   * (later nodes announce themselves). */
  let probed = false;
  let probeWaiters = [];

  self.addEventListener('message', (event) => {
    const msg = event.data;
    if (msg?.type !== 'mesh-node' || !event.source) return;
    nodes.delete(event.source.id);
    if (msg.up) {
      nodes.add(event.source.id);
      probeWaiters.forEach((wake) => wake());
      probeWaiters = [];
    }
  });

  /** Asks every window whether it runs a node; resolves once one says so or after PROBE_MS. */
  async function probe() {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    if (windows.length === 0) return;
    const answered = new Promise((resolve) => {
      probeWaiters.push(resolve);
      setTimeout(resolve, PROBE_MS);
    });
    windows.forEach((w) => w.postMessage({ type: 'mesh-probe' }));
    await answered;
  }

  /** The window whose node should serve a request of `clientId`: its own if it runs one (one
   * node per tab), else the most recently announced live one. */
  async function nodeFor(clientId) {
    if (!probed) {
      await probe();
      probed = true;
    }
    if (clientId && nodes.has(clientId)) {
      const own = await self.clients.get(clientId);
      if (own) return own;
    }
    for (const id of [...nodes].reverse()) {
      const client = await self.clients.get(id);
      if (client) return client;
      nodes.delete(id); // the tab is gone
    }
    return null;
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
    if (!node || (request.destination === '' && nodes.has(clientId))) return fetch(request);
    const served = await fromNode(node, path, request.url);
    if (served.response) return served.response;
    if (served.kind === 'integrity') {
      // The node proved these bytes wrong: the network would hand the page the same bytes.
      return new Response(`mesh: ${served.message}`, {
        status: 502, headers: { 'content-type': 'text/plain', 'x-mesh-error': 'integrity' },
      });
    }
    return fetch(request);
  }

  /**
   * Asks `client`'s node for `path`. Resolves with `{ response }` once the first verified bytes
   * (or the whole asset) are in, or with `{ kind, message }` when the node failed or did not
   * answer in time (nothing was sent to the page then).
   */
  function fromNode(client, path, url) {
    const { port1: port, port2 } = new MessageChannel();
    let timer;
    let waiting = null; // the pending { resolve } of the head or of the next piece
    const arm = (onTimeout) => {
      clearTimeout(timer);
      timer = setTimeout(onTimeout, TIMEOUT_MS);
    };
    const stop = () => {
      clearTimeout(timer);
      port.postMessage({ type: 'cancel' });
      port.close();
    };
    return new Promise((resolveHead) => {
      let body;
      port.onmessage = ({ data: msg }) => {
        if (!body) {
          clearTimeout(timer);
          if (msg.type !== 'head' || msg.verified !== true) {
            port.close();
            resolveHead({ kind: msg.kind ?? 'internal', message: msg.message ?? `unexpected ${msg.type}` });
            return;
          }
          body = new ReadableStream({
            pull(controller) {
              return new Promise((resolve) => {
                waiting = { controller, resolve };
                arm(() => {
                  stop();
                  controller.error(new Error(`mesh: the node sent nothing for ${TIMEOUT_MS} ms`));
                  resolve();
                });
                port.postMessage({ type: 'pull' });
              });
            },
            cancel() { stop(); },
          }, { highWaterMark: 0 });
          const headers = new Headers({
            'content-type': msg.contentType,
            'x-mesh-source': msg.source,
            'x-mesh-cid': msg.cid,
            'x-mesh-verified': 'true',
          });
          if (msg.size != null) headers.set('content-length', String(msg.size));
          resolveHead({ response: new Response(body, { status: 200, headers }) });
          return;
        }
        const pending = waiting;
        waiting = null;
        if (!pending) return;
        clearTimeout(timer);
        if (msg.type === 'data') {
          pending.controller.enqueue(new Uint8Array(msg.chunk));
        } else if (msg.type === 'done') {
          port.close();
          pending.controller.close();
        } else {
          port.close();
          pending.controller.error(new Error(`mesh: ${msg.kind}: ${msg.message}`));
        }
        pending.resolve();
      };
      arm(() => {
        stop();
        resolveHead({ kind: 'timeout', message: `the node did not answer in ${TIMEOUT_MS} ms` });
      });
      client.postMessage({ type: 'mesh-fetch', path, url }, [port2]);
    });
  }
})();
