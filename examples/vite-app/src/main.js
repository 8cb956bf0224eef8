// The Vite example: mesh-loader imported like any npm package; `vite build` emits its .wasm as
// an asset. Options come from the query string so one build runs against any deployment:
//   ?bootstrap=<URL of a bootstrap node's /addrs>&manifest=<manifest URL>&asset=<site path>
//   &worker=1|0 (the node in a dedicated worker or in the window; default: by the core count)
import { createMesh } from 'mesh-loader';

const params = new URLSearchParams(location.search);
/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const asset = params.get('asset') ?? '/index.html';
$('asset').textContent = asset;

async function main() {
  /** @type {import('mesh-loader').MeshOptions} */
  const options = {
    manifest: params.get('manifest') ?? new URL('/.well-known/mesh/manifest.json', location.href).href,
  };
  if (params.has('worker')) options.worker = params.get('worker') === '1';
  const bootstrap = params.get('bootstrap');
  if (bootstrap) options.bootstrapUrl = bootstrap;
  const mesh = await createMesh(options);
  /** @type {any} */ (globalThis).mesh = mesh; // for the console (and the end-to-end test)
  const res = await mesh.fetch(asset);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  $('source').textContent = res.headers.get('x-mesh-source');
  $('type').textContent = res.headers.get('content-type');
  $('size').textContent = String(bytes.length);
  $('sha256').textContent = [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
  $('status').textContent = mesh.degraded ? `degraded: ${mesh.degraded}` : 'done';
}

main().catch((e) => {
  $('status').textContent = `failed: ${e.kind ?? ''} ${e.message}`;
});
