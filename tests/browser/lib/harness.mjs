// The one place that starts the real servers (origin, bootstrap node, native seeder) as child
// processes that are ready once they print their address, shared by the browser tests' server
// set (with-servers.mjs), the end-to-end suite (tests/e2e), the npm package test and the swarm
// demo's tab driver (scripts/demo-swarm.mjs); also launches the one headless Chromium and opens
// tabs (one browser context each, so one mesh node each) able to use WebRTC on loopback.
// Resolves playwright-core from tests/browser/node_modules (scripts/lib.sh's npm_ci_if_stale
// installs it) only when a browser is launched, so starting servers needs no npm install.
//
// WebRTC between tabs on loopback needs all three of: running inside a network namespace whose
// only interface is loopback (`unshare -n`, done by the calling shell script), Chromium's
// --allow-loopback-in-peer-connection, and camera+microphone permission for the page
// (shared/NOTES.md); without them no ICE candidate is gathered and tabs never connect.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** Chromium to drive: $CHROMIUM, default Debian's. */
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
/** Flags that keep Chromium quiet on a machine without internet (shared/NOTES.md). */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** What tab-to-tab WebRTC on loopback needs on top (with camera+microphone permission). */
export const WEBRTC_ARGS = ['--allow-loopback-in-peer-connection',
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'];

/** $CARGO_TARGET_DIR/<profile>/<name>, the way scripts/lib.sh defaults the target dir. */
export function binary(name, profile = process.env.MESH_PROFILE ?? 'release') {
  const target = process.env.CARGO_TARGET_DIR ?? join(homedir(), '.cache', 'mesh-target');
  return join(target, profile, name);
}

/**
 * Launches the one headless Chromium every tab of a run shares. `spki` (base64 SHA-256 of a
 * certificate's public key, see originCertificate) makes it accept that certificate, and only
 * it, as if a trusted CA had issued it: how tabs load an HTTPS origin with a self-signed
 * certificate. (Chromium honours the flag only with a --user-data-dir, which Playwright passes.)
 */
export async function launchChromium({ spki } = {}) {
  const { chromium } = await import('playwright-core');
  const tls = spki ? [`--ignore-certificate-errors-spki-list=${spki}`] : [];
  return chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, ...WEBRTC_ARGS, ...tls] });
}

/**
 * The origin's self-signed certificate kept in `dir` (mesh-origin --tls-self-signed DIR makes it
 * at its first start and reuses it after, so one Chromium trusts every origin of a run):
 * { dir, spki, ca }. Made now, by starting an origin over an empty site, when `dir` has none.
 */
export async function originCertificate(dir) {
  if (!existsSync(join(dir, 'spki-sha256.txt'))) {
    const empty = mkdtempSync(join(tmpdir(), 'mesh-empty-site-'));
    try {
      await (await startOrigin({ root: empty, tlsDir: dir })).stop();
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  }
  return { dir, ...readCertificate(dir) };
}

/** { spki, ca } of the certificate mesh-origin --tls-self-signed keeps in `dir`. */
function readCertificate(dir) {
  return { spki: readFileSync(join(dir, 'spki-sha256.txt'), 'utf8').trim(), ca: readFileSync(join(dir, 'cert.pem')) };
}

/**
 * Opens a tab in its own browser context (its own storage, so its own mesh node), allowed to
 * gather loopback ICE candidates. `init` is a function run in the page before any of its
 * scripts (Playwright's addInitScript). The page's console goes to `log` with a prefix.
 */
export async function openTab(browser, url, { name = 'tab', init, log = () => {}, viewport } = {}) {
  const context = await browser.newContext({ viewport: viewport ?? { width: 1400, height: 1000 } });
  await context.grantPermissions(['camera', 'microphone']);
  if (init) await context.addInitScript(init);
  const page = await context.newPage();
  page.on('console', (m) => log(`[${name} ${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => log(`[${name} page error] ${e.message}`));
  if (url) await page.goto(url);
  return page;
}

/**
 * The Resource Timing entries of `page` and of its workers (a mesh node in a worker makes its
 * origin requests from there, so they are the worker's entries), with their times on one clock:
 * ms since the epoch (`responseStart` 0 when the entry has none).
 */
export async function resourceTimings(page) {
  const read = () => performance.getEntriesByType('resource').map((e) => ({
    name: e.name,
    startTime: performance.timeOrigin + e.startTime,
    responseStart: e.responseStart > 0 ? performance.timeOrigin + e.responseStart : 0,
    nextHopProtocol: e.nextHopProtocol,
    encodedBodySize: e.encodedBodySize,
  }));
  const scopes = [page, ...page.workers()];
  return (await Promise.all(scopes.map((scope) => scope.evaluate(read)))).flat();
}

/** Waits for the demo page (www/demo) to finish loading; returns its `window.demo` summary. */
export async function demoDone(page, timeout = 60_000) {
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.demoState), null, { timeout });
  return page.evaluate(async () => {
    const d = window.demo;
    return {
      state: document.body.dataset.demoState,
      status: document.getElementById('status').textContent,
      error: d.error ?? null,
      stats: d.mesh ? await d.mesh.stats() : null,
      records: d.records,
      large: d.large,
      loadMs: d.loadMs,
      galleryMs: d.galleryMs,
      readyMs: d.readyMs ?? null,
      attachErrors: d.attachErrors,
      tbtMs: d.tbtMs ?? null,
      longTasks: d.longTasks ?? null,
    };
  });
}

/**
 * A child process that is ready once a line of its stdout or stderr matches `ready` (a RegExp).
 * Its output goes to `logFile` when given. Resolves with { child, match, stop }.
 */
export function startProcess(cmd, args, { ready, name = cmd, logFile, timeoutMs = 30_000 }) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  if (logFile) mkdirSync(dirname(logFile), { recursive: true });
  const log = logFile ? createWriteStream(logFile, { flags: 'a' }) : null;
  const lines = [];
  const stop = async (signal = 'SIGTERM') => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not print ${ready} within ${timeoutMs} ms:\n${lines.slice(-20).join('\n')}`));
    }, timeoutMs);
    let done = false;
    const onLine = (line) => {
      log?.write(`${line}\n`);
      if (lines.length < 200) lines.push(line);
      const m = done ? null : ready.exec(line);
      if (m) {
        done = true;
        clearTimeout(timer);
        resolve({ child, match: m, stop, name });
      }
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.once('exit', (code, sig) => {
      if (!done) {
        clearTimeout(timer);
        reject(new Error(`${name} exited (${code ?? sig}) before it was ready:\n${lines.slice(-20).join('\n')}`));
      }
    });
  });
}

/**
 * mesh-origin serving `root` (and `mounts`, { '/pkg': dir }) on 127.0.0.1:`port` (0: any),
 * from the `profile` build (default $MESH_PROFILE or release); with `tlsDir`, over HTTPS
 * (HTTP/2 or HTTP/1.1 by ALPN) with the self-signed certificate kept there.
 * Resolves with { url, stop, control(path, method), tls: { spki, ca } | null }.
 */
export async function startOrigin({ root, mounts = {}, port = 0, latencyMs = 0, tlsDir, logFile, profile }) {
  const args = ['--root', root, '--listen', `127.0.0.1:${port}`, '--latency-ms', String(latencyMs)];
  for (const [prefix, dir] of Object.entries(mounts)) args.push('--mount', `${prefix}=${dir}`);
  if (tlsDir) args.push('--tls-self-signed', tlsDir);
  const p = await startProcess(binary('mesh-origin', profile), args, { ready: /^listening (https?:\/\/\S+?)\/?$/, name: 'mesh-origin', logFile });
  const url = p.match[1];
  const tls = tlsDir ? readCertificate(tlsDir) : null;
  const control = (path, method = 'GET') => requestJson(`${url}/_origin/${path}`, method, tls?.ca);
  return { ...p, url, control, tls };
}

/** `method` `url` and its JSON body; over HTTPS trusting only `ca` (Node's fetch takes no CA). */
async function requestJson(url, method, ca) {
  if (!ca) return (await fetch(url, { method })).json();
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch (e) {
          reject(new Error(`${method} ${url}: ${res.statusCode}, not JSON: ${body.slice(0, 200)} (${e.message})`));
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * The bootstrap node on fixed ports (so a restart keeps its addresses; its key and WebRTC
 * certificate persist in `dataDir`): TCP `tcp`, WebSocket and WebRTC-direct `ws`, HTTP `http`
 * (by default `base`, `base+1`, `base+2`). Resolves with { tcpAddr, httpUrl, addrsUrl, stop }.
 */
export async function startBootstrap({ dataDir, base, tcp = base, ws = base + 1, http = base + 2, logFile, profile }) {
  const listen = [`/ip4/127.0.0.1/tcp/${tcp}`, `/ip4/127.0.0.1/tcp/${ws}/ws`,
    `/ip4/127.0.0.1/udp/${ws}/webrtc-direct`].join(',');
  const p = await startProcess(binary('bootstrap-node', profile), ['--data-dir', dataDir, '--announce-listen-addrs',
    '--listen', listen, '--http-listen', `127.0.0.1:${http}`],
  { ready: new RegExp(`(/ip4/127\\.0\\.0\\.1/tcp/${tcp}/p2p/[A-Za-z0-9]+)`), name: 'bootstrap-node', logFile });
  const httpUrl = `http://127.0.0.1:${http}`;
  // The HTTP side may come up a moment after the swarm printed its address.
  let healthy = false;
  for (let i = 0; i < 100 && !healthy; i++) {
    try {
      healthy = (await fetch(`${httpUrl}/healthz`)).ok;
    } catch { /* not yet */ }
    if (!healthy) await new Promise((r) => setTimeout(r, 50));
  }
  if (!healthy) {
    await p.stop();
    throw new Error(`bootstrap-node: ${httpUrl}/healthz not up within 5 s`);
  }
  return { ...p, tcpAddr: p.match[1], httpUrl, addrsUrl: `${httpUrl}/addrs` };
}

/** The bootstrap node's `/metrics` value `name` (a gauge, or a counter with its `_total`),
 * or NaN when it is not there. */
export async function metric(httpUrl, name) {
  const line = new RegExp(`^${name}(?:_total)? (\\d+)$`, 'm');
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  return Number(line.exec(text)?.[1] ?? NaN);
}

/**
 * Waits until the bootstrap node's `/metrics` gauge `name` reads at least `atLeast`. A seeder
 * prints its addresses once its DHT announcement went out, which is not yet once the bootstrap
 * node stored it: anything that freezes or races a seeder waits for the store instead.
 */
export async function waitForGauge(httpUrl, name, atLeast, timeoutMs = 10_000) {
  const until = Date.now() + timeoutMs;
  let value = null;
  while (Date.now() < until) {
    try {
      value = await metric(httpUrl, name);
      if (value >= atLeast) return value;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`bootstrap-node: ${name} is ${value}, not ${atLeast} or more, after ${timeoutMs} ms`);
}

/**
 * `mesh seed FILES` on WebSocket `host`:`port` (host a loopback address, default 127.0.0.1),
 * announced through `bootstrap` (a multiaddr).
 */
export function startSeeder({ files, bootstrap, host = '127.0.0.1', port, corrupt = false, logFile, name = 'seeder', profile }) {
  const args = ['seed', '--bootstrap', bootstrap, '--listen', `/ip4/${host}/tcp/${port}/ws`];
  if (corrupt) args.push('--serve-corrupt-blocks-for-testing');
  return startProcess(binary('mesh', profile), [...args, ...files], { ready: /^listening /, name, logFile });
}

/** p50 of numbers (null when empty). */
export function median(values) {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
