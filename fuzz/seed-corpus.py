#!/usr/bin/env python3
"""Writes the seed inputs of the byte-level fuzz targets into fuzz/corpus/<target>/.

Each seed is a real encoded message of the format the target decodes (block-exchange frames,
dag-pb file nodes, signaling messages, multiaddrs, a site manifest, delegated routing messages), built here from the
formats' specs so that the fuzzer starts from valid inputs instead of discovering the framing.
The committed corpora are these seeds plus what the fuzzer found, minimised with
`cargo fuzz cmin`; rerun this only to add seeds. The structured targets (arbitrary inputs)
start from an empty corpus.
"""

import hashlib
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number, wire_type, payload):
    key = varint(number << 3 | wire_type)
    if wire_type == 0:
        return key + varint(payload)
    return key + varint(len(payload)) + payload


def cid(codec, data):
    """CIDv1 (sha2-256) of `data` in binary form."""
    return b"\x01" + varint(codec) + b"\x12\x20" + hashlib.sha256(data).digest()


RAW, DAG_PB = 0x55, 0x70


def wire_frame(kind, request_id, cids=(), data=b""):
    body = field(1, 0, kind)
    if request_id:
        body += field(2, 0, request_id)
    for c in cids:
        body += field(3, 2, c)
    if data:
        body += field(4, 2, data)
    return varint(len(body)) + body


def file_node(links):
    """A kubo-style dag-pb file node over (cid, size) links."""
    out = b""
    for c, size in links:
        out += field(2, 2, field(1, 2, c) + field(2, 2, b"") + field(3, 0, size))
    unixfs = field(1, 0, 2) + field(3, 0, sum(s for _, s in links))
    for _, size in links:
        unixfs += field(4, 0, size)
    return out + field(1, 2, unixfs)


def signaling(kind, text):
    body = field(1, 0, kind) + (field(2, 2, text.encode()) if text else b"")
    return varint(len(body)) + body


def peer_id(seed):
    """An Ed25519 peer id: identity multihash of the protobuf public key."""
    key = b"\x08\x01\x12\x20" + hashlib.sha256(seed).digest()
    return b"\x00" + varint(len(key)) + key


def p2p(seed):
    pid = peer_id(seed)
    return varint(421) + varint(len(pid)) + pid


def seeds():
    a, b = cid(RAW, b"a"), cid(RAW, b"b")
    hello = b"hello, mesh"
    frames = {
        "want-have": wire_frame(1, 7, [a, b]),
        "want-block": wire_frame(2, 8, [a]),
        "have": wire_frame(3, 7, [a]),
        "dont-have": wire_frame(4, 7, [b]),
        "block": wire_frame(5, 8, [cid(RAW, hello)], hello),
        "cancel": wire_frame(6, 8),
    }
    for name, frame in frames.items():
        yield "wire_codec", name, b"\x00" + frame
    yield "wire_codec", "stream", b"\x03" + b"".join(frames.values())
    yield "wire_codec", "small-limit", b"\x88" + frames["want-have"]
    for name in ("want-have", "want-block", "cancel"):
        yield "block_exchange", "request-" + name, b"\x00" + frames[name]
    # Notices: a have-summary (HAVE as a request), a withdrawal (DONT_HAVE), a cancel.
    yield "block_exchange", "request-announce", b"\x00" + wire_frame(3, 0, [a, b])
    yield "block_exchange", "request-withdraw", b"\x00" + wire_frame(4, 0, [b])
    yield "block_exchange", "request-cancel-one", b"\x00" + wire_frame(6, 0, [a])
    for name in ("have", "dont-have", "block"):
        yield "block_exchange", "response-" + name, b"\x01" + frames[name]

    chunk = 262144
    leaves = [(cid(RAW, bytes([i]) * 4), chunk) for i in range(3)] + [(a, 100)]
    node = file_node(leaves)
    yield "unixfs_node", "file-node", node
    yield "unixfs_node", "two-levels", file_node([(cid(DAG_PB, node), 3 * chunk + 100), (b, 1)])
    yield "unixfs_node", "unixfs-data", field(1, 0, 2) + field(3, 0, 5) + field(4, 0, 5)

    sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    candidate = '{"candidate":"candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host","sdpMid":"0","sdpMLineIndex":0}'
    yield "webrtc_signaling", "offer", signaling(0, sdp)
    yield "webrtc_signaling", "answer-and-candidates", (
        signaling(1, sdp) + signaling(2, candidate) + signaling(2, "")
    )
    relay = b"\x04\x7f\x00\x00\x01" + b"\x06\x01\xbb" + varint(478) + p2p(b"relay")
    yield "webrtc_signaling", "dial-addr", relay + varint(290) + varint(281) + p2p(b"peer")
    yield "webrtc_signaling", "listen-addr", relay + varint(290) + varint(281)

    manifest = (
        '{"version":1,"assets":{'
        '"/index.html":{"cid":"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku","size":0,"type":"text/html; charset=utf-8"},'
        '"/img/a b.jpg":{"cid":"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku","size":0,"type":"image/jpeg"}}}'
    )
    # Delegated routing (mesh_protocol::routing::wire): a tag byte, then length-prefixed
    # fields; the key is a CID's multihash.
    key = b"\x12\x20" + hashlib.sha256(b"logo").digest()
    addr = relay + varint(290) + varint(281)
    lp = lambda b: varint(len(b)) + b
    yield "routing_wire", "find", b"\x01" + lp(key)
    yield "routing_wire", "provide", b"\x02" + lp(key) + varint(2) + lp(addr) + lp(relay)
    yield "routing_wire", "withdraw", b"\x03" + lp(key)
    yield "routing_wire", "find-held", b"\x04" + lp(key)
    yield "routing_wire", "providers", (
        b"\x01" + varint(2) + lp(peer_id(b"a")) + varint(1) + lp(addr) + lp(peer_id(b"b")) + varint(0)
    )
    yield "routing_wire", "refused", b"\x03" + lp(b"the key has as many live providers as it may")

    yield "manifest", "manifest", manifest.encode()
    yield "manifest", "url-path", b"/img/a%20b.jpg"


def main():
    for target, name, data in seeds():
        directory = os.path.join(ROOT, target)
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "seed-" + name), "wb") as f:
            f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
