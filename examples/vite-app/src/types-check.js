// Not part of the app: exercises the package's types (`npm run typecheck`); a wrong or missing
// declaration in mesh-loader's index.d.ts fails that check.
import { createMesh, configureMesh, meshFetch, Mesh, MeshError } from 'mesh-loader';
import * as bundler from 'mesh-loader/bundler';
import { startMeshSite, MeshSite } from 'mesh-loader/sw';

/** @returns {Promise<void>} */
export async function typesCheck() {
  configureMesh({ fallbackMs: 100, p2p: 'after-consent' });
  /** @type {Mesh} */
  const mesh = await createMesh({
    bootstrap: ['/dns4/boot.example/tcp/443/wss/p2p/12D3KooW'],
    bootstrapUrl: 'https://boot.example/addrs',
    namespace: 'shop',
    fallbackMs: 200,
    cacheBytes: 64 << 20,
    uploadBytesPerMinute: 0,
    manifest: new URL('https://example.com/.well-known/mesh/manifest.json'),
    logLevel: 'info',
    statsIntervalMs: 0,
  });
  const controller = new AbortController();
  const res = await mesh.fetch('/img/logo.svg', { url: 'https://example.com/img/logo.svg', signal: controller.signal });
  /** @type {string | null} */
  const source = res.headers.get('x-mesh-source');
  const summary = await res.mesh?.summary;
  /** @type {number | undefined} */
  const peerBytes = summary?.bytesPeer;
  const stats = await mesh.stats();
  /** @type {number} */
  const routing = stats.peers.routingTable;
  /** @type {number | null} */
  const ttfb = stats.ttfbMs.peer;
  mesh.addEventListener('fetch', (e) => {
    const d = e.detail;
    if ('error' in d) console.log(d.error.kind);
    else console.log(d.source, d.elapsedMs);
  });
  mesh.addEventListener('peer', (e) => console.log(e.detail.kind, e.detail.state));
  mesh.addEventListener('stats', (e) => console.log(e.detail.offloadRatio));
  const results = await mesh.attach(document);
  for (const r of results) console.log(r.element, r.source ?? r.error?.kind);
  mesh.consent();
  await mesh.close();
  await meshFetch('bafkreih4ereb2rse2nwitd63f4yxzd5az3l7jbfg7ebumioo5g3i53izge');
  await bundler.createMesh({ p2p: 'off' });
  try {
    await mesh.fetch('x');
  } catch (e) {
    if (e instanceof MeshError && e.kind === 'integrity') console.log(e.message);
  }
  console.log(source, peerBytes, routing, ttfb, mesh.degraded, mesh.peerId);
  /** @type {MeshSite} */
  const site = await startMeshSite({ serviceWorker: '/mesh-sw.js?timeoutMs=3000', nodePerTab: false, mesh: { fallbackMs: 300 } });
  site.addEventListener('role', (e) => console.log(e.detail.role === 'leader' ? site.mesh?.peerId : site.peerId));
  /** @type {number} */
  const served = (await site.stats()).bytesServed;
  console.log(served, site.registration.scope);
  await site.close();
}
