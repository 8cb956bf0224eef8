// The plain-HTML example: the package is served as files next to the page (build.mjs copies it
// into dist/mesh-loader/), no bundler. Options come from the query string so one build runs
// against any deployment:
//   ?bootstrap=<URL of a bootstrap node's /addrs>&manifest=<manifest URL>&fallbackMs=<ms>
// The manifest defaults to this origin's /.well-known/mesh/manifest.json (what mesh-origin
// serves; with another server, publish the output of `mesh manifest dist`).
import { createMesh } from './mesh-loader/index.js';

const params = new URLSearchParams(location.search);
const options = {
  manifest: params.get('manifest') ?? new URL('/.well-known/mesh/manifest.json', location.href).href,
};
if (params.has('bootstrap')) options.bootstrapUrl = params.get('bootstrap');
if (params.has('fallbackMs')) options.fallbackMs = Number(params.get('fallbackMs'));

const $ = (id) => document.getElementById(id);
const log = (line) => { $('log').textContent += `${new Date().toISOString().slice(11, 23)} ${line}\n`; };

try {
  const mesh = await createMesh(options);
  globalThis.mesh = mesh; // for the console (and the end-to-end test)
  mesh.addEventListener('peer', (e) => log(`peer ${e.detail.state}: ${e.detail.kind} ${e.detail.peer}`));
  mesh.addEventListener('fetch', (e) =>
    log(e.detail.error ? `fetch ${e.detail.cid} failed: ${e.detail.error.kind}`
      : `fetch ${e.detail.cid}: ${e.detail.size} bytes from ${e.detail.source} in ${e.detail.elapsedMs.toFixed(0)} ms`));
  mesh.addEventListener('stats', (e) => { $('stats').textContent = JSON.stringify(e.detail, null, 2); });
  mesh.addEventListener('warning', (e) => log(`warning: ${e.detail.message}`));
  const loaded = await mesh.attach(document);
  for (const r of loaded) log(`${r.element.tagName.toLowerCase()} ${r.cid}: ${r.error ? r.error.kind : r.source}`);
  $('status').textContent = mesh.degraded ? `degraded: ${mesh.degraded}` : `running as ${mesh.peerId}`;
  document.body.dataset.meshReady = 'true';
} catch (e) {
  $('status').textContent = `mesh failed: ${e.kind ?? ''} ${e.message}`;
  document.body.dataset.meshReady = 'error';
}
