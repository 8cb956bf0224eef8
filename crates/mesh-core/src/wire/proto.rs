//! The protobuf body of a frame, and its translation to and from [`Message`].
//!
//! The schema is written by hand with prost's derive (no build script, no protoc) and mirrors
//! `proto/wire.proto`, which documents it for other implementations.

use super::error::WireError;
use super::message::{Message, MessageKind, RequestId};
use super::{MAX_CIDS_PER_MESSAGE, scan};
use crate::block::MAX_BLOCK_SIZE;
use bytes::Bytes;
use cid::Cid;

/// Field number of `Frame.cids`, for the pre-decoding scan (must match the derive below).
pub(super) const CIDS_FIELD: u32 = 3;

/// Longest canonical binary CID: CIDv1 = version (1 byte) + codec and hash code varints
/// (10 bytes each at most) + digest length (1 byte, the digest being at most 64 bytes) + digest.
pub(super) const MAX_CID_LEN: usize = 1 + 10 + 10 + 1 + 64;

/// `Kind` of `wire.proto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
enum Kind {
    Unspecified = 0,
    WantHave = 1,
    WantBlock = 2,
    Have = 3,
    DontHave = 4,
    Block = 5,
    Cancel = 6,
}

impl From<MessageKind> for Kind {
    fn from(kind: MessageKind) -> Self {
        match kind {
            MessageKind::WantHave => Self::WantHave,
            MessageKind::WantBlock => Self::WantBlock,
            MessageKind::Have => Self::Have,
            MessageKind::DontHave => Self::DontHave,
            MessageKind::Block => Self::Block,
            MessageKind::Cancel => Self::Cancel,
        }
    }
}

/// `Frame` of `wire.proto`. Byte fields are [`Bytes`] so that decoding a block slices the
/// frame buffer instead of copying up to a MiB.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct Frame {
    #[prost(enumeration = "Kind", tag = "1")]
    kind: i32,
    #[prost(uint64, tag = "2")]
    id: u64,
    #[prost(bytes = "bytes", repeated, tag = "3")]
    cids: Vec<Bytes>,
    #[prost(bytes = "bytes", tag = "4")]
    data: Bytes,
}

impl Frame {
    /// The frame for `msg`, refusing messages over the caps a receiver enforces.
    pub(super) fn from_message(msg: &Message) -> Result<Self, WireError> {
        check_cid_count(msg.cids().len())?;
        if let Message::Block { data, .. } = msg {
            check_block_size(data.len())?;
        }
        Ok(Self::unchecked(msg))
    }

    /// The frame for `msg` even if it is over the caps (to measure it).
    pub(super) fn unchecked(msg: &Message) -> Self {
        let data = match msg {
            Message::Block { data, .. } => data.clone(),
            _ => Bytes::new(),
        };
        Self {
            kind: Kind::from(msg.kind()) as i32,
            id: msg.request_id().0,
            cids: msg
                .cids()
                .iter()
                .map(|cid| Bytes::from(cid.to_bytes()))
                .collect(),
            data,
        }
    }

    /// Decodes and validates a frame body (the bytes after the length prefix).
    pub(super) fn decode_message(body: Bytes) -> Result<Message, WireError> {
        // Count CIDs before prost allocates a `Bytes` (32 bytes) for each: a 1 MiB body of
        // empty CID entries would otherwise cost 16 MiB before the count could be checked.
        let count = scan::count_len_fields(&body, CIDS_FIELD)
            .map_err(|reason| WireError::Protobuf { reason })?;
        check_cid_count(count)?;
        let frame = <Self as prost::Message>::decode(body).map_err(|e| WireError::Protobuf {
            reason: e.to_string(),
        })?;
        frame.into_message()
    }

    fn into_message(self) -> Result<Message, WireError> {
        let list: fn(RequestId, Vec<Cid>) -> Message = match Kind::try_from(self.kind) {
            Err(_) => return Err(WireError::UnknownKind { kind: self.kind }),
            Ok(Kind::Unspecified) => return Err(WireError::MissingKind),
            Ok(Kind::Block) => return self.into_block(),
            Ok(Kind::WantHave) => |id, cids| Message::WantHave { id, cids },
            Ok(Kind::WantBlock) => |id, cids| Message::WantBlock { id, cids },
            Ok(Kind::Have) => |id, cids| Message::Have { id, cids },
            Ok(Kind::DontHave) => |id, cids| Message::DontHave { id, cids },
            Ok(Kind::Cancel) => |id, cids| Message::Cancel { id, cids },
        };
        check_cid_count(self.cids.len())?;
        let cids = self
            .cids
            .iter()
            .enumerate()
            .map(|(index, bytes)| parse_cid(index, bytes))
            .collect::<Result<Vec<_>, _>>()?;
        let message = list(RequestId(self.id), cids);
        if !self.data.is_empty() {
            return Err(WireError::UnexpectedData {
                kind: message.kind(),
                len: self.data.len(),
            });
        }
        Ok(message)
    }

    fn into_block(self) -> Result<Message, WireError> {
        check_block_size(self.data.len())?;
        let [cid] = self.cids.as_slice() else {
            return Err(WireError::BlockCidCount {
                count: self.cids.len(),
            });
        };
        Ok(Message::Block {
            id: RequestId(self.id),
            cid: parse_cid(0, cid)?,
            data: self.data,
        })
    }
}

fn check_cid_count(count: usize) -> Result<(), WireError> {
    if count > MAX_CIDS_PER_MESSAGE {
        return Err(WireError::TooManyCids {
            count,
            max: MAX_CIDS_PER_MESSAGE,
        });
    }
    Ok(())
}

fn check_block_size(len: usize) -> Result<(), WireError> {
    if len > MAX_BLOCK_SIZE {
        return Err(WireError::BlockTooLarge {
            len,
            max: MAX_BLOCK_SIZE,
        });
    }
    Ok(())
}

/// Parses exactly one CID in canonical binary form.
///
/// The codec does not judge content (any version, codec or hash the `cid` crate parses is
/// accepted; [`crate::Block::verify`] decides what it can check), but it insists that the
/// bytes are exactly the CID's own encoding: no trailing bytes and no alternative encodings
/// of the same CID, so every CID has one byte string on the wire.
fn parse_cid(index: usize, bytes: &[u8]) -> Result<Cid, WireError> {
    let invalid = |reason: String| WireError::InvalidCid {
        index,
        len: bytes.len(),
        reason,
    };
    if bytes.len() > MAX_CID_LEN {
        return Err(invalid(format!(
            "longer than the {MAX_CID_LEN}-byte maximum"
        )));
    }
    let mut rest = bytes;
    let cid = Cid::read_bytes(&mut rest).map_err(|e| invalid(e.to_string()))?;
    if !rest.is_empty() {
        return Err(invalid(format!(
            "{} trailing bytes after the CID",
            rest.len()
        )));
    }
    let mut canonical = [0u8; MAX_CID_LEN];
    let written = cid
        .write_bytes(&mut canonical[..])
        .map_err(|e| invalid(e.to_string()))?;
    if canonical.get(..written) != Some(bytes) {
        return Err(invalid("not the canonical encoding of the CID".to_owned()));
    }
    Ok(cid)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::block::{DAG_PB_CODEC, RAW_CODEC, cid_for};
    use multihash::Multihash;
    use prost::Message as _;

    #[test]
    fn kinds_match_the_proto_file() {
        let proto = include_str!("../../proto/wire.proto");
        for (kind, name) in MessageKind::ALL.iter().zip([
            "WANT_HAVE",
            "WANT_BLOCK",
            "HAVE",
            "DONT_HAVE",
            "BLOCK",
            "CANCEL",
        ]) {
            let line = format!("KIND_{name} = {};", Kind::from(*kind) as i32);
            assert!(proto.contains(&line), "wire.proto lacks `{line}`");
        }
        for field in [
            "Kind kind = 1;",
            "uint64 id = 2;",
            "repeated bytes cids = 3;",
            "bytes data = 4;",
        ] {
            assert!(proto.contains(field), "wire.proto lacks `{field}`");
        }
    }

    #[test]
    fn scan_counts_the_cids_field() {
        let frame = Frame {
            kind: Kind::Have as i32,
            id: 7,
            cids: vec![
                Bytes::from_static(b"a"),
                Bytes::new(),
                Bytes::from_static(b"c"),
            ],
            data: Bytes::from_static(b"data"),
        };
        let body = frame.encode_to_vec();
        assert_eq!(scan::count_len_fields(&body, CIDS_FIELD), Ok(3));
    }

    #[test]
    fn longest_cid_fits_max_cid_len() {
        let mh = Multihash::<64>::wrap(u64::MAX, &[0xab; 64]).unwrap();
        let cid = Cid::new_v1(u64::MAX, mh);
        assert_eq!(cid.encoded_len(), MAX_CID_LEN);
        assert_eq!(parse_cid(0, &cid.to_bytes()), Ok(cid));
    }

    #[test]
    fn parse_cid_accepts_v0_and_v1() {
        let v1 = cid_for(RAW_CODEC, b"x");
        let pb = cid_for(DAG_PB_CODEC, b"x");
        let v0 = Cid::new_v0(*pb.hash()).unwrap();
        for cid in [v1, pb, v0] {
            assert_eq!(parse_cid(0, &cid.to_bytes()), Ok(cid));
        }
    }

    #[test]
    fn parse_cid_rejects_trailing_and_non_canonical_bytes() {
        let cid = cid_for(RAW_CODEC, b"x");
        let mut trailing = cid.to_bytes();
        trailing.push(0);
        let err = parse_cid(4, &trailing).unwrap_err();
        assert_eq!(
            err.to_string(),
            "CID #4 (37 bytes) is invalid: 1 trailing bytes after the CID"
        );
        // The codec 0x55 written as a padded two-byte varint.
        let mut padded = vec![0x01, 0xd5, 0x00];
        padded.extend_from_slice(&cid.to_bytes()[2..]);
        assert!(matches!(
            parse_cid(0, &padded),
            Err(WireError::InvalidCid { .. })
        ));
        // A 10-byte codec varint whose last group overflows 64 bits.
        let mut overflow = vec![0x01];
        overflow.extend_from_slice(&[0xff; 9]);
        overflow.push(0x7f);
        overflow.extend_from_slice(&cid.to_bytes()[2..]);
        assert!(matches!(
            parse_cid(0, &overflow),
            Err(WireError::InvalidCid { .. })
        ));
    }
}
