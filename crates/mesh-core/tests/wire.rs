//! Tests of the block-exchange wire codec through its public API: round trips, framing over
//! arbitrary stream splits, every rejection, golden bytes, and fuzz-style properties.
#![allow(clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};
use cid::Cid;
use mesh_core::block::{DAG_PB_CODEC, MAX_BLOCK_SIZE, RAW_CODEC, cid_for, cid_from_digest};
use mesh_core::wire::{
    Codec, MAX_CIDS_PER_MESSAGE, MAX_MESSAGE_SIZE, Message, MessageKind, RequestId, WireError,
    decode, encode, encoded_len,
};
use multihash::Multihash;
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Helpers

/// An independent rendering of `proto/wire.proto`, with `kind` as a plain int32 so tests can
/// craft frames the codec would never produce.
#[derive(Clone, PartialEq, prost::Message)]
struct RawFrame {
    #[prost(int32, tag = "1")]
    kind: i32,
    #[prost(uint64, tag = "2")]
    id: u64,
    #[prost(bytes = "vec", repeated, tag = "3")]
    cids: Vec<Vec<u8>>,
    #[prost(bytes = "vec", tag = "4")]
    data: Vec<u8>,
    /// Not in the schema: stands for a field added by a later protocol version.
    #[prost(string, tag = "15")]
    future: String,
}

fn raw(kind: i32, id: u64, cids: Vec<Vec<u8>>, data: Vec<u8>) -> RawFrame {
    RawFrame {
        kind,
        id,
        cids,
        data,
        future: String::new(),
    }
}

/// Length prefix + `body`.
fn framed(body: &[u8]) -> BytesMut {
    let mut buf = unsigned_varint::encode::usize_buffer();
    let mut out = BytesMut::from(unsigned_varint::encode::usize(body.len(), &mut buf));
    out.extend_from_slice(body);
    out
}

fn framed_raw(frame: &RawFrame) -> BytesMut {
    framed(&prost::Message::encode_to_vec(frame))
}

fn encoded(msg: &Message) -> BytesMut {
    let mut buf = BytesMut::new();
    encode(msg, &mut buf).unwrap();
    buf
}

fn empty_raw() -> Cid {
    cid_for(RAW_CODEC, b"")
}

fn empty_dag_pb() -> Cid {
    cid_for(DAG_PB_CODEC, b"")
}

fn some_cids(n: usize) -> Vec<Cid> {
    (0..n)
        .map(|i| cid_for(RAW_CODEC, &(i as u64).to_le_bytes()))
        .collect()
}

/// Decodes one frame from `frame` and checks the whole of it was consumed.
fn decode_whole(mut frame: BytesMut) -> Result<Option<Message>, WireError> {
    let result = decode(&mut frame);
    if !matches!(result, Ok(None)) && !result.as_ref().is_err_and(WireError::is_framing) {
        assert!(
            frame.is_empty(),
            "{} bytes left after {result:?}",
            frame.len()
        );
    }
    result
}

// ---------------------------------------------------------------------------------------------
// Strategies

fn arb_cid() -> impl Strategy<Value = Cid> {
    prop_oneof![
        // What mesh itself uses: CIDv1, raw or dag-pb, sha2-256.
        8 => (prop_oneof![Just(RAW_CODEC), Just(DAG_PB_CODEC)], any::<[u8; 32]>())
            .prop_map(|(codec, digest)| cid_from_digest(codec, &digest)),
        // CIDv0 (dag-pb, sha2-256).
        1 => any::<[u8; 32]>().prop_map(|digest| {
            Cid::new_v0(Multihash::wrap(0x12, &digest).unwrap()).unwrap()
        }),
        // Anything else the cid crate can express: the codec does not judge content.
        1 => (any::<u64>(), any::<u64>(), proptest::collection::vec(any::<u8>(), 0..=64))
            .prop_map(|(codec, hash, digest)| {
                Cid::new_v1(codec, Multihash::wrap(hash, &digest).unwrap())
            }),
    ]
}

fn arb_cids() -> impl Strategy<Value = Vec<Cid>> {
    proptest::collection::vec(arb_cid(), 0..12)
}

fn arb_message() -> impl Strategy<Value = Message> {
    let id = any::<u64>().prop_map(RequestId);
    prop_oneof![
        (id.clone(), arb_cids()).prop_map(|(id, cids)| Message::WantHave { id, cids }),
        (id.clone(), arb_cids()).prop_map(|(id, cids)| Message::WantBlock { id, cids }),
        (id.clone(), arb_cids()).prop_map(|(id, cids)| Message::Have { id, cids }),
        (id.clone(), arb_cids()).prop_map(|(id, cids)| Message::DontHave { id, cids }),
        (id.clone(), arb_cids()).prop_map(|(id, cids)| Message::Cancel { id, cids }),
        (
            id,
            arb_cid(),
            proptest::collection::vec(any::<u8>(), 0..4096)
        )
            .prop_map(|(id, cid, data)| Message::Block {
                id,
                cid,
                data: Bytes::from(data)
            }),
    ]
}

/// Feeds `stream` to the decoder in pieces of the given sizes (cycled), collecting messages.
fn feed(stream: &[u8], pieces: &[usize]) -> Vec<Message> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut rest = stream;
    for &piece in pieces.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (now, later) = rest.split_at(piece.clamp(1, rest.len()));
        buf.extend_from_slice(now);
        rest = later;
        while let Some(msg) = decode(&mut buf).unwrap() {
            out.push(msg);
        }
    }
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    out
}

/// The decoder's contract on any input: `Ok(None)` and framing errors consume nothing; a
/// message or a body error consumes at least one byte (a whole frame). Returns messages decoded.
fn decode_all_checking_contract(mut buf: BytesMut) -> usize {
    let mut decoded = 0;
    // Each productive pass consumes at least one byte.
    for _ in 0..=buf.len() {
        let before = buf.clone();
        match decode(&mut buf) {
            Ok(None) => {
                assert_eq!(buf, before);
                return decoded;
            }
            Err(e) if e.is_framing() => {
                assert_eq!(buf, before);
                return decoded;
            }
            Ok(Some(_)) | Err(_) => {
                assert!(buf.len() < before.len(), "nothing consumed");
                assert_eq!(&before[before.len() - buf.len()..], &buf[..]);
                decoded += 1;
            }
        }
    }
    decoded
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trips(msg in arb_message()) {
        let mut buf = encoded(&msg);
        prop_assert_eq!(buf.len(), encoded_len(&msg));
        prop_assert_eq!(decode(&mut buf), Ok(Some(msg)));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn incomplete_frames_wait_then_decode(msg in arb_message()) {
        let frame = encoded(&msg);
        for cut in 0..frame.len() {
            let mut partial = BytesMut::from(&frame[..cut]);
            prop_assert_eq!(decode(&mut partial), Ok(None), "cut at {}", cut);
            prop_assert_eq!(&partial[..], &frame[..cut]);
            partial.extend_from_slice(&frame[cut..]);
            prop_assert_eq!(decode(&mut partial), Ok(Some(msg.clone())));
            prop_assert!(partial.is_empty());
        }
    }

    #[test]
    fn back_to_back_frames_in_any_pieces(
        msgs in proptest::collection::vec(arb_message(), 0..8),
        pieces in proptest::collection::vec(1usize..300, 1..8),
    ) {
        let mut stream = BytesMut::new();
        for msg in &msgs {
            encode(msg, &mut stream).unwrap();
        }
        // All at once, one byte at a time, and in random pieces.
        prop_assert_eq!(&feed(&stream, &[stream.len().max(1)]), &msgs);
        prop_assert_eq!(&feed(&stream, &[1]), &msgs);
        prop_assert_eq!(&feed(&stream, &pieces), &msgs);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        decode_all_checking_contract(BytesMut::from(&bytes[..]));
    }

    #[test]
    fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        // A correct prefix makes the decoder look at the body every time.
        let frame = framed(&body);
        let mut buf = frame.clone();
        let result = decode(&mut buf);
        prop_assert!(!matches!(result, Ok(None)));
        prop_assert!(buf.is_empty(), "{:?} left {} bytes", result, buf.len());
    }

    #[test]
    fn mutated_frames_never_panic(
        msgs in proptest::collection::vec(arb_message(), 1..4),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut stream = BytesMut::new();
        for msg in &msgs {
            encode(msg, &mut stream).unwrap();
        }
        for (at, byte) in edits {
            let at = at.index(stream.len());
            stream[at] = byte;
        }
        stream.truncate(cut.index(stream.len() + 1));
        decode_all_checking_contract(stream);
    }

    #[test]
    fn accepted_cids_are_canonical(
        cid in arb_cid(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        cut in any::<prop::sample::Index>(),
        extra in proptest::collection::vec(any::<u8>(), 0..3),
    ) {
        // Whatever byte string is accepted as a CID is exactly that CID's encoding.
        let mut bytes = cid.to_bytes();
        for (at, byte) in edits {
            let at = at.index(bytes.len());
            bytes[at] = byte;
        }
        bytes.truncate(cut.index(bytes.len() + 1).max(bytes.len() - 2));
        bytes.extend_from_slice(&extra);
        let frame = framed_raw(&raw(3, 1, vec![bytes.clone()], vec![]));
        match decode_whole(frame) {
            Ok(Some(msg)) => prop_assert_eq!(msg.cids()[0].to_bytes(), bytes),
            Err(WireError::InvalidCid { index: 0, .. }) => {}
            other => prop_assert!(false, "{:?}", other),
        }
    }
}

#[test]
fn canonical_cid_bytes_decode() {
    // The property above mostly sees garbage; make sure accepted CIDs are exercised too.
    for cid in [empty_raw(), empty_dag_pb()] {
        let frame = framed_raw(&raw(3, 1, vec![cid.to_bytes()], vec![]));
        assert_eq!(
            decode_whole(frame),
            Ok(Some(Message::Have {
                id: RequestId(1),
                cids: vec![cid]
            }))
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Limits

#[test]
fn largest_block_round_trips_within_the_limit() {
    // The longest CID the codec accepts and the longest id, around a maximal block.
    let cid = Cid::new_v1(u64::MAX, Multihash::wrap(u64::MAX, &[7; 64]).unwrap());
    let data: Bytes = (0..MAX_BLOCK_SIZE).map(|i| (i % 251) as u8).collect();
    let msg = Message::Block {
        id: RequestId(u64::MAX),
        cid,
        data,
    };
    let frame = encoded(&msg);
    assert_eq!(frame.len(), encoded_len(&msg));
    assert!(frame.len() - 3 <= MAX_MESSAGE_SIZE, "{} bytes", frame.len());

    // Arriving in 64 KiB pieces: nothing until the last one.
    let mut buf = BytesMut::new();
    let mut pieces = frame.chunks(64 * 1024).peekable();
    while let Some(piece) = pieces.next() {
        buf.extend_from_slice(piece);
        let result = decode(&mut buf).unwrap();
        if pieces.peek().is_some() {
            assert_eq!(result, None);
            // Once the prefix is known the buffer reserves the whole frame.
            assert!(buf.capacity() >= frame.len());
        } else {
            assert_eq!(result.as_ref(), Some(&msg));
        }
    }
    assert!(buf.is_empty());
}

#[test]
fn decoded_block_data_shares_the_frame_buffer() {
    let msg = Message::Block {
        id: RequestId(1),
        cid: empty_raw(),
        data: Bytes::from(vec![9u8; 100_000]),
    };
    let mut buf = encoded(&msg);
    let frame = buf.as_ptr_range();
    let Some(Message::Block { data, .. }) = decode(&mut buf).unwrap() else {
        panic!("not a block");
    };
    assert_eq!(data.len(), 100_000);
    assert!(frame.contains(&data.as_ptr()), "block data was copied");
}

#[test]
fn largest_cid_list_fits_the_limit() {
    let cid = Cid::new_v1(u64::MAX, Multihash::wrap(u64::MAX, &[7; 64]).unwrap());
    let msg = Message::WantHave {
        id: RequestId(u64::MAX),
        cids: vec![cid; MAX_CIDS_PER_MESSAGE],
    };
    let mut buf = encoded(&msg);
    assert!(buf.len() < 45 * 1024);
    assert_eq!(decode(&mut buf), Ok(Some(msg)));
}

#[test]
fn oversize_prefix_is_rejected_before_the_body() {
    let mut varint = unsigned_varint::encode::u64_buffer();
    let mut prefix_only = BytesMut::from(unsigned_varint::encode::u64(5_000_000, &mut varint));
    let before = prefix_only.clone();
    let err = decode(&mut prefix_only).unwrap_err();
    assert_eq!(
        err,
        WireError::FrameTooLarge {
            len: 5_000_000,
            max: MAX_MESSAGE_SIZE
        }
    );
    assert_eq!(
        err.to_string(),
        "frame of 5000000 bytes exceeds the 1052672-byte limit"
    );
    assert!(err.is_framing());
    assert_eq!(prefix_only, before, "a framing error consumes nothing");
    assert!(
        prefix_only.capacity() < 1024,
        "nothing reserved for the body"
    );
}

#[test]
fn limit_is_inclusive() {
    let prefix = |n: u64| {
        let mut varint = unsigned_varint::encode::u64_buffer();
        BytesMut::from(unsigned_varint::encode::u64(n, &mut varint))
    };
    let max = MAX_MESSAGE_SIZE as u64;
    assert_eq!(decode(&mut prefix(max)), Ok(None));
    assert_eq!(
        decode(&mut prefix(max + 1)),
        Err(WireError::FrameTooLarge {
            len: max + 1,
            max: MAX_MESSAGE_SIZE
        })
    );
    assert_eq!(
        decode(&mut prefix(u64::MAX)),
        Err(WireError::FrameTooLarge {
            len: u64::MAX,
            max: MAX_MESSAGE_SIZE
        })
    );
}

#[test]
fn invalid_length_prefixes_are_framing_errors() {
    for (bytes, expected) in [
        (&[0x80; 10][..], WireError::LengthPrefixTooLong { max: 10 }),
        (
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f][..],
            WireError::LengthPrefixOverflow,
        ),
        (
            &[0x85, 0x00][..],
            WireError::LengthPrefixNotMinimal { len: 2 },
        ),
    ] {
        let mut buf = BytesMut::from(bytes);
        assert_eq!(decode(&mut buf).as_ref(), Err(&expected));
        assert!(expected.is_framing());
        assert_eq!(&buf[..], bytes);
    }
    // Nine continuation bytes might still be a valid prefix... of a frame over the limit.
    assert_eq!(decode(&mut BytesMut::from(&[0x80; 9][..])), Ok(None));
}

#[test]
fn lower_codec_limit_applies_both_ways() {
    let codec = Codec::new().with_max_message_size(100);
    let small = Message::Have {
        id: RequestId(1),
        cids: vec![empty_raw()],
    };
    let big = Message::Have {
        id: RequestId(1),
        cids: some_cids(3),
    };
    let big_len = encoded_len(&big) - 1;

    let mut buf = BytesMut::new();
    codec.encode(&small, &mut buf).unwrap();
    assert_eq!(codec.decode(&mut buf), Ok(Some(small)));

    assert_eq!(
        codec.encode(&big, &mut buf),
        Err(WireError::FrameTooLarge {
            len: big_len as u64,
            max: 100
        })
    );
    assert!(buf.is_empty(), "a refused message writes nothing");

    let mut frame = encoded(&big);
    let err = codec.decode(&mut frame).unwrap_err();
    assert_eq!(
        err,
        WireError::FrameTooLarge {
            len: big_len as u64,
            max: 100
        }
    );
    // The default codec takes it.
    assert_eq!(decode(&mut frame), Ok(Some(big)));
}

#[test]
fn too_many_cids() {
    let at_limit = Message::WantBlock {
        id: RequestId(9),
        cids: some_cids(MAX_CIDS_PER_MESSAGE),
    };
    assert_eq!(decode(&mut encoded(&at_limit)), Ok(Some(at_limit)));

    let over = Message::WantBlock {
        id: RequestId(9),
        cids: some_cids(MAX_CIDS_PER_MESSAGE + 1),
    };
    let expected = WireError::TooManyCids {
        count: 513,
        max: 512,
    };
    let mut buf = BytesMut::new();
    assert_eq!(encode(&over, &mut buf), Err(expected.clone()));
    assert!(buf.is_empty());
    assert_eq!(
        expected.to_string(),
        "message lists 513 CIDs, over the 512-CID limit"
    );

    let cids = some_cids(513).iter().map(Cid::to_bytes).collect();
    assert_eq!(
        decode_whole(framed_raw(&raw(2, 9, cids, vec![]))),
        Err(expected)
    );
}

#[test]
fn a_frame_full_of_empty_cids_is_rejected_by_count() {
    // A frame at the limit of empty CID entries (2 bytes each after the 2-byte kind): rejected
    // by count, before half a million allocations.
    let entries = (MAX_MESSAGE_SIZE - 2) / 2;
    let frame = framed_raw(&raw(1, 0, vec![Vec::new(); entries], vec![]));
    assert_eq!(frame.len(), 3 + MAX_MESSAGE_SIZE);
    assert_eq!(
        decode_whole(frame),
        Err(WireError::TooManyCids {
            count: entries,
            max: MAX_CIDS_PER_MESSAGE
        })
    );
}

#[test]
fn oversize_block() {
    let over = Message::Block {
        id: RequestId(1),
        cid: empty_raw(),
        data: Bytes::from(vec![0; MAX_BLOCK_SIZE + 1]),
    };
    let expected = WireError::BlockTooLarge {
        len: MAX_BLOCK_SIZE + 1,
        max: MAX_BLOCK_SIZE,
    };
    let mut buf = BytesMut::new();
    assert_eq!(encode(&over, &mut buf), Err(expected.clone()));
    assert!(buf.is_empty());
    assert_eq!(
        expected.to_string(),
        "block of 1048577 bytes exceeds the 1048576-byte limit"
    );
    // Within the frame limit, so only the block cap catches it on the way in.
    let frame = framed_raw(&raw(
        5,
        1,
        vec![empty_raw().to_bytes()],
        vec![0; MAX_BLOCK_SIZE + 1],
    ));
    assert_eq!(decode_whole(frame), Err(expected));
}

// ---------------------------------------------------------------------------------------------
// Malformed bodies

#[test]
fn garbage_cid_bytes() {
    let good = empty_raw().to_bytes();
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"xx");
    let mut v0_trailing = Cid::new_v0(*empty_dag_pb().hash()).unwrap().to_bytes();
    v0_trailing.push(0);
    for (bad, len) in [
        (vec![], 0),
        (vec![0xff; 5], 5),
        (good[..20].to_vec(), 20),
        (trailing, 38),
        (v0_trailing, 35),
        (vec![0x02, 0x55, 0x12, 0x00], 4), // CID version 2
    ] {
        let frame = framed_raw(&raw(4, 1, vec![good.clone(), bad.clone()], vec![]));
        match decode_whole(frame) {
            Err(WireError::InvalidCid {
                index: 1, len: l, ..
            }) if l == len => {}
            other => panic!("{bad:x?}: {other:?}"),
        }
    }
    // The block's one CID too.
    let frame = framed_raw(&raw(5, 1, vec![vec![1, 2, 3]], b"data".to_vec()));
    assert!(matches!(
        decode_whole(frame),
        Err(WireError::InvalidCid {
            index: 0,
            len: 3,
            ..
        })
    ));
}

#[test]
fn invalid_bodies() {
    let cid = empty_raw().to_bytes();
    let cases: Vec<(BytesMut, WireError)> = vec![
        (framed(&[]), WireError::MissingKind),
        (
            framed_raw(&raw(0, 5, vec![cid.clone()], vec![])),
            WireError::MissingKind,
        ),
        (
            framed_raw(&raw(7, 5, vec![], vec![])),
            WireError::UnknownKind { kind: 7 },
        ),
        (
            framed_raw(&raw(-1, 5, vec![], vec![])),
            WireError::UnknownKind { kind: -1 },
        ),
        (
            framed_raw(&raw(5, 5, vec![], b"data".to_vec())),
            WireError::BlockCidCount { count: 0 },
        ),
        (
            framed_raw(&raw(5, 5, vec![cid.clone(), cid.clone()], b"data".to_vec())),
            WireError::BlockCidCount { count: 2 },
        ),
        (
            framed_raw(&raw(1, 5, vec![cid.clone()], b"data".to_vec())),
            WireError::UnexpectedData {
                kind: MessageKind::WantHave,
                len: 4,
            },
        ),
        (
            framed_raw(&raw(6, 5, vec![], b"x".to_vec())),
            WireError::UnexpectedData {
                kind: MessageKind::Cancel,
                len: 1,
            },
        ),
    ];
    for (frame, expected) in cases {
        assert_eq!(decode_whole(frame), Err(expected.clone()));
        assert!(!expected.is_framing());
    }
    assert_eq!(
        WireError::UnexpectedData {
            kind: MessageKind::WantHave,
            len: 4
        }
        .to_string(),
        "WantHave message carries 4 bytes of block data"
    );
}

#[test]
fn bodies_that_are_not_protobuf() {
    for body in [
        &[0x08][..],                         // truncated varint
        &[0x1a, 0x10, 0x01][..],             // length past the end
        &[0x0b, 0x0c][..],                   // a group
        &[0x00][..],                         // field number 0
        &[0x19, 1, 2, 3, 4, 5, 6, 7, 8][..], // `cids` as fixed64
        &[0x08, 0x01, 0x12, 0x00][..],       // `id` as bytes
    ] {
        match decode_whole(framed(body)) {
            Err(WireError::Protobuf { reason }) => assert!(!reason.is_empty()),
            other => panic!("{body:x?}: {other:?}"),
        }
    }
}

#[test]
fn unknown_fields_are_ignored() {
    let mut frame = raw(3, 8, vec![empty_raw().to_bytes()], vec![]);
    frame.future = "from a newer peer".to_owned();
    assert_eq!(
        decode_whole(framed_raw(&frame)),
        Ok(Some(Message::Have {
            id: RequestId(8),
            cids: vec![empty_raw()]
        }))
    );
}

#[test]
fn a_bad_body_does_not_desynchronise_the_stream() {
    let good = Message::DontHave {
        id: RequestId(4),
        cids: vec![empty_dag_pb()],
    };
    let mut stream = framed_raw(&raw(3, 1, vec![b"not a cid".to_vec()], vec![]));
    stream.extend_from_slice(&framed_raw(&raw(42, 1, vec![], vec![])));
    stream.extend_from_slice(&encoded(&good));
    assert!(matches!(
        decode(&mut stream),
        Err(WireError::InvalidCid { index: 0, .. })
    ));
    assert_eq!(
        decode(&mut stream),
        Err(WireError::UnknownKind { kind: 42 })
    );
    assert_eq!(decode(&mut stream), Ok(Some(good)));
    assert_eq!(decode(&mut stream), Ok(None));
}

// ---------------------------------------------------------------------------------------------
// Golden bytes: the exact encoding, for other implementations to test against.

/// sha2-256 of the empty string.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// sha2-256 of "hello".
const HELLO_SHA256: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn golden() -> Vec<(Message, String)> {
    // Binary CIDv1: version 01, codec (55 raw / 70 dag-pb), multihash 12 20 <32-byte digest>.
    let a = format!("01551220{EMPTY_SHA256}");
    let b = format!("01701220{EMPTY_SHA256}");
    let hello = format!("01551220{HELLO_SHA256}");
    vec![
        (
            // body: kind=1, id=1, one 36-byte CID; 42 (0x2a) bytes
            Message::WantHave {
                id: RequestId(1),
                cids: vec![empty_raw()],
            },
            format!("2a 0801 1001 1a24{a}"),
        ),
        (
            // id 300 is the varint ac 02; 81 (0x51) bytes
            Message::WantBlock {
                id: RequestId(300),
                cids: vec![empty_raw(), empty_dag_pb()],
            },
            format!("51 0802 10ac02 1a24{a} 1a24{b}"),
        ),
        (
            // id 0 is the proto3 default and is not written; 40 (0x28) bytes
            Message::Have {
                id: RequestId(0),
                cids: vec![empty_dag_pb()],
            },
            format!("28 0803 1a24{b}"),
        ),
        (
            // the largest id takes 10 bytes; 51 (0x33) bytes
            Message::DontHave {
                id: RequestId(u64::MAX),
                cids: vec![empty_raw()],
            },
            format!("33 0804 10ffffffffffffffffff01 1a24{a}"),
        ),
        (
            // CID of "hello", then data field 4: 22 05 "hello"; 49 (0x31) bytes
            Message::Block {
                id: RequestId(2),
                cid: cid_for(RAW_CODEC, b"hello"),
                data: Bytes::from_static(b"hello"),
            },
            format!("31 0805 1002 1a24{hello} 2205 68656c6c6f"),
        ),
        (
            // empty data is the default and is not written; 42 (0x2a) bytes
            Message::Block {
                id: RequestId(3),
                cid: empty_raw(),
                data: Bytes::new(),
            },
            format!("2a 0805 1003 1a24{a}"),
        ),
        (
            // cancel of the whole request 7: no CIDs
            Message::Cancel {
                id: RequestId(7),
                cids: vec![],
            },
            "04 0806 1007".to_owned(),
        ),
    ]
}

#[test]
fn golden_bytes() {
    for (msg, expected) in golden() {
        let expected = expected.replace(' ', "");
        let frame = encoded(&msg);
        assert_eq!(hex(&frame), expected, "{msg:?}");
        assert_eq!(decode_whole(frame), Ok(Some(msg)));
    }
    // A CIDv0 is its bare 34-byte multihash on the wire.
    let v0 = Cid::new_v0(*empty_dag_pb().hash()).unwrap();
    let frame = encoded(&Message::Have {
        id: RequestId(1),
        cids: vec![v0],
    });
    assert_eq!(
        hex(&frame),
        format!("2808031001 1a221220{EMPTY_SHA256}").replace(' ', "")
    );
}

#[test]
fn golden_cids_are_the_known_ones() {
    // Ties the hand-written bytes above to CIDs kubo prints.
    assert_eq!(
        empty_raw().to_string(),
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    );
    assert_eq!(
        hex(&empty_raw().to_bytes()),
        format!("01551220{EMPTY_SHA256}")
    );
}

// ---------------------------------------------------------------------------------------------
// Message API

#[test]
fn message_accessors() {
    let cids = some_cids(2);
    let block = Message::Block {
        id: RequestId(5),
        cid: cids[0],
        data: Bytes::from_static(b"x"),
    };
    assert_eq!(block.kind(), MessageKind::Block);
    assert_eq!(block.request_id(), RequestId(5));
    assert_eq!(block.cids(), &cids[..1]);
    let cancel = Message::Cancel {
        id: RequestId(6),
        cids: cids.clone(),
    };
    assert_eq!(cancel.kind(), MessageKind::Cancel);
    assert_eq!(cancel.cids(), &cids[..]);
    assert_eq!(RequestId(42).to_string(), "42");
    assert_eq!(MessageKind::DontHave.to_string(), "DontHave");
}

#[test]
fn debug_shows_cids_and_not_block_bytes() {
    let block = Message::Block {
        id: RequestId(5),
        cid: empty_raw(),
        data: Bytes::from(vec![0xaa; MAX_BLOCK_SIZE]),
    };
    assert_eq!(
        format!("{block:?}"),
        "Block { id: 5, cid: bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku, len: 1048576 }"
    );
    let have = Message::Have {
        id: RequestId(1),
        cids: vec![empty_raw()],
    };
    assert_eq!(
        format!("{have:?}"),
        "Have { id: 1, cids: [bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku] }"
    );
}
