// The npm package end to end, as a user gets it: the examples installed from the `npm pack`
// tarball and built (plain HTML copied as files, the Vite app bundled), served by mesh-origin,
// loaded in headless Chromium, talking to the real test servers of lib/with-servers.mjs (an
// origin with fixture files, a bootstrap node, a native seeder). Run by scripts/test-npm.sh:
//
//   node tests/browser/lib/with-servers.mjs node --test tests/browser/package.test.mjs
//
// Needs MESH_TEST_ORIGIN, MESH_TEST_BOOTSTRAP_HTTP and MESH_TEST_FIXTURES (set by
// with-servers.mjs), the examples built (examples/*/dist) and mesh-origin in
// $CARGO_TARGET_DIR/debug. Chromium: $CHROMIUM, default /usr/bin/chromium.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, ROOT, startOrigin } from './lib/harness.mjs';

const need = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this under tests/browser/lib/with-servers.mjs (scripts/test-npm.sh does)`);
  return value;
};
const ORIGIN = need('MESH_TEST_ORIGIN');
const BOOTSTRAP = `${need('MESH_TEST_BOOTSTRAP_HTTP')}/addrs`;
const FIXTURES = need('MESH_TEST_FIXTURES');
const MANIFEST = `${ORIGIN}/.well-known/mesh/manifest.json`;

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
const fixture = (name) => readFileSync(join(FIXTURES, name));
const manifest = JSON.parse(await (await fetch(MANIFEST)).text());
const cidOf = (path) => {
  const entry = manifest.assets[path];
  assert.ok(entry, `${path} is not in the test origin's manifest`);
  return entry.cid;
};

const origins = [];
/** Starts mesh-origin (the debug build) serving `root` on a free port; resolves with its URL. */
async function serve(root) {
  const origin = await startOrigin({ root, profile: 'debug' });
  origins.push(origin);
  return origin.url;
}

let browser;
let plainUrl;
let viteUrl;
let degradedUrl;
let degradedRoot;

before(async () => {
  // The degraded page: the plain example with its .wasm missing (the server answers 404).
  degradedRoot = mkdtempSync(join(tmpdir(), 'mesh-degraded-'));
  cpSync(join(ROOT, 'examples/plain-html/dist'), degradedRoot, { recursive: true });
  rmSync(join(degradedRoot, 'mesh-loader/web/mesh_wasm_bg.wasm'));
  [plainUrl, viteUrl, degradedUrl] = await Promise.all([
    serve(join(ROOT, 'examples/plain-html/dist')),
    serve(join(ROOT, 'examples/vite-app/dist')),
    serve(degradedRoot),
  ]);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  await Promise.all(origins.map((o) => o.stop()));
  if (degradedRoot) rmSync(degradedRoot, { recursive: true, force: true });
});

/** Opens `url` in a fresh context; the page's console goes to ours, prefixed. */
async function open(url) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', (m) => console.log(`  [page ${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => console.log(`  [page error] ${e.message}`));
  await page.goto(url);
  return page;
}

/** Waits until the example page's own mesh has started (or failed to). */
async function ready(page) {
  await page.waitForFunction(() => document.body.dataset.meshReady, null, { timeout: 30_000 });
  return page.evaluate(() => ({
    ready: document.body.dataset.meshReady,
    status: document.getElementById('status').textContent,
  }));
}

// In-page helpers, installed once per page: `window.t` holds the package and small tools.
async function install(page) {
  await page.evaluate(async () => {
    const api = await import('./mesh-loader/index.js');
    const hex = async (buf) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', buf))]
      .map((b) => b.toString(16).padStart(2, '0')).join('');
    // Polls `mesh.stats()` until `ok` holds (bounded): waiting for a state, not for time.
    const waitFor = async (mesh, ok, what) => {
      for (let i = 0; i < 300; i++) {
        const s = await mesh.stats();
        if (ok(s)) return s;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`timed out waiting for ${what}: ${JSON.stringify(await mesh.stats())}`);
    };
    const error = (e) => ({ name: e?.name, kind: e?.kind, message: e?.message, isMeshError: e instanceof api.MeshError });
    window.t = { api, hex, waitFor, error, meshes: {} };
  });
}

describe('plain-html example (package served as files)', () => {
  let page;
  before(async () => {
    page = await open(`${plainUrl}/index.html?bootstrap=${encodeURIComponent(BOOTSTRAP)}`);
    await install(page);
  });
  after(async () => page?.context().close());

  test('attach(document) loads the link, img and script named by data-cid, verified', async () => {
    const state = await ready(page);
    assert.equal(state.ready, 'true', state.status);
    assert.match(state.status, /^running as 12D3Koo/);
    const r = await page.evaluate(() => {
      const link = document.querySelector('link[data-cid]');
      const img = document.querySelector('img[data-cid]');
      const script = document.querySelector('script[data-cid]');
      return {
        link: link.dataset.meshSource, img: img.dataset.meshSource, script: script?.dataset.meshSource,
        imgWidth: img.naturalWidth, imgSrc: img.src,
        ran: window.meshHelloRan, hello: document.getElementById('hello').textContent,
        h1Color: getComputedStyle(document.querySelector('h1')).color,
      };
    });
    for (const el of ['link', 'img', 'script']) assert.ok(['peer', 'origin', 'cache', 'mixed'].includes(r[el]), `${el}: ${r[el]}`);
    assert.ok(r.imgWidth > 0, 'the image decoded');
    assert.match(r.imgSrc, /^blob:/);
    assert.equal(r.ran, 1, 'hello.js ran exactly once');
    assert.match(r.hello, /hello\.js ran/);
    assert.equal(r.h1Color, 'rgb(0, 128, 128)', 'style.css applied');
  });

  test('attach() also loads elements added later, and reports a bad CID', async () => {
    const r = await page.evaluate(async () => {
      const added = document.createElement('img');
      added.dataset.cid = document.querySelector('img[data-cid]').dataset.cid;
      added.dataset.src = 'assets/logo.svg';
      const bad = document.createElement('img');
      bad.dataset.cid = 'not-a-cid';
      const events = Promise.all([
        new Promise((resolve) => added.addEventListener('mesh-load', (e) => resolve(e.detail.source), { once: true })),
        new Promise((resolve) => bad.addEventListener('mesh-error', (e) => resolve(e.detail.error.kind), { once: true })),
      ]);
      document.body.append(added, bad);
      const [source, kind] = await events;
      return { source, kind, attr: added.dataset.meshSource, badAttr: bad.dataset.meshError };
    });
    assert.ok(['peer', 'origin', 'cache'].includes(r.source), r.source);
    assert.equal(r.attr, r.source);
    assert.equal(r.kind, 'not-found');
    assert.equal(r.badAttr, 'not-found');
  });

  test('attach() never re-creates a script: injected HTML stays inert, a script the page adds runs', async () => {
    const r = await page.evaluate(async () => {
      const own = document.querySelector('script[data-cid]');
      const before = { ran: window.meshHelloRan, scripts: document.scripts.length };
      // The element's final state (bounded: an element mesh left behind stays 'loading').
      const settled = (el) => new Promise((resolve) => {
        let polls = 0;
        const check = () => (['loaded', 'inert', 'error'].includes(el.dataset.meshState) || ++polls > 250
          ? resolve(el.dataset.meshState)
          : setTimeout(check, 20));
        check();
      });
      // Injected markup (what an XSS hole or a third-party widget would insert): the browser
      // never runs a script from innerHTML, and mesh must not run it either.
      const box = document.createElement('div');
      document.body.append(box);
      box.innerHTML = `<script data-cid="${own.dataset.cid}" data-src="${own.dataset.src}"></` + 'script>';
      const injected = box.querySelector('script');
      const injectedState = await settled(injected);
      const afterInjected = {
        ran: window.meshHelloRan,
        same: box.querySelector('script') === injected && injected.isConnected,
        scripts: document.scripts.length,
      };
      // The page's own script element, created by its code: it runs, in place.
      const mine = document.createElement('script');
      mine.dataset.cid = own.dataset.cid;
      mine.dataset.src = own.dataset.src;
      document.body.append(mine);
      const mineState = await settled(mine);
      return { before, injectedState, afterInjected, mineState, mineRan: window.meshHelloRan, mineConnected: mine.isConnected };
    });
    assert.equal(r.injectedState, 'inert', JSON.stringify(r));
    assert.equal(r.afterInjected.ran, r.before.ran, `the injected script ran: ${JSON.stringify(r)}`);
    assert.equal(r.afterInjected.same, true, 'the injected element was replaced');
    assert.equal(r.afterInjected.scripts, r.before.scripts + 1, 'a script element was created');
    assert.equal(r.mineState, 'loaded', JSON.stringify(r));
    assert.equal(r.mineRan, r.before.ran + 1, 'the page\'s own script ran once');
    assert.equal(r.mineConnected, true, 'the page\'s element stays in place');
  });

  test("'after-consent': nothing goes to the bootstrap node before consent, not even bootstrapUrl; revokeConsent closes every connection", async () => {
    const requests = [];
    const onRequest = (req) => { if (req.url().startsWith(BOOTSTRAP.replace(/\/addrs$/, ''))) requests.push(req.url()); };
    page.context().on('request', onRequest);
    try {
      const before = await page.evaluate(async ({ BOOTSTRAP, MANIFEST }) => {
        // Not persisted: a copy in the page's database would serve later tests' fetches.
        const mesh = await t.api.createMesh({ bootstrapUrl: BOOTSTRAP, manifest: MANIFEST, p2p: 'after-consent', statsIntervalMs: 0, persist: false });
        t.meshes.consent = mesh;
        // Origin fetches work before consent, verified.
        const res = await mesh.fetch('/origin-only.txt');
        await res.arrayBuffer();
        return mesh.stats();
      }, { BOOTSTRAP, MANIFEST });
      assert.deepEqual(requests, [], 'a request to the bootstrap node before consent');
      const r = await page.evaluate(async () => {
        const mesh = t.meshes.consent;
        await mesh.consent();
        const joined = await t.waitFor(mesh, (s) => s.peers.bootstrap > 0, 'the bootstrap connection');
        mesh.revokeConsent();
        const left = await t.waitFor(mesh, (s) => s.peers.connected === 0, 'every connection closed');
        const again = await mesh.fetch('/origin-only.txt');
        const source = again.headers.get('x-mesh-source');
        await again.arrayBuffer();
        await mesh.consent();
        const back = await t.waitFor(mesh, (s) => s.peers.bootstrap > 0, 'the bootstrap connection again');
        await mesh.close();
        return { joined: joined.p2p, left, source, back: back.p2p };
      });
      assert.equal(before.p2p, 'after-consent');
      assert.equal(before.peers.connected, 0);
      assert.equal(r.joined, 'on');
      assert.equal(r.left.p2p, 'revoked');
      assert.equal(r.left.reachable, false);
      assert.ok(['origin', 'cache'].includes(r.source), r.source);
      assert.equal(r.back, 'on');
      // Fetched once, after consent (the node keeps the list for a later consent).
      assert.deepEqual(requests, [BOOTSTRAP]);
    } finally {
      page.context().off('request', onRequest);
    }
  });

  test('upload care: no serving while hidden, on Save-Data or a cellular link, unless the options say so', async () => {
    const r = await page.evaluate(async () => {
      let hidden = false;
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (hidden ? 'hidden' : 'visible') });
      const connection = Object.assign(new EventTarget(), { saveData: false, type: 'wifi', effectiveType: '4g' });
      Object.defineProperty(navigator, 'connection', { configurable: true, get: () => connection });
      const serving = async (mesh) => (await mesh.stats()).serve.serving;
      const out = {};
      try {
        const mesh = await t.api.createMesh({ p2p: 'off', statsIntervalMs: 0 });
        out.start = [await serving(mesh), mesh.servingPausedBy];
        hidden = true;
        document.dispatchEvent(new Event('visibilitychange'));
        out.hidden = [await serving(mesh), mesh.servingPausedBy];
        hidden = false;
        document.dispatchEvent(new Event('visibilitychange'));
        connection.saveData = true;
        connection.dispatchEvent(new Event('change'));
        out.saveData = [await serving(mesh), mesh.servingPausedBy];
        connection.saveData = false;
        connection.type = 'cellular';
        connection.dispatchEvent(new Event('change'));
        out.cellular = [await serving(mesh), mesh.servingPausedBy];
        connection.type = 'wifi';
        connection.dispatchEvent(new Event('change'));
        out.resumed = [await serving(mesh), mesh.servingPausedBy];
        await mesh.close();
        hidden = true;
        const brave = await t.api.createMesh({ p2p: 'off', statsIntervalMs: 0, serveWhenHidden: true });
        out.override = [await serving(brave), brave.servingPausedBy];
        await brave.close();
        out.badOption = await t.api.createMesh({ serveOnMetered: 'yes' }).then(() => 'resolved', t.error);
      } finally {
        delete navigator.connection;
        delete document.visibilityState;
      }
      return out;
    });
    assert.deepEqual(r.start, [true, []]);
    assert.deepEqual(r.hidden, [false, ['hidden']]);
    assert.deepEqual(r.saveData, [false, ['save-data']]);
    assert.deepEqual(r.cellular, [false, ['metered']]);
    assert.deepEqual(r.resumed, [true, []]);
    assert.deepEqual(r.override, [true, []]);
    assert.equal(r.badOption.kind, 'config', JSON.stringify(r.badOption));
    assert.match(r.badOption.message, /serveOnMetered/);
  });

  test('mesh.fetch(path) is a Response with the fixture bytes, x-mesh-source and the manifest type; events and stats', async () => {
    const r = await page.evaluate(async ({ BOOTSTRAP, MANIFEST }) => {
      const events = { stats: 0, peer: [], fetch: [] };
      // A long deadline lets the peer path win over a cold WebSocket dial of the seeder.
      const mesh = await t.api.createMesh({ bootstrapUrl: BOOTSTRAP, manifest: MANIFEST, fallbackMs: 5000, statsIntervalMs: 100 });
      t.meshes.main = mesh;
      mesh.addEventListener('stats', () => events.stats++);
      mesh.addEventListener('peer', (e) => events.peer.push(e.detail));
      mesh.addEventListener('fetch', (e) => events.fetch.push(e.detail));
      await t.waitFor(mesh, (s) => s.peers.bootstrap === 1 && s.reachable, 'a bootstrap connection');
      const res = await mesh.fetch('/peer-small.txt');
      const out = {
        isResponse: res instanceof Response,
        status: res.status,
        source: res.headers.get('x-mesh-source'),
        type: res.headers.get('content-type'),
        length: res.headers.get('content-length'),
        cid: res.headers.get('x-mesh-cid'),
        verified: res.headers.get('x-mesh-verified'),
        sha: await t.hex(await res.arrayBuffer()),
        sourceAtEnd: res.headers.get('x-mesh-source'),
        summary: await res.mesh.summary,
      };
      await t.waitFor(mesh, () => events.fetch.length >= 1 && events.stats >= 2, 'fetch and stats events');
      out.events = { stats: events.stats, peer: events.peer, fetch: events.fetch };
      out.stats = await mesh.stats();
      out.peerId = mesh.peerId;
      out.runsIn = mesh.runsIn;
      out.cores = navigator.hardwareConcurrency;
      return out;
    }, { BOOTSTRAP, MANIFEST });
    assert.equal(r.isResponse, true);
    // `worker: 'auto'`: a worker from 4 logical processors on.
    assert.equal(r.runsIn, r.cores >= 4 ? 'worker' : 'window', `${r.cores} cores`);
    assert.equal(r.status, 200);
    assert.equal(r.sha, sha256(fixture('peer-small.txt')));
    // The label of the first chunk is known when the Response is made.
    assert.equal(r.source, 'peer');
    assert.equal(r.sourceAtEnd, 'peer', 'x-mesh-source once the body is read');
    assert.equal(r.type, manifest.assets['/peer-small.txt'].type);
    assert.equal(r.length, '5000');
    assert.equal(r.cid, cidOf('/peer-small.txt'));
    assert.equal(r.verified, 'true');
    assert.equal(r.summary.cid, r.cid);
    assert.equal(r.summary.size, 5000);
    assert.equal(r.summary.bytesOrigin, 0);
    assert.equal(r.summary.source, 'peer');

    // Events: the bootstrap connection, the seeder, the completed fetch, periodic stats.
    assert.ok(r.events.peer.some((p) => p.kind === 'bootstrap' && p.state === 'connected'), JSON.stringify(r.events.peer));
    assert.ok(r.events.peer.some((p) => p.kind === 'mesh' && p.state === 'connected'), JSON.stringify(r.events.peer));
    const done = r.events.fetch.find((f) => f.cid === r.cid);
    assert.ok(done, JSON.stringify(r.events.fetch));
    assert.equal(done.source, 'peer');
    assert.ok(r.events.stats >= 2);

    // The stats object's shape.
    const s = r.stats;
    assert.equal(s.degraded, null);
    assert.equal(s.peerId, r.peerId);
    for (const k of ['connected', 'mesh', 'bootstrap', 'routingTable']) assert.equal(typeof s.peers[k], 'number', k);
    assert.equal(s.peers.bootstrap, 1);
    assert.ok(s.peers.mesh >= 1);
    assert.ok(s.bytes.peer >= 5000);
    assert.deepEqual(Object.keys(s.bytes).sort(), ['cache', 'origin', 'peer']);
    assert.deepEqual(Object.keys(s.ttfbMs).sort(), ['cache', 'origin', 'peer']);
    assert.equal(typeof s.ttfbMs.peer, 'number');
    assert.equal(typeof s.offloadRatio, 'number');
    for (const k of ['usedBytes', 'budgetBytes', 'blocks', 'evictions', 'rejected']) assert.equal(typeof s.store[k], 'number', k);
    for (const k of ['blocksServed', 'bytesServed', 'overBudget', 'peerBusy', 'notHeld']) assert.equal(typeof s.serve[k], 'number', k);
    assert.equal(typeof s.bytesServed, 'number');
    assert.equal(typeof s.fallbacks, 'number');
    assert.equal(s.reachable, true);
    assert.equal(s.p2p, 'on');
    assert.ok(Array.isArray(s.ignoredPeers));
  });

  // That warming ends with a warm connection to a holder of the site is the browser node's
  // test (crates/mesh-wasm/tests/browser.rs); here, the JS API around it.
  test('ready(): bounded, at once with nothing to warm, a config error for a bad timeout', async () => {
    const r = await page.evaluate(async ({ BOOTSTRAP, MANIFEST }) => {
      const timed = async (mesh, opts) => {
        const t0 = performance.now();
        const s = await mesh.ready(opts);
        return { warming: s.warming, p2p: s.p2p, ms: performance.now() - t0 };
      };
      // No manifest: no site, no warm peers to open.
      const bare = await t.api.createMesh({ bootstrapUrl: BOOTSTRAP, statsIntervalMs: 0, persist: false });
      const noSite = await timed(bare, { timeoutMs: 10_000 });
      const bad = await bare.ready({ timeoutMs: -1 }).then(() => 'resolved', t.error);
      await bare.close();
      // Consent not given: peers are not on, so there is nothing to wait for yet.
      const waiting = await t.api.createMesh({ bootstrapUrl: BOOTSTRAP, manifest: MANIFEST, p2p: 'after-consent', statsIntervalMs: 0, persist: false });
      const beforeConsent = await timed(waiting, { timeoutMs: 5000 });
      await waiting.close();
      const off = await t.api.createMesh({ p2p: 'off', statsIntervalMs: 0, persist: false });
      const offReady = await timed(off);
      await off.close();
      return { noSite, bad, beforeConsent, offReady };
    }, { BOOTSTRAP, MANIFEST });
    assert.equal(r.noSite.warming, false);
    assert.ok(r.noSite.ms < 2000, `no site to warm, yet ready() took ${r.noSite.ms} ms`);
    assert.equal(r.bad.kind, 'config');
    assert.equal(r.beforeConsent.p2p, 'after-consent');
    assert.ok(r.beforeConsent.ms < 1000, `before consent ready() waited ${r.beforeConsent.ms} ms`);
    assert.equal(r.offReady.warming, false);
    assert.ok(r.offReady.ms < 1000);
  });

  test('a multi-block file streams in several chunks through res.body', async () => {
    const r = await page.evaluate(async () => {
      const mesh = t.meshes.main;
      const res = await mesh.fetch('/peer.bin');
      const sourceAtStart = res.headers.get('x-mesh-source');
      const reader = res.body.getReader();
      const chunks = [];
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
      }
      const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const c of chunks) { all.set(c, at); at += c.length; }
      return {
        chunks: chunks.length, size: all.length, sha: await t.hex(all), sourceAtStart,
        sourceAtEnd: res.headers.get('x-mesh-source'), summary: await res.mesh.summary,
      };
    });
    assert.equal(r.size, 1_300_000);
    assert.equal(r.sha, sha256(fixture('peer.bin')));
    assert.ok(r.chunks >= 2, `${r.chunks} chunk(s)`);
    assert.equal(r.sourceAtEnd, r.summary.source);
    assert.equal(r.summary.size, 1_300_000);
  });

  test('the page reads its bytes before the node saves them to the persistent cache', async () => {
    const r = await page.evaluate(async (MANIFEST) => {
      // The writes to this test's own database (the example page's mesh writes to its own).
      const cacheName = 'mesh-test-page-turn';
      const puts = [];
      const put = IDBObjectStore.prototype.put;
      IDBObjectStore.prototype.put = function (...args) {
        if (this.transaction.db.name === cacheName) puts.push(this.name);
        return put.apply(this, args);
      };
      try {
        const mesh = await t.api.createMesh({ manifest: MANIFEST, p2p: 'off', statsIntervalMs: 0, cacheName, worker: false });
        await t.waitFor(mesh, (s) => s.persist.state === 'on', 'the persistent cache');
        const res = await mesh.fetch('/origin-only.txt');
        const putsAtResponse = puts.length;
        const reader = res.body.getReader();
        const first = await reader.read();
        const putsAtFirstChunk = puts.length;
        while (!(await reader.read()).done);
        const stats = await t.waitFor(mesh, (s) => s.persist.savedAssets === 1, 'the asset saved');
        await mesh.close();
        return { putsAtResponse, putsAtFirstChunk, firstChunk: first.value.length, puts, saved: stats.persist };
      } finally {
        IDBObjectStore.prototype.put = put;
      }
    }, MANIFEST);
    assert.equal(r.firstChunk, 1000);
    // The node hands over the bytes, waits for a task of its own (the page's promise
    // continuations run meanwhile), and only then writes them (crates/mesh-wasm/src/page_turn.rs).
    assert.equal(r.putsAtResponse, 0, `writes before the page had its Response: ${JSON.stringify(r.puts)}`);
    assert.equal(r.putsAtFirstChunk, 0, `writes before the page read its first chunk: ${JSON.stringify(r.puts)}`);
    assert.equal(r.saved.savedAssets, 1);
    assert.ok(r.puts.length >= 2, `the block and the root written afterwards: ${JSON.stringify(r.puts)}`);
  });

  test('an AbortSignal aborts a fetch before and during the body: MeshError kind aborted', async () => {
    const r = await page.evaluate(async () => {
      const mesh = t.meshes.main;
      const out = {};
      // Already aborted.
      try {
        await mesh.fetch('/cache-0.bin', { signal: AbortSignal.abort() });
        out.pre = 'resolved';
      } catch (e) { out.pre = t.error(e); }
      // Aborted while waiting for the first bytes.
      const early = new AbortController();
      const pending = mesh.fetch('/cache-1.bin', { signal: early.signal });
      early.abort();
      try {
        await pending;
        out.early = 'resolved';
      } catch (e) { out.early = t.error(e); }
      // Aborted while the body is read.
      const late = new AbortController();
      const res = await mesh.fetch('/cache-2.bin', { signal: late.signal });
      const reader = res.body.getReader();
      const first = await reader.read();
      out.firstChunk = first.value?.length ?? 0;
      late.abort();
      try {
        for (;;) {
          const { done } = await reader.read();
          if (done) { out.late = 'completed'; break; }
        }
      } catch (e) { out.late = t.error(e); }
      // The mesh still works afterwards.
      const again = await mesh.fetch('/cache-2.bin');
      out.after = (await again.arrayBuffer()).byteLength;
      return out;
    });
    for (const k of ['pre', 'early', 'late']) {
      assert.equal(r[k].kind, 'aborted', `${k}: ${JSON.stringify(r[k])}`);
      assert.equal(r[k].isMeshError, true, k);
    }
    assert.ok(r.firstChunk > 0 && r.firstChunk < 600_000, `first chunk ${r.firstChunk}`);
    assert.equal(r.after, 600_000);
  });

  test('a cancelled body settles res.mesh.summary (kind aborted) and the mesh goes on, in the window and in a worker', async () => {
    const r = await page.evaluate(async (MANIFEST) => {
      const out = {};
      for (const worker of [false, true]) {
        const mesh = await t.api.createMesh({ manifest: MANIFEST, p2p: 'off', statsIntervalMs: 0, persist: false, worker });
        const res = await mesh.fetch('/peer.bin');
        let summary = 'pending';
        res.mesh.summary.then(() => { summary = 'resolved'; }, (e) => { summary = t.error(e); });
        const reader = res.body.getReader();
        const first = await reader.read();
        // No read waits: nothing but the cancel itself can settle the summary.
        await reader.cancel();
        // One task later: every promise the cancel settled has run its handlers.
        await new Promise((resolve) => setTimeout(resolve, 0));
        const again = await mesh.fetch('/peer.bin');
        out[worker ? 'worker' : 'window'] = {
          runsIn: mesh.runsIn, firstChunk: first.value.length, summary,
          again: await t.hex(await again.arrayBuffer()),
        };
        await mesh.close();
      }
      return out;
    }, MANIFEST);
    for (const mode of ['window', 'worker']) {
      assert.equal(r[mode].runsIn, mode);
      assert.ok(r[mode].firstChunk > 0);
      assert.equal(r[mode].summary.kind, 'aborted', `${mode}: the summary of a cancelled body: ${JSON.stringify(r[mode].summary)}`);
      assert.equal(r[mode].summary.isMeshError, true);
      assert.equal(r[mode].again, sha256(fixture('peer.bin')), `${mode}: a fetch after the cancel`);
    }
  });

  test('bytes that do not match the CID are refused: MeshError kind integrity, no Response', async () => {
    const cid = cidOf('/origin-only.txt');
    const r = await page.evaluate(async ({ cid, url }) => {
      // No persistent cache: a verified copy saved by an earlier test would be served instead.
      const mesh = await t.api.createMesh({ p2p: 'off', statsIntervalMs: 0, persist: false });
      let outcome;
      try {
        const res = await mesh.fetch(cid, { url });
        outcome = { resolved: true, bytes: (await res.arrayBuffer()).byteLength };
      } catch (e) { outcome = t.error(e); }
      const stats = await mesh.stats();
      await mesh.close();
      return { outcome, originBytes: stats.bytes.origin };
    }, { cid, url: `${ORIGIN}/other.bin` });
    assert.equal(r.outcome.resolved, undefined, `tampered bytes were handed out: ${JSON.stringify(r.outcome)}`);
    assert.equal(r.outcome.kind, 'integrity', JSON.stringify(r.outcome));
    assert.equal(r.outcome.isMeshError, true);
    assert.equal(r.originBytes, 0);
  });

  test('bad options reject createMesh with a config error naming the option', async () => {
    const [typo, bad, worker] = await page.evaluate(async () => Promise.all([{ fallbackMS: 100 }, { fallbackMs: -5 }, { worker: 'yes' }]
      .map((o) => t.api.createMesh(o).then(() => 'resolved', t.error))));
    assert.equal(worker.kind, 'config', JSON.stringify(worker));
    assert.match(worker.message, /worker/);
    assert.equal(typo.kind, 'config', JSON.stringify(typo));
    assert.match(typo.message, /fallbackMS/);
    assert.equal(typo.isMeshError, true);
    assert.equal(bad.kind, 'config', JSON.stringify(bad));
    assert.match(bad.message, /fallbackMs/);
  });

  test('worker: false runs the node on the page\'s main thread, worker: true in a worker, with the same API; in the window when no worker can run', async () => {
    const [inWindow, inWorker, thrown, failing] = await page.evaluate(async (MANIFEST) => {
      const options = { manifest: MANIFEST, p2p: 'off', statsIntervalMs: 0, persist: false };
      const inWindow = await t.api.createMesh({ ...options, worker: false });
      const inWorker = await t.api.createMesh({ ...options, worker: true });
      const read = async (mesh) => {
        const res = await mesh.fetch('/origin-only.txt');
        const out = { runsIn: mesh.runsIn, sha: await t.hex(await res.arrayBuffer()), source: res.headers.get('x-mesh-source') };
        out.originBytes = (await mesh.stats()).bytes.origin;
        await mesh.close();
        return out;
      };
      // No worker to be had (a CSP without worker-src throws at construction; a worker whose
      // script fails reports an error event): the node runs in the window, with a warning.
      const RealWorker = globalThis.Worker;
      const fallbacks = [];
      try {
        globalThis.Worker = function Worker() { throw new DOMException('blocked by CSP', 'SecurityError'); };
        fallbacks.push(await t.api.createMesh({ ...options, worker: true }));
        globalThis.Worker = class extends RealWorker {
          constructor() { super('data:text/javascript,throw new Error("no such worker")'); }
        };
        fallbacks.push(await t.api.createMesh({ ...options, worker: true }));
      } finally {
        globalThis.Worker = RealWorker;
      }
      return [await read(inWindow), await read(inWorker), ...await Promise.all(fallbacks.map(read))];
    }, MANIFEST);
    assert.equal(thrown.runsIn, 'window', 'a Worker constructor that throws');
    assert.equal(failing.runsIn, 'window', 'a worker whose script fails');
    for (const [r, runsIn] of [[inWindow, 'window'], [inWorker, 'worker'], [thrown, 'window'], [failing, 'window']]) {
      assert.equal(r.runsIn, runsIn);
      assert.equal(r.sha, sha256(fixture('origin-only.txt')));
      assert.equal(r.source, 'origin');
      assert.equal(r.originBytes, fixture('origin-only.txt').length);
    }
  });

  test('the node\'s worker failing later degrades the mesh: fetches go on from the origin, unverified, with a warning', async () => {
    const r = await page.evaluate(async (MANIFEST) => {
      const RealWorker = globalThis.Worker;
      let worker;
      globalThis.Worker = class extends RealWorker {
        constructor(...args) { super(...args); worker = this; }
      };
      let mesh;
      try {
        mesh = await t.api.createMesh({ manifest: MANIFEST, p2p: 'off', statsIntervalMs: 0, persist: false, worker: true });
      } finally {
        globalThis.Worker = RealWorker;
      }
      const before = { runsIn: mesh.runsIn, verified: (await mesh.fetch('/origin-only.txt')).headers.get('x-mesh-verified') };
      const warnings = [];
      mesh.addEventListener('warning', (e) => warnings.push(e.detail.message));
      // What the browser reports of an uncaught error in the worker (a panic of the node).
      worker.dispatchEvent(new ErrorEvent('error', { message: 'Uncaught RuntimeError: unreachable' }));
      const res = await mesh.fetch('/origin-only.txt');
      const after = {
        runsIn: mesh.runsIn, degraded: mesh.degraded, warnings,
        source: res.headers.get('x-mesh-source'), verified: res.headers.get('x-mesh-verified'),
        sha: await t.hex(await res.arrayBuffer()), stats: (await mesh.stats()).degraded,
      };
      await mesh.close();
      return { before, after };
    }, MANIFEST);
    assert.deepEqual(r.before, { runsIn: 'worker', verified: 'true' });
    assert.equal(r.after.runsIn, null);
    assert.match(r.after.degraded, /worker failed: Uncaught RuntimeError: unreachable/);
    assert.deepEqual(r.after.warnings, [r.after.degraded]);
    assert.equal(r.after.stats, r.after.degraded);
    assert.equal(r.after.source, 'origin');
    assert.equal(r.after.verified, 'false');
    assert.equal(r.after.sha, sha256(fixture('origin-only.txt')));
  });

  test('meshFetch uses a default mesh set up by configureMesh', async () => {
    const r = await page.evaluate(async (MANIFEST) => {
      t.api.configureMesh({ manifest: MANIFEST, p2p: 'off', statsIntervalMs: 0, persist: false });
      const res = await t.api.meshFetch('/origin-only.txt');
      const sha = await t.hex(await res.arrayBuffer());
      return { source: res.headers.get('x-mesh-source'), sha };
    }, MANIFEST);
    assert.equal(r.sha, sha256(fixture('origin-only.txt')));
    assert.equal(r.source, 'origin');
  });

  test('close() stops the mesh: later calls reject with kind closed', async () => {
    const r = await page.evaluate(async () => {
      const mesh = t.meshes.main;
      await mesh.close();
      await mesh.close(); // twice is fine
      const out = {};
      try { await mesh.fetch('/peer-small.txt'); out.fetch = 'resolved'; } catch (e) { out.fetch = t.error(e); }
      try { await mesh.stats(); out.stats = 'resolved'; } catch (e) { out.stats = t.error(e); }
      return out;
    });
    assert.equal(r.fetch.kind, 'closed', JSON.stringify(r.fetch));
    assert.equal(r.stats.kind, 'closed', JSON.stringify(r.stats));
  });
});

describe('mesh-loader/sw: the page half of the service-worker mode (plain-html example)', () => {
  let page;
  before(async () => { page = await open(`${plainUrl}/index.html`); });
  after(async () => page?.context().close());

  test('bad options and a worker script that cannot be registered reject with config errors', async () => {
    const r = await page.evaluate(async () => {
      const { startMeshSite, MeshError } = await import('./mesh-loader/sw.js');
      const outcome = (p) => p.then(() => ({ resolved: true }),
        (e) => ({ kind: e.kind, message: e.message, isMeshError: e instanceof MeshError }));
      return {
        none: await outcome(startMeshSite()),
        typo: await outcome(startMeshSite({ serviceWorker: '/sw.js', nodeperTab: true })),
        missing: await outcome(startMeshSite({ serviceWorker: '/no-such-worker.js', nodePerTab: true })),
        registrations: (await navigator.serviceWorker.getRegistrations()).length,
      };
    });
    assert.equal(r.none.kind, 'config', JSON.stringify(r.none));
    assert.match(r.none.message, /serviceWorker/);
    assert.equal(r.typo.kind, 'config', JSON.stringify(r.typo));
    assert.match(r.typo.message, /nodeperTab/);
    assert.equal(r.missing.kind, 'config', JSON.stringify(r.missing));
    assert.match(r.missing.message, /no-such-worker/);
    assert.equal(r.missing.isMeshError, true);
    assert.equal(r.registrations, 0);
  });

  test('the package ships the worker as a classic script and the page half under its exports', async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'crates/mesh-wasm/pkg/package.json'), 'utf8'));
    assert.equal(pkg.exports['./sw'].default, './sw.js');
    assert.equal(pkg.exports['./sw'].types, './sw.d.ts');
    assert.equal(pkg.exports['./sw-worker.js'], './sw-worker.js');
    for (const f of ['sw.js', 'sw.d.ts', 'sw-worker.js']) assert.ok(pkg.files.includes(f), f);
    // importScripts needs a classic script: no import or export statement at its top level.
    const worker = readFileSync(join(ROOT, 'crates/mesh-wasm/pkg/sw-worker.js'), 'utf8');
    assert.doesNotMatch(worker, /^\s*(import|export)\s/m);
  });
});

describe('degraded mode (the .wasm answers 404)', () => {
  let page;
  before(async () => {
    page = await open(`${degradedUrl}/index.html?bootstrap=${encodeURIComponent(BOOTSTRAP)}`);
    await install(page);
  });
  after(async () => page?.context().close());

  test('the page still loads its data-cid elements from the origin', async () => {
    const state = await ready(page);
    assert.equal(state.ready, 'true', state.status);
    assert.match(state.status, /^degraded: the wasm module failed to load/);
    const r = await page.evaluate(() => ({
      img: document.querySelector('img[data-cid]').dataset.meshSource,
      imgWidth: document.querySelector('img[data-cid]').naturalWidth,
      ran: window.meshHelloRan,
      h1Color: getComputedStyle(document.querySelector('h1')).color,
    }));
    assert.equal(r.img, 'origin');
    assert.ok(r.imgWidth > 0);
    assert.equal(r.ran, 1);
    assert.equal(r.h1Color, 'rgb(0, 128, 128)');
  });

  test('mesh.fetch returns the origin bytes, marked x-mesh-verified: false', async () => {
    const cid = cidOf('/origin-only.txt');
    const r = await page.evaluate(async ({ BOOTSTRAP, MANIFEST, cid }) => {
      const mesh = await t.api.createMesh({ bootstrapUrl: BOOTSTRAP, manifest: MANIFEST });
      const res = await mesh.fetch('/peer-small.txt');
      const byCid = await mesh.fetch(cid);
      const out = {
        degraded: mesh.degraded,
        peerId: mesh.peerId,
        source: res.headers.get('x-mesh-source'),
        verified: res.headers.get('x-mesh-verified'),
        sha: await t.hex(await res.arrayBuffer()),
        byCidSha: await t.hex(await byCid.arrayBuffer()),
        stats: await mesh.stats(),
      };
      await mesh.close();
      return out;
    }, { BOOTSTRAP, MANIFEST, cid });
    assert.match(r.degraded, /wasm module failed to load/);
    assert.equal(r.peerId, null);
    assert.equal(r.source, 'origin');
    assert.equal(r.verified, 'false');
    assert.equal(r.sha, sha256(fixture('peer-small.txt')));
    assert.equal(r.byCidSha, sha256(fixture('origin-only.txt')), 'a CID maps to its manifest path');
    assert.equal(r.stats.degraded, r.degraded);
    assert.equal(r.stats.peers.connected, 0);
  });
});

describe('vite-app example (bundled by vite build)', () => {
  test('the built app loads the wasm asset and fetches a verified asset', async () => {
    const query = new URLSearchParams({ bootstrap: BOOTSTRAP, manifest: MANIFEST, asset: '/peer-small.txt', worker: '1' });
    const page = await open(`${viteUrl}/?${query}`);
    try {
      await page.waitForFunction(() => document.getElementById('status').textContent !== 'starting…', null, { timeout: 30_000 });
      const r = await page.evaluate(() => Object.fromEntries(['status', 'source', 'type', 'size', 'sha256']
        .map((id) => [id, document.getElementById(id).textContent])));
      assert.equal(r.status, 'done');
      assert.equal(r.sha256, sha256(fixture('peer-small.txt')));
      assert.equal(r.size, '5000');
      assert.equal(r.type, manifest.assets['/peer-small.txt'].type);
      assert.ok(['peer', 'origin'].includes(r.source), r.source);
      // The node runs in the bundle's worker, which loaded the wasm from the bundle's
      // assets, not from node_modules; the page itself loaded none.
      assert.equal(await page.evaluate(() => globalThis.mesh.runsIn), 'worker');
      const wasmOf = (scope) => scope.evaluate(() => performance.getEntriesByType('resource')
        .map((e) => e.name).filter((n) => n.endsWith('.wasm')));
      assert.deepEqual(await wasmOf(page), []);
      const workers = page.workers();
      assert.equal(workers.length, 1, 'one worker: the node\'s');
      const wasm = await wasmOf(workers[0]);
      assert.equal(wasm.length, 1, JSON.stringify(wasm));
      assert.match(wasm[0], /\/assets\/mesh_wasm_bg-[\w-]+\.wasm$/);
    } finally {
      await page.context().close();
    }
  });
});

describe('bundler entry (mesh-loader/bundler, wasm as an ES module)', () => {
  // Node links wasm ES modules as webpack's asyncWebAssembly and other ESM-integration
  // bundlers do, and is strict about missing exports: a real check of the bundler build's
  // glue, and of a fetch through it (p2p off: Node has no WebRTC).
  test('imports, starts and fetches a verified asset from the origin', async () => {
    const script = `
      const { createMesh, MeshError } = await import('mesh-loader/bundler');
      const mesh = await createMesh({ p2p: 'off', statsIntervalMs: 0, manifest: process.env.MANIFEST });
      // Tampered bytes first: once the asset is in the cache, the origin is not asked.
      let integrity = 'resolved';
      try { await mesh.fetch(process.env.CID, { url: process.env.OTHER }); } catch (e) { integrity = e instanceof MeshError && e.kind; }
      const res = await mesh.fetch('/origin-only.txt');
      const bytes = new Uint8Array(await res.arrayBuffer());
      const digest = Buffer.from(await crypto.subtle.digest('SHA-256', bytes)).toString('hex');
      console.log(JSON.stringify({ degraded: mesh.degraded, source: res.headers.get('x-mesh-source'), digest, integrity }));
      await mesh.close();
      process.exit(0);
    `;
    const child = spawn(process.execPath, ['--experimental-wasm-modules', '--no-warnings', '--input-type=module', '-e', script], {
      cwd: join(ROOT, 'examples/vite-app'), // resolves the installed package
      env: { ...process.env, MANIFEST, CID: cidOf('/origin-only.txt'), OTHER: `${ORIGIN}/other.bin` },
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 30_000,
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    const code = await new Promise((resolve) => child.on('close', resolve));
    assert.equal(code, 0, out);
    const r = JSON.parse(out.trim().split('\n').pop());
    assert.equal(r.degraded, null);
    assert.equal(r.source, 'origin');
    assert.equal(r.digest, sha256(fixture('origin-only.txt')));
    assert.equal(r.integrity, 'integrity');
  });
});
