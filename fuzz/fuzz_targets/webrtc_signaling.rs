//! The `/webrtc-signaling/0.0.1` decoders of mesh-webrtc (what the remote browser sends over
//! the relayed connection before any direct connection exists), the check of a remote's offer
//! before a responder creates an `RTCPeerConnection` for it, and the `/webrtc` multiaddr
//! parsing applied to addresses peers advertise.
//!
//! Properties: never a panic; the stream reader never reads past one message nor takes a
//! message over `MAX_SIGNALING_LEN`, and ends cleanly only at the end of the stream; every
//! decoded message re-encodes to bytes that decode to it, framed or not; an offer passes the
//! check exactly when it is one data-channel section with a DTLS fingerprint; a parsed dial
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

/// An offer passes only as an SDP offer starting `v=0` with exactly one `m=application`
/// section, no other media, and a DTLS fingerprint: what `check_offer` promises a responder
/// before it creates an `RTCPeerConnection`.
fn check_offer_verdict(message: &SignalingMessage) {
    let passed = check_offer(message).is_ok();
    let mut lines = message.data.lines().map(str::trim_end);
    let starts = lines.next() == Some("v=0");
    let (mut application, mut other, mut fingerprint) = (0, 0, false);
    for line in lines {
        match line.strip_prefix("m=") {
            Some(media) if media.starts_with("application ") => application += 1,
            Some(_) => other += 1,
            None => fingerprint |= line.starts_with("a=fingerprint:"),
        }
    }
    let expected = message.kind == SignalingType::SdpOffer
        && starts
        && application == 1
        && other == 0
        && fingerprint;
    assert_eq!(passed, expected, "check_offer on {message:?}");
}
