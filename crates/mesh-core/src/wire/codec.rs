//! Framing: the length prefix, the size limit, and the [`Codec`] that applies them.

use super::error::WireError;
use super::message::Message;
use super::proto::Frame;
use super::{MAX_LENGTH_PREFIX_LEN, MAX_MESSAGE_SIZE};
use bytes::{Buf, BytesMut};
use prost::Message as _;

/// Encodes and decodes frames under a size limit.
///
/// The codec holds no buffer: the caller owns the byte stream and passes it in, so the same
/// codec serves any transport (libp2p streams natively, WebRTC or WebSockets in the browser).
/// The methods match the shape of the `Encoder`/`Decoder` traits of `asynchronous-codec` and
/// `tokio-util`, so drivers can wrap it in a few lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Codec {
    max_message_size: usize,
}

impl Default for Codec {
    fn default() -> Self {
        Self::new()
    }
}

impl Codec {
    /// A codec allowing frames up to [`MAX_MESSAGE_SIZE`].
    pub const fn new() -> Self {
        Self {
            max_message_size: MAX_MESSAGE_SIZE,
        }
    }

    /// Lowers the frame size limit, e.g. for a peer that only asks whether we have blocks and
    /// should never send a large frame. Values above [`MAX_MESSAGE_SIZE`] are clamped to it: no
    /// peer can make us buffer more. Applies to both directions: we never send a frame we would
    /// refuse to receive.
    pub const fn with_max_message_size(mut self, max: usize) -> Self {
        self.max_message_size = if max < MAX_MESSAGE_SIZE {
            max
        } else {
            MAX_MESSAGE_SIZE
        };
        self
    }

    /// The frame size limit in force, in body bytes (the length prefix is not counted).
    pub const fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// Appends one frame holding `msg` to `dst`.
    ///
    /// Refuses messages a receiver would reject: more than
    /// [`MAX_CIDS_PER_MESSAGE`](super::MAX_CIDS_PER_MESSAGE) CIDs, block data over
    /// [`MAX_BLOCK_SIZE`](crate::block::MAX_BLOCK_SIZE), or a body over this codec's limit.
    /// On error `dst` is unchanged.
    pub fn encode(&self, msg: &Message, dst: &mut BytesMut) -> Result<(), WireError> {
        let frame = Frame::from_message(msg)?;
        let body_len = frame.encoded_len();
        if body_len > self.max_message_size {
            return Err(WireError::FrameTooLarge {
                len: body_len as u64,
                max: self.max_message_size,
            });
        }
        let mut prefix_buf = unsigned_varint::encode::usize_buffer();
        let prefix = unsigned_varint::encode::usize(body_len, &mut prefix_buf);
        let start = dst.len();
        dst.reserve(prefix.len() + body_len);
        dst.extend_from_slice(prefix);
        if let Err(e) = frame.encode(dst) {
            // Unreachable for a `BytesMut`, which grows on demand; handled rather than unwrapped.
            dst.truncate(start);
            return Err(WireError::Protobuf {
                reason: e.to_string(),
            });
        }
        Ok(())
    }

    /// Takes the next frame off the front of `src`, if it is complete.
    ///
    /// * `Ok(None)`: `src` does not yet hold a whole frame; nothing was consumed. Call again
    ///   when more bytes have arrived. Once the length prefix is known, `src` reserves room for
    ///   the rest of the frame.
    /// * `Ok(Some(message))`: exactly one frame was consumed.
    /// * `Err(e)` with [`e.is_framing()`](WireError::is_framing): the length prefix is invalid
    ///   or announces a frame over the limit. This is detected from the prefix alone, before any
    ///   of the body is buffered. Nothing was consumed and the stream cannot continue.
    /// * Any other `Err`: the frame was complete but its body is invalid. Exactly that frame was
    ///   consumed; the stream is still in sync and the next call reads the following frame.
    pub fn decode(&self, src: &mut BytesMut) -> Result<Option<Message>, WireError> {
        let Some((prefix_len, body_len)) = read_length_prefix(src, self.max_message_size)? else {
            return Ok(None);
        };
        let frame_len = prefix_len + body_len;
        if src.len() < frame_len {
            src.reserve(frame_len - src.len());
            return Ok(None);
        }
        src.advance(prefix_len);
        let body = src.split_to(body_len).freeze();
        Frame::decode_message(body).map(Some)
    }
}

/// Bytes [`Codec::encode`] writes for `msg`, length prefix included, whether or not the message
/// is within the limits.
pub(super) fn encoded_len(msg: &Message) -> usize {
    let body_len = Frame::unchecked(msg).encoded_len();
    prefix_len(body_len) + body_len
}

/// Bytes of the unsigned-varint encoding of `n`.
fn prefix_len(n: usize) -> usize {
    let mut buf = unsigned_varint::encode::usize_buffer();
    unsigned_varint::encode::usize(n, &mut buf).len()
}

/// Reads the length prefix at the front of `src`: `Some((prefix bytes, body bytes))`, or `None`
/// if the prefix is still incomplete.
///
/// Decoded here rather than with `unsigned_varint::decode`, which cannot tell "incomplete"
/// apart from the other failures as precisely and lets a 10th byte's excess bits vanish
/// instead of reporting overflow.
fn read_length_prefix(src: &[u8], max: usize) -> Result<Option<(usize, usize)>, WireError> {
    let mut value = 0u64;
    for (i, &byte) in src.iter().take(MAX_LENGTH_PREFIX_LEN).enumerate() {
        let group = u64::from(byte & 0x7f);
        if i == MAX_LENGTH_PREFIX_LEN - 1 && group > 1 {
            return Err(WireError::LengthPrefixOverflow);
        }
        value |= group << (7 * i);
        if byte & 0x80 != 0 {
            continue;
        }
        if byte == 0 && i > 0 {
            return Err(WireError::LengthPrefixNotMinimal { len: i + 1 });
        }
        return match usize::try_from(value) {
            Ok(len) if len <= max => Ok(Some((i + 1, len))),
            _ => Err(WireError::FrameTooLarge { len: value, max }),
        };
    }
    if src.len() >= MAX_LENGTH_PREFIX_LEN {
        return Err(WireError::LengthPrefixTooLong {
            max: MAX_LENGTH_PREFIX_LEN,
        });
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn reads_minimal_prefixes() {
        assert_eq!(read_length_prefix(&[], 100), Ok(None));
        assert_eq!(read_length_prefix(&[0x00], 100), Ok(Some((1, 0))));
        assert_eq!(read_length_prefix(&[0x7f, 0xaa], 200), Ok(Some((1, 127))));
        assert_eq!(read_length_prefix(&[0x80], 200), Ok(None));
        assert_eq!(read_length_prefix(&[0x80, 0x01], 200), Ok(Some((2, 128))));
        assert_eq!(
            read_length_prefix(&[0x80, 0x80, 0x40], MAX_MESSAGE_SIZE),
            Ok(Some((3, 1 << 20)))
        );
    }

    #[test]
    fn rejects_bad_prefixes() {
        assert_eq!(
            read_length_prefix(&[0x80, 0x00], 200),
            Err(WireError::LengthPrefixNotMinimal { len: 2 })
        );
        assert_eq!(
            read_length_prefix(&[0x81, 0x01], 128),
            Err(WireError::FrameTooLarge { len: 129, max: 128 })
        );
        assert_eq!(
            read_length_prefix(&[0x81; 10], usize::MAX),
            Err(WireError::LengthPrefixTooLong { max: 10 })
        );
        assert_eq!(read_length_prefix(&[0xff; 9], usize::MAX), Ok(None));
        let mut overflow = [0xff; 10];
        overflow[9] = 0x02;
        assert_eq!(
            read_length_prefix(&overflow, usize::MAX),
            Err(WireError::LengthPrefixOverflow)
        );
        overflow[9] = 0x01;
        assert_eq!(
            read_length_prefix(&overflow, MAX_MESSAGE_SIZE),
            Err(WireError::FrameTooLarge {
                len: u64::MAX,
                max: MAX_MESSAGE_SIZE
            })
        );
    }

    #[test]
    fn prefix_len_matches_the_encoder() {
        for n in [0, 1, 127, 128, 16_383, 16_384, MAX_MESSAGE_SIZE] {
            let mut buf = unsigned_varint::encode::usize_buffer();
            let encoded = unsigned_varint::encode::usize(n, &mut buf);
            assert_eq!(prefix_len(n), encoded.len());
            assert_eq!(
                read_length_prefix(encoded, usize::MAX),
                Ok(Some((encoded.len(), n)))
            );
        }
    }

    #[test]
    fn lower_limit_clamps() {
        assert_eq!(Codec::new().max_message_size(), MAX_MESSAGE_SIZE);
        assert_eq!(
            Codec::new()
                .with_max_message_size(usize::MAX)
                .max_message_size(),
            MAX_MESSAGE_SIZE
        );
        assert_eq!(
            Codec::new().with_max_message_size(100).max_message_size(),
            100
        );
    }
}
