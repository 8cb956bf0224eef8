//! The messages of delegated routing (`/mesh/<ns>/routing/1.0.0`) and their encoding.
//!
//! One request and one response per stream. Every field is a varint length (or count)
//! followed by that many bytes (or items); the first byte names the message. Sizes are capped
//! while decoding, so a peer cannot make us buffer or allocate more than the caps below.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::{Multiaddr, PeerId, StreamProtocol};

/// Longest provider key: a multihash (SHA-256's is 34 bytes; 128 leaves room for others).
pub const MAX_KEY_LEN: usize = 128;
/// Addresses one provider may carry, in a request or a response: a browser has a relayed
/// `/webrtc` address per bootstrap node, a native node its listen addresses.
pub const MAX_ADDRS: usize = 8;
/// Longest address in bytes (a browser's relayed `/webrtc` address is about 110).
pub const MAX_ADDR_LEN: usize = 512;
/// Providers in one answer: Kademlia's k.
pub const MAX_PROVIDERS: usize = 20;
/// Longest refusal reason, in bytes.
pub const MAX_REASON_LEN: usize = 256;
/// Largest request on the wire.
pub const MAX_REQUEST_SIZE: usize = 1 + 10 + MAX_KEY_LEN + 10 + MAX_ADDRS * (10 + MAX_ADDR_LEN);
/// Largest response on the wire.
pub const MAX_RESPONSE_SIZE: usize =
    1 + 10 + MAX_PROVIDERS * (10 + 64 + 10 + MAX_ADDRS * (10 + MAX_ADDR_LEN));

/// What a client asks a routing server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Who provides `key` (a CID's multihash)?
    FindProviders {
        /// The provider key.
        key: Vec<u8>,
    },
    /// Record the asker as a provider of `key`, reachable at `addrs`.
    Provide {
        /// The provider key.
        key: Vec<u8>,
        /// Where the asker is reachable.
        addrs: Vec<Multiaddr>,
    },
    /// Forget the asker as a provider of `key`.
    Withdraw {
        /// The provider key.
        key: Vec<u8>,
    },
    /// Who provides `key`, from the server's own records only: what one routing server asks
    /// another on a client's behalf, so that a lookup is never passed on twice.
    FindHeldProviders {
        /// The provider key.
        key: Vec<u8>,
    },
}

/// A provider in an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// The provider.
    pub peer: PeerId,
    /// Where it said it is reachable.
    pub addrs: Vec<Multiaddr>,
}

/// What a routing server answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// The providers the server knows of (at most [`MAX_PROVIDERS`]; none is an answer too).
    Providers(Vec<Provider>),
    /// The provider record was stored.
    Provided,
    /// The provider record was refused (a limit of the server's store), and why.
    Refused(String),
    /// The record is gone (or never was).
    Withdrawn,
}

/// Why bytes are not a routing message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The bytes end inside a field.
    #[error("routing message ends early")]
    Truncated,
    /// Bytes follow the message.
    #[error("routing message has {0} bytes after its end")]
    Trailing(usize),
    /// The first byte names no message.
    #[error("unknown routing message tag {0}")]
    UnknownTag(u8),
    /// A field is longer than its cap.
    #[error("routing message field of {len} bytes exceeds {max}")]
    TooLong {
        /// The length given.
        len: u64,
        /// The cap.
        max: usize,
    },
    /// A list is longer than its cap.
    #[error("routing message lists {count} items, at most {max} allowed")]
    TooMany {
        /// The count given.
        count: u64,
        /// The cap.
        max: usize,
    },
    /// A provider's peer id does not parse.
    #[error("bad peer id in routing message")]
    PeerId,
    /// An address does not parse.
    #[error("bad address in routing message: {0}")]
    Address(String),
    /// A refusal's reason is not UTF-8.
    #[error("refusal reason is not UTF-8")]
    Reason,
    /// The stream carried more than a message may hold.
    #[error("routing message is larger than {0} bytes")]
    TooLarge(usize),
}

const FIND: u8 = 1;
const PROVIDE: u8 = 2;
const WITHDRAW: u8 = 3;
const FIND_HELD: u8 = 4;
const PROVIDERS: u8 = 1;
const PROVIDED: u8 = 2;
const REFUSED: u8 = 3;
const WITHDRAWN: u8 = 4;

impl Request {
    /// The request's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Self::FindProviders { key } => {
                out.push(FIND);
                put_bytes(&mut out, key);
            }
            Self::Provide { key, addrs } => {
                out.push(PROVIDE);
                put_bytes(&mut out, key);
                put_addrs(&mut out, addrs);
            }
            Self::Withdraw { key } => {
                out.push(WITHDRAW);
                put_bytes(&mut out, key);
            }
            Self::FindHeldProviders { key } => {
                out.push(FIND_HELD);
                put_bytes(&mut out, key);
            }
        }
        out
    }

    /// Reads a request; every cap is checked before anything is allocated for it.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader(bytes);
        let request = match r.byte()? {
            FIND => Self::FindProviders { key: r.key()? },
            PROVIDE => Self::Provide {
                key: r.key()?,
                addrs: r.addrs()?,
            },
            WITHDRAW => Self::Withdraw { key: r.key()? },
            FIND_HELD => Self::FindHeldProviders { key: r.key()? },
            tag => return Err(WireError::UnknownTag(tag)),
        };
        r.end()?;
        Ok(request)
    }
}

impl Response {
    /// The response's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Self::Providers(providers) => {
                out.push(PROVIDERS);
                put_len(&mut out, providers.len());
                for p in providers {
                    put_bytes(&mut out, &p.peer.to_bytes());
                    put_addrs(&mut out, &p.addrs);
                }
            }
            Self::Provided => out.push(PROVIDED),
            Self::Refused(reason) => {
                out.push(REFUSED);
                put_bytes(&mut out, truncate_utf8(reason, MAX_REASON_LEN).as_bytes());
            }
            Self::Withdrawn => out.push(WITHDRAWN),
        }
        out
    }

    /// Reads a response; every cap is checked before anything is allocated for it.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader(bytes);
        let response = match r.byte()? {
            PROVIDERS => {
                let n = r.count(MAX_PROVIDERS)?;
                let mut providers = Vec::with_capacity(n);
                for _ in 0..n {
                    let peer = PeerId::from_bytes(r.bytes(64)?).map_err(|_| WireError::PeerId)?;
                    providers.push(Provider {
                        peer,
                        addrs: r.addrs()?,
                    });
                }
                Self::Providers(providers)
            }
            PROVIDED => Self::Provided,
            REFUSED => {
                let reason = r.bytes(MAX_REASON_LEN)?;
                Self::Refused(String::from_utf8(reason.to_vec()).map_err(|_| WireError::Reason)?)
            }
            WITHDRAWN => Self::Withdrawn,
            tag => return Err(WireError::UnknownTag(tag)),
        };
        r.end()?;
        Ok(response)
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate_utf8(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    let mut buf = unsigned_varint::encode::u64_buffer();
    out.extend_from_slice(unsigned_varint::encode::u64(n as u64, &mut buf));
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

fn put_addrs(out: &mut Vec<u8>, addrs: &[Multiaddr]) {
    let addrs: Vec<&Multiaddr> = addrs
        .iter()
        .filter(|a| a.len() <= MAX_ADDR_LEN)
        .take(MAX_ADDRS)
        .collect();
    put_len(out, addrs.len());
    for addr in addrs {
        put_bytes(out, addr.as_ref());
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, WireError> {
        let (&b, rest) = self.0.split_first().ok_or(WireError::Truncated)?;
        self.0 = rest;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let (n, rest) = unsigned_varint::decode::u64(self.0).map_err(|_| WireError::Truncated)?;
        self.0 = rest;
        Ok(n)
    }

    fn count(&mut self, max: usize) -> Result<usize, WireError> {
        let count = self.varint()?;
        match usize::try_from(count) {
            Ok(n) if n <= max => Ok(n),
            _ => Err(WireError::TooMany { count, max }),
        }
    }

    fn bytes(&mut self, max: usize) -> Result<&'a [u8], WireError> {
        let len = self.varint()?;
        let n = match usize::try_from(len) {
            Ok(n) if n <= max => n,
            _ => return Err(WireError::TooLong { len, max }),
        };
        if self.0.len() < n {
            return Err(WireError::Truncated);
        }
        let (bytes, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(bytes)
    }

    fn key(&mut self) -> Result<Vec<u8>, WireError> {
        Ok(self.bytes(MAX_KEY_LEN)?.to_vec())
    }

    fn addrs(&mut self) -> Result<Vec<Multiaddr>, WireError> {
        let n = self.count(MAX_ADDRS)?;
        let mut addrs = Vec::with_capacity(n);
        for _ in 0..n {
            let bytes = self.bytes(MAX_ADDR_LEN)?;
            let addr = Multiaddr::try_from(bytes.to_vec())
                .map_err(|e| WireError::Address(e.to_string()))?;
            addrs.push(addr);
        }
        Ok(addrs)
    }

    fn end(&self) -> Result<(), WireError> {
        match self.0.len() {
            0 => Ok(()),
            n => Err(WireError::Trailing(n)),
        }
    }
}

/// The request-response codec of delegated routing: the whole stream is the message.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoutingCodec;

impl libp2p::request_response::Codec for RoutingCodec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        let bytes = read_capped(io, MAX_REQUEST_SIZE).await?;
        Request::decode(&bytes).map_err(invalid_data)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        let bytes = read_capped(io, MAX_RESPONSE_SIZE).await?;
        Response::decode(&bytes).map_err(invalid_data)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&request.encode()).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&response.encode()).await
    }
}

/// The stream's bytes up to its end, refused past `max`.
async fn read_capped<T: AsyncRead + Unpin>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    io.take(max as u64 + 1).read_to_end(&mut bytes).await?;
    if bytes.len() > max {
        return Err(invalid_data(WireError::TooLarge(max)));
    }
    Ok(bytes)
}

fn invalid_data(e: WireError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn relayed() -> Multiaddr {
        let relay = PeerId::random();
        format!("/ip4/127.0.0.1/udp/4001/webrtc-direct/p2p/{relay}/p2p-circuit/webrtc")
            .parse()
            .expect("a valid address")
    }

    #[test]
    fn every_message_reads_back() {
        let key = vec![0x12, 0x20, 7, 7, 7];
        for request in [
            Request::FindProviders { key: key.clone() },
            Request::Provide {
                key: key.clone(),
                addrs: vec![relayed(), "/ip4/10.0.0.1/tcp/1".parse().expect("valid")],
            },
            Request::Withdraw { key: key.clone() },
            Request::FindHeldProviders { key },
        ] {
            assert_eq!(Request::decode(&request.encode()), Ok(request));
        }
        for response in [
            Response::Providers(vec![
                Provider {
                    peer: PeerId::random(),
                    addrs: vec![relayed()],
                },
                Provider {
                    peer: PeerId::random(),
                    addrs: Vec::new(),
                },
            ]),
            Response::Providers(Vec::new()),
            Response::Provided,
            Response::Refused("store full".into()),
            Response::Withdrawn,
        ] {
            assert_eq!(Response::decode(&response.encode()), Ok(response));
        }
    }

    #[test]
    fn caps_are_enforced_before_allocation() {
        let mut huge = vec![FIND];
        put_len(&mut huge, u64::MAX as usize);
        assert!(matches!(
            Request::decode(&huge),
            Err(WireError::TooLong { .. })
        ));
        let mut many = vec![PROVIDERS];
        put_len(&mut many, MAX_PROVIDERS + 1);
        assert_eq!(
            Response::decode(&many),
            Err(WireError::TooMany {
                count: MAX_PROVIDERS as u64 + 1,
                max: MAX_PROVIDERS
            })
        );
        let mut addrs = vec![PROVIDE];
        put_bytes(&mut addrs, b"k");
        put_len(&mut addrs, MAX_ADDRS + 1);
        assert!(matches!(
            Request::decode(&addrs),
            Err(WireError::TooMany { .. })
        ));
    }

    #[test]
    fn malformed_messages_are_typed_errors() {
        assert_eq!(Request::decode(&[]), Err(WireError::Truncated));
        assert_eq!(Request::decode(&[9]), Err(WireError::UnknownTag(9)));
        assert_eq!(Request::decode(&[FIND, 3, 1]), Err(WireError::Truncated));
        assert_eq!(
            Request::decode(&[WITHDRAW, 1, 1, 0]),
            Err(WireError::Trailing(1))
        );
        let mut bad_peer = vec![PROVIDERS, 1];
        put_bytes(&mut bad_peer, b"not a peer id");
        put_len(&mut bad_peer, 0);
        assert_eq!(Response::decode(&bad_peer), Err(WireError::PeerId));
        let mut bad_addr = vec![PROVIDE];
        put_bytes(&mut bad_addr, b"k");
        put_len(&mut bad_addr, 1);
        put_bytes(&mut bad_addr, &[0xff, 0xff]);
        assert!(matches!(
            Request::decode(&bad_addr),
            Err(WireError::Address(_))
        ));
        assert_eq!(
            Response::decode(&[REFUSED, 2, 0xc3, 0x28]),
            Err(WireError::Reason)
        );
    }

    #[test]
    fn over_long_fields_are_cut_when_written() {
        let long = "é".repeat(MAX_REASON_LEN);
        let Ok(Response::Refused(reason)) = Response::decode(&Response::Refused(long).encode())
        else {
            panic!("a refusal reads back");
        };
        assert!(reason.len() <= MAX_REASON_LEN && reason.chars().all(|c| c == 'é'));
        let addrs = vec![relayed(); MAX_ADDRS + 3];
        let provide = Request::Provide {
            key: b"k".to_vec(),
            addrs,
        };
        let Ok(Request::Provide { addrs, .. }) = Request::decode(&provide.encode()) else {
            panic!("a provide reads back");
        };
        assert_eq!(addrs.len(), MAX_ADDRS);
    }

    #[test]
    fn the_largest_messages_fit_the_stream_caps() {
        let long_addr = || {
            let mut addr = relayed();
            while addr.len() + 40 < MAX_ADDR_LEN {
                addr.push(libp2p::multiaddr::Protocol::Dns("a".repeat(30).into()));
            }
            addr
        };
        let response = Response::Providers(
            (0..MAX_PROVIDERS)
                .map(|_| Provider {
                    peer: PeerId::random(),
                    addrs: vec![long_addr(); MAX_ADDRS],
                })
                .collect(),
        );
        assert!(response.encode().len() <= MAX_RESPONSE_SIZE);
        let request = Request::Provide {
            key: vec![1; MAX_KEY_LEN],
            addrs: vec![long_addr(); MAX_ADDRS],
        };
        assert!(request.encode().len() <= MAX_REQUEST_SIZE);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Request::decode(&bytes);
            let _ = Response::decode(&bytes);
        }
    }
}
