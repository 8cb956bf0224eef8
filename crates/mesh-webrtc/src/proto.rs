//! The two wire messages of the spec, hand-encoded (two fields each: not worth a protobuf
//! code generator).
//!
//! Signaling (`/webrtc-signaling/0.0.1`), one per uvarint-length-prefixed frame:
//! `message Message { optional Type type = 1; optional string data = 2; }` with
//! `Type { SDP_OFFER = 0; SDP_ANSWER = 1; ICE_CANDIDATE = 2; }`.
//!
//! Data channel framing, one frame per data channel message:
//! `message Message { optional Flag flag = 1; optional bytes message = 2; }` with
//! `Flag { FIN = 0; STOP_SENDING = 1; RESET_STREAM = 2; FIN_ACK = 3; }`.
//!
//! Field 1 is always written when set, even with value 0: js-libp2p treats a signaling message
//! without `type` as invalid (WEBRTC.md §6.3).

use futures::{AsyncRead, AsyncReadExt};
use thiserror::Error;

use crate::error::Error as TransportError;

/// Largest data channel frame we send or accept, length prefix included (spec: 16 KiB).
pub const MAX_FRAME_LEN: usize = 16 * 1024;
/// Largest payload we put in one frame: 16 KiB less a 2-byte length prefix and the protobuf
/// overhead (tag + up to 3-byte length + flag), as rust-libp2p's webrtc-utils does.
pub const MAX_PAYLOAD_LEN: usize = MAX_FRAME_LEN - 2 - 5;
/// Largest signaling message (an SDP without candidates is a few KiB).
pub const MAX_SIGNALING_LEN: usize = 64 * 1024;
/// Longest signaling length prefix we read: 4 bytes of uvarint hold up to 256 MiB, far above
/// [`MAX_SIGNALING_LEN`], so a longer prefix can only be hostile.
const MAX_SIGNALING_PREFIX_LEN: usize = 4;

/// A decoding failure: the peer sent something that is not a valid message.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes end inside a field.
    #[error("truncated protobuf message")]
    Truncated,
    /// A varint longer than 10 bytes.
    #[error("malformed varint")]
    Varint,
    /// Wire type 3/4 (groups) or 6/7.
    #[error("unsupported protobuf wire type {0}")]
    WireType(u64),
    /// A signaling message with no or an unknown `type`.
    #[error("signaling message with missing or unknown type")]
    SignalingType,
    /// Signaling data that is not UTF-8.
    #[error("signaling data is not UTF-8")]
    Utf8,
    /// A length prefix above the limit.
    #[error("frame of {0} bytes exceeds the limit")]
    TooLong(usize),
}

/// The `type` of a signaling message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalingType {
    /// The initiator's SDP.
    SdpOffer = 0,
    /// The responder's SDP.
    SdpAnswer = 1,
    /// One trickled candidate as `JSON.stringify(RTCIceCandidate.toJSON())`.
    IceCandidate = 2,
}

/// One signaling message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalingMessage {
    /// What `data` holds.
    pub kind: SignalingType,
    /// SDP text or candidate JSON; absent and empty are the same.
    pub data: String,
}

/// A data channel frame flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// The sender will write no more.
    Fin = 0,
    /// The sender will read no more.
    StopSending = 1,
    /// Abort both directions.
    ResetStream = 2,
    /// Acknowledges a FIN.
    FinAck = 3,
}

/// One data channel frame.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frame {
    /// The flag; `None` for plain data. Unknown flag values decode as `None`.
    pub flag: Option<Flag>,
    /// Payload bytes (possibly empty).
    pub message: Vec<u8>,
}

fn put_varint(out: &mut Vec<u8>, v: u64) {
    let mut buf = unsigned_varint::encode::u64_buffer();
    out.extend_from_slice(unsigned_varint::encode::u64(v, &mut buf));
}

fn varint_len(v: u64) -> usize {
    unsigned_varint::encode::u64(v, &mut unsigned_varint::encode::u64_buffer()).len()
}

/// Reads a varint from the front of `input`, returning it and the rest.
fn take_varint(input: &[u8]) -> Result<(u64, &[u8]), DecodeError> {
    match unsigned_varint::decode::u64(input) {
        Ok(ok) => Ok(ok),
        Err(unsigned_varint::decode::Error::Insufficient) => Err(DecodeError::Truncated),
        Err(_) => Err(DecodeError::Varint),
    }
}

/// Walks the fields of a protobuf message; calls `f(field, Value)` for varint and
/// length-delimited fields and skips fixed-width ones.
fn for_each_field<'a>(
    mut input: &'a [u8],
    mut f: impl FnMut(u64, Value<'a>) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    while !input.is_empty() {
        let (key, rest) = take_varint(input)?;
        let (field, wire) = (key >> 3, key & 7);
        input = match wire {
            0 => {
                let (v, rest) = take_varint(rest)?;
                f(field, Value::Varint(v))?;
                rest
            }
            1 => rest.get(8..).ok_or(DecodeError::Truncated)?,
            2 => {
                let (len, rest) = take_varint(rest)?;
                let len = usize::try_from(len).map_err(|_| DecodeError::Truncated)?;
                if rest.len() < len {
                    return Err(DecodeError::Truncated);
                }
                let (bytes, rest) = rest.split_at(len);
                f(field, Value::Bytes(bytes))?;
                rest
            }
            5 => rest.get(4..).ok_or(DecodeError::Truncated)?,
            other => return Err(DecodeError::WireType(other)),
        };
    }
    Ok(())
}

enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

impl SignalingMessage {
    /// Encodes the message body (without the length prefix).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 8);
        out.push(0x08);
        put_varint(&mut out, self.kind as u64);
        if !self.data.is_empty() {
            out.push(0x12);
            put_varint(&mut out, self.data.len() as u64);
            out.extend_from_slice(self.data.as_bytes());
        }
        out
    }

    /// Encodes the message with its uvarint length prefix, as it goes on the stream.
    pub fn encode_framed(&self) -> Vec<u8> {
        let body = self.encode();
        let mut out = Vec::with_capacity(body.len() + 3);
        put_varint(&mut out, body.len() as u64);
        out.extend_from_slice(&body);
        out
    }

    /// Decodes a message body.
    pub fn decode(input: &[u8]) -> Result<Self, DecodeError> {
        let mut kind = None;
        let mut data = String::new();
        for_each_field(input, |field, value| {
            match (field, value) {
                (1, Value::Varint(v)) => {
                    kind = Some(match v {
                        0 => SignalingType::SdpOffer,
                        1 => SignalingType::SdpAnswer,
                        2 => SignalingType::IceCandidate,
                        _ => return Err(DecodeError::SignalingType),
                    })
                }
                (2, Value::Bytes(b)) => {
                    data = std::str::from_utf8(b)
                        .map_err(|_| DecodeError::Utf8)?
                        .to_owned()
                }
                _ => {}
            }
            Ok(())
        })?;
        Ok(Self {
            kind: kind.ok_or(DecodeError::SignalingType)?,
            data,
        })
    }
}

impl Frame {
    /// A data frame.
    pub fn data(message: Vec<u8>) -> Self {
        Self {
            flag: None,
            message,
        }
    }

    /// A flag-only frame.
    pub fn flag(flag: Flag) -> Self {
        Self {
            flag: Some(flag),
            message: Vec::new(),
        }
    }

    /// Encodes the frame with its uvarint length prefix: one data channel message.
    pub fn encode(&self) -> Vec<u8> {
        encode_frame(self.flag, &self.message)
    }

    /// Decodes a frame body (without the length prefix).
    pub fn decode(input: &[u8]) -> Result<Self, DecodeError> {
        let frame = FrameRef::decode(input)?;
        Ok(Self {
            flag: frame.flag,
            message: frame.message.to_vec(),
        })
    }
}

/// A received frame whose payload is still in the message it came in: what the stream takes
/// its payload from, so a received byte is copied once on its way to the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef<'a> {
    /// The flag; `None` for plain data. Unknown flag values decode as `None`.
    pub flag: Option<Flag>,
    /// Payload bytes (possibly empty).
    pub message: &'a [u8],
}

impl<'a> FrameRef<'a> {
    /// Decodes a frame body (without the length prefix).
    pub fn decode(input: &'a [u8]) -> Result<Self, DecodeError> {
        let mut frame = FrameRef {
            flag: None,
            message: &[],
        };
        for_each_field(input, |field, value| {
            match (field, value) {
                (1, Value::Varint(v)) => {
                    frame.flag = match v {
                        0 => Some(Flag::Fin),
                        1 => Some(Flag::StopSending),
                        2 => Some(Flag::ResetStream),
                        3 => Some(Flag::FinAck),
                        _ => None,
                    }
                }
                (2, Value::Bytes(b)) => frame.message = b,
                _ => {}
            }
            Ok(())
        })?;
        Ok(frame)
    }
}

/// Encodes one frame with its uvarint length prefix into a buffer of exactly its size: the
/// payload is copied once (a data frame is built straight from the writer's bytes).
pub fn encode_frame(flag: Option<Flag>, message: &[u8]) -> Vec<u8> {
    let flag_len = flag.map_or(0, |f| 1 + varint_len(f as u64));
    let message_len = match message.len() {
        0 => 0,
        n => 1 + varint_len(n as u64) + n,
    };
    let body_len = flag_len + message_len;
    let prefix_len = varint_len(body_len as u64);
    let mut out = Vec::with_capacity(prefix_len + body_len);
    put_varint(&mut out, body_len as u64);
    if let Some(flag) = flag {
        out.push(0x08);
        put_varint(&mut out, flag as u64);
    }
    if !message.is_empty() {
        out.push(0x12);
        put_varint(&mut out, message.len() as u64);
        out.extend_from_slice(message);
    }
    out
}

/// The first complete length-prefixed frame of `buf`: its body and the bytes it takes, prefix
/// included; `None` while the frame is incomplete.
pub fn next_frame(buf: &[u8], max_len: usize) -> Result<Option<(&[u8], usize)>, DecodeError> {
    let (len, after) = match take_varint(buf) {
        Ok(ok) => ok,
        Err(DecodeError::Truncated) => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = usize::try_from(len).map_err(|_| DecodeError::TooLong(usize::MAX))?;
    if len > max_len {
        return Err(DecodeError::TooLong(len));
    }
    if after.len() < len {
        return Ok(None);
    }
    Ok(Some((&after[..len], buf.len() - after.len() + len)))
}

/// Reads one uvarint-length-prefixed signaling message off a stream; `None` at a clean end of
/// stream (before any byte of a message).
///
/// The prefix is read byte by byte, so nothing past the message is consumed, and checked
/// against [`MAX_SIGNALING_LEN`] before the body is allocated. Errors: the stream's own errors
/// and an end inside a message are [`TransportError::Io`] or [`DecodeError::Truncated`]; a bad
/// prefix or body is [`TransportError::Decode`].
pub async fn read_signaling_message<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> Result<Option<SignalingMessage>, TransportError> {
    let mut prefix = Vec::with_capacity(MAX_SIGNALING_PREFIX_LEN);
    loop {
        let mut byte = [0u8; 1];
        if reader.read(&mut byte).await? == 0 {
            if prefix.is_empty() {
                return Ok(None);
            }
            return Err(DecodeError::Truncated.into());
        }
        prefix.push(byte[0]);
        if byte[0] & 0x80 == 0 {
            break;
        }
        if prefix.len() >= MAX_SIGNALING_PREFIX_LEN {
            return Err(DecodeError::TooLong(usize::MAX).into());
        }
    }
    let (len, _) = take_varint(&prefix)?;
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > MAX_SIGNALING_LEN {
        return Err(DecodeError::TooLong(len).into());
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).await?;
    Ok(Some(SignalingMessage::decode(&body)?))
}

/// Splits complete length-prefixed frames off the front of `buf`.
///
/// Returns the frame bodies found; an incomplete tail stays in `buf`. js-libp2p sends one frame
/// per message, but nothing in the spec forbids splitting or batching, so we decode the byte
/// stream.
pub fn split_frames(buf: &mut Vec<u8>, max_len: usize) -> Result<Vec<Vec<u8>>, DecodeError> {
    let mut frames = Vec::new();
    let mut consumed = 0;
    while let Some((body, used)) = next_frame(&buf[consumed..], max_len)? {
        frames.push(body.to_vec());
        consumed += used;
    }
    buf.drain(..consumed);
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_golden_bytes() {
        let msg = SignalingMessage {
            kind: SignalingType::SdpOffer,
            data: "v=0".into(),
        };
        assert_eq!(
            msg.encode_framed(),
            [0x07, 0x08, 0x00, 0x12, 0x03, 0x76, 0x3d, 0x30]
        );
        let mut buf = msg.encode_framed();
        let frames = split_frames(&mut buf, MAX_SIGNALING_LEN).expect("valid");
        assert_eq!(SignalingMessage::decode(&frames[0]), Ok(msg));
        assert!(buf.is_empty());
    }

    #[test]
    fn answer_and_candidate_round_trip() {
        for kind in [SignalingType::SdpAnswer, SignalingType::IceCandidate] {
            let msg = SignalingMessage {
                kind,
                data: "{\"candidate\":\"x\"}".into(),
            };
            assert_eq!(SignalingMessage::decode(&msg.encode()), Ok(msg));
        }
        assert_eq!(
            SignalingMessage {
                kind: SignalingType::SdpAnswer,
                data: "a".into()
            }
            .encode(),
            [0x08, 0x01, 0x12, 0x01, b'a']
        );
    }

    #[test]
    fn signaling_type_is_required() {
        assert_eq!(
            SignalingMessage::decode(&[0x12, 0x01, b'a']),
            Err(DecodeError::SignalingType)
        );
        assert_eq!(
            SignalingMessage::decode(&[0x08, 0x07]),
            Err(DecodeError::SignalingType)
        );
        assert_eq!(
            SignalingMessage::decode(&[0x08]),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            SignalingMessage::decode(&[0x12, 0x05, b'a']),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            SignalingMessage::decode(&[0x08, 0x02, 0x12, 0x01, 0xff]),
            Err(DecodeError::Utf8)
        );
    }

    #[test]
    fn absent_data_is_empty_and_unknown_fields_are_skipped() {
        // type=ICE_CANDIDATE, then field 3 varint, field 4 fixed64, field 5 fixed32.
        let bytes = [
            0x08, 0x02, 0x18, 0x01, 0x21, 0, 0, 0, 0, 0, 0, 0, 0, 0x2d, 0, 0, 0, 0,
        ];
        assert_eq!(
            SignalingMessage::decode(&bytes),
            Ok(SignalingMessage {
                kind: SignalingType::IceCandidate,
                data: String::new()
            })
        );
        assert_eq!(
            SignalingMessage::decode(&[0x0b]),
            Err(DecodeError::WireType(3))
        );
    }

    fn read_signaling(bytes: &[u8]) -> (Result<Option<SignalingMessage>, TransportError>, u64) {
        let mut io = futures::io::Cursor::new(bytes.to_vec());
        let result = futures::executor::block_on(read_signaling_message(&mut io));
        (result, io.position())
    }

    fn decode_error(result: Result<Option<SignalingMessage>, TransportError>) -> DecodeError {
        match result {
            Err(TransportError::Decode(e)) => e,
            other => panic!("expected a decode error, got {other:?}"),
        }
    }

    #[test]
    fn reads_one_signaling_message_and_no_more() {
        let msg = SignalingMessage {
            kind: SignalingType::SdpAnswer,
            data: "v=0".into(),
        };
        let mut bytes = msg.encode_framed();
        let first_len = bytes.len() as u64;
        bytes.extend_from_slice(&msg.encode_framed());
        let (result, position) = read_signaling(&bytes);
        assert_eq!(result.expect("valid"), Some(msg));
        assert_eq!(position, first_len);
        assert_eq!(read_signaling(&[]).0.expect("clean end"), None);
    }

    #[test]
    fn signaling_reader_refuses_bad_prefixes_before_the_body() {
        // 64 KiB + 1 announced: refused after its 3-byte prefix.
        let (result, position) = read_signaling(&[0x81, 0x80, 0x04, 0, 0]);
        assert_eq!(
            decode_error(result),
            DecodeError::TooLong(MAX_SIGNALING_LEN + 1)
        );
        assert_eq!(position, 3);
        // A fifth prefix byte is never read.
        let (result, position) = read_signaling(&[0x80; 8]);
        assert_eq!(decode_error(result), DecodeError::TooLong(usize::MAX));
        assert_eq!(position, 4);
        assert_eq!(
            decode_error(read_signaling(&[0x80, 0x00]).0),
            DecodeError::Varint
        );
        assert_eq!(
            decode_error(read_signaling(&[0x80]).0),
            DecodeError::Truncated
        );
        assert!(matches!(
            read_signaling(&[0x03, 0x08]).0,
            Err(TransportError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof
        ));
    }

    #[test]
    fn frame_golden_bytes() {
        // FIN is flag 0 and must still be written.
        assert_eq!(Frame::flag(Flag::Fin).encode(), [0x02, 0x08, 0x00]);
        assert_eq!(Frame::flag(Flag::FinAck).encode(), [0x02, 0x08, 0x03]);
        assert_eq!(Frame::flag(Flag::StopSending).encode(), [0x02, 0x08, 0x01]);
        assert_eq!(Frame::flag(Flag::ResetStream).encode(), [0x02, 0x08, 0x02]);
        assert_eq!(
            Frame::data(b"hi".to_vec()).encode(),
            [0x04, 0x12, 0x02, b'h', b'i']
        );
        assert_eq!(Frame::data(Vec::new()).encode(), [0x00]);
    }

    #[test]
    fn frame_decodes_flags_and_data() {
        assert_eq!(Frame::decode(&[0x08, 0x03]), Ok(Frame::flag(Flag::FinAck)));
        assert_eq!(Frame::decode(&[0x08, 0x09]), Ok(Frame::default()));
        assert_eq!(
            Frame::decode(&[0x08, 0x00, 0x12, 0x01, b'x']),
            Ok(Frame {
                flag: Some(Flag::Fin),
                message: b"x".to_vec()
            })
        );
    }

    #[test]
    fn largest_payload_fits_in_a_frame() {
        let frame = Frame {
            flag: Some(Flag::Fin),
            message: vec![7; MAX_PAYLOAD_LEN],
        };
        let encoded = frame.encode();
        assert!(encoded.len() <= MAX_FRAME_LEN, "{}", encoded.len());
        let mut buf = encoded;
        let bodies = split_frames(&mut buf, MAX_FRAME_LEN).expect("valid");
        assert_eq!(Frame::decode(&bodies[0]), Ok(frame));
    }

    #[test]
    fn split_frames_keeps_partial_tail_and_rejects_oversize() {
        let mut buf = Frame::data(b"abc".to_vec()).encode();
        buf.extend_from_slice(&Frame::flag(Flag::Fin).encode());
        let tail = buf.split_off(buf.len() - 1);
        let bodies = split_frames(&mut buf, MAX_FRAME_LEN).expect("valid");
        assert_eq!(bodies.len(), 1);
        assert_eq!(buf, [0x02, 0x08]);
        buf.extend_from_slice(&tail);
        assert_eq!(
            split_frames(&mut buf, MAX_FRAME_LEN).expect("valid"),
            [vec![0x08, 0x00]]
        );
        let mut big = vec![0x80, 0x80, 0x02]; // 32768
        assert_eq!(
            split_frames(&mut big, MAX_FRAME_LEN),
            Err(DecodeError::TooLong(32768))
        );
    }
}
