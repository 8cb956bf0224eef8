//! Reading and writing one frame per request and per response, with the size caps enforced
//! while reading.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use mesh_core::wire::{
    self, BlockRequest, BlockResponse, MAX_LENGTH_PREFIX_LEN, MAX_MESSAGE_SIZE, MAX_REQUEST_SIZE,
    Message, ProtocolError, WireError,
};

/// The framing of the block exchange: one mesh-core wire frame per request and per response.
///
/// Requests may not exceed [`MAX_REQUEST_SIZE`], responses [`MAX_MESSAGE_SIZE`]; a peer that
/// announces more is refused after its length prefix, before any of the body is buffered.
///
/// Clones share one counter of rejected inbound requests: a request that fails to decode
/// reaches the swarm as no event (the stream it came on ends), so this is how a node sees such
/// abuse.
#[derive(Debug, Clone, Default)]
pub struct BlockCodec {
    rejected_requests: Arc<AtomicU64>,
}

impl BlockCodec {
    /// A codec with its counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inbound requests rejected as malformed or oversize, by this codec and its clones.
    pub fn rejected_requests(&self) -> u64 {
        self.rejected_requests.load(Ordering::Relaxed)
    }

    fn reject(&self, e: io::Error) -> io::Error {
        if e.kind() == io::ErrorKind::InvalidData {
            self.rejected_requests.fetch_add(1, Ordering::Relaxed);
        }
        e
    }
}

impl BlockCodec {
    /// Reads one request frame (at most [`MAX_REQUEST_SIZE`]); a malformed or oversize one is
    /// counted as rejected.
    pub async fn read_request<T>(&self, io: &mut T) -> io::Result<BlockRequest>
    where
        T: AsyncRead + Unpin,
    {
        let message = read_frame(io, MAX_REQUEST_SIZE)
            .await
            .map_err(|e| self.reject(e))?;
        BlockRequest::from_message(message).map_err(|e| self.reject(invalid_data(e)))
    }

    /// Reads one response frame (at most [`MAX_MESSAGE_SIZE`]).
    pub async fn read_response<T>(&self, io: &mut T) -> io::Result<BlockResponse>
    where
        T: AsyncRead + Unpin,
    {
        let message = read_frame(io, MAX_MESSAGE_SIZE).await?;
        BlockResponse::from_message(message).map_err(invalid_data)
    }

    /// Writes one request frame and flushes.
    pub async fn write_request<T>(&self, io: &mut T, request: &BlockRequest) -> io::Result<()>
    where
        T: AsyncWrite + Unpin,
    {
        write_frame(io, &request.to_message(), MAX_REQUEST_SIZE).await
    }

    /// Writes one response frame and flushes.
    pub async fn write_response<T>(&self, io: &mut T, response: &BlockResponse) -> io::Result<()>
    where
        T: AsyncWrite + Unpin,
    {
        write_frame(io, &response.to_message(), MAX_MESSAGE_SIZE).await
    }
}

/// Reads exactly one frame of at most `max` body bytes (clamped to [`MAX_MESSAGE_SIZE`]).
///
/// The length prefix is read byte by byte, so nothing past the frame is consumed, and checked
/// against the limit as soon as it is complete: an oversize frame costs the reader at most
/// [`MAX_LENGTH_PREFIX_LEN`] bytes. Then exactly the announced body is read.
///
/// Errors: a stream that ends early is [`io::ErrorKind::UnexpectedEof`]; an invalid or oversize
/// frame is [`io::ErrorKind::InvalidData`] carrying [`ProtocolError::Wire`].
pub async fn read_frame<T>(io: &mut T, max: usize) -> io::Result<Message>
where
    T: AsyncRead + Unpin,
{
    let codec = wire::Codec::new().with_max_message_size(max);
    let mut buf = BytesMut::with_capacity(MAX_LENGTH_PREFIX_LEN);
    let mut prefix_done = false;
    for _ in 0..MAX_LENGTH_PREFIX_LEN {
        let mut byte = [0u8; 1];
        io.read_exact(&mut byte).await?;
        buf.extend_from_slice(&byte);
        // Validates the prefix so far (length limit, minimality, overflow); on the last prefix
        // byte it reserves room for exactly the announced body.
        if let Some(message) = codec.decode(&mut buf).map_err(wire_error)? {
            return Ok(message); // An empty body: the codec judged it already.
        }
        if byte[0] & 0x80 == 0 {
            prefix_done = true;
            break;
        }
    }
    if !prefix_done {
        // The codec rejects an unterminated prefix at its 10th byte; kept as a guard.
        return Err(wire_error(WireError::LengthPrefixTooLong {
            max: MAX_LENGTH_PREFIX_LEN,
        }));
    }
    let (body_len, _) = unsigned_varint::decode::usize(&buf).map_err(|_| {
        wire_error(WireError::LengthPrefixTooLong {
            max: MAX_LENGTH_PREFIX_LEN,
        })
    })?;
    let prefix_len = buf.len();
    buf.resize(prefix_len + body_len, 0);
    io.read_exact(&mut buf[prefix_len..]).await?;
    match codec.decode(&mut buf).map_err(wire_error)? {
        Some(message) => Ok(message),
        // Unreachable: the buffer holds the whole frame the prefix announced.
        None => Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
    }
}

/// Writes `message` as one frame of at most `max` body bytes and flushes. A message over the
/// limit is refused with [`io::ErrorKind::InvalidInput`] and nothing is written.
pub async fn write_frame<T>(io: &mut T, message: &Message, max: usize) -> io::Result<()>
where
    T: AsyncWrite + Unpin,
{
    io.write_all(&encode_frame(message, max)?).await?;
    io.flush().await
}

/// `message` as one frame of at most `max` body bytes, or [`io::ErrorKind::InvalidInput`].
pub fn encode_frame(message: &Message, max: usize) -> io::Result<Bytes> {
    let mut buf = BytesMut::with_capacity(MAX_LENGTH_PREFIX_LEN + wire::encoded_len(message));
    wire::Codec::new()
        .with_max_message_size(max)
        .encode(message, &mut buf)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, ProtocolError::Wire(e)))?;
    Ok(buf.freeze())
}

fn wire_error(e: WireError) -> io::Error {
    invalid_data(ProtocolError::Wire(e))
}

fn invalid_data(e: ProtocolError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use bytes::Bytes;
    use futures::executor::block_on;
    use futures::io::Cursor;
    use mesh_core::block::{MAX_BLOCK_SIZE, RAW_CODEC, cid_for};
    use mesh_core::wire::RequestId;
    use std::error::Error as _;

    fn protocol_error(e: &io::Error) -> &ProtocolError {
        e.get_ref()
            .unwrap()
            .downcast_ref::<ProtocolError>()
            .unwrap()
    }

    #[test]
    fn round_trips_requests_and_responses() {
        let cid = cid_for(RAW_CODEC, b"block");
        let requests = [
            BlockRequest::WantHave {
                id: RequestId(1),
                cids: vec![cid],
            },
            BlockRequest::WantBlock {
                id: RequestId(2),
                cid,
            },
        ];
        for request in requests {
            let mut wire = Vec::new();
            block_on(BlockCodec::new().write_request(&mut wire, &request)).unwrap();
            let mut io = Cursor::new(wire);
            let got = block_on(BlockCodec::new().read_request(&mut io)).unwrap();
            assert_eq!(got, request);
        }
        // The largest block the protocol allows fits a response.
        let data = Bytes::from(vec![7u8; MAX_BLOCK_SIZE]);
        let response = BlockResponse::Block {
            id: RequestId(3),
            cid: cid_for(RAW_CODEC, &data),
            data,
        };
        let mut wire = Vec::new();
        block_on(BlockCodec::new().write_response(&mut wire, &response)).unwrap();
        let mut io = Cursor::new(wire);
        let got = block_on(BlockCodec::new().read_response(&mut io)).unwrap();
        assert_eq!(got, response);
    }

    #[test]
    fn reads_exactly_one_frame() {
        let cid = cid_for(RAW_CODEC, b"a");
        let mut wire = BytesMut::new();
        let first = Message::Have {
            id: RequestId(1),
            cids: vec![cid],
        };
        wire::encode(&first, &mut wire).unwrap();
        let first_len = wire.len();
        wire::encode(&first, &mut wire).unwrap();
        let mut io = Cursor::new(wire.to_vec());
        assert_eq!(
            block_on(read_frame(&mut io, MAX_MESSAGE_SIZE)).unwrap(),
            first
        );
        assert_eq!(io.position() as usize, first_len);
    }

    #[test]
    fn oversize_request_is_refused_after_its_prefix() {
        // A prefix announcing 1 MiB on the request side, followed by (unsent) body bytes.
        let mut wire = vec![0x80, 0x80, 0x40];
        wire.extend_from_slice(&[0u8; 64]);
        let mut io = Cursor::new(wire);
        let codec = BlockCodec::new();
        let counter = codec.clone();
        let err = block_on(codec.read_request(&mut io)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(counter.rejected_requests(), 1);
        assert_eq!(
            protocol_error(&err),
            &ProtocolError::Wire(WireError::FrameTooLarge {
                len: 1 << 20,
                max: MAX_REQUEST_SIZE
            })
        );
        let source = err.source().unwrap().downcast_ref::<WireError>().unwrap();
        assert!(source.is_framing());
        // Only the prefix was read.
        assert_eq!(io.position(), 3);
    }

    #[test]
    fn oversize_response_is_refused() {
        let too_long = (MAX_MESSAGE_SIZE + 1) as u64;
        let mut prefix = unsigned_varint::encode::u64_buffer();
        let prefix = unsigned_varint::encode::u64(too_long, &mut prefix).to_vec();
        let mut io = Cursor::new(prefix);
        let err = block_on(BlockCodec::new().read_response(&mut io)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(matches!(
            protocol_error(&err),
            ProtocolError::Wire(WireError::FrameTooLarge { .. })
        ));
    }

    #[test]
    fn malformed_frames_are_invalid_data() {
        let cases: &[&[u8]] = &[
            &[0x00],                   // empty body: no kind
            &[0x80, 0x00],             // non-minimal prefix
            &[0xff; 10],               // unterminated prefix
            &[0x03, 0xff, 0xff, 0xff], // body is not protobuf
            &[0x02, 0x08, 0x63],       // unknown kind 99
        ];
        for case in cases {
            let mut io = Cursor::new(case.to_vec());
            let err = block_on(read_frame(&mut io, MAX_MESSAGE_SIZE)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{case:?}");
            assert!(
                matches!(protocol_error(&err), ProtocolError::Wire(_)),
                "{case:?}"
            );
        }
    }

    #[test]
    fn truncated_frames_are_eof() {
        let mut wire = BytesMut::new();
        wire::encode(
            &Message::Have {
                id: RequestId(1),
                cids: vec![cid_for(RAW_CODEC, b"a")],
            },
            &mut wire,
        )
        .unwrap();
        for cut in [0, 1, wire.len() - 1] {
            let mut io = Cursor::new(wire[..cut].to_vec());
            let err = block_on(read_frame(&mut io, MAX_MESSAGE_SIZE)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "cut at {cut}");
        }
    }

    #[test]
    fn wrong_direction_is_invalid_data() {
        // A block is never a request (a DONT_HAVE frame sent as one is a withdrawal notice).
        let mut wire = Vec::new();
        let response = BlockResponse::Block {
            id: RequestId(1),
            cid: cid_for(RAW_CODEC, b"a"),
            data: Bytes::from_static(b"a"),
        };
        block_on(BlockCodec::new().write_response(&mut wire, &response)).unwrap();
        let err = block_on(BlockCodec::new().read_request(&mut Cursor::new(wire))).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(matches!(
            protocol_error(&err),
            ProtocolError::UnexpectedKind { .. }
        ));
    }

    #[test]
    fn refuses_to_write_oversize_messages() {
        let cids = (0..200u32)
            .map(|n| cid_for(RAW_CODEC, &n.to_be_bytes()))
            .collect();
        let message = Message::WantHave {
            id: RequestId(1),
            cids,
        };
        let mut wire = Vec::new();
        let err = block_on(write_frame(&mut wire, &message, 1024)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(wire.is_empty());
    }

    mod properties {
        #![allow(clippy::unwrap_used)]

        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Any bytes a peer sends end in a message, InvalidData or EOF, never a panic, and
            /// never read past one request frame.
            #[test]
            fn arbitrary_bytes_are_judged_without_panic(
                bytes in proptest::collection::vec(any::<u8>(), 0..4096)
            ) {
                let mut io = Cursor::new(bytes.clone());
                let codec = BlockCodec::new();
                if let Err(e) = block_on(codec.read_request(&mut io)) {
                    prop_assert!(
                        matches!(e.kind(), io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof),
                        "{e}"
                    );
                }
                prop_assert!(io.position() as usize <= MAX_LENGTH_PREFIX_LEN + MAX_REQUEST_SIZE);
            }

            /// Want-haves of 1 to 64 CIDs and want-blocks round-trip.
            #[test]
            fn requests_round_trip(id in any::<u64>(), seeds in proptest::collection::vec(any::<u32>(), 1..=64)) {
                let cids: Vec<_> = seeds.iter().map(|s| cid_for(RAW_CODEC, &s.to_be_bytes())).collect();
                for request in [
                    BlockRequest::WantHave { id: RequestId(id), cids: cids.clone() },
                    BlockRequest::WantBlock { id: RequestId(id), cid: cids[0] },
                ] {
                    let mut wire = Vec::new();
                    block_on(BlockCodec::new().write_request(&mut wire, &request)).unwrap();
                    let got = block_on(BlockCodec::new().read_request(&mut Cursor::new(wire))).unwrap();
                    prop_assert_eq!(got, request);
                }
            }
        }
    }
}
