import { defineConfig } from 'vite';

export default defineConfig({
  // The dev server's dependency pre-bundling moves mesh-loader's JS away from its .wasm (found
  // through `new URL('mesh_wasm_bg.wasm', import.meta.url)`); `vite build` needs no help.
  optimizeDeps: { exclude: ['mesh-loader'] },
  build: { target: 'es2022' },
});
