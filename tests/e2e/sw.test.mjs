// The service-worker mode end to end (issue 16): examples/sw-site (plain <img src> tags, no
// mesh markup) served by the real origin with the npm package at /mesh-loader, a real
// bootstrap node, headless Chromium. Each browser context is one browser profile: its tabs
// share one service worker and elect one node. Run by scripts/test-e2e.sh (with the rest of
// tests/e2e) inside a loopback-only network namespace:
//
//   scripts/test-e2e.sh --test-name-pattern='service worker'
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, launchChromium, startBootstrap, startOrigin } from '../browser/lib/harness.mjs';
import { BASE as SWARM_BASE, LOGS, instrumentRtc } from './lib/swarm.mjs';

const SITE = join(ROOT, 'examples/sw-site/site');
const IMAGES = ['/img/tiles.svg', '/img/sun.svg', '/img/waves.svg', '/img/hills.svg', '/img/mosaic.svg'];
const MOSAIC = '/img/mosaic.svg'; // > 256 KiB: several blocks, several pieces through the worker
const LATER = '/img/later.svg'; // not on the page until its button adds it
/** Generated into each run's copy of the site: larger than what Chromium buffers between a
 * worker's response stream and the page, so a reader that stops reading keeps the worker's
 * body in progress. */
const BIG = '/big.bin';
const BIG_SIZE = 32 << 20;
const BASE = SWARM_BASE + 20; // beside the ports of lib/swarm.mjs
const VERBOSE = !!process.env.MESH_E2E_VERBOSE;
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
/** Deterministic bytes: SHA-256 in counter mode. */
function generated(size) {
  const out = Buffer.alloc(size);
  for (let i = 0, off = 0; off < size; i++, off += 32) createHash('sha256').update(`mesh sw ${i}`).digest().copy(out, off);
  return out;
}
const BIG_SHA = sha256(generated(BIG_SIZE));
const fileSha = (path) => (path === BIG ? BIG_SHA : sha256(readFileSync(join(SITE, path))));

/** The CIDv1 (raw, sha2-256, base32) of `bytes`, as mesh names a one-block file. */
function rawCid(bytes) {
  const multihash = Buffer.concat([Buffer.from([0x01, 0x55, 0x12, 0x20]), createHash('sha256').update(bytes).digest()]);
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = 0;
  let value = 0;
  let out = 'b';
  for (const byte of multihash) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

let browser;
before(async () => { browser = await launchChromium(); });
after(async () => { await browser?.close(); });

/** A bootstrap node and the example site (plain HTTP on 127.0.0.1: a secure context, as
 * service workers need), stopped by `stop()`. */
async function startSite(name) {
  const dataDir = mkdtempSync(join(tmpdir(), `mesh-e2e-${name}-`));
  const root = join(dataDir, 'site');
  cpSync(SITE, root, { recursive: true });
  writeFileSync(join(root, BIG.slice(1)), generated(BIG_SIZE));
  const logDir = join(LOGS, name);
  const contexts = [];
  const bootstrap = await startBootstrap({ dataDir, base: BASE + 1, logFile: join(logDir, 'bootstrap.log') });
  let origin;
  try {
    origin = await startOrigin({
      root, mounts: { '/mesh-loader': join(ROOT, 'crates/mesh-wasm/pkg') }, port: BASE,
      latencyMs: 80, logFile: join(logDir, 'origin.log'),
    });
  } catch (e) {
    await bootstrap.stop();
    throw e;
  }
  const url = (params = {}) => `${origin.url}/?${new URLSearchParams({
    // The node in a worker: the service worker must tell its requests from the page's.
    bootstrap: bootstrap.addrsUrl, iceServers: '[]', fallbackMs: '1000', worker: '1', ...params,
  })}`;
  return {
    origin,
    /** A browser profile (context) whose tabs count their RTCPeerConnections. */
    async profile() {
      const context = await browser.newContext();
      // The service worker's warnings (why a body failed: the page sees only a network error).
      context.on('console', (m) => { if (m.text().startsWith('mesh sw:')) console.log(`  [${name}] ${m.text()}`); });
      await context.grantPermissions(['camera', 'microphone']);
      await context.addInitScript(instrumentRtc);
      contexts.push(context);
      return {
        context,
        /** Opens the example in a new tab of this profile; resolves once its role is known
         * and its <img> tags have loaded. */
        async tab(params) {
          const page = await context.newPage();
          const tag = `${name} tab${context.pages().length}`;
          if (VERBOSE) page.on('console', (m) => console.log(`  [${tag} ${m.type()}] ${m.text()}`));
          page.on('pageerror', (e) => console.log(`  [${tag} page error] ${e.message}`));
          await page.goto(url(params));
          await page.waitForFunction(() => ['leader', 'follower', 'error'].includes(document.body.dataset.meshRole), null, { timeout: 60_000 });
          await page.waitForFunction(() => [...document.images].every((i) => i.complete), null, { timeout: 60_000 });
          return page;
        },
      };
    },
    async stop() {
      for (const c of contexts) await c.close().catch(() => {});
      await origin.stop();
      await bootstrap.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** In `page`: the role, whether the worker controls it, and each <img>'s decoded width. */
const pageState = (page) => page.evaluate(() => ({
  role: window.site?.role,
  controlled: !!navigator.serviceWorker.controller,
  images: [...document.images].map((i) => ({ src: new URL(i.src).pathname, width: i.naturalWidth })),
  rtc: window.rtcCount,
}));

/** In `page`: a plain `fetch(path)` (through the worker), its status, mesh headers and SHA-256. */
const plainFetch = (page, path) => page.evaluate(async (path) => {
  const res = await fetch(path);
  const buf = await res.arrayBuffer();
  const sha = [...new Uint8Array(await crypto.subtle.digest('SHA-256', buf))]
    .map((b) => b.toString(16).padStart(2, '0')).join('');
  const h = (name) => res.headers.get(name);
  return { status: res.status, sha, source: h('x-mesh-source'), verified: h('x-mesh-verified'), error: h('x-mesh-error') };
}, path);

/** Waits (bounded) until the node serving `page` reports stats satisfying `okSource`. */
const waitForStats = (page, okSource, timeoutMs = 30_000) => page.evaluate(async ({ okSource, timeoutMs }) => {
  const ok = new Function('s', `return (${okSource});`);
  const end = performance.now() + timeoutMs;
  for (;;) {
    const s = await window.site.stats();
    if (ok(s)) return s;
    if (performance.now() > end) throw new Error(`timed out waiting for ${okSource}: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, { okSource, timeoutMs });

/** Waits until the worker controls `page` (it claims open tabs when it activates). */
const controlled = (page) => page.waitForFunction(() => !!navigator.serviceWorker.controller, null, { timeout: 30_000 });

describe('service worker: plain <img> tags through the mesh', () => {
  let site;
  before(async () => { site = await startSite('sw-peers'); });
  after(async () => { await site?.stop(); });

  test('a later browser gets the images from peers; its second tab runs no node and opens no connection', async () => {
    // Browser A: its first tab leads (node up); the second tab's <img> requests go through the
    // worker to that node, which fetches them from the origin, verifies and announces them.
    const a = await site.profile();
    const a1 = await a.tab();
    await controlled(a1);
    const a2 = await a.tab();
    const a2State = await pageState(a2);
    assert.equal((await pageState(a1)).role, 'leader');
    assert.equal(a2State.role, 'follower');
    assert.ok(a2State.controlled, 'the second tab is controlled by the worker');
    assert.ok(a2State.images.every((i) => i.width > 0), JSON.stringify(a2State.images));
    const aStats = await waitForStats(a1, `s.bytes.origin >= ${readFileSync(join(SITE, MOSAIC)).length}`);
    assert.equal(aStats.bytes.peer, 0);

    // Browser B: its first tab leads and warms a connection to A's node; its second tab's
    // images come through B's node from A.
    const b = await site.profile();
    const b1 = await b.tab();
    await controlled(b1);
    await waitForStats(b1, 's.peers.mesh > 0');
    const b2 = await b.tab();
    const b2State = await pageState(b2);
    assert.equal(b2State.role, 'follower');
    assert.ok(b2State.images.every((i) => i.width > 0), JSON.stringify(b2State.images));
    assert.equal(b2State.rtc, 0, 'the follower tab opened no RTCPeerConnection');
    const bStats = await b2.evaluate(() => window.site.stats()); // the leader's, over the channel
    assert.equal(bStats.peerId, await b1.evaluate(() => window.site.peerId));
    console.log(`  B's node: ${bStats.bytes.peer} bytes from peers, ${bStats.bytes.origin} from the origin`);
    assert.ok(bStats.bytes.peer > 0, `no bytes from peers: ${JSON.stringify(bStats.bytes)}`);
    const served = await waitForStats(a1, 's.bytesServed > 0');
    assert.ok(served.bytesServed > 0);

    // The bytes the worker hands out are the files' bytes, marked verified, from the node.
    for (const path of IMAGES) {
      const r = await plainFetch(b2, path);
      assert.equal(r.status, 200, path);
      assert.equal(r.sha, fileSha(path), path);
      assert.equal(r.verified, 'true', path);
      assert.ok(['peer', 'cache', 'mixed', 'origin'].includes(r.source), `${path}: ${r.source}`);
    }
  });
});

describe('service worker: fallbacks, takeover, one node per tab', () => {
  let site;
  before(async () => { site = await startSite('sw-modes'); });
  after(async () => { await site?.stop(); });

  test('with no window node up, the worker answers from the network (not marked verified)', async () => {
    const p = await site.profile();
    const t1 = await p.tab();
    await controlled(t1);
    const t2 = await p.tab();
    // A tab's fetch() is served by another tab's node (the leader's own fetch() calls go to
    // the network: they cannot be told apart from its node's origin requests).
    assert.equal((await plainFetch(t2, '/img/sun.svg')).verified, 'true', 'served by the node while it is up');
    await t2.evaluate(() => window.site.close()); // leaves the election: it will not take over
    await t1.evaluate(() => window.site.close());
    for (const path of IMAGES) {
      const r = await plainFetch(t2, path);
      assert.equal(r.status, 200, path);
      assert.equal(r.sha, fileSha(path), path);
      assert.equal(r.source, null, `${path}: a network response carries no mesh headers`);
      assert.equal(r.verified, null, path);
    }
    // A new <img> still loads.
    const width = await t2.evaluate(async () => {
      const img = new Image();
      img.src = '/img/hills.svg';
      await img.decode();
      return img.naturalWidth;
    });
    assert.ok(width > 0);
  });

  test('bytes the node proves wrong are refused, not fetched again from the network', async () => {
    const p = await site.profile();
    const t1 = await p.tab();
    await controlled(t1);
    // The CID of other bytes, which nobody holds: the origin's sun.svg does not match it.
    const wrongCid = rawCid(Buffer.from('not the sun'));
    const role = await t1.evaluate(async (wrongCid) => {
      // Replace the tab's node with one whose manifest names that CID for sun.svg.
      await window.site.close();
      const manifest = await (await fetch('/.well-known/mesh/manifest.json')).json();
      manifest.assets['/img/sun.svg'].cid = wrongCid;
      const { startMeshSite } = await import('/mesh-loader/sw.js');
      const params = new URLSearchParams(location.search);
      window.site = await startMeshSite({
        serviceWorker: '/mesh-sw.js', mesh: { manifest, bootstrapUrl: params.get('bootstrap'), iceServers: [] },
      });
      return window.site.role;
    }, wrongCid);
    assert.equal(role, 'leader');
    // The worker serves through the new node before t2 loads: otherwise t2's <img> requests
    // may reach the worker first, go to the network (no node up yet, or the windows' answer
    // to its probe late on a loaded machine) and render the origin's right bytes. Checked
    // from another tab: the leader's own fetch() goes to the network (it may be its node's).
    const probe = await p.tab();
    const first = await plainFetch(probe, '/img/tiles.svg');
    assert.equal(first.verified, 'true', JSON.stringify(first));
    const t2 = await p.tab();
    const bad = await plainFetch(t2, '/img/sun.svg');
    assert.equal(bad.status, 502, JSON.stringify(bad));
    assert.equal(bad.error, 'integrity');
    assert.notEqual(bad.sha, fileSha('/img/sun.svg'));
    const sun = await t2.evaluate(() => document.querySelector('img[alt=sun]').naturalWidth);
    assert.equal(sun, 0, 'the <img> of the refused bytes did not render');
    const ok = await plainFetch(t2, '/img/waves.svg');
    assert.equal(ok.verified, 'true');
    assert.equal(ok.sha, fileSha('/img/waves.svg'));
  });

  test('when the leading tab closes, a following tab takes over the node', async () => {
    const p = await site.profile();
    const t1 = await p.tab();
    await controlled(t1);
    const t2 = await p.tab();
    assert.equal((await pageState(t2)).role, 'follower');
    const firstLeader = await t1.evaluate(() => window.site.peerId);
    await t1.close();
    await t2.waitForFunction(() => window.site.role === 'leader', null, { timeout: 30_000 });
    const peerId = await t2.evaluate(() => window.site.peerId);
    assert.notEqual(peerId, firstLeader);
    // A tab opened now is served by the new leader's node.
    const t3 = await p.tab();
    assert.equal((await pageState(t3)).role, 'follower');
    const r = await plainFetch(t3, MOSAIC);
    assert.equal(r.verified, 'true');
    assert.equal(r.sha, fileSha(MOSAIC));
    assert.equal((await t3.evaluate(() => window.site.stats())).peerId, peerId);
  });

  test('a body in progress moves to the tab that takes over: every byte verified, none twice', async () => {
    const p = await site.profile();
    const t1 = await p.tab();
    await controlled(t1);
    // t1's node serves BIG's first piece, then holds the body back, so that it is still in
    // progress when t1 closes. (The worker's pulls are not held back by t3 not reading: on a
    // loaded machine t1 once served all 32 MiB before its tab closed.)
    await t1.evaluate((path) => {
      const mesh = window.site.mesh;
      const fetch = mesh.fetch.bind(mesh);
      mesh.fetch = async (p, init) => {
        const res = await fetch(p, init);
        if (p !== path) return res;
        const reader = res.body.getReader();
        let served = 0;
        const held = new ReadableStream({
          async pull(controller) {
            if (served > 0) return new Promise(() => {});
            const { done, value } = await reader.read();
            if (done) controller.close();
            else controller.enqueue(value);
            served += 1;
          },
          cancel: (why) => reader.cancel(why),
        }, { highWaterMark: 0 });
        return new Response(held, { headers: res.headers });
      };
    }, BIG);
    const t2 = await p.tab();
    const t3 = await p.tab();
    // t3 reads the first piece of BIG through t1's node.
    const first = await t3.evaluate(async (path) => {
      const res = await fetch(path);
      const reader = res.body.getReader();
      const { value } = await reader.read();
      window.reading = { reader, pieces: [value] };
      return { verified: res.headers.get('x-mesh-verified'), bytes: value.length };
    }, BIG);
    assert.equal(first.verified, 'true');
    assert.ok(first.bytes < BIG_SIZE, `the first piece is not the whole file: ${first.bytes}`);
    await t1.close();
    const sha = await t3.evaluate(async () => {
      const { reader, pieces } = window.reading;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        pieces.push(value);
      }
      const all = new Uint8Array(await new Blob(pieces).arrayBuffer());
      return [...new Uint8Array(await crypto.subtle.digest('SHA-256', all))]
        .map((b) => b.toString(16).padStart(2, '0')).join('');
    });
    assert.equal(sha, BIG_SHA);
    // The rest came from t2's node, which took over and got the asset itself: from the
    // origin or a peer, or from the persistent cache t1's node filled (same site, same
    // database; every block verified again as it is read back).
    assert.equal(await t2.evaluate(() => window.site.role), 'leader');
    const s2 = await t2.evaluate(() => window.site.stats());
    const { origin, peer, cache } = s2.bytes;
    assert.ok(origin + peer + cache >= BIG_SIZE, JSON.stringify(s2.bytes));
  });

  test('a leader whose timers do not fire still serves a slow request: it answers the worker', async () => {
    const p = await site.profile();
    const t1 = await p.tab();
    await controlled(t1);
    await t1.evaluate((path) => {
      // A background tab's timers are throttled (the leader's tab often is one): here its
      // intervals never fire.
      window.setInterval = () => 0;
      // Counts the node's answers to the worker's `alive?`.
      window.aliveAnswers = 0;
      const post = MessagePort.prototype.postMessage;
      MessagePort.prototype.postMessage = function (message, ...rest) {
        if (message?.type === 'alive') window.aliveAnswers += 1;
        return post.call(this, message, ...rest);
      };
      // The node is slow on `path`, as while it restores a large cache: it starts only when
      // the test says so.
      const mesh = window.site.mesh;
      const fetch = mesh.fetch.bind(mesh);
      const gate = new Promise((resolve) => { window.releaseSlow = resolve; });
      mesh.fetch = async (p, init) => {
        if (p === path) await gate;
        return fetch(p, init);
      };
    }, LATER);
    const t2 = await p.tab();
    const slow = plainFetch(t2, LATER);
    // Silent for longer than the worker's timeoutMs (5 s): it asked three times, each after
    // 2.5 s of silence, and each answer restarted its wait.
    await t1.waitForFunction(() => window.aliveAnswers >= 3, null, { timeout: 30_000 });
    await t1.evaluate(() => window.releaseSlow());
    const r = await slow;
    assert.equal(r.verified, 'true', JSON.stringify(r));
    assert.equal(r.sha, fileSha(LATER));
  });

  test('nodePerTab: every tab runs its own node and serves its own <img> requests', async () => {
    const p = await site.profile();
    const t1 = await p.tab({ nodePerTab: '1' });
    await controlled(t1);
    const t2 = await p.tab({ nodePerTab: '1' });
    const [s1, s2] = [await pageState(t1), await pageState(t2)];
    assert.equal(s1.role, 'leader');
    assert.equal(s2.role, 'leader');
    const [id1, id2] = [await t1.evaluate(() => window.site.peerId), await t2.evaluate(() => window.site.peerId)];
    assert.notEqual(id1, id2);
    // An image neither tab loaded yet (the page's images may still be in its memory cache).
    const before = await t2.evaluate(() => window.site.stats());
    await t2.click('#more');
    await t2.waitForFunction(() => document.querySelector('img[alt="added later"]')?.naturalWidth > 0, null, { timeout: 30_000 });
    const own = await t2.evaluate(() => window.site.stats());
    const total = (s) => s.bytes.origin + s.bytes.peer + s.bytes.cache;
    assert.ok(total(own) - total(before) >= readFileSync(join(SITE, LATER)).length,
      `t2's node did not serve its own <img>: ${JSON.stringify(before.bytes)} -> ${JSON.stringify(own.bytes)}`);
  });
});
