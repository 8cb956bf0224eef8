// A fresh swarm for one end-to-end scenario: a bootstrap node and the origin (HTTPS with HTTP/2,
// serving www/ with the npm package at /pkg, 80 ms away), on fixed loopback ports so the bootstrap node can be
// restarted at the same address; tabs on the demo page (www/demo) in the one shared Chromium.
// Everything a scenario starts is stopped by `stop()`, even when the scenario failed.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ROOT, demoDone, openTab, startBootstrap, startOrigin, startSeeder,
} from '../../browser/lib/harness.mjs';

export const BASE = Number(process.env.MESH_E2E_PORT_BASE ?? 47900);
export const WWW = join(ROOT, 'www');
export const LARGE = '/demo/big/panorama.bmp';
export const LOGS = process.env.MESH_E2E_LOGS ?? join(tmpdir(), 'mesh-e2e-logs');
/**
 * Where every swarm's origin keeps its self-signed certificate: one for the whole run (and
 * the next ones), because the shared Chromium is told its SPKI hash at launch.
 */
export const TLS_DIR = join(LOGS, 'tls');
const VERBOSE = !!process.env.MESH_E2E_VERBOSE;

/** SHA-256 (hex) of the site file at `path` ('/demo/img/g01.svg'). */
export const sha256Of = (path) => createHash('sha256').update(readFileSync(join(WWW, path))).digest('hex');

/** Counts RTCPeerConnection constructions in `window.rtcCount` (run before the page's scripts). */
export function instrumentRtc() {
  window.rtcCount = 0;
  const Real = window.RTCPeerConnection;
  if (!Real) return;
  const Counted = function RTCPeerConnection(...args) {
    window.rtcCount += 1;
    return new Real(...args);
  };
  Counted.prototype = Real.prototype;
  Object.setPrototypeOf(Counted, Real);
  window.RTCPeerConnection = Counted;
  window.webkitRTCPeerConnection = Counted;
}

export class Swarm {
  constructor(name, browser) {
    this.name = name;
    this.browser = browser;
    this.dataDir = mkdtempSync(join(tmpdir(), `mesh-e2e-${name}-`));
    this.logDir = join(LOGS, name);
    rmSync(this.logDir, { recursive: true, force: true }); // the previous run's
    this.tabs = [];
    this.seeders = [];
  }

  static async start(name, browser, { latencyMs = 80 } = {}) {
    const swarm = new Swarm(name, browser);
    try {
      await swarm.startBootstrap();
      swarm.origin = await startOrigin({
        root: WWW, mounts: { '/pkg': join(ROOT, 'crates/mesh-wasm/pkg') }, port: BASE,
        latencyMs, tlsDir: TLS_DIR, logFile: join(swarm.logDir, 'origin.log'),
      });
    } catch (e) {
      await swarm.stop();
      throw e;
    }
    return swarm;
  }

  async startBootstrap() {
    this.bootstrap = await startBootstrap({ dataDir: this.dataDir, base: BASE + 1, logFile: join(this.logDir, 'bootstrap.log') });
  }

  /** The demo page's URL with `params` (bootstrap filled in). */
  url(params = {}) {
    const q = new URLSearchParams({ bootstrap: this.bootstrap.addrsUrl, iceServers: '[]', ...params });
    return `${this.origin.url}/demo/?${q}`;
  }

  /** Opens a tab on the demo page; `wait` (default true) waits until it finished loading. */
  async tab(params = {}, { wait = true, init = instrumentRtc } = {}) {
    const name = `tab${this.tabs.length + 1}`;
    const page = await openTab(this.browser, this.url(params), {
      name, init, log: VERBOSE ? (l) => console.log(`  ${this.name} ${l}`) : () => {},
    });
    this.tabs.push(page);
    if (!wait) return { page };
    return { page, result: await demoDone(page, 120_000) };
  }

  /** A native seeder of site files (`corrupt`: it lies about every block). */
  async seeder(paths, { corrupt = false } = {}) {
    const s = await startSeeder({
      files: paths.map((p) => join(WWW, p)), bootstrap: this.bootstrap.tcpAddr, port: BASE + 4 + this.seeders.length,
      corrupt, logFile: join(this.logDir, `seeder${this.seeders.length + 1}.log`), name: 'mesh seed',
    });
    s.peerId = /\/p2p\/(\w+)/.exec(s.match.input)?.[1];
    this.seeders.push(s);
    return s;
  }

  async stop() {
    for (const page of this.tabs) await page.context().close().catch(() => {});
    for (const s of this.seeders) await s.stop();
    await this.origin?.stop();
    await this.bootstrap?.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** In the page: waits (bounded) until the tab's mesh stats satisfy `ok`, given as source text. */
export async function waitForStats(page, okSource, timeoutMs = 30_000) {
  return page.evaluate(async ({ okSource, timeoutMs }) => {
    const ok = new Function('s', `return (${okSource});`);
    const end = performance.now() + timeoutMs;
    for (;;) {
      const s = await window.demo.mesh.stats();
      if (ok(s)) return s;
      if (performance.now() > end) throw new Error(`timed out waiting for ${okSource}: ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }, { okSource, timeoutMs });
}

/** In the page: mesh.fetch(path), the whole body hashed; with the summary and the first source. */
export async function fetchAndHash(page, path) {
  return page.evaluate(async (path) => {
    const res = await window.demo.mesh.fetch(path);
    const firstSource = res.headers.get('x-mesh-source');
    const buf = await res.arrayBuffer();
    const sha = [...new Uint8Array(await crypto.subtle.digest('SHA-256', buf))]
      .map((b) => b.toString(16).padStart(2, '0')).join('');
    return { size: buf.byteLength, sha, firstSource, summary: await res.mesh?.summary };
  }, path);
}
