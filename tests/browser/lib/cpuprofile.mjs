// Summaries of V8 CPU profiles (CDP `Profiler.stop`, the `.cpuprofile` DevTools loads): self
// time by where it was spent, so a benchmark can say where each millisecond of a request went.
//
// Wasm frames carry the function names of the module's name section (a package built with
// MESH_NPM_NAMES=1, scripts/build-npm.sh): Rust paths such as
// `sha2::sha256::soft::compress` or `<libp2p_swarm::Swarm<T> as Stream>::poll_next`, grouped by
// the crate that defines the function. JS frames are grouped by file; V8's own pseudo-frames
// ((garbage collector), (program), (idle)) stand for themselves.

/** Longest time between two samples still counted as the sampled frame's own (the benchmark
 * samples every 0.1 ms). A longer gap means the sampler could not interrupt the thread: it was
 * off a core (blocked in a synchronous call, or waiting for a core on a busy machine). That
 * time is wall time under the frame before the gap, not CPU spent in it. */
export const GAP_MS = 1;

/** Self time in ms of every node of `profile`, from its samples and their time deltas; and,
 * per node, the part of it that came in gaps over `GAP_MS`. */
function selfTimes(profile) {
  const self = new Map();
  const gaps = new Map();
  const { samples = [], timeDeltas = [] } = profile;
  // A sample's time is the delta to the next one (the last sample gets none).
  for (let i = 0; i < samples.length - 1; i++) {
    const ms = (timeDeltas[i + 1] ?? 0) / 1000;
    self.set(samples[i], (self.get(samples[i]) ?? 0) + ms);
    if (ms > GAP_MS) gaps.set(samples[i], (gaps.get(samples[i]) ?? 0) + ms - GAP_MS);
  }
  return { self, gaps };
}

/** The crate that defines a Rust function, from its (demangled) path. */
export function rustCrate(name) {
  let n = name.trim();
  // `<A as B>::f` and `<A>::f`: the impl's self type names the code's crate.
  while (n.startsWith('<')) n = n.slice(1);
  // Generic helpers of core/alloc instantiated for another crate's type stay core/alloc:
  // that is where the code is, and what a smaller build would have to avoid.
  const m = /^([A-Za-z_][A-Za-z0-9_]*)::/.exec(n);
  return m ? m[1] : null;
}

/** Where a frame's time goes: a group name for the summary table. */
export function groupOf(frame) {
  const { functionName: fn, url, scriptId } = frame;
  if (!url && fn.startsWith('(')) return fn; // (garbage collector), (program), (idle), (root)
  // Browser built-ins (no script): each is its own row, they are few and telling
  // (RTCDataChannel's send, createDataChannel, close; IndexedDB's put; the wasm-to-js stubs).
  if (String(scriptId) === '0') return `browser: ${fn || '(anonymous)'}`;
  if (url.startsWith('wasm://') || url.split('?')[0].endsWith('.wasm')) {
    const crate = rustCrate(fn);
    if (crate === 'core' || crate === 'alloc' || crate === 'std') return 'wasm: core/alloc/std';
    if (crate) return `wasm: ${crate}`;
    return 'wasm: (unnamed)';
  }
  // Scripts without a URL are the benchmark's own page code (playwright's evaluate).
  const file = url.split('?')[0].split('/').pop() || '(benchmark page)';
  return `js: ${file}`;
}

/**
 * Self time by group and by function. `wallMs` is the profile's span; `busyMs` the sampled time
 * that was not idle.
 */
export function summarize(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const groups = new Map();
  const functions = new Map();
  const functionGaps = new Map();
  let busyMs = 0;
  let gapMs = 0;
  const { self, gaps } = selfTimes(profile);
  for (const [id, ms] of self) {
    const frame = byId.get(id).callFrame;
    const group = groupOf(frame);
    groups.set(group, (groups.get(group) ?? 0) + ms);
    const key = `${frame.functionName || '(anonymous)'} [${group}]`;
    functions.set(key, (functions.get(key) ?? 0) + ms);
    if (group === '(idle)') continue;
    busyMs += ms;
    const gap = gaps.get(id) ?? 0;
    gapMs += gap;
    functionGaps.set(key, (functionGaps.get(key) ?? 0) + gap);
  }
  const sortDesc = (m) => [...m].sort((a, b) => b[1] - a[1]);
  return {
    wallMs: (profile.endTime - profile.startTime) / 1000,
    busyMs,
    /** Of `busyMs`, the time in sampler gaps over `GAP_MS` (off a core; see there). */
    gapMs,
    groups: sortDesc(groups),
    functions: sortDesc(functions),
    /** Per function key, the part of its self time that came in gaps. */
    functionGaps,
  };
}

/** Self time of the browser built-in `name` where the frame that called it is in a script
 * whose URL ends with `caller`, in ms: e.g. WebCrypto's `digest` called by the node's glue
 * (mesh_wasm.js), told apart from the same built-in called by the page. */
export function builtinMsFrom(profile, name, caller) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n);
  let total = 0;
  for (const [id, ms] of selfTimes(profile).self) {
    const node = byId.get(id);
    if (node.callFrame.functionName !== name || node.callFrame.url) continue;
    if (parentOf.get(id)?.callFrame.url.endsWith(caller)) total += ms;
  }
  return total;
}

/** Self time of one group, in ms. */
export function groupMs(summary, group) {
  return summary.groups.find(([g]) => g === group)?.[1] ?? 0;
}

/**
 * A markdown table: one row per group (the `top` largest over all columns), ms per unit (e.g.
 * per request) for each named summary.
 */
export function table(columns, { per = 1, unit = 'ms', top = 16 } = {}) {
  const names = Object.keys(columns);
  const total = new Map();
  for (const s of Object.values(columns)) {
    for (const [g, ms] of s.groups) total.set(g, (total.get(g) ?? 0) + ms);
  }
  const groups = [...total].filter(([g]) => g !== '(idle)').sort((a, b) => b[1] - a[1]);
  const shown = groups.slice(0, top).map(([g]) => g);
  const cell = (s, g) => {
    const ms = s.groups.find(([x]) => x === g)?.[1] ?? 0;
    return (ms / per).toFixed(2);
  };
  const rest = (s) => {
    const ms = s.groups.filter(([g]) => g !== '(idle)' && !shown.includes(g)).reduce((a, [, m]) => a + m, 0);
    return (ms / per).toFixed(2);
  };
  const lines = [
    `| where (self time) | ${names.map((n) => `${n}, ${unit}`).join(' | ')} |`,
    `|---|${names.map(() => '---:').join('|')}|`,
    ...shown.map((g) => `| ${g} | ${names.map((n) => cell(columns[n], g)).join(' | ')} |`),
    `| everything else | ${names.map((n) => rest(columns[n])).join(' | ')} |`,
    `| **busy (all but idle)** | ${names.map((n) => `**${(columns[n].busyMs / per).toFixed(2)}**`).join(' | ')} |`,
    `| of which in sampler gaps over ${GAP_MS} ms (off a core, counted above under the frame before the gap) | ${names.map((n) => (columns[n].gapMs / per).toFixed(2)).join(' | ')} |`,
  ];
  return lines.join('\n');
}
