// The swarm demo page: starts a mesh node in this tab, loads the gallery's style sheet, script
// and images through it (`data-cid` elements and `mesh.attach`), then the large file with
// `mesh.fetch`, and keeps the dashboard live.
//
// Configuration, from the query string, else from `config.json` next to this page (written
// by `scripts/demo.sh --serve`), else defaults:
//   bootstrap   URL of the bootstrap node's address list (its HTTP `/addrs`)
//   manifest    the site manifest (default /.well-known/mesh/manifest.json)
//   pkg         the mesh-loader entry point (default /pkg/index.js)
//   fallbackMs, cacheBytes, p2p (on|off|after-consent), logLevel, warmPeers   passed to createMesh
//   iceServers  JSON, e.g. [{"urls":"stun:stun.example.org:3478"}] (default: none, host candidates only)
//   large       site path of the large file ('' skips it; default /demo/big/panorama.bmp)
//   images      how many gallery images to load (default all)
//   ready       '0': load at once; by default the page waits (3 s at most) for `mesh.ready()`,
//               its first warm connection, as a page does for assets that can wait for peers
//   hold        '1': start the node, then wait for `window.demo.release()` before loading
//               (tests use it to change the world, e.g. take the origin down, in between)
//
// For scripts (scripts/demo.sh, tests/e2e) the page exposes `window.demo` and sets
// `document.body.dataset.demoState` to `starting`, (`held`,) `loading`, `done` or `error`.
import { createDashboard } from './dashboard.js';

// Long tasks (over 50 ms) of this page's main thread, from the start: the page's Total
// Blocking Time while the large file loads and in all (`demo.large.tbtMs`, `demo.tbtMs`).
// Browsers without the Long Tasks API (Firefox, Safari) report none.
const longTasks = [];
try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) longTasks.push({ start: e.startTime, ms: e.duration });
  }).observe({ type: 'longtask', buffered: true });
} catch { /* not supported */ }
/** Time beyond 50 ms of each long task that started in [from, to), in ms, and their count. */
const blocking = (from, to) => {
  const tasks = longTasks.filter((t) => t.start >= from && t.start < to);
  return { tbtMs: tasks.reduce((a, t) => a + Math.max(0, t.ms - 50), 0), longTasks: tasks.length };
};

const setState = (state, message) => {
  document.body.dataset.demoState = state;
  if (message) document.getElementById('status').textContent = message;
};

async function readConfig() {
  const q = new URLSearchParams(location.search);
  let file = {};
  if (!q.has('bootstrap')) {
    try {
      const res = await fetch('config.json', { cache: 'no-store' });
      if (res.ok) file = await res.json();
    } catch { /* no config file: defaults */ }
  }
  const pick = (name) => (q.has(name) ? q.get(name) : file[name]);
  const num = (name) => {
    const v = pick(name);
    return v == null || v === '' ? undefined : Number(v);
  };
  return {
    pkg: pick('pkg') ?? '/pkg/index.js',
    bootstrapUrl: pick('bootstrap') || undefined,
    manifest: pick('manifest') ?? '/.well-known/mesh/manifest.json',
    fallbackMs: num('fallbackMs'),
    cacheBytes: num('cacheBytes'),
    p2p: pick('p2p') || undefined,
    logLevel: pick('logLevel') || undefined,
    warmPeers: num('warmPeers'),
    iceServers: typeof pick('iceServers') === 'string' ? JSON.parse(pick('iceServers')) : pick('iceServers'),
    large: pick('large') ?? '/demo/big/panorama.bmp',
    images: num('images'),
    hold: pick('hold') === '1',
    ready: pick('ready') !== '0',
    worker: { 0: false, 1: true }[pick('worker')],
  };
}

const hex = async (buf) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', buf))]
  .map((b) => b.toString(16).padStart(2, '0')).join('');

/** Polls until `ok(stats)` holds or `ms` passed: the node is usable either way. */
async function waitFor(mesh, ok, ms) {
  const end = performance.now() + ms;
  for (;;) {
    const s = await mesh.stats();
    if (ok(s) || performance.now() > end) return s;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function main() {
  setState('starting', 'starting…');
  const config = await readConfig();
  const dashboard = createDashboard(document);
  const demo = { config, records: {}, large: null, mesh: null, startedAt: performance.now() };
  window.demo = demo;

  const { createMesh } = await import(config.pkg);
  const options = { manifest: config.manifest, statsIntervalMs: 250 };
  for (const k of ['bootstrapUrl', 'fallbackMs', 'cacheBytes', 'p2p', 'logLevel', 'warmPeers', 'iceServers', 'worker']) {
    if (config[k] !== undefined) options[k] = config[k];
  }
  const mesh = await createMesh(options);
  demo.mesh = mesh;
  const manifest = await (await fetch(config.manifest)).json();
  const pathsOf = new Map();
  for (const [path, a] of Object.entries(manifest.assets)) {
    if (!pathsOf.has(a.cid)) pathsOf.set(a.cid, []);
    pathsOf.get(a.cid).push(path);
  }

  mesh.addEventListener('stats', (e) => dashboard.stats(e.detail));
  mesh.addEventListener('peer', (e) => dashboard.peer(e.detail));
  mesh.addEventListener('fetch', (e) => {
    const d = e.detail;
    for (const path of pathsOf.get(d.cid) ?? [d.cid]) {
      const record = d.error
        ? { path, cid: d.cid, error: d.error.kind, message: d.error.message }
        : { path, cid: d.cid, source: d.source, size: d.size, ttfbMs: d.ttfbMs, elapsedMs: d.elapsedMs,
          bytesPeer: d.bytesPeer, bytesOrigin: d.bytesOrigin, bytesCache: d.bytesCache, fellBack: d.fellBack,
          peers: Object.keys(d.peers ?? {}).length };
      demo.records[path] = record;
      if (!d.error) dashboard.asset(record);
    }
  });

  if (mesh.degraded) {
    setState('loading', `degraded: ${mesh.degraded}`);
  } else if (config.bootstrapUrl && config.p2p !== 'off') {
    setState('starting', `running as ${mesh.peerId.slice(0, 12)}…, joining the mesh`);
    // Reachable (a relay reservation) means other tabs can dial this one: wait for it a
    // little, so the first fetches can already use peers; the origin is there regardless.
    await waitFor(mesh, (s) => s.peers.bootstrap > 0 && s.reachable, 10_000);
    // The gallery stands for assets that can wait for peers (below the fold): asked before
    // the first WebRTC connection is up (0.2-1 s here), they would mostly come from the origin.
    if (config.ready) {
      const t = performance.now();
      await mesh.ready({ timeoutMs: 3000 });
      demo.readyMs = performance.now() - t;
    }
  }
  if (config.hold) {
    await new Promise((resolve) => {
      demo.release = resolve;
      setState('held', 'held: waiting for window.demo.release()');
    });
  }
  setState('loading', mesh.degraded ? `degraded: ${mesh.degraded}` : `running as ${mesh.peerId.slice(0, 12)}…, loading`);

  // The gallery: its style sheet and script first, then the images, all named by CID.
  const gallery = document.getElementById('gallery');
  const element = (tag, path, attrs = {}) => {
    const asset = manifest.assets[path];
    if (!asset) throw new Error(`${path} is not in the manifest`);
    const node = document.createElement(tag);
    Object.assign(node, attrs);
    node.dataset.cid = asset.cid;
    node.dataset[tag === 'link' ? 'href' : 'src'] = path;
    return node;
  };
  document.head.append(element('link', '/demo/gallery.css', { rel: 'stylesheet' }));
  document.head.append(element('script', '/demo/gallery.js'));
  const images = Object.keys(manifest.assets)
    .filter((p) => p.startsWith('/demo/img/'))
    .sort()
    .slice(0, config.images ?? Infinity);
  images.push('/img/interference.png');
  for (const path of images) {
    const figure = document.createElement('figure');
    const img = element('img', path, { alt: path, width: 160, height: path.endsWith('.png') ? 100 : 120 });
    const caption = document.createElement('figcaption');
    caption.textContent = path.split('/').pop();
    img.addEventListener('mesh-load', (e) => { caption.dataset.source = e.detail.source; });
    figure.append(img, caption);
    gallery.append(figure);
  }
  const t0 = performance.now();
  const attached = await mesh.attach(document);
  demo.galleryMs = performance.now() - t0;
  demo.attachErrors = attached.filter((r) => r.error).map((r) => ({ cid: r.cid, kind: r.error.kind }));

  // The large file, streamed: the progress bar moves as verified blocks arrive.
  let largeWindow = null;
  if (config.large) {
    const status = document.getElementById('large-status');
    const progress = document.getElementById('large-progress');
    try {
      const t1 = performance.now();
      const res = await mesh.fetch(config.large);
      const total = Number(res.headers.get('content-length')) || 1;
      progress.max = total;
      const reader = res.body.getReader();
      const chunks = [];
      let got = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        got += value.length;
        progress.value = got;
        status.textContent = `${config.large}: ${got} of ${total} bytes (${res.headers.get('x-mesh-source')})`;
      }
      largeWindow = [t1, performance.now()];
      const blob = new Blob(chunks, { type: res.headers.get('content-type') ?? 'image/bmp' });
      const summary = await res.mesh?.summary;
      demo.large = { path: config.large, size: got, sha256: await hex(await blob.arrayBuffer()),
        source: res.headers.get('x-mesh-source'), ms: performance.now() - t1, summary };
      const img = document.getElementById('large');
      img.src = URL.createObjectURL(blob);
      img.hidden = false;
      status.textContent = `${config.large}: ${got} bytes, verified, from ${demo.large.source}`;
    } catch (e) {
      demo.large = { path: config.large, error: e.kind ?? 'internal', message: e.message };
      status.textContent = `${config.large}: failed (${e.kind ?? ''} ${e.message})`;
    }
  }

  demo.loadMs = performance.now() - demo.startedAt;
  const stats = await mesh.stats();
  // Long-task entries arrive after their task: by now (a later task) the last ones are in.
  Object.assign(demo, blocking(0, performance.now()));
  if (largeWindow && demo.large) Object.assign(demo.large, blocking(...largeWindow));
  dashboard.stats(stats);
  dashboard.flush();
  setState('done', mesh.degraded ? `degraded, loaded in ${Math.round(demo.loadMs)} ms`
    : `running as ${mesh.peerId.slice(0, 12)}…, loaded in ${Math.round(demo.loadMs)} ms`);
}

main().catch((e) => {
  console.error('mesh demo:', e);
  setState('error', `error: ${e.kind ?? ''} ${e.message}`);
  if (window.demo) window.demo.error = String(e.message ?? e);
});
