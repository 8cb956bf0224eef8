// The demo page's live dashboard: figures from `mesh.stats()`, the peers the node is connected
// to, where each asset came from, and a chart of time to first byte by source drawn as plain
// SVG (no dependencies). It only renders what it is handed; demo.js feeds it.

const SVG = 'http://www.w3.org/2000/svg';
const SOURCES = ['peer', 'origin', 'cache', 'mixed'];
const COLORS = { peer: '#087e8b', origin: '#c81d25', cache: '#6d597a', mixed: '#e76f51' };

/** "1.2 MiB" */
export function formatBytes(n) {
  if (n == null) return '–';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(2)} MiB`;
}

/** The median of a list of numbers (null when empty). */
export function median(values) {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

const el = (name, attrs = {}, text) => {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text != null) node.textContent = text;
  return node;
};

/** Draws each asset's TTFB as a dot in its source's column, with the median as a bar. */
function drawChart(svg, records) {
  const width = 420;
  const height = 190;
  const left = 40;
  const bottom = 24;
  const top = 10;
  const byS = Object.fromEntries(SOURCES.map((s) => [s, []]));
  for (const r of records) if (r.ttfbMs != null && byS[r.source]) byS[r.source].push(r.ttfbMs);
  const all = Object.values(byS).flat();
  const max = Math.max(50, ...all) * 1.1;
  const y = (ms) => top + (height - top - bottom) * (1 - ms / max);
  const colW = (width - left) / SOURCES.length;
  svg.replaceChildren();
  // Axis and grid lines at round values.
  const step = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000].find((s) => max / s <= 5) ?? 10000;
  for (let v = 0; v <= max; v += step) {
    svg.append(el('line', { x1: left, x2: width, y1: y(v), y2: y(v), stroke: '#e3e6ec' }));
    svg.append(el('text', { x: left - 4, y: y(v) + 4, 'text-anchor': 'end', 'font-size': 10, fill: '#5b6475' }, v));
  }
  SOURCES.forEach((source, i) => {
    const cx = left + colW * i + colW / 2;
    const values = byS[source];
    svg.append(el('text', { x: cx, y: height - 8, 'text-anchor': 'middle', 'font-size': 11, fill: COLORS[source] },
      `${source} (${values.length})`));
    values.forEach((v, j) => {
      // A fixed spread, so the same records draw the same chart.
      const dx = ((j * 37) % 41) - 20;
      svg.append(el('circle', { cx: cx + dx, cy: y(v), r: 3, fill: COLORS[source], 'fill-opacity': 0.6, class: `dot dot-${source}` }));
    });
    const m = median(values);
    if (m != null) {
      svg.append(el('line', { x1: cx - 28, x2: cx + 28, y1: y(m), y2: y(m), stroke: '#1d2330', 'stroke-width': 2, class: `median median-${source}` }));
      svg.append(el('text', { x: cx + 30, y: y(m) - 3, 'font-size': 10, fill: '#1d2330' }, `p50 ${Math.round(m)}`));
    }
  });
}

/** Binds the dashboard to the elements of index.html. */
export function createDashboard(doc = document) {
  const $ = (id) => doc.getElementById(id);
  const peers = new Map();
  const records = new Map();
  let chartDirty = false;

  const drawPeers = () => {
    const list = $('peers');
    list.replaceChildren(...[...peers.entries()].map(([id, kind]) => {
      const li = doc.createElement('li');
      li.textContent = `${kind === 'bootstrap' ? 'bootstrap ' : ''}${id.slice(0, 8)}…${id.slice(-6)}`;
      return li;
    }));
  };

  return {
    /** A `stats` event or `mesh.stats()` result. */
    stats(s) {
      $('peer-id').textContent = s.peerId ? `${s.peerId.slice(0, 10)}…` : (s.degraded ? 'degraded' : '');
      $('f-peers').textContent = s.peers.mesh;
      $('f-offload').textContent = s.offloadRatio == null ? '–' : `${Math.round(s.offloadRatio * 100)} %`;
      $('f-fallbacks').textContent = s.fallbacks;
      $('f-peer').textContent = formatBytes(s.bytes.peer);
      $('f-origin').textContent = formatBytes(s.bytes.origin);
      $('f-served').textContent = formatBytes(s.bytesServed);
      if (chartDirty) {
        chartDirty = false;
        drawChart($('chart'), [...records.values()]);
      }
    },
    /** A `peer` event's detail. */
    peer(change) {
      if (change.state === 'connected') peers.set(change.peer, change.kind);
      else peers.delete(change.peer);
      drawPeers();
    },
    /** One finished asset: { path, source, ttfbMs, size }. */
    asset(r) {
      records.set(r.path, r);
      const tbody = $('assets').tBodies[0];
      const row = doc.createElement('tr');
      row.dataset.path = r.path;
      row.innerHTML = '<td></td><td></td><td class="num"></td><td class="num"></td>';
      row.cells[0].textContent = r.path.replace(/^\/demo\//, '');
      row.cells[1].textContent = r.source;
      row.cells[1].className = `src-${r.source}`;
      row.cells[2].textContent = r.ttfbMs == null ? '–' : Math.round(r.ttfbMs);
      row.cells[3].textContent = formatBytes(r.size);
      tbody.querySelector(`tr[data-path="${CSS.escape(r.path)}"]`)?.remove();
      tbody.append(row);
      chartDirty = true;
    },
    /** Redraws the chart now (the stats tick does it otherwise). */
    flush() {
      chartDirty = false;
      drawChart($('chart'), [...records.values()]);
    },
  };
}
