// Entry point for browsers and bundlers that handle `new URL(..., import.meta.url)` assets
// (plain <script type="module">, Vite, Rollup, esbuild): the wasm-pack `web` build.
import init, { MeshNode } from './web/mesh_wasm.js';
import { makeApi } from './mesh.js';

export { Mesh, MeshError } from './mesh.js';

let loading = null;
const loadWasm = () => (loading ??= init());

export const { createMesh, configureMesh, meshFetch } = makeApi(MeshNode, loadWasm);
