//! The `/webrtc-signaling/0.0.1` decoders of mesh-webrtc (what the remote browser sends over
//! the relayed connection before any direct connection exists), the check of a remote's offer
//! before a responder creates an `RTCPeerConnection` for it, and the `/webrtc` multiaddr
//! parsing applied to addresses peers advertise.
//!
//! Properties: never a panic; the stream reader never reads past one message nor takes a
//! message over `MAX_SIGNALING_LEN`, and ends cleanly only at the end of the stream; every
//! decoded message re-encodes to bytes that decode to it, framed or not; an offer the check
//! accepts is refused once it gains a media section, loses its fingerprint or is sent as an
//! answer, and accepted with either line ending; a parsed dial
//! address names the peer it ends with and a circuit through `/p2p-circuit` to that peer.

#![no_main]

use futures::executor::block_on;
use futures::io::Cursor;
use libfuzzer_sys::fuzz_target;
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use mesh_webrtc::addr::{is_listen_addr, parse_dial_addr, webrtc_addr_for_circuit};
use mesh_webrtc::offer::check_offer;
use mesh_webrtc::proto::{
    MAX_SIGNALING_LEN, SignalingMessage, SignalingType, read_signaling_message,
};

/// The longest prefix the reader takes (4 uvarint bytes).
const MAX_PREFIX: u64 = 4;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = SignalingMessage::decode(data) {
        check_round_trip(&message);
        check_offer_verdict(&message);
    }
    // The offer check on the bytes as SDP text, whatever the framing.
    check_offer_verdict(&SignalingMessage {
        kind: SignalingType::SdpOffer,
        data: String::from_utf8_lossy(data).into_owned(),
    });
    read_stream(data);
    if let Ok(addr) = Multiaddr::try_from(data.to_vec()) {
        check_addr(&addr);
    }
});

fn read_stream(data: &[u8]) {
    let mut io = Cursor::new(data);
    // Each message takes at least one byte, so this runs at most `data.len() + 1` times.
    loop {
        let start = io.position();
        match block_on(read_signaling_message(&mut io)) {
            Ok(Some(message)) => {
                let used = io.position() - start;
                assert!(used <= MAX_PREFIX + MAX_SIGNALING_LEN as u64);
                assert!(used > 0);
                check_round_trip(&message);
            }
            Ok(None) => {
                assert_eq!(
                    io.position(),
                    data.len() as u64,
                    "a clean end before the end"
                );
                return;
            }
            Err(_) => {
                assert!(io.position() - start <= MAX_PREFIX + MAX_SIGNALING_LEN as u64);
                return;
            }
        }
    }
}

fn check_round_trip(message: &SignalingMessage) {
    assert_eq!(
        SignalingMessage::decode(&message.encode()).as_ref(),
        Ok(message)
    );
    let framed = message.encode_framed();
    let read = block_on(read_signaling_message(&mut Cursor::new(&framed)));
    if message.encode().len() <= MAX_SIGNALING_LEN {
        assert_eq!(
            read.expect("a framed message within the limit reads back"),
            Some(message.clone())
        );
    } else {
        assert!(read.is_err());
    }
}

fn check_addr(addr: &Multiaddr) {
    if let Some(dial) = parse_dial_addr(addr) {
        assert_eq!(addr.iter().last(), Some(Protocol::P2p(dial.peer)));
        if let Some(circuit) = dial.circuit {
            assert_eq!(circuit.iter().last(), Some(Protocol::P2p(dial.peer)));
            assert!(circuit.iter().any(|p| p == Protocol::P2pCircuit));
            assert!(!circuit.iter().any(|p| p == Protocol::WebRTC));
        }
    }
    if is_listen_addr(addr) {
        assert_eq!(addr.iter().last(), Some(Protocol::WebRTC));
    }
    if let Some(webrtc) = webrtc_addr_for_circuit(addr) {
        assert!(is_listen_addr(&webrtc));
    }
}

/// What `check_offer` promises a responder before it creates an `RTCPeerConnection`, checked
/// by what changes its verdict rather than by a second copy of its parser: an offer it accepts
/// is refused once it gains a second media section, loses its DTLS fingerprint or is sent as
/// an answer, and is still accepted with other line endings.
fn check_offer_verdict(message: &SignalingMessage) {
    if check_offer(message).is_err() {
        return;
    }
    let sdp = &message.data;
    assert!(sdp.starts_with("v=0"), "accepted without v=0: {sdp:?}");
    assert!(
        sdp.contains("m=application "),
        "accepted without a data channel section"
    );
    let verdict = |kind, data: String| check_offer(&SignalingMessage { kind, data }).is_ok();
    for extra in [
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
    ] {
        assert!(
            !verdict(
                SignalingType::SdpOffer,
                format!("{}\r\n{extra}\r\n", sdp.trim_end())
            ),
            "accepted with {extra:?} added: {sdp:?}"
        );
    }
    let without_fingerprint: String = sdp
        .lines()
        .filter(|l| !l.starts_with("a=fingerprint:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        !verdict(SignalingType::SdpOffer, without_fingerprint),
        "accepted without a fingerprint: {sdp:?}"
    );
    assert!(
        !verdict(SignalingType::SdpAnswer, sdp.clone()),
        "an answer accepted as an offer"
    );
    let lf: String = sdp.lines().map(|l| format!("{}\n", l.trim_end())).collect();
    let crlf: String = sdp
        .lines()
        .map(|l| format!("{}\r\n", l.trim_end()))
        .collect();
    assert!(
        verdict(SignalingType::SdpOffer, lf),
        "refused with LF endings: {sdp:?}"
    );
    assert!(
        verdict(SignalingType::SdpOffer, crlf),
        "refused with CRLF endings: {sdp:?}"
    );
}
