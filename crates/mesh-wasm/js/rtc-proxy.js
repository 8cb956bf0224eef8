// The worker half of the WebRTC bridge: `RTCPeerConnection` and `RTCDataChannel` stand-ins for
// the node's worker, where the browser has none (WebRTC is window-only).
//
// The node (mesh-webrtc, and libp2p's WebRTC-direct transport) calls the browser's WebRTC API
// through wasm-bindgen, which looks the constructors up on the global object when it calls them.
// `installRtcProxy` puts these classes there; each call becomes a message to the window
// (rtc-host.js), which runs the real objects and sends back their events. Only what the node
// uses is implemented: the `on<event>` handler properties (no addEventListener), the
// properties it reads, and the promise methods of the handshake.
//
// What stays synchronous mirrors the window's objects: states and descriptions arrive with
// the events and replies that change them, in order, on one channel. `bufferedAmount` is this
// side's count: bytes sent minus bytes the window reported drained; the window reports when
// that count may cross `bufferedAmountLowThreshold` downward, so `bufferedamountlow` fires here
// as it would there (at most late, never lost), and a writer waiting for it is woken.
// Payloads move without a copy where the platform allows: the window transfers each received
// message's ArrayBuffer; `send` copies the view it is given (wasm memory) once and transfers it.

/** Error of a bridged call, as the browser would throw it. */
function rtcError({ name, message }) {
  const e = new Error(message);
  e.name = name;
  return e;
}

class ProxyCertificate {
  constructor(key) {
    /** @internal the window's key for the real certificate */
    this.rtcKey = key;
  }
}

class ProxyDataChannel {
  #bridge;

  constructor(bridge, key, label, { id = null, readyState = 'connecting' } = {}) {
    this.#bridge = bridge;
    /** @internal */
    this.key = key;
    this.label = label;
    this.id = id;
    this.readyState = readyState;
    this.binaryType = 'arraybuffer';
    this.onopen = null;
    this.onclose = null;
    this.onclosing = null;
    this.onerror = null;
    this.onmessage = null;
    this.onbufferedamountlow = null;
    /** @internal bytes handed to `send` */
    this.sent = 0;
    /** @internal bytes the window reported sent on (out of its buffer) */
    this.drained = 0;
    this.threshold = 0;
  }

  get bufferedAmount() { return this.sent - this.drained; }

  get bufferedAmountLowThreshold() { return this.threshold; }

  set bufferedAmountLowThreshold(value) {
    this.threshold = value >>> 0;
    this.#bridge.post({ t: 'threshold', dc: this.key, v: this.threshold });
  }

  send(data) {
    if (this.readyState !== 'open') {
      throw rtcError({ name: 'InvalidStateError', message: `data channel is ${this.readyState}` });
    }
    if (typeof data === 'string') {
      this.sent += new TextEncoder().encode(data).byteLength;
      this.#bridge.post({ t: 'send', dc: this.key, d: data });
      return;
    }
    // A view of wasm memory (send_with_u8_array): copied now, as the browser's send does.
    const buffer = ArrayBuffer.isView(data)
      ? data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)
      : data.slice(0);
    this.sent += buffer.byteLength;
    this.#bridge.post({ t: 'send', dc: this.key, d: buffer }, [buffer]);
  }

  close() {
    if (this.readyState === 'closing' || this.readyState === 'closed') return;
    this.readyState = 'closing';
    this.#bridge.post({ t: 'dcclose', dc: this.key });
  }

  /** @internal the window reported `drained` bytes out of its buffer */
  onDrained(drained) {
    const before = this.bufferedAmount;
    this.drained = drained;
    if (before > this.threshold && this.bufferedAmount <= this.threshold) {
      this.onbufferedamountlow?.({ type: 'bufferedamountlow', target: this });
    }
  }
}

/** What a transport's `statechange` handler sees (`pc.sctp`, `pc.sctp.transport`). */
class ProxyTransport {
  constructor(state) {
    this.state = state;
    this.onstatechange = null;
  }

  /** @internal */
  update(state) {
    if (state === this.state) return;
    this.state = state;
    this.onstatechange?.({ type: 'statechange', target: this });
  }
}

class ProxyPeerConnection {
  #bridge;
  #channels = new Set();

  constructor(bridge, config = {}) {
    this.#bridge = bridge;
    this.key = bridge.nextKey();
    this.connectionState = 'new';
    this.iceConnectionState = 'new';
    this.signalingState = 'stable';
    this.localDescription = null;
    this.remoteDescription = null;
    this.sctp = null;
    this.onicecandidate = null;
    this.onconnectionstatechange = null;
    this.ondatachannel = null;
    this.oniceconnectionstatechange = null;
    this.onsignalingstatechange = null;
    const plain = { ...config };
    if (config.certificates) plain.certificates = [...config.certificates].map((c) => c.rtcKey);
    bridge.pcs.set(this.key, this);
    bridge.post({ t: 'pc', pc: this.key, config: plain });
  }

  createDataChannel(label, init = {}) {
    const dc = new ProxyDataChannel(this.#bridge, this.#bridge.nextKey(), String(label), {
      id: init.negotiated ? init.id ?? null : null,
      readyState: this.connectionState === 'closed' ? 'closed' : 'connecting',
    });
    this.#adopt(dc);
    this.#bridge.post({ t: 'dc', pc: this.key, dc: dc.key, label: dc.label, init: { ...init } });
    return dc;
  }

  createOffer() { return this.#bridge.call({ t: 'offer', pc: this.key }); }

  createAnswer() { return this.#bridge.call({ t: 'answer', pc: this.key }); }

  async setLocalDescription(description) {
    const desc = description ? { type: description.type, sdp: description.sdp } : undefined;
    this.#apply(await this.#bridge.call({ t: 'local', pc: this.key, desc }));
  }

  async setRemoteDescription(description) {
    const desc = { type: description.type, sdp: description.sdp };
    this.#apply(await this.#bridge.call({ t: 'remote', pc: this.key, desc }));
  }

  addIceCandidate(candidate) {
    const c = candidate == null ? null : {
      candidate: candidate.candidate, sdpMid: candidate.sdpMid,
      sdpMLineIndex: candidate.sdpMLineIndex, usernameFragment: candidate.usernameFragment,
    };
    return this.#bridge.call({ t: 'ice', pc: this.key, c });
  }

  close() {
    if (this.connectionState === 'closed') return;
    this.connectionState = 'closed';
    this.signalingState = 'closed';
    for (const dc of this.#channels) {
      dc.readyState = 'closed';
      this.#bridge.dcs.delete(dc.key);
    }
    this.#channels.clear();
    this.#bridge.pcs.delete(this.key);
    this.#bridge.post({ t: 'pcclose', pc: this.key });
  }

  static generateCertificate(algorithm) {
    return bridgeOf(this).call({ t: 'cert', algorithm }).then((key) => new ProxyCertificate(key));
  }

  /** @internal */
  #adopt(dc) {
    this.#channels.add(dc);
    this.#bridge.dcs.set(dc.key, dc);
  }

  /** @internal */
  #apply({ local, remote, signalingState }) {
    this.localDescription = local;
    this.remoteDescription = remote;
    this.signalingState = signalingState;
  }

  /** @internal an event of the window's connection */
  onEvent(m) {
    switch (m.t) {
      case 'state': {
        this.iceConnectionState = m.ice;
        this.updateTransports(m.sctp);
        if (m.state !== this.connectionState && this.connectionState !== 'closed') {
          this.connectionState = m.state;
          this.onconnectionstatechange?.({ type: 'connectionstatechange', target: this });
        }
        break;
      }
      case 'transports':
        this.updateTransports(m.sctp);
        break;
      case 'candidate': {
        const json = m.c;
        const candidate = json && { ...json, toJSON: () => json };
        this.onicecandidate?.({ type: 'icecandidate', candidate });
        break;
      }
      case 'channel': {
        const dc = new ProxyDataChannel(this.#bridge, m.dc, m.label, { id: m.id, readyState: m.readyState });
        this.#adopt(dc);
        this.ondatachannel?.({ type: 'datachannel', channel: dc });
        break;
      }
      default:
    }
  }

  /** @internal */
  updateTransports(sctp) {
    if (!sctp) return;
    if (!this.sctp) {
      this.sctp = new ProxyTransport(sctp.state);
      this.sctp.transport = new ProxyTransport(sctp.dtls);
      return;
    }
    this.sctp.update(sctp.state);
    this.sctp.transport.update(sctp.dtls);
  }

  /** @internal a data channel of this connection closed */
  forget(dc) { this.#channels.delete(dc); }
}

/**
 * `post(message, transfer)` that sends what one task posts as one message (an array), at the
 * end of the task: the node writes a block as several data-channel messages in one go, and
 * each postMessage costs the receiving thread a task.
 */
export function batcher(send) {
  let batch = null;
  let transfer = null;
  return (message, moved) => {
    if (batch === null) {
      batch = [];
      transfer = [];
      queueMicrotask(() => {
        const [b, t] = [batch, transfer];
        batch = null;
        transfer = null;
        send(b, t);
      });
    }
    batch.push(message);
    if (moved) transfer.push(...moved);
  };
}

/** Hands each message of a bridge batch (`{rtc: [...]}`) to `receive`; false if `data` is no
 * such batch (a message of someone else's). */
export function unbatch(data, receive) {
  const batch = data?.rtc;
  if (!Array.isArray(batch)) return false;
  for (const m of batch) {
    try {
      receive(m);
    } catch (e) {
      // One message's failure (a handler that threw) is reported, not left uncaught: an
      // uncaught error in the node's worker stops the node (worker-node.js).
      console.error('mesh: WebRTC bridge message', m.t, e);
    }
  }
  return true;
}

const BRIDGE = Symbol('mesh rtc bridge');
const bridgeOf = (cls) => cls[BRIDGE];

/**
 * Installs the stand-ins on `scope` (the worker's global object) and returns the handler of the
 * window's messages: `handle(message)` is true if the message was the bridge's.
 *
 * Also gives libp2p's WebRTC-direct transport what it reads of a window (`Window`, and
 * `document.location` for its local-Firefox check) so that it runs here; nothing else in the
 * worker looks for them.
 */
export function installRtcProxy(scope) {
  const pending = new Map();
  let lastKey = 0;
  let lastCall = 0;
  const bridge = {
    pcs: new Map(),
    dcs: new Map(),
    nextKey: () => ++lastKey,
    post: batcher((batch, transfer) => scope.postMessage({ rtc: batch }, transfer)),
    call(message) {
      const req = ++lastCall;
      return new Promise((resolve, reject) => {
        pending.set(req, { resolve, reject });
        bridge.post({ ...message, req });
      });
    },
  };
  const PeerConnection = class RTCPeerConnection extends ProxyPeerConnection {
    constructor(config) { super(bridge, config); }
  };
  PeerConnection[BRIDGE] = bridge;
  scope.RTCPeerConnection = PeerConnection;
  scope.RTCDataChannel = ProxyDataChannel;
  scope.RTCCertificate = ProxyCertificate;
  if (scope.Window === undefined) scope.Window = scope.constructor;
  if (scope.document === undefined) scope.document = { location: scope.location };

  const handle = (data) => unbatch(data, receive);

  function receive(m) {
    if (m.t === 'reply') {
      const p = pending.get(m.req);
      pending.delete(m.req);
      if (m.error) p?.reject(rtcError(m.error));
      else p?.resolve(m.v);
      return;
    }
    if (m.dc !== undefined && m.t !== 'channel') {
      const dc = bridge.dcs.get(m.dc);
      if (!dc) return;
      switch (m.t) {
        case 'message':
          dc.onmessage?.({ type: 'message', data: m.d, target: dc });
          break;
        case 'drained':
          dc.onDrained(m.n);
          break;
        case 'open':
          dc.id = m.id;
          dc.readyState = 'open';
          dc.onopen?.({ type: 'open', target: dc });
          break;
        case 'close':
          dc.readyState = 'closed';
          bridge.dcs.delete(dc.key);
          bridge.pcs.get(m.pc)?.forget(dc);
          dc.onclose?.({ type: 'close', target: dc });
          break;
        case 'error':
          dc.onerror?.({ type: 'error', target: dc, error: rtcError(m.error) });
          break;
        default:
      }
      return;
    }
    bridge.pcs.get(m.pc)?.onEvent(m);
  }

  return { handle };
}
