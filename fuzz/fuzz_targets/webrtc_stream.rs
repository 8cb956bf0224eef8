//! The data channel framing of mesh-webrtc streams (`proto::split_frames`, `Frame::decode`)
//! and the stream state machine that consumes it (`StreamState`): what the remote browser
//! sends on a direct connection.
//!
//! Two modes. Raw: arbitrary bytes split into arbitrary data channel messages; never a panic,
//! every control frame we queue is a valid flag-only frame, queued at most once whatever the
//! remote repeats (no send-queue growth on its command), and every frame body decoded
//! re-encodes to one that decodes to it. Honest: well-formed frames encoded by our encoder,
//! split at arbitrary boundaries; the reader gets exactly the payload sent up to the first FIN
//! or RESET_STREAM, however the bytes were cut, then EOF or the reset. A channel that closes
//! after dropping received bytes (the receive budget) ends a stream without FIN in a reset.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mesh_webrtc::StreamState;
use mesh_webrtc::proto::{Flag, Frame, MAX_FRAME_LEN, MAX_PAYLOAD_LEN, split_frames};
use std::io;

#[derive(Debug, Arbitrary)]
enum Input {
    /// Raw bytes, cut into messages at these lengths.
    Raw {
        bytes: Vec<u8>,
        cuts: Vec<u16>,
        reads: Vec<u16>,
    },
    /// Frames (flag 0..=4, 4 meaning none), cut into messages at these lengths.
    Honest {
        frames: Vec<(u8, Vec<u8>)>,
        cuts: Vec<u16>,
        reads: Vec<u16>,
        channel_closes: bool,
        /// The channel closes after dropping bytes the stream never took.
        channel_lost: bool,
    },
}

fuzz_target!(|input: Input| match input {
    Input::Raw { bytes, cuts, reads } => raw(&bytes, &cuts, &reads),
    Input::Honest {
        frames,
        cuts,
        reads,
        channel_closes,
        channel_lost,
    } => honest(&frames, &cuts, &reads, channel_closes, channel_lost),
});

/// Splits `bytes` into messages of the given lengths (0 meaning 1), the rest in one.
fn messages<'a>(bytes: &'a [u8], cuts: &[u16]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    for &cut in cuts {
        if rest.is_empty() {
            break;
        }
        let (head, tail) = rest.split_at(usize::from(cut.max(1)).min(rest.len()));
        out.push(head);
        rest = tail;
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

fn raw(bytes: &[u8], cuts: &[u16], reads: &[u16]) {
    let mut copy = bytes.to_vec();
    if let Ok(bodies) = split_frames(&mut copy, MAX_FRAME_LEN) {
        for body in bodies {
            assert!(body.len() <= MAX_FRAME_LEN);
            if let Ok(frame) = Frame::decode(&body) {
                let mut encoded = frame.encode();
                let again = split_frames(&mut encoded, usize::MAX).expect("our frame splits");
                assert_eq!(again.len(), 1);
                assert_eq!(Frame::decode(&again[0]), Ok(frame));
            }
        }
    }
    let mut stream = StreamState::new();
    let mut sent = Sent::default();
    let mut received = 0;
    let mut reads = reads.iter();
    for message in messages(bytes, cuts) {
        stream.handle_message(message);
        received += message.len();
        assert!(stream.buffered() <= received);
        drain_outbox(&mut stream, &mut sent);
        if let Some(&len) = reads.next() {
            let mut buf = vec![0; usize::from(len)];
            let _ = stream.read(&mut buf);
        }
    }
    stream.handle_channel_closed();
    drain_outbox(&mut stream, &mut sent);
    assert!(stream.is_done());
}

fn honest(
    frames: &[(u8, Vec<u8>)],
    cuts: &[u16],
    reads: &[u16],
    channel_closes: bool,
    channel_lost: bool,
) {
    let mut bytes = Vec::new();
    let mut expected = Vec::new();
    // Payload counts up to the first FIN or RESET_STREAM; a RESET_STREAM anywhere resets.
    let (mut fin, mut reset) = (false, false);
    for (flag, payload) in frames {
        let flag = match flag % 5 {
            0 => Some(Flag::Fin),
            1 => Some(Flag::StopSending),
            2 => Some(Flag::ResetStream),
            3 => Some(Flag::FinAck),
            _ => None,
        };
        let frame = Frame {
            flag,
            message: payload[..payload.len().min(MAX_PAYLOAD_LEN)].to_vec(),
        };
        let encoded = frame.encode();
        assert!(encoded.len() <= MAX_FRAME_LEN);
        bytes.extend_from_slice(&encoded);
        if !fin && !reset {
            expected.extend_from_slice(&frame.message);
            fin = flag == Some(Flag::Fin);
        }
        reset |= flag == Some(Flag::ResetStream);
    }
    let mut stream = StreamState::new();
    let mut sent = Sent::default();
    let mut got = Vec::new();
    let mut reads = reads.iter();
    let mut reset_seen = false;
    for message in messages(&bytes, cuts) {
        stream.handle_message(message);
        drain_outbox(&mut stream, &mut sent);
        if let Some(&len) = reads.next() {
            read_some(
                &mut stream,
                usize::from(len).max(1),
                &mut got,
                &mut reset_seen,
            );
        }
    }
    if channel_lost {
        stream.handle_channel_lost();
        // Bytes were dropped after the last message: without a FIN the stream is cut off.
        reset |= !fin;
    } else if channel_closes {
        stream.handle_channel_closed();
    }
    // Read what is left: each read takes at least one byte or ends the loop.
    for _ in 0..=expected.len() {
        let before = got.len();
        read_some(&mut stream, 4096, &mut got, &mut reset_seen);
        if got.len() == before {
            break;
        }
    }
    if reset {
        // A reset drops what was not read yet: the reader got a prefix, then the reset.
        assert!(expected.starts_with(&got));
        assert!(reset_seen);
        return;
    }
    assert_eq!(got, expected);
    assert!(!reset_seen);
    let eof = stream.read(&mut [0; 1]).map(|r| r.ok());
    assert_eq!(eof, (fin || channel_closes).then_some(Some(0)));
}

/// Reads up to `len` bytes into `got`.
fn read_some(stream: &mut StreamState, len: usize, got: &mut Vec<u8>, reset_seen: &mut bool) {
    let mut buf = vec![0; len];
    match stream.read(&mut buf) {
        Some(Ok(n)) => got.extend_from_slice(&buf[..n]),
        Some(Err(e)) => {
            assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
            *reset_seen = true;
        }
        None => {}
    }
}

/// Control frames a stream queued, by flag.
#[derive(Default)]
struct Sent([usize; 4]);

/// Takes every queued control frame, checking that it is one valid flag-only frame and that
/// the remote cannot make us send any of them more than once: each answers a state change,
/// and a peer repeating a flag must not grow our send queue.
fn drain_outbox(stream: &mut StreamState, sent: &mut Sent) {
    while let Some(mut frame) = stream.poll_outbox() {
        let bodies = split_frames(&mut frame, MAX_FRAME_LEN).expect("our control frame splits");
        assert!(frame.is_empty());
        assert_eq!(bodies.len(), 1);
        let decoded = Frame::decode(&bodies[0]).expect("our control frame decodes");
        assert!(decoded.message.is_empty());
        let flag = decoded.flag.expect("a control frame has a flag");
        sent.0[flag as usize] += 1;
        assert_eq!(sent.0[flag as usize], 1, "{flag:?} queued twice");
    }
}
