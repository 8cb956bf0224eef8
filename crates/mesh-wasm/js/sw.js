// `mesh-loader/sw`: the page half of the service-worker mode.
//
// The service worker (sw-worker.js) answers the site's existing URLs, but a node needs a
// window (WebRTC is window-only). So every tab of the site runs this: the tabs elect one node
// with a Web Lock (the lock's holder is the leader; the others queue for it, so when the
// leader's tab closes the next one takes over), the leader's node serves the fetches the
// worker routes to it, and a BroadcastChannel carries what tabs tell each other (who leads,
// the leader's stats). A new tab of the site starts no node and no connection: its requests
// go to the leader's node, whose connections are already warm. `nodePerTab` gives every tab
// its own node instead.
import { MeshError, createMesh } from './index.js';

export { MeshError };

const OPTIONS = new Set(['serviceWorker', 'scope', 'nodePerTab', 'mesh']);
/** How long a follower's `stats()` waits for the leader's answer. */
const STATS_TIMEOUT_MS = 2000;

/** The registration's active worker, once it has one (null if it never will: it failed). */
async function activeWorker(registration) {
  for (;;) {
    if (!registration) return null;
    if (registration.active) return registration.active;
    const next = registration.installing ?? registration.waiting;
    if (!next) return null;
    await new Promise((resolve) => next.addEventListener('statechange', resolve, { once: true }));
  }
}

const errorDetail = (e) => ({ kind: e?.kind ?? 'internal', message: String(e?.message ?? e) });

/** This tab's part of a site served through the mesh. Create it with `startMeshSite`. */
export class MeshSite extends EventTarget {
  #options;
  #role = 'starting';
  #mesh = null;
  #channel = null;
  #registration = null;
  #leaderPeerId = null;
  /** The ports of the worker's requests this tab's node serves. */
  #ports = new Set();
  #statsWaiters = new Map();
  #nextId = 0;
  #release = null; // ends the leader's hold of the lock
  #queued = null; // withdraws a follower from the lock's queue
  #onMessage = (e) => this.#fromWorker(e);
  #onPageHide = () => {
    this.#announce(false);
    this.#failPorts();
  };

  /** @internal */
  constructor(options) {
    super();
    this.#options = options;
  }

  /** `leader` (this tab runs the node), `follower` (another tab's node serves this one) or
   * `closed`. A `role` event says when it changes. */
  get role() { return this.#role; }

  /** The Mesh of this tab's node when it leads, else null. */
  get mesh() { return this.#mesh; }

  /** The peer id of the node serving this tab (this tab's or the leader's; null until known). */
  get peerId() { return this.#mesh?.peerId ?? this.#leaderPeerId; }

  /** The service worker's registration. */
  get registration() { return this.#registration; }

  /** @internal */
  async _start() {
    const { serviceWorker, scope, nodePerTab = false, mesh = {} } = this.#options;
    const sw = globalThis.navigator?.serviceWorker;
    if (!sw) throw new MeshError('unsupported', 'this browser (or an insecure page) has no service workers');
    if (!nodePerTab && !globalThis.navigator.locks) throw new MeshError('unsupported', 'this browser has no Web Locks: use nodePerTab');
    try {
      this.#registration = await sw.register(serviceWorker, scope === undefined ? {} : { scope });
    } catch (e) {
      throw new MeshError('config', `option \`serviceWorker\`: cannot register ${serviceWorker}: ${e.message}`, { cause: e });
    }
    sw.addEventListener('message', this.#onMessage);
    sw.startMessages();
    globalThis.addEventListener('pagehide', this.#onPageHide);
    this.#channel = new BroadcastChannel(`mesh-site ${this.#registration.scope}`);
    this.#channel.onmessage = ({ data }) => this.#fromTab(data);
    if (nodePerTab) {
      await this.#lead(mesh);
      return;
    }
    const name = `mesh-node ${this.#registration.scope}`;
    // Holds the lock until close() (at once if close() came while the node was starting).
    const hold = () => this.#role !== 'closed' && new Promise((resolve) => { this.#release = resolve; });
    // Lead now if no tab holds the lock; otherwise follow and queue for it: the queue is the
    // takeover (the browser releases a closed tab's lock and grants it to the next tab).
    const led = await new Promise((resolve, reject) => {
      navigator.locks.request(name, { ifAvailable: true }, async (lock) => {
        if (!lock) return resolve(false);
        try {
          await this.#lead(mesh);
        } catch (e) {
          return reject(e); // releases the lock
        }
        resolve(true);
        return hold(); // the lock is held until close() or the tab goes away
      }).catch(reject);
    });
    if (led) return;
    this.#setRole('follower');
    this.#channel.postMessage({ type: 'hello' });
    // In the queue for the node: a body in progress waits for this tab if the leader closes
    // (see sw-worker.js, STARTING_MS). A worker not active yet learns it from its probe.
    this.#announce(false, true);
    this.#queued = new AbortController();
    navigator.locks.request(name, { signal: this.#queued.signal }, async () => {
      if (this.#role === 'closed') return;
      try {
        await this.#lead(mesh);
      } catch (e) {
        this.#announce(false);
        // The lock goes to the next tab in the queue.
        this.dispatchEvent(new CustomEvent('warning', { detail: { message: `taking over the node failed: ${e.message}` } }));
        return;
      }
      await hold();
    }).catch((e) => {
      if (e?.name !== 'AbortError') this.dispatchEvent(new CustomEvent('warning', { detail: { message: `the election failed: ${e.message}` } }));
    });
  }

  /** Starts this tab's node and tells the worker and the other tabs. */
  async #lead(options) {
    const mesh = await createMesh(options);
    if (this.#role === 'closed') {
      await mesh.close();
      return;
    }
    this.#mesh = mesh;
    this.#setRole('leader');
    await this.#announce(true);
  }

  #setRole(role) {
    if (this.#role === role) return;
    this.#role = role;
    this.dispatchEvent(new CustomEvent('role', { detail: { role } }));
  }

  /** Tells the worker whether this tab's node serves (a degraded mesh cannot verify, so it
   * never does) and whether this tab is in line to take over (`successor`), and the other tabs
   * who leads. */
  async #announce(up, successor = false) {
    const serving = up && this.#mesh && !this.#mesh.degraded;
    if (up && this.#mesh) this.#channel?.postMessage({ type: 'leader', peerId: this.#mesh.peerId });
    const worker = up ? await activeWorker(this.#registration) : this.#registration?.active;
    worker?.postMessage({ type: 'mesh-node', up: !!serving, successor });
  }

  #fromTab(msg) {
    if (msg?.type === 'hello' && this.#mesh) {
      this.#channel.postMessage({ type: 'leader', peerId: this.#mesh.peerId });
    } else if (msg?.type === 'leader' && !this.#mesh) {
      this.#leaderPeerId = msg.peerId;
      this.dispatchEvent(new CustomEvent('leader', { detail: { peerId: msg.peerId } }));
    } else if (msg?.type === 'stats?' && this.#mesh && !this.#options.nodePerTab) {
      this.#mesh.stats().then(
        (stats) => this.#channel?.postMessage({ type: 'stats', id: msg.id, stats }),
        (e) => this.#channel?.postMessage({ type: 'stats', id: msg.id, error: errorDetail(e) }),
      );
    } else if (msg?.type === 'stats') {
      this.#statsWaiters.get(msg.id)?.(msg);
    }
  }

  #fromWorker(event) {
    const msg = event.data;
    if (msg?.type === 'mesh-probe') {
      event.source?.postMessage({ type: 'mesh-node', up: !!(this.#mesh && !this.#mesh.degraded), successor: this.#role === 'follower' });
    } else if (msg?.type === 'mesh-fetch' && event.ports[0]) {
      this.#serve(msg.path, msg.url, event.ports[0]);
    }
  }

  /** Serves one request of the worker over `port`: a head once the first verified bytes are
   * in, then one piece per `pull`, then `done`; or an error (the worker then decides). Until
   * it ends, `alive` answers the worker's `alive?`: the node is at work, not gone. */
  async #serve(path, url, port) {
    const mesh = this.#mesh;
    if (!mesh || mesh.degraded) {
      port.postMessage({ type: 'error', kind: 'unavailable', message: 'this tab runs no node' });
      port.close();
      return;
    }
    this.#ports.add(port);
    const end = () => {
      this.#ports.delete(port);
      port.close();
    };
    const aborter = new AbortController();
    let reader = null;
    port.onmessage = async ({ data }) => {
      if (data.type === 'alive?') {
        port.postMessage({ type: 'alive' });
        return;
      }
      if (data.type === 'cancel') {
        aborter.abort();
        reader?.cancel().catch(() => {});
        end();
        return;
      }
      if (data.type !== 'pull' || !reader) return;
      try {
        const { done, value } = await reader.read();
        if (done) {
          port.postMessage({ type: 'done' });
          end();
        } else {
          // A copy of its own: the piece may view a larger buffer, which must not be sent whole.
          const chunk = value.slice().buffer;
          port.postMessage({ type: 'data', chunk }, [chunk]);
        }
      } catch (e) {
        port.postMessage({ type: 'error', ...errorDetail(e) });
        end();
      }
    };
    let res;
    try {
      res = await mesh.fetch(path, { url, signal: aborter.signal });
    } catch (e) {
      port.postMessage({ type: 'error', ...errorDetail(e) });
      end();
      return;
    }
    reader = res.body.getReader();
    const size = res.headers.get('content-length');
    port.postMessage({
      type: 'head',
      verified: res.headers.get('x-mesh-verified') === 'true',
      source: res.headers.get('x-mesh-source'),
      cid: res.headers.get('x-mesh-cid'),
      contentType: res.headers.get('content-type'),
      size: size === null ? null : Number(size),
    });
  }

  /** Ends the requests this tab's node is serving: the node is going away. */
  #failPorts() {
    for (const port of this.#ports) {
      port.postMessage({ type: 'error', kind: 'closed', message: 'the node closed' });
      port.close();
    }
    this.#ports.clear();
  }

  /** The serving node's figures: this tab's, or the leader's (asked over the channel). */
  async stats() {
    if (this.#role === 'closed') throw new MeshError('closed', 'the site mesh is closed');
    if (this.#mesh) return this.#mesh.stats();
    const id = `${Date.now()}-${Math.random()}-${this.#nextId++}`;
    const answer = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#statsWaiters.delete(id);
        reject(new MeshError('unavailable', `no leader answered within ${STATS_TIMEOUT_MS} ms`));
      }, STATS_TIMEOUT_MS);
      this.#statsWaiters.set(id, (msg) => {
        clearTimeout(timer);
        this.#statsWaiters.delete(id);
        if (msg.error) reject(new MeshError(msg.error.kind, msg.error.message));
        else resolve(msg.stats);
      });
    });
    this.#channel.postMessage({ type: 'stats?', id });
    return answer;
  }

  /** Stops this tab's part: its node (another tab takes over), its place in the election and
   * its answers to the worker. The worker keeps running; with no node up it uses the network. */
  async close() {
    if (this.#role === 'closed') return;
    const mesh = this.#mesh;
    this.#setRole('closed');
    await this.#announce(false);
    this.#mesh = null;
    this.#failPorts();
    navigator.serviceWorker?.removeEventListener('message', this.#onMessage);
    globalThis.removeEventListener('pagehide', this.#onPageHide);
    this.#channel?.close();
    this.#channel = null;
    this.#queued?.abort();
    await mesh?.close();
    this.#release?.();
  }
}

/**
 * Serves the site's existing URLs through the mesh: registers the service worker
 * (`options.serviceWorker`, a script that imports `mesh-loader/sw-worker.js`) and takes part in
 * the election of the site's node. Resolves once this tab leads (its node is up) or follows.
 */
export async function startMeshSite(options = {}) {
  for (const name of Object.keys(options)) {
    if (!OPTIONS.has(name)) throw new MeshError('config', `option \`${name}\`: unknown option (known: ${[...OPTIONS].join(', ')})`);
  }
  if (typeof options.serviceWorker !== 'string' && !(options.serviceWorker instanceof URL)) {
    throw new MeshError('config', 'option `serviceWorker`: the URL of the site\'s service worker script is required');
  }
  const site = new MeshSite({ ...options });
  try {
    await site._start();
  } catch (e) {
    await site.close();
    throw e;
  }
  return site;
}
