// Runs a command with the real servers the browser tests talk to, then stops them:
//
//   node tests/browser/lib/with-servers.mjs <command> [args...]
//
// - mesh-origin serving a generated fixture site (Range, CORS, manifest at
//   /.well-known/mesh/manifest.json)            http://127.0.0.1:BASE+1
// - bootstrap-node: TCP BASE+5, WebSocket and WebRTC-direct BASE+2, HTTP /addrs BASE+3
// - a native seeder (`mesh seed`, WebSocket BASE+4) holding peer.bin and peer-small.txt
// - a stalled provider (WebSocket 127.0.0.2:BASE+6): a seeder of stalled.bin, frozen with
//   SIGSTOP once it listens, so its provider record stays but it never answers (the "dead peer"
//   a fetch must not wait on). On its own loopback address because Firefox lets only one
//   WebSocket handshake per IP address run at a time (RFC 6455 section 4.1): a tab's dial of it
//   (its TCP connect succeeds, its handshake never ends) would hold up every later WebSocket to
//   127.0.0.1, the bootstrap node's included.
//
// Ports are fixed (BASE = $MESH_TEST_PORT_BASE, default 47810) so the wasm tests, which cannot
// read the environment at run time, are built once with them; the command gets
// MESH_TEST_ORIGIN, MESH_TEST_BOOTSTRAP_HTTP, MESH_TEST_FIXTURES and MESH_TEST_LOGS in its
// environment too. Exits with the command's status; with CI set, a failure prints the tail of
// every server log. Binaries come from the debug build, which must exist first
// (`cargo build -p bootstrap-node -p mesh-cli -p mesh-origin`).
import { spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { accessSync, constants, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { binary, startBootstrap, startOrigin, startSeeder, waitForGauge } from './harness.mjs';

const PROFILE = 'debug';
const BASE = Number(process.env.MESH_TEST_PORT_BASE ?? 47810);

/**
 * The fixture site: name -> [size, seed]. Deterministic bytes (AES-CTR keystream of the seed),
 * so a failure reproduces; distinct seeds, so no two files share a CID.
 */
const FIXTURES = {
  'origin-only.txt': [1000, 1], // nobody provides it
  'peer.bin': [1_300_000, 2], // 5 leaves + root: held by the seeder
  'peer-small.txt': [5000, 3], // one block, held by the seeder
  'stalled.bin': [70_000, 4], // held by a frozen provider
  // cache-budget test: 4 x 600 KB, 1 MiB budget
  ...Object.fromEntries([0, 1, 2, 3].map((i) => [`cache-${i}.bin`, [600_000, 10 + i]])),
  'other.bin': [1000, 5], // integrity test: served under another CID
  'upload.txt': [2000, 6], // upload-budget test: held by a tab only
  'tab-to-tab.bin': [3 << 20, 7], // tab-to-tab over /webrtc: origin, then a tab
  'seeder-leaves.bin': [3 << 20, 8], // the seeding tab closes mid-transfer
  'warm.txt': [3000, 9], // warm connections: a tab holds it before it is asked
};

const say = (message) => console.log(`==> ${message}`);
const die = (message) => {
  console.error(`error: ${message}`);
  process.exit(1);
};

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function portInUse(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

function writeFixtures(site) {
  mkdirSync(site, { recursive: true });
  for (const [name, [size, seed]] of Object.entries(FIXTURES)) {
    const key = createHash('sha256').update(`mesh-fixture-${seed}`).digest();
    const bytes = createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
    writeFileSync(join(site, name), bytes);
  }
}

/** Runs `argv` with `env` added, inheriting stdio; resolves with a shell-style exit status. */
function run(argv, env, onChild) {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit', env: { ...process.env, ...env } });
    onChild(child);
    child.once('error', (e) => { console.error(`error: ${argv[0]}: ${e.message}`); resolve(127); });
    child.once('exit', (code, signal) => resolve(code ?? 128 + (osConstants.signals[signal] ?? 0)));
  });
}

/** Prints the last `n` lines of every log in `dir`, as a failed CI run's evidence. */
function printLogs(dir, n = 40) {
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.log')).sort()) {
    const lines = readFileSync(join(dir, name), 'utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    console.log(`\n---- ${join(dir, name)} (last ${n} lines)`);
    console.log(lines.slice(-n).join('\n'));
  }
}

async function main(argv) {
  if (argv.length === 0) die('usage: node tests/browser/lib/with-servers.mjs <command> [args...]');
  for (const name of ['bootstrap-node', 'mesh', 'mesh-origin']) {
    try {
      accessSync(binary(name, PROFILE), constants.X_OK);
    } catch {
      die(`${binary(name, PROFILE)} is missing: cargo build -p bootstrap-node -p mesh-cli -p mesh-origin`);
    }
  }
  for (let port = BASE + 1; port <= BASE + 6; port++) {
    if (await portInUse(port)) die(`port ${port} is in use (set MESH_TEST_PORT_BASE to move the test servers)`);
  }

  const work = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'mesh-browser-test.'));
  const servers = [];
  let frozen = null;
  let command = null;
  let stopping = null;
  const cleanup = () => {
    stopping ??= (async () => {
      if (frozen) process.kill(frozen.child.pid, 'SIGCONT');
      await Promise.all(servers.map((s) => s.stop()));
      rmSync(work, { recursive: true, force: true });
    })();
    return stopping;
  };
  // Ctrl-C or a kill: the command gets the signal, the servers are stopped either way.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      if (command) {
        command.kill(signal);
      } else {
        cleanup().then(() => process.exit(128 + osConstants.signals[signal]));
      }
    });
  }

  try {
    const site = join(work, 'site');
    writeFixtures(site);
    const log = (name) => join(work, `${name}.log`);

    say(`origin on :${BASE + 1}`);
    servers.push(await startOrigin({ root: site, port: BASE + 1, logFile: log('origin'), profile: PROFILE }));

    say(`bootstrap node on :${BASE + 5} (tcp), :${BASE + 2} (ws, webrtc-direct), :${BASE + 3} (http)`);
    const bootstrap = await startBootstrap({ dataDir: join(work, 'bootstrap'), tcp: BASE + 5, ws: BASE + 2,
      http: BASE + 3, logFile: log('bootstrap'), profile: PROFILE });
    servers.push(bootstrap);

    say(`seeder on :${BASE + 4} (ws)`);
    servers.push(await startSeeder({ files: [join(site, 'peer.bin'), join(site, 'peer-small.txt')],
      bootstrap: bootstrap.tcpAddr, port: BASE + 4, logFile: log('seeder'), name: 'the seeder', profile: PROFILE }));

    say(`stalled provider on 127.0.0.2:${BASE + 6} (ws), frozen once announced`);
    const staller = await startSeeder({ files: [join(site, 'stalled.bin')], bootstrap: bootstrap.tcpAddr,
      host: '127.0.0.2', port: BASE + 6, logFile: log('staller'), name: 'the stalled provider', profile: PROFILE });
    servers.push(staller);
    // Both seeders' records stored: freezing the staller earlier could lose its announcement.
    await waitForGauge(bootstrap.httpUrl, 'bootstrap_provider_peers', 2);
    process.kill(staller.child.pid, 'SIGSTOP');
    frozen = staller;

    const env = {
      MESH_TEST_ORIGIN: `http://127.0.0.1:${BASE + 1}`,
      MESH_TEST_BOOTSTRAP_HTTP: bootstrap.httpUrl,
      MESH_TEST_FIXTURES: site,
      MESH_TEST_LOGS: work,
    };
    say(`running: ${argv.join(' ')}`);
    const status = await run(argv, env, (child) => { command = child; });
    if (status !== 0 && process.env.CI) printLogs(work);
    return status;
  } catch (e) {
    console.error(`error: ${e.message}`);
    return 1;
  } finally {
    await cleanup();
  }
}

process.exit(await main(process.argv.slice(2)));
