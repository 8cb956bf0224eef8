//! The mesh-core block-exchange wire codec (`mesh_core::wire`) on arbitrary peer bytes.
//!
//! Properties: decoding never panics; every size cap holds on what it yields; `Ok(None)` and
//! framing errors consume nothing, other errors exactly one frame; the messages and errors
//! do not depend on how the bytes were split into arrivals; and every decoded message
//! re-encodes (under the same limit) to a frame that decodes to the same message.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mesh_core::block::MAX_BLOCK_SIZE;
use mesh_core::wire::{
    self, Codec, MAX_CIDS_PER_MESSAGE, MAX_LENGTH_PREFIX_LEN, MAX_MESSAGE_SIZE, Message, WireError,
};

/// What decoding a stream gave, in order: messages and per-frame errors, then how it ended.
type Outcome = (Vec<Result<Message, WireError>>, Option<WireError>);

fuzz_target!(|data: &[u8]| {
    let Some((&control, stream)) = data.split_first() else {
        return;
    };
    // Half the runs use the default limit, the rest a small one the fuzzer can hit.
    let codec = if control & 0x80 == 0 {
        Codec::new()
    } else {
        Codec::new().with_max_message_size(usize::from(control & 0x7f) * 8)
    };
    let whole = decode_all(&codec, stream, stream.len().max(1));
    let chunk = usize::from(control & 0x1f) + 1;
    assert_eq!(
        decode_all(&codec, stream, chunk),
        whole,
        "split into {chunk}-byte arrivals"
    );
    for message in whole.0.iter().flatten() {
        check_message(&codec, message);
    }
});

/// Decodes `stream` arriving `chunk` bytes at a time, checking what each call consumed.
fn decode_all(codec: &Codec, stream: &[u8], chunk: usize) -> Outcome {
    let mut buf = BytesMut::new();
    let mut results = Vec::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.len();
            match codec.decode(&mut buf) {
                Ok(None) => {
                    assert_eq!(buf.len(), before, "Ok(None) consumed bytes");
                    break;
                }
                Ok(Some(message)) => {
                    let used = before - buf.len();
                    assert!(used > 0 && used <= MAX_LENGTH_PREFIX_LEN + codec.max_message_size());
                    results.push(Ok(message));
                }
                Err(e) if e.is_framing() => {
                    assert_eq!(buf.len(), before, "a framing error consumed bytes");
                    return (results, Some(e));
                }
                Err(e) => {
                    assert!(buf.len() < before, "a body error consumed nothing");
                    results.push(Err(e));
                }
            }
        }
    }
    (results, None)
}

fn check_message(codec: &Codec, message: &Message) {
    assert!(message.cids().len() <= MAX_CIDS_PER_MESSAGE);
    if let Message::Block { data, .. } = message {
        assert!(data.len() <= MAX_BLOCK_SIZE);
    }
    let mut out = BytesMut::new();
    codec
        .encode(message, &mut out)
        .expect("a decoded message re-encodes under the limit it was decoded with");
    assert_eq!(out.len(), wire::encoded_len(message));
    assert!(out.len() <= MAX_LENGTH_PREFIX_LEN + MAX_MESSAGE_SIZE);
    assert_eq!(codec.decode(&mut out), Ok(Some(message.clone())));
    assert!(out.is_empty());
}
