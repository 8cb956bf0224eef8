// The swarm demo's driver (run by scripts/demo.sh, inside a loopback-only network namespace):
// starts the bootstrap node and the origin (HTTPS with HTTP/2, 80 ms away), opens N headless
// tabs in one Chromium (one browser context each, so one mesh node each; told to trust the
// origin's self-signed certificate by its SPKI hash) on www/demo in waves, and prints the
// offload report; writes it as JSON with a screenshot of a dashboard.
//
//   node scripts/demo-swarm.mjs [--tabs N] [--out DIR] [--port-base P] [--latency-ms MS]
//                               [--fallback-ms MS] [--waves 1,1,2,2,2] [--http1] [--serve]
//                               [--no-ready] [--log-level LEVEL] [--verbose]
//
// --no-ready: the pages load at once instead of waiting (3 s at most) for mesh.ready().
// --log-level: the pages' logLevel (prints only with a dev build of the package).
// --verbose: the pages' console goes to this one.
// --http1 serves the origin over plain HTTP/1.1 instead (what the demo did before: a browser
// then queues all but six requests per origin, so the origin's TTFB measures the queue).
// --serve starts the servers only, prints the page's URL and waits for Ctrl-C.
// Binaries come from $CARGO_TARGET_DIR/release (MESH_PROFILE=debug for the debug ones).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  ROOT, demoDone, launchChromium, median, openTab, resourceTimings, startBootstrap, startOrigin,
} from '../tests/browser/lib/harness.mjs';

const { values: opts } = parseArgs({
  options: {
    tabs: { type: 'string', default: '8' },
    out: { type: 'string', default: join(ROOT, 'demo-out') },
    'port-base': { type: 'string', default: process.env.MESH_DEMO_PORT_BASE ?? '8080' },
    'latency-ms': { type: 'string', default: '80' },
    'fallback-ms': { type: 'string' },
    waves: { type: 'string' },
    http1: { type: 'boolean', default: false },
    serve: { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
    'log-level': { type: 'string' },
    'no-ready': { type: 'boolean', default: false },
    // The tabs' nodes in workers (`worker: true`) or on their main threads (`false`); the
    // default, `'auto'`, picks by the machine's core count.
    worker: { type: 'boolean', default: false },
    'no-worker': { type: 'boolean', default: false },
  },
});
const N = Number(opts.tabs);
if (!Number.isInteger(N) || N < 1 || N > 64) throw new Error(`--tabs ${opts.tabs}: need 1..64`);
const BASE = Number(opts['port-base']);
const OUT = opts.out;
const LOGS = join(OUT, 'logs');
rmSync(OUT, { recursive: true, force: true });
mkdirSync(LOGS, { recursive: true });

const servers = [];
let browser;
const shutdown = async () => {
  await browser?.close().catch(() => {});
  for (const s of servers.reverse()) await s.stop();
};
process.on('SIGINT', () => shutdown().then(() => process.exit(0)));
process.on('SIGTERM', () => shutdown().then(() => process.exit(0)));

const bootstrap = await startBootstrap({ dataDir: join(OUT, 'bootstrap-data'), base: BASE + 1, logFile: join(LOGS, 'bootstrap.log') });
servers.push(bootstrap);
const origin = await startOrigin({
  root: join(ROOT, 'www'), mounts: { '/pkg': join(ROOT, 'crates/mesh-wasm/pkg') }, port: BASE,
  latencyMs: Number(opts['latency-ms']), logFile: join(LOGS, 'origin.log'),
  tlsDir: opts.http1 ? undefined : join(OUT, 'tls'),
});
servers.push(origin);
// Inside the namespace there is no STUN server to ask: host candidates (127.0.0.1) only.
const query = new URLSearchParams({ bootstrap: bootstrap.addrsUrl });
if (!opts.serve) query.set('iceServers', '[]');
if (opts['fallback-ms']) query.set('fallbackMs', opts['fallback-ms']);
if (opts['log-level']) query.set('logLevel', opts['log-level']);
if (opts['no-ready']) query.set('ready', '0');
if (opts.worker && opts['no-worker']) throw new Error('--worker and --no-worker: pick one');
if (opts.worker) query.set('worker', '1');
if (opts['no-worker']) query.set('worker', '0');
const pageUrl = `${origin.url}/demo/?${query}`;

if (opts.serve) {
  console.log(`\nThe demo is up (origin ${origin.url}, ${opts['latency-ms']} ms added latency; bootstrap ${bootstrap.addrsUrl}).`);
  console.log(`Open this URL in several tabs or browsers (each tab is a mesh node), Ctrl-C to stop:\n\n  ${pageUrl}\n`);
  if (origin.tls) {
    console.log('The origin\'s certificate is self-signed: accept the warning, or start Chromium with');
    console.log(`  --user-data-dir=$(mktemp -d) --ignore-certificate-errors-spki-list=${origin.tls.spki}`);
    console.log('(--http1 serves plain HTTP/1.1 instead).\n');
  }
  await new Promise(() => {});
}

// Waves: the first tab alone (cold: everything from the origin), a second one, then pairs
// (1,1,2,2,2 for 8 tabs; --waves to choose). Bigger waves on a 2-core machine measure the
// CPU more than the mesh: 4 tabs starting at once each wait seconds for their first WebRTC
// connection, past any fallback deadline.
let waves = [];
if (opts.waves) {
  waves = opts.waves.split(',').map(Number);
  if (waves.some((w) => !Number.isInteger(w) || w < 1) || waves.reduce((a, w) => a + w, 0) !== N) {
    throw new Error(`--waves ${opts.waves}: positive sizes adding up to --tabs ${N}`);
  }
} else {
  for (let left = N; left > 0;) {
    const size = Math.min(waves.length < 2 ? 1 : 2, left);
    waves.push(size);
    left -= size;
  }
}
const log = opts.verbose ? (line) => console.log(line) : () => {};
browser = await launchChromium({ spki: origin.tls?.spki });
const tabs = [];
const started = performance.now();
console.log(`==> ${N} tabs in waves of ${waves.join(', ')} on ${pageUrl}`);
for (const [w, size] of waves.entries()) {
  const wave = await Promise.all(Array.from({ length: size }, async () => {
    const index = tabs.length;
    const name = `tab${String(index + 1).padStart(2, '0')}`;
    const tab = { name, wave: w + 1, page: null };
    tabs.push(tab);
    tab.page = await openTab(browser, pageUrl, { name, log });
    tab.result = await demoDone(tab.page, 120_000);
    return tab;
  }));
  for (const t of wave) {
    const s = t.result.stats;
    console.log(`    wave ${t.wave} ${t.name}: ${t.result.state}, ${Math.round(t.result.loadMs)} ms, peers ${fmt(s?.bytes.peer)}, origin ${fmt(s?.bytes.origin)}`);
  }
}
const wallMs = performance.now() - started;
// Every tab's figures at the end (earlier tabs served later ones meanwhile), and what its
// Resource Timing says of its requests to the origin: the protocol, and the time to first byte
// from the fetch call (queueing for a connection included, waiting for peers before it not).
for (const t of tabs) {
  t.final = await t.page.evaluate(() => window.demo.mesh.stats());
  // The page's requests and its node's (in its worker, by default).
  t.originRequests = (await resourceTimings(t.page))
    .filter((e) => e.name.startsWith(`${origin.url}/`) && e.responseStart > 0)
    .map((e) => ({ path: new URL(e.name).pathname, protocol: e.nextHopProtocol, ttfbMs: e.responseStart - e.startTime, bytes: e.encodedBodySize }));
}
const originStats = await origin.control('stats');

function fmt(n) {
  if (n == null) return '–';
  return n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / (1024 * 1024)).toFixed(2)} MiB`;
}
const pct = (x) => (x == null ? '–' : `${(100 * x).toFixed(1)} %`);

const rows = tabs.map((t) => {
  const s = t.final;
  const records = Object.values(t.result.records);
  const fetched = s.bytes.peer + s.bytes.origin;
  return {
    tab: t.name, wave: t.wave, state: t.result.state, loadMs: Math.round(t.result.loadMs),
    readyMs: t.result.readyMs == null ? null : Math.round(t.result.readyMs),
    bytesPeer: s.bytes.peer, bytesOrigin: s.bytes.origin, bytesCache: s.bytes.cache, bytesServed: s.bytesServed,
    offload: fetched ? s.bytes.peer / fetched : null, fallbacks: s.fallbacks,
    ttfbP50: { peer: s.ttfbMs.peer, origin: s.ttfbMs.origin },
    assets: records.length, errors: records.filter((r) => r.error).length,
    fetches: records.map((r) => ({ path: r.path, source: r.source, ttfbMs: r.ttfbMs, elapsedMs: r.elapsedMs, error: r.error })),
    meshPeers: s.peers.mesh,
    large: t.result.large ? { source: t.result.large.source, bytes: t.result.large.size, error: t.result.large.error,
      ms: t.result.large.ms, tbtMs: t.result.large.tbtMs, longTasks: t.result.large.longTasks } : null,
    tbtMs: t.result.tbtMs, longTasks: t.result.longTasks,
  };
});
const all = tabs.flatMap((t) => Object.values(t.result.records).filter((r) => !r.error));
const ttfbBy = (src) => all.filter((r) => r.source === src && r.ttfbMs != null).map((r) => r.ttfbMs);
const sum = (k) => rows.reduce((a, r) => a + r[k], 0);
const peerBytes = sum('bytesPeer');
const originBytes = sum('bytesOrigin');
const assetPaths = new Set(all.map((r) => r.path));
const originAssetEgress = Object.entries(originStats.paths ?? {})
  .filter(([p]) => assetPaths.has(p)).reduce((a, [, v]) => a + v.bytes, 0);
// The loader itself (the npm package at /pkg: wasm and JS) comes from the origin to every tab:
// origin bytes the mesh causes, counted in the net offload.
const loaderBytes = Object.entries(originStats.paths ?? {})
  .filter(([p]) => p.startsWith('/pkg/')).reduce((a, [, v]) => a + v.bytes, 0);
const originRequests = tabs.flatMap((t) => t.originRequests);
const smallOriginTtfb = originRequests.filter((r) => r.path.startsWith('/demo/img/')).map((r) => r.ttfbMs);
const protocols = Object.fromEntries([...new Set(originRequests.map((r) => r.protocol))]
  .map((p) => [p, originRequests.filter((r) => r.protocol === p).length]));
const report = {
  tabs: N, waves, pageUrl, originLatencyMs: Number(opts['latency-ms']), wallMs: Math.round(wallMs),
  overall: {
    bytesPeer: peerBytes, bytesOrigin: originBytes, bytesServed: sum('bytesServed'),
    offload: peerBytes + originBytes ? peerBytes / (peerBytes + originBytes) : null,
    loaderBytes, netOffload: peerBytes / (peerBytes + originBytes + loaderBytes),
    cap: 1 - 1 / N, fallbacks: sum('fallbacks'),
    ttfbP50: { peer: median(ttfbBy('peer')), origin: median(ttfbBy('origin')), cache: median(ttfbBy('cache')), mixed: median(ttfbBy('mixed')) },
    fetchesBySource: Object.fromEntries(['peer', 'origin', 'cache', 'mixed'].map((s) => [s, all.filter((r) => r.source === s).length])),
    originAssetEgress, originRequests: originStats.requests,
    originHttp: { protocols, smallAssetTtfbP50: median(smallOriginTtfb), smallAssetRequests: smallOriginTtfb.length },
  },
  perTab: rows,
};
report.overall.offloadOfCap = report.overall.offload == null ? null : report.overall.offload / report.overall.cap;
// Issue 14's goals, from the same run: small assets are every asset but the large file; later
// tabs are those after the first wave (the first has nobody to fetch from).
const later = tabs.filter((t) => t.wave > 1);
const smallOf = (t) => Object.values(t.result.records)
  .filter((r) => !r.error && r.path !== t.result.large?.path);
const laterSmall = later.flatMap(smallOf);
const smallTtfb = (src) => median(tabs.flatMap(smallOf).filter((r) => r.source === src && r.ttfbMs != null).map((r) => r.ttfbMs));
report.goals = {
  offloadOfCap: report.overall.offloadOfCap,
  laterTabsWithPeerBytes: later.filter((t) => t.final.bytes.peer > 0).length,
  laterTabs: later.length,
  laterSmallFetches: laterSmall.length,
  laterSmallFromPeersOrCache: laterSmall.filter((r) => r.source === 'peer' || r.source === 'cache').length,
  smallTtfbP50: { peer: smallTtfb('peer'), origin: smallTtfb('origin') },
};

console.log(`\n==> offload report: ${N} tabs, origin +${opts['latency-ms']} ms, ${Math.round(wallMs / 100) / 10} s`);
console.log(`${'tab'.padEnd(6)} ${'wave'.padStart(4)} ${'from peers'.padStart(11)} ${'from origin'.padStart(11)} ${'served'.padStart(10)} ${'offload'.padStart(8)} ${'p50 peer'.padStart(9)} ${'p50 orig'.padStart(9)} ${'fallbk'.padStart(6)} ${'load ms'.padStart(8)}`);
for (const r of rows) {
  const ms = (v) => (v == null ? '–' : `${Math.round(v)}`);
  console.log(`${r.tab.padEnd(6)} ${String(r.wave).padStart(4)} ${fmt(r.bytesPeer).padStart(11)} ${fmt(r.bytesOrigin).padStart(11)} ${fmt(r.bytesServed).padStart(10)} ${pct(r.offload).padStart(8)} ${ms(r.ttfbP50.peer).padStart(9)} ${ms(r.ttfbP50.origin).padStart(9)} ${String(r.fallbacks).padStart(6)} ${String(r.loadMs).padStart(8)}${r.errors ? `  ${r.errors} error(s)` : ''}`);
}
const o = report.overall;
console.log(`\noverall offload ${pct(o.offload)} of bytes from peers (cap 1 - 1/${N} = ${pct(o.cap)}; ${pct(o.offloadOfCap)} of the cap)`);
console.log(`net offload ${pct(o.netOffload)}, counting the loader every tab downloads from the origin (${fmt(loaderBytes)} in all, ${fmt(loaderBytes / N)} a tab) as origin bytes`);
console.log(`bytes: ${fmt(o.bytesPeer)} from peers, ${fmt(o.bytesOrigin)} from the origin (origin egress for these assets: ${fmt(originAssetEgress)}), ${fmt(o.bytesServed)} served by tabs`);
const ms = (v) => (v == null ? '–' : `${Math.round(v)} ms`);
console.log(`TTFB p50 by source (per asset, all tabs): peer ${ms(o.ttfbP50.peer)}, origin ${ms(o.ttfbP50.origin)}, cache ${ms(o.ttfbP50.cache)}, mixed ${ms(o.ttfbP50.mixed)}`);
console.log(`fetches by source ${JSON.stringify(o.fetchesBySource)}; ${o.fallbacks} brought in the origin (fallbacks)`);
console.log(`origin over ${JSON.stringify(protocols)} (requests by protocol, Resource Timing); its TTFB p50 for small assets, fetch call to first byte: ${ms(o.originHttp.smallAssetTtfbP50)} (${o.originHttp.smallAssetRequests} requests, ${opts['latency-ms']} ms added)`);

const g = report.goals;
const mark = (ok) => (ok ? 'met' : 'missed');
const smallShare = g.laterSmallFetches ? g.laterSmallFromPeersOrCache / g.laterSmallFetches : null;
const ttfbOk = g.smallTtfbP50.peer != null && g.smallTtfbP50.origin != null && g.smallTtfbP50.peer < g.smallTtfbP50.origin;
console.log('\n==> goals (issue 14; reported, not asserted)');
console.log(`offload of the cap >= 85 %: ${pct(g.offloadOfCap)}, ${mark(g.offloadOfCap >= 0.85)}`);
console.log(`every later tab gets peer bytes: ${g.laterTabsWithPeerBytes} of ${g.laterTabs}, ${mark(g.laterTabsWithPeerBytes === g.laterTabs)}`);
console.log(`small-asset fetches of later tabs from peers or cache >= 70 %: ${g.laterSmallFromPeersOrCache} of ${g.laterSmallFetches} (${pct(smallShare)}), ${mark(smallShare >= 0.7)}`);
console.log(`TTFB p50 of small assets, peer below origin: ${ms(g.smallTtfbP50.peer)} / ${ms(g.smallTtfbP50.origin)}, ${mark(ttfbOk)}`);
// Issue 13's: what tabs upload against what peers used (blocks sent after the fetch got them
// elsewhere are waste).
const servedRatio = o.bytesPeer ? o.bytesServed / o.bytesPeer : null;
report.goals.servedPerUsed = servedRatio;
console.log(`bytes served by tabs <= 1.1x bytes taken from peers (issue 13): ${servedRatio == null ? '–' : `${servedRatio.toFixed(2)}x`}, ${mark(servedRatio != null && servedRatio <= 1.1)}`);
// The page's Total Blocking Time (long tasks' time beyond 50 ms, Long Tasks API) while the
// large file loads, and over the whole page load: what the node's main-thread work costs a page.
const tbtLarge = rows.map((r) => r.large?.tbtMs).filter((v) => v != null);
const tbtPage = rows.map((r) => r.tbtMs).filter((v) => v != null);
report.goals.tbt = {
  largeFileP50: median(tbtLarge), largeFileMax: tbtLarge.length ? Math.max(...tbtLarge) : null,
  pageP50: median(tbtPage), pageMax: tbtPage.length ? Math.max(...tbtPage) : null,
};
console.log(`Total Blocking Time while the large file loads (issue 13): p50 ${ms(report.goals.tbt.largeFileP50)}, max ${ms(report.goals.tbt.largeFileMax)} over ${tbtLarge.length} tabs; whole page load p50 ${ms(report.goals.tbt.pageP50)}, max ${ms(report.goals.tbt.pageMax)}`);

// The dashboard of the tab that got the most bytes from peers (the last one on a tie).
const shown = tabs.reduce((best, t) => (t.final.bytes.peer >= best.final.bytes.peer ? t : best));
report.screenshotTab = shown.name;
await shown.page.locator('#dashboard').screenshot({ path: join(OUT, 'dashboard.png') });
await shown.page.screenshot({ path: join(OUT, 'page.png') });
writeFileSync(join(OUT, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
console.log(`\nwrote ${join(OUT, 'report.json')}, ${join(OUT, 'dashboard.png')} and ${join(OUT, 'page.png')} (${shown.name})`);
const failed = rows.filter((r) => r.state !== 'done' || r.errors);
await shutdown();
if (failed.length) {
  console.error(`error: ${failed.map((r) => r.tab).join(', ')} did not load everything (see ${LOGS})`);
  process.exit(1);
}
