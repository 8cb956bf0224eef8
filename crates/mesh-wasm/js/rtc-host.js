// The window half of the WebRTC bridge: runs the real `RTCPeerConnection`s and data channels
// of a node that lives in a worker (rtc-proxy.js is the other half, where the protocol is
// described). This is all the node does on the page's main thread: a call in, an event out,
// each payload moved (transferred), not copied, in either direction.

import { batcher, unbatch } from './rtc-proxy.js';

const errorOf = (e) => ({ name: e?.name ?? 'Error', message: String(e?.message ?? e) });

const descriptionOf = (d) => (d ? { type: d.type, sdp: d.sdp } : null);

/** Snapshot of a connection's SCTP and DTLS transport states, or null before it has them. */
function transportsOf(pc) {
  const sctp = pc.sctp;
  if (!sctp) return null;
  return { state: sctp.state, dtls: sctp.transport?.state ?? 'new' };
}

/**
 * Serves the WebRTC calls of the node in `worker`. Returns `handle(message)` (true if the
 * message was the bridge's) and `close()`, which closes every connection it made.
 */
export function hostRtc(worker) {
  /** key → RTCPeerConnection */
  const pcs = new Map();
  /** key → { dc, pc (its connection's key), fromWorker, reported, threshold } */
  const dcs = new Map();
  /** key → RTCCertificate */
  const certs = new Map();
  let lastRemoteKey = 0;
  let lastCert = 0;
  const post = batcher((batch, transfer) => worker.postMessage({ rtc: batch }, transfer));

  /** Tells the worker how much of what it sent has left the channel's buffer, if its count
   * may be above the threshold: then its `bufferedamountlow` depends on this report. */
  function report(key, s) {
    if (s.fromWorker - s.reported <= s.threshold) return;
    s.reported = s.fromWorker - s.dc.bufferedAmount;
    post({ t: 'drained', dc: key, n: s.reported });
  }

  function wire(key, pcKey, dc) {
    const s = { dc, pc: pcKey, fromWorker: 0, reported: 0, threshold: 0 };
    dcs.set(key, s);
    dc.binaryType = 'arraybuffer';
    dc.onopen = () => post({ t: 'open', dc: key, id: dc.id });
    dc.onclose = () => {
      dcs.delete(key);
      post({ t: 'close', dc: key, pc: pcKey });
    };
    dc.onerror = (e) => post({ t: 'error', dc: key, error: errorOf(e.error ?? e) });
    dc.onmessage = (e) => {
      const d = e.data;
      post({ t: 'message', dc: key, d }, typeof d === 'string' ? [] : [d]);
    };
    dc.onbufferedamountlow = () => report(key, s);
    return s;
  }

  function watchTransports(key, pc) {
    const sctp = pc.sctp;
    if (!sctp || pc.meshWatched) return;
    pc.meshWatched = true;
    const changed = () => post({ t: 'transports', pc: key, sctp: transportsOf(pc) });
    sctp.addEventListener('statechange', changed);
    sctp.transport?.addEventListener('statechange', changed);
  }

  function createPc(key, config) {
    const { certificates, ...rest } = config ?? {};
    const init = { ...rest };
    if (certificates) {
      // A certificate is made for one connection (libp2p's WebRTC-direct): handed over here.
      init.certificates = certificates.map((k) => certs.get(k)).filter(Boolean);
      for (const k of certificates) certs.delete(k);
    }
    const pc = new RTCPeerConnection(init);
    pcs.set(key, pc);
    const state = () => {
      watchTransports(key, pc);
      post({ t: 'state', pc: key, state: pc.connectionState, ice: pc.iceConnectionState, sctp: transportsOf(pc) });
    };
    pc.onconnectionstatechange = state;
    pc.onicecandidate = (e) => post({ t: 'candidate', pc: key, c: e.candidate ? e.candidate.toJSON() : null });
    pc.ondatachannel = (e) => {
      const dcKey = --lastRemoteKey;
      const ch = e.channel;
      wire(dcKey, key, ch);
      post({ t: 'channel', pc: key, dc: dcKey, label: ch.label, id: ch.id, readyState: ch.readyState });
    };
  }

  /** Runs a promise method of a connection and replies with its result or error. */
  async function reply(m, run) {
    try {
      const v = await run();
      post({ t: 'reply', req: m.req, v });
    } catch (e) {
      post({ t: 'reply', req: m.req, error: errorOf(e) });
    }
  }

  const descriptions = (pc) => ({
    local: descriptionOf(pc.localDescription),
    remote: descriptionOf(pc.remoteDescription),
    signalingState: pc.signalingState,
  });

  const handle = (data) => unbatch(data, receive);

  function receive(m) {
    const pc = pcs.get(m.pc);
    switch (m.t) {
      case 'send': {
        const s = dcs.get(m.dc);
        if (!s) break;
        const n = typeof m.d === 'string' ? new TextEncoder().encode(m.d).byteLength : m.d.byteLength;
        s.fromWorker += n;
        try {
          s.dc.send(m.d);
        } catch {
          // Closed under the worker's feet: the close event on its way tells it.
          s.reported += n;
        }
        if (s.dc.bufferedAmount <= s.threshold) report(m.dc, s);
        break;
      }
      case 'threshold': {
        const s = dcs.get(m.dc);
        if (s) {
          s.threshold = m.v;
          s.dc.bufferedAmountLowThreshold = m.v;
        }
        break;
      }
      case 'dcclose':
        dcs.get(m.dc)?.dc.close();
        break;
      case 'pc':
        try {
          createPc(m.pc, m.config);
        } catch (e) {
          // The worker's stand-in is already there: fail it as the browser would later.
          post({ t: 'state', pc: m.pc, state: 'failed', ice: 'failed', sctp: null });
          console.warn(`mesh: RTCPeerConnection: ${errorOf(e).message}`);
        }
        break;
      case 'dc':
        if (pc) wire(m.dc, m.pc, pc.createDataChannel(m.label, m.init));
        else post({ t: 'close', dc: m.dc, pc: m.pc });
        break;
      case 'offer':
        reply(m, async () => descriptionOf(await pc.createOffer()));
        break;
      case 'answer':
        reply(m, async () => descriptionOf(await pc.createAnswer()));
        break;
      case 'local':
        reply(m, async () => {
          await (m.desc ? pc.setLocalDescription(m.desc) : pc.setLocalDescription());
          return descriptions(pc);
        });
        break;
      case 'remote':
        reply(m, async () => {
          await pc.setRemoteDescription(m.desc);
          return descriptions(pc);
        });
        break;
      case 'ice':
        reply(m, async () => { await pc.addIceCandidate(m.c ?? undefined); });
        break;
      case 'cert':
        reply(m, async () => {
          const key = ++lastCert;
          certs.set(key, await RTCPeerConnection.generateCertificate(m.algorithm));
          return key;
        });
        break;
      case 'pcclose':
        if (pc) {
          pcs.delete(m.pc);
          for (const [key, s] of dcs) if (s.pc === m.pc) dcs.delete(key);
          pc.close();
        }
        break;
      default:
    }
  }

  function close() {
    for (const pc of pcs.values()) pc.close();
    pcs.clear();
    dcs.clear();
    certs.clear();
  }

  return { handle, close };
}
