// Entry point for browsers and bundlers that handle `new URL(..., import.meta.url)` assets
// (plain <script type="module">, Vite, Rollup, esbuild): the wasm-pack `web` build. The node
// runs in a dedicated worker (node-worker.js) as the `worker` option says (by default from 4
// logical processors on); otherwise, or when no worker can run it, the window loads the wasm.
import init, { MeshNode } from './web/mesh_wasm.js';
import { makeApi } from './mesh.js';
import { WorkerNode } from './worker-node.js';

export { Mesh, MeshError } from './mesh.js';

let loading = null;
const loadWasm = () => (loading ??= init());

function startWorker(options, manifestJson, onEvent, onDead) {
  let worker;
  try {
    worker = new Worker(new URL('./node-worker.js', import.meta.url), { type: 'module', name: 'mesh-node' });
  } catch (e) {
    // A Content-Security-Policy without `worker-src` for the package, for one.
    return Promise.reject({ kind: 'worker', message: `no worker for the node: ${e?.message ?? e}` });
  }
  return WorkerNode.start(worker, options, manifestJson, onEvent, onDead);
}

export const { createMesh, configureMesh, meshFetch } = makeApi(MeshNode, loadWasm, startWorker);
