// The WebRTC bridge of a node in a worker (crates/mesh-wasm/js/rtc-proxy.js in the worker,
// rtc-host.js in the window), its two halves wired to each other in one Node process, the
// window's WebRTC objects replaced by scripted ones: what the node sees of a data channel
// (states, messages, `bufferedAmount`, `bufferedamountlow`) must be what the window's channel
// does, in order. Deterministic: no timers, the only waits are for queued messages to be
// delivered. Real WebRTC through the bridge is tested end to end (tests/e2e, package tests).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostRtc } from '../../crates/mesh-wasm/js/rtc-host.js';
import { installRtcProxy } from '../../crates/mesh-wasm/js/rtc-proxy.js';

/** The window's data channel, scripted: the test sets `bufferedAmount` and fires events. */
class ScriptedChannel {
  constructor(label, init = {}) {
    this.label = label;
    this.id = init.negotiated ? init.id : null;
    this.readyState = 'connecting';
    this.bufferedAmount = 0;
    this.bufferedAmountLowThreshold = 0;
    this.sent = [];
  }

  send(data) {
    if (this.readyState !== 'open') throw new Error('not open');
    this.sent.push(data);
    this.bufferedAmount += data.byteLength;
  }

  close() { this.readyState = 'closing'; }

  /** The browser sent `n` bytes on: fires `bufferedamountlow` if that crossed the threshold. */
  drain(n) {
    const before = this.bufferedAmount;
    this.bufferedAmount -= n;
    if (before > this.bufferedAmountLowThreshold && this.bufferedAmount <= this.bufferedAmountLowThreshold) {
      this.onbufferedamountlow?.({});
    }
  }
}

class ScriptedPeerConnection {
  static made = [];

  constructor(config) {
    this.config = config;
    this.channels = [];
    this.connectionState = 'new';
    this.sctp = null;
    ScriptedPeerConnection.made.push(this);
  }

  createDataChannel(label, init) {
    const dc = new ScriptedChannel(label, init);
    this.channels.push(dc);
    return dc;
  }

  close() { this.connectionState = 'closed'; }
}

/** Messages posted and not delivered yet, both directions, in the order they were posted. */
const inFlight = [];

/**
 * Both halves wired to each other, each message delivered as the browser would: later (by
 * `settled`), in order. Returns the worker's global (with the stand-ins on it) and the count of
 * messages the window sent the worker.
 */
function wire() {
  globalThis.RTCPeerConnection = ScriptedPeerConnection;
  const scope = { constructor: class WorkerScope {} };
  const counts = { toWorker: 0 };
  const host = hostRtc({
    postMessage: (data) => {
      counts.toWorker += 1;
      inFlight.push(() => proxy.handle(data));
    },
  });
  scope.postMessage = (data) => inFlight.push(() => host.handle(data));
  const proxy = installRtcProxy(scope);
  return { scope, counts };
}

/** Delivers messages until none is on its way: each side's batch goes out at the end of its
 * task (a microtask), and the host answers promise calls asynchronously, so every delivery is
 * followed by a turn of the event loop before the queue is looked at again. */
async function settled() {
  for (;;) {
    await new Promise((resolve) => { setImmediate(resolve); });
    if (inFlight.length === 0) return;
    while (inFlight.length > 0) inFlight.shift()();
  }
}

test('a channel opened by the node: open, messages both ways, close, in order', async () => {
  const { scope } = wire();
  const pc = new scope.RTCPeerConnection({ iceServers: [] });
  const dc = pc.createDataChannel('', { negotiated: false });
  const seen = [];
  dc.onopen = () => seen.push('open');
  dc.onmessage = (e) => seen.push(`message ${new Uint8Array(e.data).join(',')}`);
  dc.onclose = () => seen.push('close');
  await settled();
  const real = ScriptedPeerConnection.made.at(-1).channels[0];
  assert.equal(dc.readyState, 'connecting');
  assert.throws(() => dc.send(new Uint8Array([1])), /connecting/);

  real.readyState = 'open';
  real.id = 3;
  real.onopen();
  for (const bytes of [[1, 2], [3]]) real.onmessage({ data: new Uint8Array(bytes).buffer });
  await settled();
  assert.deepEqual(seen, ['open', 'message 1,2', 'message 3']);
  assert.equal(dc.readyState, 'open');
  assert.equal(dc.id, 3);

  // A view of a larger buffer (as wasm memory is): only the viewed bytes go, copied.
  const memory = new Uint8Array([9, 9, 7, 8, 9]);
  dc.send(memory.subarray(2, 4));
  memory[2] = 0;
  await settled();
  assert.deepEqual([...new Uint8Array(real.sent[0])], [7, 8]);

  dc.close();
  assert.equal(dc.readyState, 'closing');
  await settled();
  assert.equal(real.readyState, 'closing');
  real.readyState = 'closed';
  real.onclose();
  await settled();
  assert.deepEqual(seen.at(-1), 'close');
  assert.equal(dc.readyState, 'closed');
});

test('bufferedamountlow fires in the worker when its count crosses the threshold, however the window drains', async () => {
  const { scope, counts } = wire();
  const pc = new scope.RTCPeerConnection({});
  const dc = pc.createDataChannel('');
  let lows = 0;
  dc.onbufferedamountlow = () => { lows += 1; };
  dc.bufferedAmountLowThreshold = 100;
  await settled();
  const real = ScriptedPeerConnection.made.at(-1).channels[0];
  assert.equal(real.bufferedAmountLowThreshold, 100, 'the threshold reaches the window');
  real.readyState = 'open';
  real.onopen();
  await settled();

  // The worker's count is what it sent and the window has not reported sent on. Below the
  // threshold the whole time: no report, no event (as in a window).
  const before = counts.toWorker;
  dc.send(new Uint8Array(40));
  await settled();
  real.drain(40);
  await settled();
  assert.equal(lows, 0);
  assert.equal(counts.toWorker, before, 'no drain report while the worker\'s count stays low');
  assert.equal(dc.bufferedAmount, 40, 'an over-count below the threshold is harmless');

  // Above it: the count holds until the window's buffer crosses the threshold; the window's
  // event then brings it to the real figure and the worker's event fires once.
  dc.send(new Uint8Array(120));
  dc.send(new Uint8Array(120));
  assert.equal(dc.bufferedAmount, 280);
  await settled();
  assert.equal(real.bufferedAmount, 240);
  assert.equal(dc.bufferedAmount, 280, 'nothing reported while the window is above the threshold');
  real.drain(140);
  await settled();
  assert.equal(dc.bufferedAmount, 100, 'the real figure');
  assert.equal(lows, 1);

  // The window's buffer drains without crossing (no event there), then a send lands on a buffer
  // already below the threshold: the window reports at that send, since no event will come.
  real.drain(100);
  dc.send(new Uint8Array(50));
  assert.equal(dc.bufferedAmount, 150);
  await settled();
  assert.equal(real.bufferedAmount, 50);
  assert.equal(dc.bufferedAmount, 50);
  assert.equal(lows, 2);

  // A send still on its way when the window's event comes: the worker's count includes it, as
  // a window's would (its send is synchronous): 50 + 60 is above the threshold, so no event
  // yet, in the worker as there. It comes when the window's buffer really crosses.
  dc.send(new Uint8Array(200));
  await settled();
  dc.send(new Uint8Array(60));
  real.drain(200); // 250 → 50: the window's event, before the 60 bytes reach it
  await settled();
  assert.equal(real.bufferedAmount, 110);
  assert.equal(dc.bufferedAmount, 110);
  assert.equal(lows, 2);
  real.drain(10);
  await settled();
  assert.equal(dc.bufferedAmount, 100);
  assert.equal(lows, 3);
});

test('a channel the remote opened reaches the node before its messages; pc.close closes it here', async () => {
  const { scope } = wire();
  const pc = new scope.RTCPeerConnection({});
  const got = [];
  pc.ondatachannel = (e) => {
    got.push(`channel ${e.channel.label} ${e.channel.readyState}`);
    e.channel.onmessage = (m) => got.push(`message ${m.data.byteLength}`);
  };
  await settled();
  const realPc = ScriptedPeerConnection.made.at(-1);
  const remote = new ScriptedChannel('stream');
  remote.readyState = 'open';
  realPc.ondatachannel({ channel: remote });
  remote.onmessage({ data: new ArrayBuffer(5) });
  await settled();
  assert.deepEqual(got, ['channel stream open', 'message 5']);

  realPc.connectionState = 'connected';
  realPc.onconnectionstatechange();
  await settled();
  assert.equal(pc.connectionState, 'connected');
  pc.close();
  assert.equal(pc.connectionState, 'closed');
  await settled();
  assert.equal(realPc.connectionState, 'closed');
});
