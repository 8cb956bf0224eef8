// The dedicated worker a mesh node runs in (the `worker` option): the wasm module, its framing,
// hashing, planner and store, off the page's main thread. worker-node.js starts it and calls
// the node through messages; WebRTC, which only a window has, is bridged (rtc-proxy.js here,
// rtc-host.js in the window).
//
// Messages from the window: `{call: {id, method, args}}`. What the worker says goes out in
// batches, one message per task: `{api: [...]}` of `{ret: {id, ok, v}}` (a rejected call's `v` is
// `{kind, message}`), `{event: {type, detail}}` (the node's events) and `{piece: {id, ok, v}}`:
// a fetch's pieces are pushed as the node verifies them (the node queues them anyway), so a
// piece costs the page no request of its own. Fetched bytes are transferred, not copied.
import init, { MeshNode } from './web/mesh_wasm.js';
import { batcher, installRtcProxy } from './rtc-proxy.js';

const rtc = installRtcProxy(self);
const post = batcher((batch, transfer) => self.postMessage({ api: batch }, transfer));
let node = null;
/** The window's fetch id → FetchHandle. */
const fetches = new Map();

/** The buffer of `data` if it is a whole one (then it can be transferred). */
const movable = (data) => (data instanceof Uint8Array && data.byteOffset === 0
  && data.byteLength === data.buffer.byteLength ? [data.buffer] : []);

const errorOf = (e) => (e && typeof e === 'object' && typeof e.kind === 'string'
  ? { kind: e.kind, message: String(e.message) }
  : { kind: 'internal', message: String(e?.message ?? e) });

function endFetch(id) {
  const handle = fetches.get(id);
  fetches.delete(id);
  handle?.free();
}

const methods = {
  async start(options, manifestJson) {
    try {
      await init();
    } catch (e) {
      throw { kind: 'wasm', message: String(e?.message ?? e) };
    }
    node = MeshNode.start(options, manifestJson, (type, detail) => post({ event: { type, detail } }));
    return node.peerId;
  },
  resolve: (cidOrPath) => node.resolve(cidOrPath),
  fetch(id, cid, url) {
    const handle = node.fetch(cid, url ?? undefined);
    fetches.set(id, handle);
    pump(id, handle);
  },
  cancel(id) {
    fetches.get(id)?.cancel();
    endFetch(id);
  },
  stats: () => node.stats(),
  consent: (addrs) => node.consent(addrs),
  revokeConsent: () => node.revokeConsent(),
  pauseServing: (paused) => node.pauseServing(paused),
  async close() {
    for (const id of [...fetches.keys()]) methods.cancel(id);
    const closing = node;
    node = null;
    await closing?.close();
    closing?.free();
  },
};

/** Sends fetch `id`'s pieces to the window until its end, its failure or its cancel. */
async function pump(id, handle) {
  for (;;) {
    let piece;
    try {
      piece = await handle.next();
    } catch (e) {
      if (fetches.has(id)) post({ piece: { id, ok: false, v: errorOf(e) } });
      endFetch(id);
      return;
    }
    if (!fetches.has(id)) return; // cancelled
    piece.contentType = handle.contentType;
    post({ piece: { id, ok: true, v: piece } }, movable(piece.data));
    if (piece.done) {
      endFetch(id);
      return;
    }
  }
}

self.onmessage = async (e) => {
  if (rtc.handle(e.data)) return;
  const call = e.data?.call;
  if (!call) return;
  const method = methods[call.method];
  try {
    if (!method || (node === null && call.method !== 'start' && call.method !== 'close')) {
      throw { kind: 'closed', message: 'the mesh is closed' };
    }
    post({ ret: { id: call.id, ok: true, v: await method(...call.args) } });
  } catch (err) {
    post({ ret: { id: call.id, ok: false, v: errorOf(err) } });
  }
};
