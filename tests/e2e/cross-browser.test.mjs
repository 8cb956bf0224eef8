// Cross-browser: Firefox and Chromium tabs exchange blocks over browser-to-browser /webrtc.
// Two Chromium tabs (Playwright, one context each) and one Firefox tab (WebDriver through
// geckodriver, tests/browser/lib/firefox.mjs) load a one-node page (cross-browser/index.html)
// from a site of two 3 MiB files. Chromium tab 1 takes a.bin and Firefox b.bin from the origin;
// with the origin down, Firefox gets a.bin from Chromium and Chromium tab 2 gets b.bin from
// Firefox: both directions, every byte checked against the file, nothing from the origin, and
// the bootstrap relay carrying only signaling. Run by scripts/test-e2e.sh inside its
// loopback-only namespace, before swarm.test.mjs.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ROOT, launchChromium, metric, openTab, startBootstrap, startOrigin, waitForGauge,
} from '../browser/lib/harness.mjs';
import { launchFirefox } from '../browser/lib/firefox.mjs';
import { BASE, LOGS } from './lib/swarm.mjs';

const SIZE = 3 << 20;
/** Signaling (SDP, candidates, circuit handshakes) is a few KiB; blocks must not pass the relay. */
const SIGNALING_BYTES = 64 * 1024;
const LOG_DIR = join(LOGS, 'cross-browser');
const VERBOSE = !!process.env.MESH_E2E_VERBOSE;

/** `SIZE` deterministic bytes (AES-CTR keystream of `seed`), distinct per seed. */
function content(seed) {
  const key = createHash('sha256').update(`cross-browser ${seed}`).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(SIZE));
}
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** The bootstrap node's relayed-bytes counter. */
async function relayedBytes(httpUrl) {
  const bytes = await metric(httpUrl, 'bootstrap_relay_bytes');
  assert.ok(Number.isFinite(bytes), 'no relay byte counter in /metrics');
  return bytes;
}

// In the page (either browser): waits until the node is up and holds a relay reservation.
async function ready() {
  const end = performance.now() + 60_000;
  while (document.body.dataset.state === 'starting' && performance.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
  }
  if (document.body.dataset.state !== 'ready') {
    throw new Error(`page ${document.body.dataset.state}: ${document.getElementById('error').textContent}`);
  }
  for (;;) {
    const s = await window.mesh.stats();
    if (s.peers.bootstrap > 0 && s.reachable) return window.mesh.peerId;
    if (performance.now() > end) throw new Error(`not connected: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// In the page (either browser): mesh.fetch(path), its body hashed, with the fetch's summary.
async function fetchAndHash(path) {
  const res = await window.mesh.fetch(path);
  const buf = await res.arrayBuffer();
  const sha = [...new Uint8Array(await crypto.subtle.digest('SHA-256', buf))]
    .map((b) => b.toString(16).padStart(2, '0')).join('');
  const s = await res.mesh.summary;
  return { size: buf.byteLength, sha, source: s.source, bytesPeer: s.bytesPeer, bytesOrigin: s.bytesOrigin, bytesCache: s.bytesCache };
}

let site;
let dataDir;
let bootstrap;
let origin;
let chromium;
let firefox;
const files = { '/a.bin': content(1), '/b.bin': content(2) };

before(async () => {
  site = mkdtempSync(join(tmpdir(), 'mesh-e2e-cross-site-'));
  dataDir = mkdtempSync(join(tmpdir(), 'mesh-e2e-cross-data-'));
  rmSync(LOG_DIR, { recursive: true, force: true });
  copyFileSync(join(ROOT, 'tests/e2e/cross-browser/index.html'), join(site, 'index.html'));
  for (const [path, bytes] of Object.entries(files)) writeFileSync(join(site, path), bytes);
  bootstrap = await startBootstrap({ dataDir, base: BASE + 1, logFile: join(LOG_DIR, 'bootstrap.log') });
  origin = await startOrigin({
    root: site, mounts: { '/pkg': join(ROOT, 'crates/mesh-wasm/pkg') }, port: BASE, logFile: join(LOG_DIR, 'origin.log'),
  });
  chromium = await launchChromium();
  firefox = await launchFirefox({ logFile: join(LOG_DIR, 'geckodriver.log') });
});

after(async () => {
  await firefox?.quit();
  await chromium?.close();
  await origin?.stop();
  await bootstrap?.stop();
  for (const dir of [site, dataDir]) if (dir) rmSync(dir, { recursive: true, force: true });
});

const FETCH_MS = 60_000;
const tabs = {};

/** `promise`, or undefined once `ms` passed. */
async function within(promise, ms) {
  let timer;
  const late = new Promise((resolve) => { timer = setTimeout(resolve, ms); });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `tab` fetches `path` and the test checks every byte against the file and the source. A fetch
 * that has not finished within FETCH_MS fails the test with every tab's stats (a tab whose
 * WebDriver session is busy with the fetch answers nothing).
 */
async function fetchChecked(tab, name, path, source) {
  /** Every tab's stats, for a failure's message. */
  const allStats = async () => (await Promise.all(Object.entries(tabs).map(async ([n, t]) => {
    const stats = await within(t.evaluate(() => window.mesh.stats()).catch((e) => e.message), 5000);
    return `${n}: ${JSON.stringify(stats ?? 'no answer')}`;
  }))).join('; ');
  let got;
  try {
    got = await within(tab.evaluate(fetchAndHash, path), FETCH_MS);
  } catch (e) {
    console.log(`  after the failure: ${await allStats()}`);
    throw e;
  }
  if (got === undefined) assert.fail(`${name}: ${path} not done after ${FETCH_MS} ms; ${await allStats()}`);
  console.log(`  ${name} ${path}: ${JSON.stringify(got)}`);
  assert.equal(got.size, SIZE, `${name}: ${path} has the wrong size`);
  assert.equal(got.sha, sha256(files[path]), `${name}: ${path} differs from the file`);
  // Byte counts include the DAG's root block, so a whole file counts a little over SIZE.
  if (source === 'origin') {
    assert.ok(got.bytesPeer === 0 && got.bytesOrigin >= SIZE, `${name}: ${path} did not come from the origin`);
  } else {
    assert.equal(got.bytesOrigin, 0, `${name}: origin bytes in ${path}`);
    assert.ok(got.bytesPeer > 0 && got.bytesPeer + got.bytesCache >= SIZE, `${name}: ${path} not from the peer`);
  }
  return got;
}

test('a Firefox tab and Chromium tabs exchange 3 MiB both ways over /webrtc', { timeout: 300_000 }, async () => {
  const url = `${origin.url}/?${new URLSearchParams({ bootstrap: bootstrap.addrsUrl })}`;
  const log = VERBOSE ? (l) => console.log(`  ${l}`) : () => {};
  const chromium1 = await openTab(chromium, url, { name: 'chromium 1', log });
  const chromium2 = await openTab(chromium, url, { name: 'chromium 2', log });
  await firefox.goto(url);
  Object.assign(tabs, { 'chromium 1': chromium1, 'chromium 2': chromium2, firefox });
  for (const tab of [chromium1, chromium2, firefox]) await tab.evaluate(ready);

  await fetchChecked(chromium1, 'chromium 1', '/a.bin', 'origin');
  await fetchChecked(firefox, 'firefox', '/b.bin', 'origin');
  // Both announcements stored, so each fetch below finds its provider at once.
  await waitForGauge(bootstrap.httpUrl, 'bootstrap_provider_peers', 2);
  await origin.control('down', 'POST');

  const relayedBefore = await relayedBytes(bootstrap.httpUrl);
  await fetchChecked(firefox, 'firefox', '/a.bin', 'peer');
  await fetchChecked(chromium2, 'chromium 2', '/b.bin', 'peer');
  const relayed = (await relayedBytes(bootstrap.httpUrl)) - relayedBefore;
  console.log(`  relayed while 6 MiB moved between the browsers: ${relayed} bytes`);
  assert.ok(relayed < SIGNALING_BYTES, `${relayed} bytes went through the relay`);
});
