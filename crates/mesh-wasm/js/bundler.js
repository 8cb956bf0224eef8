// Entry point for bundlers with WebAssembly ESM integration (webpack 5 `asyncWebAssembly`):
// the wasm-pack `bundler` build, instantiated by the bundler on import.
import { MeshNode } from './bundler/mesh_wasm.js';
import { makeApi } from './mesh.js';

export { Mesh, MeshError } from './mesh.js';

export const { createMesh, configureMesh, meshFetch } = makeApi(MeshNode, () => Promise.resolve());
