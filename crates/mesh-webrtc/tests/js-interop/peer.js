// The js-libp2p peer of mesh-webrtc's interop test, bundled (esbuild, ESM) and imported by
// tests/interop.rs into the same Chromium page as the Rust swarms. Every export returns a
// promise; failures reject with an Error whose message the Rust side prints.
import { createLibp2p } from 'libp2p'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'

export const ECHO = '/mesh-webrtc-test/echo/1'
let node

const isWebRTC = (ma) => ma.toString().includes('/webrtc')

async function readAll (stream) {
  const chunks = []
  let n = 0
  for await (const chunk of stream) {
    const bytes = chunk.subarray()
    chunks.push(bytes)
    n += bytes.length
  }
  const out = new Uint8Array(n)
  let off = 0
  for (const c of chunks) { out.set(c, off); off += c.length }
  return out
}

async function sendAll (stream, bytes) {
  for (let off = 0; off < bytes.length; off += 16384) {
    if (!stream.send(bytes.subarray(off, off + 16384))) await stream.onDrain()
  }
}

/** Starts the js peer, reserves a slot on the relay and resolves with its `/webrtc` address. */
export async function jsStart (relayAddr) {
  node = await createLibp2p({
    addresses: { listen: [`${relayAddr}/p2p-circuit`, '/webrtc'] },
    transports: [webRTC({ rtcConfiguration: { iceServers: [] } }), webSockets(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: async () => false },
    services: { identify: identify(), ping: ping() }
  })
  await node.handle(ECHO, async (stream) => {
    const data = await readAll(stream)
    await sendAll(stream, data)
    await stream.close()
  })
  for (let i = 0; i < 200; i++) {
    const addr = node.getMultiaddrs().find(a => isWebRTC(a) && a.toString().includes('/p2p-circuit'))
    if (addr) return addr.toString()
    await new Promise(resolve => node.addEventListener('self:peer:update', resolve, { once: true }))
  }
  throw new Error('no /webrtc address after 200 address updates')
}

export function jsPeerId () {
  return node.peerId.toString()
}

function webrtcConnection (peer) {
  const conn = node.getConnections(peerIdFromString(peer)).find(c => isWebRTC(c.remoteAddr) && c.status === 'open')
  if (!conn) throw new Error(`no open /webrtc connection to ${peer}`)
  return conn
}

/** Dials a `/webrtc` address; resolves with the milliseconds until the connection was up. */
export async function jsDial (addr) {
  const t = performance.now()
  const conn = await node.dial(multiaddr(addr), { signal: AbortSignal.timeout(20000) })
  if (!isWebRTC(conn.remoteAddr)) throw new Error(`dial gave a non-webrtc connection ${conn.remoteAddr}`)
  return performance.now() - t
}

/** Closes every connection to `peer` except the direct one. */
export async function jsCloseRelayed (peer) {
  for (const c of node.getConnections(peerIdFromString(peer))) {
    if (!isWebRTC(c.remoteAddr)) await c.close()
  }
}

/** One ping over the direct connection; resolves with the round trip in ms. */
export async function jsPing (peer) {
  const stream = await webrtcConnection(peer).newStream('/ipfs/ping/1.0.0')
  const payload = crypto.getRandomValues(new Uint8Array(32))
  const t = performance.now()
  stream.send(payload)
  let got = new Uint8Array(0)
  for await (const chunk of stream) {
    const bytes = chunk.subarray()
    const joined = new Uint8Array(got.length + bytes.length)
    joined.set(got); joined.set(bytes, got.length)
    got = joined
    if (got.length >= 32) break
  }
  const rtt = performance.now() - t
  if (got.length < 32 || got.some((b, i) => b !== payload[i])) throw new Error('ping payload differs')
  await stream.close()
  return rtt
}

/**
 * Writes `size` bytes on a new echo stream over the direct connection, half-closes it, reads
 * the echo to the end. Resolves with `[closeMs, totalMs]`: how long `close()` (FIN until
 * FIN_ACK) and the whole exchange took.
 */
export async function jsEcho (peer, size) {
  const payload = new Uint8Array(size)
  for (let i = 0; i < size; i++) payload[i] = (i * 31 + 7) & 0xff
  const t = performance.now()
  const stream = await webrtcConnection(peer).newStream(ECHO)
  const reading = readAll(stream)
  await sendAll(stream, payload)
  const tc = performance.now()
  await stream.close()
  const closeMs = performance.now() - tc
  const echoed = await reading
  const totalMs = performance.now() - t
  if (echoed.length !== size || echoed.some((b, i) => b !== payload[i])) {
    throw new Error(`echo differs: ${echoed.length} of ${size} bytes back`)
  }
  return [closeMs, totalMs]
}

export async function jsStop () {
  await node?.stop()
}
