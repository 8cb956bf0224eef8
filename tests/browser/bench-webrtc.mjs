// The tab-to-tab /webrtc benchmark of issue 6, in one headless Chromium with browser contexts
// (one per tab), against a real origin and bootstrap node. Run by scripts/bench-webrtc.sh,
// which starts the servers inside a loopback-only network namespace and sets:
//
//   MESH_BENCH_ORIGIN     the origin (fixtures at /, the npm package at /pkg, bench.html)
//   MESH_BENCH_BOOTSTRAP  the bootstrap node's /addrs URL
//   MESH_BENCH_FIXTURES   the fixture directory (to check the bytes the tabs got)
//   MESH_BENCH_RUNS       repetitions of (1) and (2) (default 3)
//   MESH_BENCH_DIALS      max dials in (3) (default 55: see DIAL_INTERVAL_MS), MESH_BENCH_DIAL_SECONDS their time
//                         budget (default 300), MESH_BENCH_DIAL_TIMEOUT_MS a hang (default 10000),
//                         MESH_BENCH_DIAL_INTERVAL_MS a pause between dials (default 200)
//   MESH_BENCH_RAW_HIGH   the raw sender's bufferedAmount high-water mark (default 1 MiB)
//   MESH_BENCH_PARTS      which measures to run, e.g. 13 (default 123)
//   MESH_BENCH_WORKER     1: the tabs' nodes in workers, 0: on their main threads (default: the
//                         package's, `worker: 'auto'`, which picks by the core count)
//   MESH_BENCH_JSON       where to write the raw numbers (optional)
//   MESH_BENCH_TRACE      1: part (2) cut into phases by both tabs' data-channel calls and
//                         message events, raw channel and mesh (replaces its timed requests)
//   MESH_BENCH_PROFILE    a directory: also record V8 CPU profiles of both tabs' main threads
//                         (20 requests of 100 KiB from the peer, 20 from the origin, one 16 MiB
//                         transfer), write them there as .cpuprofile and print where the time
//                         went (needs a package with names: MESH_NPM_NAMES=1 build-npm.sh)
//
// Not part of the test suite: it prints numbers, it does not judge them.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { builtinMsFrom, groupMs, summarize, table } from './lib/cpuprofile.mjs';

const need = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run scripts/bench-webrtc.sh`);
  return value;
};
const ORIGIN = need('MESH_BENCH_ORIGIN');
const BOOTSTRAP = need('MESH_BENCH_BOOTSTRAP');
const FIXTURES = need('MESH_BENCH_FIXTURES');
const RUNS = Number(process.env.MESH_BENCH_RUNS ?? 3);
const MAX_DIALS = Number(process.env.MESH_BENCH_DIALS ?? 55);
const DIAL_SECONDS = Number(process.env.MESH_BENCH_DIAL_SECONDS ?? 300);
const DIAL_TIMEOUT_MS = Number(process.env.MESH_BENCH_DIAL_TIMEOUT_MS ?? 10_000);
// Pause between dials. Not a way around the relay's rate limit: libp2p's relay (the bootstrap
// node keeps its default limiters) gives one source IP a burst of 60 reservations and 60
// circuits, then refills one of each per minute (libp2p-relay rate_limiter.rs adds
// `elapsed / interval` tokens); on loopback every tab is 127.0.0.1 and each new node takes a
// reservation and a circuit, so from about dial 60 on the relay denies them (`unavailable: no
// source left`; the relay's counters are printed at the end). Measured: pacing at 1.1 s and
// 2.5 s did not help. Hence MESH_BENCH_DIALS defaults to 55 until the relay's limits can be
// relaxed (MESH_BENCH_BOOTSTRAP_ARGS passes flags to the bootstrap node).
const DIAL_INTERVAL_MS = Number(process.env.MESH_BENCH_DIAL_INTERVAL_MS ?? 200);
// The raw sender keeps at most this many bytes queued (bufferedAmount), and refills when the
// queue falls below a quarter of it (bufferedamountlow).
const RAW_HIGH = Number(process.env.MESH_BENCH_RAW_HIGH ?? 1 << 20);
// Which measures to run: any of 1, 2, 3 (default all).
const PARTS = process.env.MESH_BENCH_PARTS ?? '123';
const PROFILE_DIR = process.env.MESH_BENCH_PROFILE ?? '';
const TRACE = process.env.MESH_BENCH_TRACE === '1';
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
// Quiet on a machine without internet (shared/NOTES.md), plus what loopback WebRTC needs:
// both flags, and camera+microphone permission for the context (granted below).
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--allow-loopback-in-peer-connection', '--use-fake-ui-for-media-stream'];
const MIB = 1 << 20;
const BIG = 16 * MIB;

const manifest = await (await fetch(`${ORIGIN}/.well-known/mesh/manifest.json`)).json();
const cidOf = (name) => {
  const entry = manifest.assets[`/${name}`];
  if (!entry) throw new Error(`/${name} is not in the origin's manifest`);
  return entry.cid;
};
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
const fixtureSha = (name) => sha256(readFileSync(join(FIXTURES, name)));
const names = readdirSync(FIXTURES);
const byPrefix = (p) => names.filter((n) => n.startsWith(p)).sort();
const bigs = byPrefix('big-');
const smallPeer = byPrefix('asset100k-peer-');
const smallOrigin = byPrefix('asset100k-origin-');
const dialAssets = byPrefix('dial-');
const profPeer = byPrefix('prof100k-peer-');
const profOrigin = byPrefix('prof100k-origin-');
if (PROFILE_DIR && (profPeer.length === 0 || !names.includes('prof-big.bin'))) {
  throw new Error('MESH_BENCH_PROFILE needs the profile fixtures: run scripts/bench-webrtc.sh with it set');
}
if (bigs.length < RUNS) throw new Error(`need ${RUNS} big-* fixtures, have ${bigs.length}`);

// ---- CPU time of the whole Chromium (browser, renderers, GPU/network/utility processes) ----
const CLK_TCK = 100; // getconf CLK_TCK on Linux
function chromiumPids() {
  const parent = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parent.set(Number(d), Number(fields[1]));
    } catch { /* gone */ }
  }
  const ours = new Set([process.pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of parent) {
      if (!ours.has(pid) && ours.has(ppid)) { ours.add(pid); grew = true; }
    }
  }
  ours.delete(process.pid);
  return [...ours];
}
/** CPU ms used so far by all processes below this one (Chromium), including exited children
 * reaped by them (cutime/cstime). */
function chromiumCpuMs() {
  let ticks = 0;
  for (const pid of chromiumPids()) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime, stime
    } catch { /* gone */ }
  }
  return ticks * 1000 / CLK_TCK;
}
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

// ---- statistics ----
const sorted = (xs) => [...xs].sort((a, b) => a - b);
const quantile = (xs, q) => {
  if (xs.length === 0) return NaN;
  const s = sorted(xs);
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))];
};
const median = (xs) => quantile(xs, 0.5);
const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const range = (xs, d = 1) => (xs.length ? `${fmt(Math.min(...xs), d)}–${fmt(Math.max(...xs), d)}` : '-');

// ---- the browser ----
const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
async function tab(label) {
  const context = await browser.newContext();
  await context.grantPermissions(['camera', 'microphone'], { origin: ORIGIN });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`  [${label} page error] ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.log(`  [${label} console] ${m.text()}`); });
  await page.goto(`${ORIGIN}/bench.html`);
  await page.evaluate(installHelpers);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  return { page, context, cdp, label };
}
/** A page's main thread, in ms: the wall time of its tasks (TaskDuration) and its CPU time
 * (ThreadTime). The wall time also counts what the thread waited for a core (other processes,
 * the hypervisor): on a shared 2-core machine the CPU time is the steadier figure. */
async function mainMs(t) {
  const { metrics } = await t.cdp.send('Performance.getMetrics');
  const get = (name) => 1000 * metrics.find((m) => m.name === name).value;
  return { task: get('TaskDuration'), cpu: get('ThreadTime') };
}
/** Main-thread ms of tabs A and B together since `before` (from `bothMain`). */
async function bothMain(A, B, before) {
  const [a, b] = [await mainMs(A), await mainMs(B)];
  const now = { task: a.task + b.task, cpu: a.cpu + b.cpu };
  return before ? { task: now.task - before.task, cpu: now.cpu - before.cpu } : now;
}

// In-page helpers (run in each tab).
async function installHelpers() {
  const api = await import('/pkg/index.js');
  const now = () => performance.timeOrigin + performance.now();
  const hex = async (buf) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', buf))]
    .map((b) => b.toString(16).padStart(2, '0')).join('');
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const waitFor = async (mesh, ok, what, ms = 30_000) => {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      const s = await mesh.stats();
      if (ok(s)) return s;
      await sleep(10);
    }
    throw new Error(`timed out waiting for ${what}: ${JSON.stringify(await mesh.stats())}`);
  };
  /** Reads a Response body to the end; the time of the last byte; the bytes. */
  const drain = async (res) => {
    const reader = res.body.getReader();
    const chunks = [];
    let n = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (trace.on) trace.ev.push(['chunk', now()]);
      chunks.push(value);
      n += value.byteLength;
    }
    const end = now();
    const all = new Uint8Array(n);
    let off = 0;
    for (const c of chunks) { all.set(c, off); off += c.byteLength; }
    return { end, bytes: all };
  };
  // Data-channel calls (each a synchronous hop to Chromium's WebRTC threads), counted for the
  // CPU profiles: how many a request costs.
  const calls = { send: 0, sentBytes: 0, createDataChannel: 0, close: 0 };
  // MESH_BENCH_TRACE: the time of every data-channel send and message event while `trace.on`
  // (wall clock in ms, comparable between the tabs: one machine, one clock).
  const trace = { on: false, ev: [] };
  const count = (proto, name, bytes) => {
    const original = proto[name];
    proto[name] = function (...args) {
      calls[name] += 1;
      const n = args[0]?.byteLength ?? args[0]?.length ?? 0;
      if (bytes) calls.sentBytes += n;
      if (trace.on && name === 'send') trace.ev.push(['send', now(), n]);
      return original.apply(this, args);
    };
  };
  count(RTCDataChannel.prototype, 'send', true);
  count(RTCDataChannel.prototype, 'close');
  count(RTCPeerConnection.prototype, 'createDataChannel');
  const onmessage = Object.getOwnPropertyDescriptor(RTCDataChannel.prototype, 'onmessage');
  Object.defineProperty(RTCDataChannel.prototype, 'onmessage', {
    configurable: true,
    get: onmessage.get,
    set(handler) {
      onmessage.set.call(this, handler && function (event) {
        if (trace.on) trace.ev.push(['msg', now(), event.data?.byteLength ?? 0]);
        const r = handler.call(this, event);
        if (trace.on) trace.ev.push(['msgDone', now()]);
        return r;
      });
    },
  });
  // Traced too: WebCrypto's digest (call, resolution) and the persistent cache's IndexedDB put.
  const digest = SubtleCrypto.prototype.digest;
  SubtleCrypto.prototype.digest = function (...args) {
    if (!trace.on) return digest.apply(this, args);
    trace.ev.push(['digest', now()]);
    return digest.apply(this, args).then((d) => { trace.ev.push(['digested', now()]); return d; });
  };
  const wsSend = WebSocket.prototype.send;
  WebSocket.prototype.send = function (...args) {
    if (trace.on) trace.ev.push(['ws', now()]);
    return wsSend.apply(this, args);
  };
  // mesh.js builds the Response's headers right after the node's first piece arrives.
  const NativeHeaders = window.Headers;
  window.Headers = class extends NativeHeaders {
    constructor(...args) {
      if (trace.on) trace.ev.push(['headers', now()]);
      super(...args);
    }
  };
  const put = IDBObjectStore.prototype.put;
  IDBObjectStore.prototype.put = function (...args) {
    if (trace.on) trace.ev.push(['put', now()]);
    return put.apply(this, args);
  };
  window.b = { api, now, hex, sleep, waitFor, drain, calls, trace, meshes: {}, raw: {} };
}

/** Creates a mesh in a tab and waits until it holds a relay reservation (reachable). */
async function startMesh(t, key, options) {
  return t.page.evaluate(async ({ key, options }) => {
    const mesh = await b.api.createMesh(options);
    b.meshes[key] = mesh;
    const s = await b.waitFor(mesh, (s) => s.peers.bootstrap >= 1 && s.reachable, 'bootstrap + reservation');
    return s.peerId;
  }, { key, options });
}
const DIAL_PERSIST = process.env.MESH_BENCH_DIAL_PERSIST === '1';
/** MESH_BENCH_WORKER=1 / 0: the nodes in workers / on the tabs' main threads; unset, the
 * package's default (`'auto'`: by the core count). */
const WORKER = { 0: false, 1: true }[process.env.MESH_BENCH_WORKER] ?? 'auto';
const meshOptions = (extra) => ({ bootstrapUrl: BOOTSTRAP, iceServers: [], statsIntervalMs: 0, worker: WORKER, ...extra });

/** Fetches `cid` in a tab's mesh; times request → first byte (Response) → last byte. With
 * `check: false` the bytes stay in the page (`b.kept`) and `sha` is left to `checkKept`, so a
 * measure of the tab's main thread can end before the benchmark's own SHA-256 of them. */
async function meshFetch(t, key, cid, url, { check = true } = {}) {
  return t.page.evaluate(async ({ key, cid, url, check }) => {
    const mesh = b.meshes[key];
    const t0 = b.now();
    if (b.trace.on) b.trace.ev.push(['start', t0]);
    const res = await mesh.fetch(cid, url ? { url } : {});
    const t1 = b.now();
    const { end, bytes } = await b.drain(res);
    if (b.trace.on) b.trace.ev.push(['end', end]);
    const summary = await res.mesh.summary;
    if (!check) b.kept = bytes;
    return {
      firstMs: t1 - t0, lastMs: end - t0, size: bytes.byteLength, sha: check ? await b.hex(bytes) : null,
      source: res.headers.get('x-mesh-source'), bytesPeer: summary.bytesPeer,
    };
  }, { key, cid, url, check });
}
/** The SHA-256 of what `meshFetch(…, { check: false })` kept; drops it. */
async function checkKept(t) {
  return t.page.evaluate(async () => {
    const sha = await b.hex(b.kept);
    b.kept = null;
    return sha;
  });
}
/** Assets the mesh `key` of a tab has saved to its persistent cache so far (`null` without
 * one). A main-thread measure of a fetch ends once the fetch's own save is done: that work is
 * the node's and follows the last byte. */
async function savedAssets(t, key) {
  return t.page.evaluate(async (key) => {
    const { persist } = await b.meshes[key].stats();
    return persist.state === 'on' ? persist.savedAssets : null;
  }, key);
}
async function cacheWritten(t, key, before) {
  if (before === null) return;
  await t.page.evaluate(({ key, before }) => b.waitFor(
    b.meshes[key], (s) => s.persist.savedAssets > before && s.persist.pendingWrites === 0, 'the cache write',
  ), { key, before });
}

// ---- (1) raw RTCDataChannel between two contexts, signaled through playwright ----
async function rawSetup(a, bTab) {
  const offer = await a.page.evaluate(async () => {
    const pc = new RTCPeerConnection({ iceServers: [] });
    const dc = pc.createDataChannel('bench', { ordered: true });
    dc.binaryType = 'arraybuffer';
    b.raw = { pc, dc, open: new Promise((r) => { dc.onopen = r; }) };
    await pc.setLocalDescription(await pc.createOffer());
    // Non-trickle: the offer carries every candidate (setup time is not what is measured).
    await new Promise((r) => { if (pc.iceGatheringState === 'complete') r(); else pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); });
    return pc.localDescription.toJSON();
  });
  const answer = await bTab.page.evaluate(async (offer) => {
    const pc = new RTCPeerConnection({ iceServers: [] });
    b.raw = { pc, channel: new Promise((r) => { pc.ondatachannel = (e) => { e.channel.binaryType = 'arraybuffer'; r(e.channel); }; }) };
    await pc.setRemoteDescription(offer);
    await pc.setLocalDescription(await pc.createAnswer());
    await new Promise((r) => { if (pc.iceGatheringState === 'complete') r(); else pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); });
    return pc.localDescription.toJSON();
  }, offer);
  await a.page.evaluate(async (answer) => { await b.raw.pc.setRemoteDescription(answer); await b.raw.open; }, answer);
  await bTab.page.evaluate(async () => { b.raw.dc = await b.raw.channel; });
}
async function rawTransfer(a, bTab, total) {
  const received = bTab.page.evaluate((total) => new Promise((resolve) => {
    let n = 0;
    b.raw.dc.onmessage = (e) => {
      n += e.data.byteLength;
      if (n >= total) { b.raw.dc.onmessage = null; resolve({ end: b.now(), n }); }
    };
  }), total);
  // The receiver's handler is in place once its evaluate has started running; a round trip
  // through the same page makes sure of it.
  await bTab.page.evaluate(() => true);
  const sent = await a.page.evaluate(async ({ total, HIGH, LOW }) => {
    const dc = b.raw.dc;
    const MSG = 16 * 1024;
    dc.bufferedAmountLowThreshold = LOW;
    const msg = new Uint8Array(MSG);
    crypto.getRandomValues(msg);
    const start = b.now();
    let sent = 0;
    while (sent < total) {
      if (dc.bufferedAmount > HIGH) {
        await new Promise((r) => { dc.onbufferedamountlow = r; });
        continue;
      }
      dc.send(msg);
      sent += MSG;
    }
    return { start };
  }, { total, HIGH: RAW_HIGH, LOW: RAW_HIGH / 4 });
  const got = await received;
  return { ms: got.end - sent.start, bytes: got.n };
}

// (2) The raw channel's floor for a 100 KiB request: B sends a want-block-sized request, A
// answers from memory with 100 KiB in 16 KiB messages (the framing limit of libp2p's /webrtc
// and what the mesh sends), B takes the last byte and then hashes the whole with WebCrypto (what
// the page needs at the least before it may use the bytes).
async function rawResponder(a, on) {
  await a.page.evaluate((on) => {
    const dc = b.raw.dc;
    if (!on) { dc.onmessage = null; return; }
    const block = new Uint8Array(100 * 1024);
    crypto.getRandomValues(block.subarray(0, 65536));
    dc.onmessage = () => {
      for (let at = 0; at < block.byteLength; at += 16 * 1024) dc.send(block.subarray(at, at + 16 * 1024));
    };
  }, on);
}
async function rawRequest(bTab) {
  return bTab.page.evaluate(() => new Promise((resolve) => {
    const dc = b.raw.dc;
    const size = 100 * 1024;
    const parts = [];
    let n = 0;
    const t0 = b.now();
    if (b.trace.on) b.trace.ev.push(['start', t0]);
    dc.onmessage = async (e) => {
      parts.push(new Uint8Array(e.data));
      n += e.data.byteLength;
      if (n < size) return;
      dc.onmessage = null;
      const lastMs = b.now() - t0;
      if (b.trace.on) b.trace.ev.push(['end', b.now()]);
      const whole = new Uint8Array(size);
      let at = 0;
      for (const p of parts) { whole.set(p, at); at += p.byteLength; }
      await crypto.subtle.digest('SHA-256', whole);
      resolve({ lastMs, verifiedMs: b.now() - t0 });
    };
    dc.send(new Uint8Array(46));
  }));
}

// MESH_BENCH_TRACE=1: part (2) traced. Each request (raw channel and mesh, the same assets as
// the timed run would fetch from the peer) is cut into phases by the data-channel calls and
// message events of both tabs: where the critical path's time goes.
async function traced(into, run) {
  const both = [A, B];
  for (const t of both) await t.page.evaluate(() => { b.trace.ev = []; b.trace.on = true; });
  const result = await run();
  const ev = {};
  for (const t of both) ev[t.label] = await t.page.evaluate(() => { b.trace.on = false; return b.trace.ev; });
  into.push(ev);
  return result;
}
function phases({ A: a, B: bb }) {
  const at = (evs, kind, after, pred = () => true) => evs.find((e) => e[0] === kind && e[1] >= after && pred(e));
  const start = at(bb, 'start', 0)[1];
  const end = at(bb, 'end', start)[1];
  const want = at(bb, 'send', start)?.[1];
  const aMsg = want && at(a, 'msg', want - 1)?.[1];
  const aSends = a.filter((e) => e[0] === 'send' && aMsg && e[1] >= aMsg);
  const bMsgs = bb.filter((e) => e[0] === 'msg' && e[1] >= want && e[2] > 1000);
  const lastDone = bb.filter((e) => e[0] === 'msgDone' && e[1] <= end).at(-1)?.[1];
  if (!want || !aMsg || !aSends.length || !bMsgs.length || !lastDone) return null;
  // After the last message event, the first of each kind (NaN where there is none).
  const [digest, digested, headers, chunk, put] = ['digest', 'digested', 'headers', 'chunk', 'put']
    .map((kind) => at(bb, kind, lastDone)?.[1] ?? NaN);
  const wsInGap = bb.filter((e) => e[0] === 'ws' && e[1] >= digested && e[1] <= chunk);
  return {
    'B: fetch → want sent': want - start,
    'want on the wire → A\'s message event': aMsg - want,
    'A: message → first send': aSends[0][1] - aMsg,
    'A: first → last send': aSends.at(-1)[1] - aSends[0][1],
    'A\'s first send → B\'s first message': bMsgs[0][1] - aSends[0][1],
    'B: first → last message event': bMsgs.at(-1)[1] - bMsgs[0][1],
    'B: last message → delivered': end - lastDone,
    '… last message → digest called': digest - lastDone,
    '… digest called → resolved': digested - digest,
    '… digest resolved → first chunk read': chunk - digested,
    '… digest resolved → the shim has the piece (its Headers)': headers - digested,
    '… the shim has the piece → first chunk read': chunk - headers,
    '… first chunk read → put': put - chunk,
    '… first chunk read → end': end - chunk,
    '… WebSocket sends between digest and chunk': wsInGap.length,
    '… last of them → first chunk read': chunk - (wsInGap.at(-1)?.[1] ?? NaN),
    total: end - start,
    sendsA: aSends.length,
    messagesB: bMsgs.length,
  };
}
function printPhases(trace) {
  const keys = Object.keys(trace.peer.find(Boolean) ?? trace.raw.find(Boolean) ?? {});
  console.log('\n100 KiB request, phases (p50 over the traced requests, ms; clocks of two tabs, 0.1 ms steps):');
  console.log('| phase | raw channel | mesh |');
  console.log('|---|---:|---:|');
  for (const k of keys) {
    const col = (xs) => fmt(median(xs.filter(Boolean).map((x) => x[k]).filter((x) => !Number.isNaN(x))), 2);
    console.log(`| ${k} | ${col(trace.raw)} | ${col(trace.peer)} |`);
  }
  console.log(`(${trace.peer.filter(Boolean).length} of ${trace.peer.length} mesh and ${trace.raw.filter(Boolean).length} of ${trace.raw.length} raw requests cut)`);
}

// ---- the run ----
const report = { started: new Date().toISOString(), loadavgStart: loadavg(), runs: RUNS };
console.log(`load average at start: ${report.loadavgStart}`);
const A = await tab('A');
const B = await tab('B');

console.log('starting the meshes of tab A (seeder) and tab B');
const cacheBytes = (RUNS * 16 + 32) * MIB;
// A's upload budget (default 64 MiB a minute) would stop the 16 MiB runs after the fourth:
// the benchmark measures the transport, not that policy.
const aPeer = await startMesh(A, 'main', meshOptions({ fallbackMs: 0, cacheBytes, uploadBytesPerMinute: 2 ** 40 }));
await startMesh(B, 'main', meshOptions({ fallbackMs: 10_000, cacheBytes }));
report.runsIn = await B.page.evaluate(() => b.meshes.main.runsIn);
console.log(`A is ${aPeer}`);

// A fetches everything it is to serve from the origin (so it holds and announces it).
console.log('tab A loads the fixtures from the origin');
const aHolds = [...bigs.slice(0, RUNS), ...smallPeer, ...dialAssets, 'warm.bin', 'warm-big.bin',
  ...(PROFILE_DIR ? [...profPeer, 'prof-big.bin'] : [])];
for (const name of aHolds) {
  const r = await meshFetch(A, 'main', cidOf(name), `${ORIGIN}/${name}`);
  if (r.source !== 'origin') throw new Error(`A got ${name} from ${r.source}`);
}
// B dials A by fetching a small asset only A holds (retried until A's provider record is in).
async function fetchFromPeer(t, key, name) {
  let lastError;
  for (let i = 0; i < 50; i++) {
    try {
      const r = await meshFetch(t, key, cidOf(name));
      if (r.sha !== fixtureSha(name)) throw new Error(`${name}: wrong bytes`);
      return r;
    } catch (e) {
      lastError = e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw lastError;
}
const warm = await fetchFromPeer(B, 'main', 'warm.bin');
console.log(`B is connected to A (warm-up fetch: ${fmt(warm.lastMs)} ms, source ${warm.source})`);
await rawSetup(A, B);
// Warm-up, untimed: both paths move 4 MiB once (SCTP windows open, wasm and JIT warm).
await rawTransfer(A, B, 4 * MIB);
await fetchFromPeer(B, 'main', 'warm-big.bin');

// (1) 16 MiB: raw channel and mesh, alternating, RUNS times.
const t1 = { raw: [], mesh: [], failures: [] };
for (let run = 0; run < (PARTS.includes('1') ? RUNS : 0); run++) {
  await new Promise((r) => setTimeout(r, 500)); // let the previous transfer's tail settle
  let cpu0 = chromiumCpuMs();
  let main0 = await bothMain(A, B);
  const raw = await rawTransfer(A, B, BIG);
  let cpu = chromiumCpuMs() - cpu0;
  const rawMain = await bothMain(A, B, main0);
  t1.raw.push({
    ms: raw.ms, mibs: BIG / MIB / (raw.ms / 1000), cpuMsPerMiB: cpu / 16,
    mainMsPerMiB: rawMain.task / 16, mainCpuMsPerMiB: rawMain.cpu / 16,
  });

  await new Promise((r) => setTimeout(r, 500));
  const name = bigs[run];
  cpu0 = chromiumCpuMs();
  const saved0 = await savedAssets(B, 'main');
  main0 = await bothMain(A, B);
  let m;
  try {
    m = await meshFetch(B, 'main', cidOf(name), undefined, { check: false });
    await cacheWritten(B, 'main', saved0);
  } catch (e) {
    // Counted and shown, not fatal: a failed transfer is a result too.
    const stats = await B.page.evaluate(() => b.meshes.main.stats());
    t1.failures.push({ run, error: String(e.message ?? e).split('\n')[0], statsOfB: stats });
    console.log(`run ${run + 1}: raw ${fmt(t1.raw[run].mibs)} MiB/s, mesh FAILED: ${t1.failures.at(-1).error}`);
    continue;
  }
  cpu = chromiumCpuMs() - cpu0;
  const meshMain = await bothMain(A, B, main0);
  if ((await checkKept(B)) !== fixtureSha(name)) throw new Error(`${name}: B got wrong bytes`);
  t1.mesh.push({
    run, ms: m.lastMs, firstMs: m.firstMs, mibs: BIG / MIB / (m.lastMs / 1000), source: m.source,
    bytesPeer: m.bytesPeer, cpuMsPerMiB: cpu / 16, mainMsPerMiB: meshMain.task / 16,
    mainCpuMsPerMiB: meshMain.cpu / 16,
  });
  console.log(`run ${run + 1}: raw ${fmt(t1.raw[run].mibs)} MiB/s, mesh ${fmt(t1.mesh.at(-1).mibs)} MiB/s (source ${m.source}, ${m.bytesPeer} bytes from peers)`);
}
report.throughput = t1;
// Which SHA-256 verified B's blocks: WebCrypto (the default where the page has it) or the wasm.
report.statsOfB = await B.page.evaluate(() => b.meshes.main.stats());
console.log(`B: ${report.statsOfB.webCryptoHashes ?? 0} blocks from peers hashed by WebCrypto`);

// (2) 100 KiB: from the warm peer A vs from the origin (a p2p-off mesh in the same tab B:
// same verification, origin only), alternating per asset; the HTTP cache cannot help, every
// asset is fetched once.
await startMesh(B, 'origin', meshOptions({ p2p: 'off', fallbackMs: 0 })).catch(() => null);
await B.page.evaluate(async () => {
  if (!b.meshes.origin) throw new Error('no origin mesh');
});
const t2 = { peer: [], origin: [], raw: [], rawVerified: [], peerSources: {}, originSources: {}, failures: [] };
let cpuPeer = 0, cpuOrigin = 0;
const nSmall = Math.min(smallPeer.length, smallOrigin.length);
if (PARTS.includes('2')) await rawResponder(A, true);
const traces = { peer: [], raw: [] };
for (let i = 0; i < (PARTS.includes('2') ? nSmall : 0); i++) {
  // The floor: the same request and 100 KiB answer over the raw channel (no libp2p, no node).
  const r = TRACE ? await traced(traces.raw, () => rawRequest(B)) : await rawRequest(B);
  t2.raw.push(r.lastMs);
  t2.rawVerified.push(r.verifiedMs);
  if (TRACE) {
    // The same request through the mesh, traced (untimed: the trace's own calls cost a little).
    await traced(traces.peer, () => meshFetch(B, 'main', cidOf(smallPeer[i])));
    continue;
  }
  let c0 = chromiumCpuMs();
  let p;
  try {
    p = await meshFetch(B, 'main', cidOf(smallPeer[i]));
  } catch (e) {
    t2.failures.push(String(e.message ?? e).split('\n')[0]);
    console.log(`100 KiB from peer FAILED: ${t2.failures.at(-1)}`);
    continue;
  }
  cpuPeer += chromiumCpuMs() - c0;
  if (p.sha !== fixtureSha(smallPeer[i])) throw new Error(`${smallPeer[i]}: wrong bytes`);
  t2.peer.push(p.lastMs);
  t2.peerSources[p.source] = (t2.peerSources[p.source] ?? 0) + 1;
  c0 = chromiumCpuMs();
  const o = await meshFetch(B, 'origin', cidOf(smallOrigin[i]), `${ORIGIN}/${smallOrigin[i]}`);
  cpuOrigin += chromiumCpuMs() - c0;
  if (o.sha !== fixtureSha(smallOrigin[i])) throw new Error(`${smallOrigin[i]}: wrong bytes`);
  t2.origin.push(o.lastMs);
  t2.originSources[o.source] = (t2.originSources[o.source] ?? 0) + 1;
}
if (PARTS.includes('2')) await rawResponder(A, false);
if (TRACE) {
  report.trace = { peer: traces.peer.map(phases), raw: traces.raw.map(phases) };
  printPhases(report.trace);
}
t2.cpuMsPerMiB = { peer: cpuPeer / (t2.peer.length * 100 / 1024), origin: cpuOrigin / (t2.origin.length * 100 / 1024) };
report.asset100k = t2;
console.log(`100 KiB: peer p50 ${fmt(median(t2.peer), 2)} ms, origin p50 ${fmt(median(t2.origin), 2)} ms, raw channel p50 ${fmt(median(t2.raw), 2)} ms (+ SHA-256 ${fmt(median(t2.rawVerified), 2)} ms) (${nSmall} each)`);

// (2b) 16 MiB from the origin alone, verified: a fresh p2p-off mesh with no persistent cache
// (the origin mesh above would restore what B's main mesh saved). What a first visitor's
// verification costs per byte: B's main thread per MiB (the node in the window; in a worker,
// what is left on the page).
// (Its wait for a bootstrap node times out: p2p is off; the mesh is kept all the same.)
await startMesh(B, 'origin16', meshOptions({ p2p: 'off', fallbackMs: 0, persist: false, cacheBytes })).catch(() => null);
{
  const name = bigs[0];
  // No persistent cache here (`persist: false`): nothing follows the last byte.
  const main0 = await mainMs(B);
  const o = await meshFetch(B, 'origin16', cidOf(name), `${ORIGIN}/${name}`, { check: false });
  const main1 = await mainMs(B);
  const [mainMsPerMiB, mainCpuMsPerMiB] = [(main1.task - main0.task) / 16, (main1.cpu - main0.cpu) / 16];
  if ((await checkKept(B)) !== fixtureSha(name)) throw new Error(`${name}: wrong bytes from the origin`);
  report.origin16 = { ms: o.lastMs, mibs: BIG / MIB / (o.lastMs / 1000), mainMsPerMiB, mainCpuMsPerMiB, source: o.source };
  console.log(`16 MiB from the origin: ${fmt(report.origin16.mibs)} MiB/s, B's main thread ${fmt(mainMsPerMiB)} ms/MiB of tasks, ${fmt(mainCpuMsPerMiB)} of CPU (source ${o.source})`);
}

// (2p) With MESH_BENCH_PROFILE: the same requests again (other assets), with the V8 sampling
// profiler on both tabs' main threads, and one 16 MiB transfer; where each ms went.
if (PROFILE_DIR) report.profile = await profileRequests();

async function profiled(tabs, run) {
  const before = {};
  for (const t of tabs) {
    before[t.label] = await t.page.evaluate(() => ({ ...b.calls }));
    await t.cdp.send('Profiler.enable');
    await t.cdp.send('Profiler.setSamplingInterval', { interval: 100 }); // µs
    await t.cdp.send('Profiler.start');
  }
  const result = await run();
  const profiles = {};
  const calls = {};
  for (const t of tabs) {
    profiles[t.label] = (await t.cdp.send('Profiler.stop')).profile;
    const after = await t.page.evaluate(() => ({ ...b.calls }));
    calls[t.label] = Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - before[t.label][k]]));
  }
  return { result, profiles, calls };
}

async function profileRequests() {
  mkdirSync(PROFILE_DIR, { recursive: true });
  const fetchAll = (key, list, url) => async () => {
    const ms = [];
    for (const name of list) {
      const r = await meshFetch(B, key, cidOf(name), url ? `${ORIGIN}/${name}` : undefined);
      if (r.sha !== fixtureSha(name)) throw new Error(`${name}: wrong bytes`);
      if (r.source !== (url ? 'origin' : 'peer')) throw new Error(`${name}: source ${r.source}`);
      ms.push(r.lastMs);
    }
    return ms;
  };
  const peer = await profiled([A, B], fetchAll('main', profPeer, false));
  const origin = await profiled([B], fetchAll('origin', profOrigin, true));
  const big = await profiled([A, B], async () => {
    const r = await meshFetch(B, 'main', cidOf('prof-big.bin'));
    if (r.sha !== fixtureSha('prof-big.bin')) throw new Error('prof-big.bin: wrong bytes');
    return r.lastMs;
  });
  const save = (name, profile) => writeFileSync(join(PROFILE_DIR, `${name}.cpuprofile`), JSON.stringify(profile));
  save('100k-peer-A-seeder', peer.profiles.A);
  save('100k-peer-B-fetcher', peer.profiles.B);
  save('100k-origin-B', origin.profiles.B);
  save('16mib-peer-A-seeder', big.profiles.A);
  save('16mib-peer-B-fetcher', big.profiles.B);
  const n = profPeer.length;
  const s = {
    peerA: summarize(peer.profiles.A), peerB: summarize(peer.profiles.B),
    originB: summarize(origin.profiles.B), bigA: summarize(big.profiles.A), bigB: summarize(big.profiles.B),
  };
  console.log(`\nCPU profiles (main threads, sampled every 0.1 ms) in ${PROFILE_DIR}`);
  console.log(`100 KiB requests (${n} from the peer, p50 ${fmt(median(peer.result), 2)} ms; ${profOrigin.length} from the origin, p50 ${fmt(median(origin.result), 2)} ms); ms of main thread per request:\n`);
  console.log(table({ 'peer, A (seeder)': s.peerA, 'peer, B (fetcher)': s.peerB, 'origin, B': s.originB },
    { per: n, unit: 'ms/request' }));
  const perRequest = (c) => Object.entries(c).map(([k, v]) => `${k} ${fmt(v / n, 1)}`).join(', ');
  console.log(`\ndata-channel calls per request: A ${perRequest(peer.calls.A)}; B ${perRequest(peer.calls.B)}`);
  console.log(`\n16 MiB from the peer (${fmt(big.result)} ms); ms of main thread per MiB:\n`);
  console.log(table({ 'A (seeder)': s.bigA, 'B (fetcher)': s.bigB }, { per: 16, unit: 'ms/MiB' }));
  console.log(`\ndata-channel calls, 16 MiB: A ${JSON.stringify(big.calls.A)}; B ${JSON.stringify(big.calls.B)}`);
  // SHA-256 of the blocks B verified: sha2 in wasm (and its digest wrapper) where it hashed
  // them, WebCrypto's `digest` called by the node's glue where the page has it (the page's own
  // check of the bytes calls `digest` too, and is left out).
  const shaMs = groupMs(s.bigB, 'wasm: sha2') + groupMs(s.bigB, 'wasm: digest');
  const webMs = builtinMsFrom(big.profiles.B, 'digest', 'mesh_wasm.js');
  const rate = (ms) => (ms > 0 ? `${fmt(16 / (ms / 1000))} MiB/s` : '-');
  console.log(`\nSHA-256 of the 16 MiB B verified, main-thread self time: sha2 in wasm ${fmt(shaMs)} ms (${rate(shaMs)}), WebCrypto ${fmt(webMs)} ms (${rate(webMs)})`);
  // Each function's self time, and how much of it came in sampler gaps (off a core).
  const top = (x) => x.functions.slice(0, 15).map(([f, ms]) => {
    const gap = x.functionGaps.get(f) ?? 0;
    return `  ${ms.toFixed(1).padStart(8)} ms  ${f}${gap > 0.05 ? ` (${gap.toFixed(1)} ms in gaps)` : ''}`;
  }).join('\n');
  console.log(`\ntop functions, 100 KiB from the peer, B:\n${top(s.peerB)}\ntop functions, 100 KiB, A:\n${top(s.peerA)}\ntop functions, 16 MiB, B:\n${top(s.bigB)}`);
  const brief = (x) => ({ wallMs: x.wallMs, busyMs: x.busyMs, gapMs: x.gapMs, groups: x.groups, top: x.functions.slice(0, 40) });
  return {
    requests: n, calls: { peer: peer.calls, big: big.calls }, peerMs: peer.result, originMs: origin.result, bigMs: big.result, sha2MiBs: 16 / (shaMs / 1000),
    summaries: Object.fromEntries(Object.entries(s).map(([k, v]) => [k, brief(v)])),
  };
}

// (3) Dials: a new mesh node (in tab B's page: a fresh peer id, a fresh RTCPeerConnection)
// connects to the bootstrap node, takes a relay reservation, then fetches a 1 KiB asset only
// A holds (a different one each time, so no earlier dialer is a provider): the time from the
// fetch call to the first verified byte is discovery (DHT via the bootstrap node) + relayed
// connection + /webrtc signaling + ICE/DTLS/SCTP + one block request; the `peer` event of A's
// connection marks when the node's connection to A was ready. Each new node runs without the
// persistent cache: with it, every one would first restore (and hash) what tab B's main mesh
// saved, tens of MiB, beside its dial — a returning visitor's start, not a new peer's.
// MESH_BENCH_DIAL_PERSIST=1 measures that start instead (docs/BENCHMARKS-WEBRTC.md).
const dials = [];
const dialStart = Date.now();
for (let i = 0; i < (PARTS.includes('3') ? Math.min(MAX_DIALS, dialAssets.length) : 0); i++) {
  if (Date.now() - dialStart > DIAL_SECONDS * 1000) break;
  const name = dialAssets[i];
  const pace = new Promise((r) => setTimeout(r, DIAL_INTERVAL_MS));
  const r = await B.page.evaluate(async ({ cid, aPeer, options, timeoutMs }) => {
    const out = {};
    let mesh;
    try {
      const c0 = b.now();
      mesh = await b.api.createMesh(options);
      // A returning visitor's node (MESH_BENCH_DIAL_PERSIST=1) first restores its cache.
      mesh.addEventListener('persist', (e) => {
        if (e.detail.event === 'restored') Object.assign(out, { restoreMs: b.now() - c0, restoredBytes: e.detail.bytes });
      });
      await b.waitFor(mesh, (s) => s.peers.bootstrap >= 1 && s.reachable, 'bootstrap + reservation');
      out.startMs = b.now() - c0;
      let peerAt = null;
      mesh.addEventListener('peer', (e) => {
        if (e.detail.peer === aPeer && e.detail.state === 'connected' && peerAt === null) peerAt = b.now();
      });
      const t0 = b.now();
      const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('hang')), timeoutMs));
      const res = await Promise.race([mesh.fetch(cid), timeout]);
      out.firstByteMs = b.now() - t0;
      out.peerReadyMs = peerAt === null ? null : peerAt - t0;
      out.source = res.headers.get('x-mesh-source');
      await Promise.race([b.drain(res), timeout]);
      out.ok = out.source === 'peer';
      if (!out.ok) out.error = `source ${out.source}`;
    } catch (e) {
      out.ok = false;
      out.error = e?.message === 'hang' ? 'hang' : `${e?.kind ?? e?.name}: ${e?.message}`;
      out.stats = await mesh?.stats().catch(() => null);
    } finally {
      await mesh?.close();
    }
    return out;
  }, { cid: cidOf(name), aPeer, options: meshOptions({ fallbackMs: 10_000, persist: DIAL_PERSIST }), timeoutMs: DIAL_TIMEOUT_MS });
  dials.push(r);
  await pace;
  if (!r.ok) console.log(`  dial ${i + 1}: ${r.error}`);
  if ((i + 1) % 50 === 0) console.log(`  ${i + 1} dials, p50 first byte ${fmt(median(dials.filter((d) => d.ok).map((d) => d.firstByteMs)))} ms`);
}
report.dials = dials;
const restores = dials.filter((d) => d.restoreMs != null);
if (restores.length) {
  const mib = median(restores.map((d) => d.restoredBytes)) / MIB;
  console.log(`returning visitors: cache of ${fmt(mib)} MiB restored ${fmt(median(restores.map((d) => d.restoreMs)))} ms p50 after createMesh (${restores.length} of ${dials.length} seen)`);
}
report.statsOfA = await A.page.evaluate(() => b.meshes.main.stats());
const firstFail = dials.find((d) => !d.ok);
if (firstFail) {
  console.log(`first failed dial (#${dials.indexOf(firstFail) + 1}): ${firstFail.error}; the dialer's stats: ${JSON.stringify(firstFail.stats)}`);
  console.log(`A's stats after the dials: ${JSON.stringify(report.statsOfA)}`);
}
report.dialSeconds = (Date.now() - dialStart) / 1000;
report.loadavgEnd = loadavg();
// The relay's own count of accepted and denied reservations and circuits (rate limits).
const metricsUrl = BOOTSTRAP.replace(/\/addrs$/, '/metrics');
report.relayEvents = (await (await fetch(metricsUrl)).text()).split('\n')
  .filter((l) => l.startsWith('libp2p_relay_events_total'))
  .map((l) => l.replace('libp2p_relay_events_total', '').trim());
await browser.close();

// ---- the table ----
const col = (xs, key) => xs.map((x) => x[key]);
const rawRates = col(t1.raw, 'mibs');
const meshRates = col(t1.mesh, 'mibs');
const ratios = t1.mesh.map((m) => m.mibs / t1.raw[m.run].mibs);
const okDials = dials.filter((d) => d.ok);
const hangs = dials.filter((d) => d.error === 'hang').length;
const failed = dials.length - okDials.length;
const rows = [
  ['(1) raw RTCDataChannel, 16 MiB', `${fmt(median(rawRates))} MiB/s (${range(rawRates)})`,
    `${fmt(median(col(t1.raw, 'cpuMsPerMiB')))} (main thread: ${fmt(median(col(t1.raw, 'mainMsPerMiB')))} tasks, ${fmt(median(col(t1.raw, 'mainCpuMsPerMiB')))} CPU)`, ''],
  ['(1) mesh tab→tab, 16 MiB', `${fmt(median(meshRates))} MiB/s (${range(meshRates)})`,
    `${fmt(median(col(t1.mesh, 'cpuMsPerMiB')))} (main thread: ${fmt(median(col(t1.mesh, 'mainMsPerMiB')))} tasks, ${fmt(median(col(t1.mesh, 'mainCpuMsPerMiB')))} CPU)`,
    `ratio ${fmt(100 * median(ratios), 0)} % (${range(ratios.map((r) => 100 * r), 0)} %), goal ≥ 90 %; `
      + `main thread ${fmt(median(col(t1.mesh, 'mainMsPerMiB')) / median(col(t1.raw, 'mainMsPerMiB')), 1)}× raw's `
      + `(CPU ${fmt(median(col(t1.mesh, 'mainCpuMsPerMiB')) / median(col(t1.raw, 'mainCpuMsPerMiB')), 1)}×), goal ≤ 2×; `
      + `${t1.failures.length} of ${RUNS} failed`],
  ['(2) 100 KiB from warm peer', `p50 ${fmt(median(t2.peer), 2)} ms, p90 ${fmt(quantile(t2.peer, 0.9), 2)} (n=${t2.peer.length})`,
    fmt(t2.cpuMsPerMiB.peer),
    `goal p50 ≤ 5 ms and below the origin's: ${fmt(median(t2.peer) - median(t2.origin), 2)} ms from it; ${t2.failures.length} failed`],
  ['(2) 100 KiB from origin', `p50 ${fmt(median(t2.origin), 2)} ms, p90 ${fmt(quantile(t2.origin, 0.9), 2)} (n=${t2.origin.length})`,
    fmt(t2.cpuMsPerMiB.origin), ''],
  ['(2) 100 KiB over the raw channel', `p50 ${fmt(median(t2.raw), 2)} ms, + SHA-256 p50 ${fmt(median(t2.rawVerified), 2)} ms (n=${t2.raw.length})`,
    '', 'the floor: request, 7 messages, WebCrypto'],
  ['(3) new node: fetch → first byte', `p50 ${fmt(median(col(okDials, 'firstByteMs')))} ms, p90 ${fmt(quantile(col(okDials, 'firstByteMs'), 0.9))}, max ${fmt(Math.max(...col(okDials, 'firstByteMs')))}`,
    '', 'goal p50 ≤ 80 ms'],
  ['(3) new node: fetch → peer ready', `p50 ${fmt(median(col(okDials, 'peerReadyMs').filter((x) => x !== null)))} ms`, '', ''],
  ['(3) dials failed / hung', `${failed} / ${hangs} of ${dials.length}`, '', `goal 0 of 500; ${fmt(report.dialSeconds, 0)} s; relay denials: see below`],
];
const header = ['measure', 'result (median, range over runs)', 'CPU ms/MiB (all Chromium)', 'note'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
console.log();
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of rows) console.log(line(r));
console.log(`\nnodes run in: ${report.runsIn} (worker option ${JSON.stringify(WORKER)}, MESH_BENCH_WORKER)`);
console.log(`runs: ${RUNS}; load average start ${report.loadavgStart}, end ${report.loadavgEnd}`);
console.log(`relay events: ${report.relayEvents.join(', ')}`);
console.log(`peer sources (2): ${JSON.stringify(t2.peerSources)}, origin sources: ${JSON.stringify(t2.originSources)}`);
if (process.env.MESH_BENCH_JSON) writeFileSync(process.env.MESH_BENCH_JSON, JSON.stringify(report, null, 2));
