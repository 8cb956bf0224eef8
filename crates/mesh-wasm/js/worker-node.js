// The page's handle on a node running in a dedicated worker (node-worker.js): the same calls
// as the wasm module's MeshNode and FetchHandle, each a message. The window keeps only what
// must be here: the WebRTC objects (rtc-host.js).
import { hostRtc } from './rtc-host.js';

/** A call that cannot be answered: the worker died or could not be started. */
const workerError = (message) => ({ kind: 'worker', message });

export class WorkerNode {
  #worker;
  #rtc;
  #onEvent;
  #onDead;
  /** Call id → its promise's settlers. */
  #calls = new Map();
  #lastCall = 0;
  #lastFetch = 0;
  /** Fetch id → WorkerFetch, until its last piece. */
  #fetches = new Map();
  /** Set once the worker is gone: every call fails with it. */
  #dead = null;
  /** This node's peer id (known once `start` resolved). */
  peerId = null;

  /** Starts `worker` (a fresh node-worker.js) and the node in it; rejects with `{kind,
   * message}`: `config` for bad options, `wasm` if the module could not be loaded, `worker`
   * if the worker could not run. `onDead(error)` is called if the worker fails later (an
   * uncaught error there, such as a panic of the node): the node is gone then. */
  static async start(worker, options, manifestJson, onEvent, onDead = () => {}) {
    const node = new WorkerNode(worker, onEvent, onDead);
    try {
      node.peerId = await node.call('start', [options, manifestJson ?? null]);
    } catch (e) {
      node.terminate();
      throw e;
    }
    return node;
  }

  /** @internal */
  constructor(worker, onEvent, onDead) {
    this.#worker = worker;
    this.#onEvent = onEvent;
    this.#onDead = onDead;
    this.#rtc = hostRtc(worker);
    worker.onmessage = (e) => this.#receive(e.data);
    worker.onerror = (e) => {
      e.preventDefault?.();
      this.#die(workerError(`the node's worker failed: ${e.message || 'it could not be loaded'}`));
    };
    worker.onmessageerror = () => this.#die(workerError('a message from the node\'s worker could not be read'));
  }

  #receive(data) {
    if (this.#rtc.handle(data)) return;
    for (const m of data?.api ?? []) {
      if (m.ret) {
        const call = this.#calls.get(m.ret.id);
        this.#calls.delete(m.ret.id);
        if (m.ret.ok) call?.resolve(m.ret.v);
        else call?.reject(m.ret.v);
      } else if (m.piece) {
        this.#fetches.get(m.piece.id)?.receive(m.piece);
        if (!m.piece.ok || m.piece.v.done) this.#fetches.delete(m.piece.id);
      } else if (m.event) {
        this.#onEvent(m.event.type, m.event.detail);
      }
    }
  }

  #die(error) {
    if (!this.#dead) this.#onDead(error);
    this.#dead ??= error;
    for (const call of this.#calls.values()) call.reject(this.#dead);
    this.#calls.clear();
    for (const f of this.#fetches.values()) f.receive({ ok: false, v: this.#dead });
    this.terminate();
  }

  /** @internal Calls `method` in the worker. */
  call(method, args = []) {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = ++this.#lastCall;
    return new Promise((resolve, reject) => {
      this.#calls.set(id, { resolve, reject });
      this.#worker.postMessage({ call: { id, method, args } });
    });
  }

  /** @internal A call whose failure only the node's own events would tell. */
  notify(method, args) {
    this.call(method, args).catch(() => {});
  }

  resolve(cidOrPath) { return this.call('resolve', [cidOrPath]); }

  fetch(cid, url) {
    const id = ++this.#lastFetch;
    const fetch = new WorkerFetch(() => {
      this.#fetches.delete(id);
      this.notify('cancel', [id]);
    });
    this.#fetches.set(id, fetch);
    this.call('fetch', [id, cid, url ?? null]).catch((v) => {
      this.#fetches.delete(id);
      fetch.receive({ ok: false, v });
    });
    return fetch;
  }

  stats() { return this.call('stats'); }

  consent(bootstrap) { return this.call('consent', [bootstrap ?? null]); }

  revokeConsent() { this.notify('revokeConsent'); }

  pauseServing(paused) { this.notify('pauseServing', [paused]); }

  async close() {
    try {
      await this.call('close');
    } catch {
      // Dead already: nothing left to close but the connections, below.
    }
    this.terminate();
  }

  /** Nothing to free on this side (the wasm objects live in the worker). */
  free() {}

  /** Stops the worker and closes the connections it had. */
  terminate() {
    this.#dead ??= { kind: 'closed', message: 'the mesh is closed' };
    this.#rtc.close();
    this.#worker.terminate();
  }
}

/** A fetch in the worker, read like the wasm module's FetchHandle. The worker pushes its
 * pieces as they are verified (see node-worker.js); they wait here for the reader. */
class WorkerFetch {
  #cancel;
  /** Pieces not read yet: `{ok, v}`. */
  #queue = [];
  /** The reader waiting for the next piece. */
  #waiting = null;
  #ended = false;
  /** The media type the origin named, once known. */
  contentType = undefined;

  constructor(cancel) {
    this.#cancel = cancel;
  }

  /** @internal a piece, or the failure, from the worker */
  receive(piece) {
    if (this.#ended) return;
    if (!piece.ok || piece.v.done) this.#ended = true;
    if (this.#waiting) {
      const settle = this.#waiting;
      this.#waiting = null;
      settle(piece);
    } else {
      this.#queue.push(piece);
    }
  }

  next() {
    const piece = this.#queue.length > 0
      ? Promise.resolve(this.#queue.shift())
      : new Promise((resolve) => { this.#waiting = resolve; });
    return piece.then(({ ok, v }) => {
      if (!ok) throw v;
      this.contentType = v.contentType ?? this.contentType;
      return v;
    });
  }

  cancel() {
    if (this.#ended) return;
    this.#ended = true;
    this.#queue = [];
    this.#waiting?.({ ok: false, v: { kind: 'aborted', message: 'the fetch was cancelled' } });
    this.#waiting = null;
    this.#cancel();
  }
}
