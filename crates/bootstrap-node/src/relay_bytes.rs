//! Counting the bytes that relayed circuits carry.
//!
//! libp2p's relay server copies circuit bytes inside its connection handler and reports no
//! totals. Every circuit, however, runs over exactly one STOP stream that the relay opens to the
//! destination, and everything the circuit carries in either direction crosses that stream. This
//! muxer wrapper recognises outbound streams negotiating the STOP protocol from the first bytes
//! written on them, and counts what they carry afterwards. The count includes the STOP
//! handshake itself (about a hundred bytes per circuit).

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use futures::{AsyncRead, AsyncWrite};
use libp2p::core::muxing::{
    StreamMuxer, StreamMuxerBox, StreamMuxerEvent, StreamMuxerExt, SubstreamBox,
};
use prometheus_client::metrics::counter::Counter;

/// Protocol id of the relay's STOP streams (circuit relay v2).
const STOP_PROTOCOL: &[u8] = b"/libp2p/circuit/relay/0.2.0/stop";
/// Bytes of a stream's start searched for the protocol id: multistream-select's header and the
/// length-prefixed id fit well within this.
const MAX_SNIFF_BYTES: usize = 96;

/// A muxer whose outbound STOP streams count their bytes into a shared counter.
pub(crate) struct RelayByteCounter {
    inner: StreamMuxerBox,
    relayed: Counter,
}

impl RelayByteCounter {
    pub(crate) fn new(inner: StreamMuxerBox, relayed: Counter) -> Self {
        Self { inner, relayed }
    }
}

impl StreamMuxer for RelayByteCounter {
    type Substream = SubstreamBox;
    type Error = io::Error;

    fn poll_inbound(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        // The relay only ever opens STOP streams; inbound ones are never circuits it carries.
        self.get_mut().inner.poll_inbound_unpin(cx)
    }

    fn poll_outbound(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let this = self.get_mut();
        let relayed = this.relayed.clone();
        this.inner
            .poll_outbound_unpin(cx)
            .map_ok(|stream| SubstreamBox::new(StopSniffer::new(stream, relayed)))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().inner.poll_close_unpin(cx)
    }

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<StreamMuxerEvent, Self::Error>> {
        self.get_mut().inner.poll_unpin(cx)
    }
}

/// What is known about a stream's protocol.
enum Sniff {
    /// Still reading the negotiation; holds what was written so far.
    Looking(Vec<u8>),
    /// A STOP stream: count everything.
    Circuit,
    /// Anything else: count nothing.
    Other,
}

/// An outbound stream that finds out whether it is a STOP stream and counts if so.
struct StopSniffer {
    inner: SubstreamBox,
    sniff: Sniff,
    relayed: Counter,
}

impl StopSniffer {
    fn new(inner: SubstreamBox, relayed: Counter) -> Self {
        Self {
            inner,
            sniff: Sniff::Looking(Vec::new()),
            relayed,
        }
    }

    fn wrote(&mut self, bytes: &[u8]) {
        match &mut self.sniff {
            Sniff::Looking(seen) => {
                let room = MAX_SNIFF_BYTES - seen.len();
                seen.extend_from_slice(&bytes[..bytes.len().min(room)]);
                if contains(seen, STOP_PROTOCOL) {
                    self.sniff = Sniff::Circuit;
                } else if seen.len() >= MAX_SNIFF_BYTES {
                    self.sniff = Sniff::Other;
                }
            }
            Sniff::Circuit => {
                self.relayed.inc_by(bytes.len() as u64);
            }
            Sniff::Other => {}
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

impl AsyncRead for StopSniffer {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let (Poll::Ready(Ok(n)), Sniff::Circuit) = (&poll, &this.sniff) {
            this.relayed.inc_by(*n as u64);
        }
        poll
    }
}

impl AsyncWrite for StopSniffer {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &poll {
            this.wrote(&buf[..*n]);
        }
        poll
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use futures::{AsyncReadExt, AsyncWriteExt, executor::block_on, io::Cursor};

    use super::*;

    /// Reads come from `reads`, writes vanish: a stream whose peer has already answered.
    struct Duplex {
        reads: Cursor<Vec<u8>>,
    }

    impl AsyncRead for Duplex {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.get_mut().reads).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Duplex {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn sniffer(reply: &[u8], counter: &Counter) -> StopSniffer {
        let stream = Duplex {
            reads: Cursor::new(reply.to_vec()),
        };
        StopSniffer::new(SubstreamBox::new(stream), counter.clone())
    }

    #[test]
    fn counts_stop_streams_after_negotiation() {
        let counter = Counter::default();
        let mut s = sniffer(&[1u8; 40], &counter);
        block_on(async {
            s.write_all(b"\x13/multistream/1.0.0\n").await.unwrap();
            s.write_all(b"!/libp2p/circuit/relay/0.2.0/stop\n")
                .await
                .unwrap();
            assert_eq!(counter.get(), 0, "negotiation is not circuit traffic");
            s.write_all(&[0u8; 100]).await.unwrap();
            let mut buf = [0u8; 40];
            s.read_exact(&mut buf).await.unwrap();
        });
        assert_eq!(counter.get(), 140);
    }

    #[test]
    fn ignores_other_streams() {
        let counter = Counter::default();
        let mut s = sniffer(&[1u8; 40], &counter);
        block_on(async {
            s.write_all(b"\x13/multistream/1.0.0\n\x10/ipfs/id/1.0.0\n")
                .await
                .unwrap();
            s.write_all(&[0u8; 200]).await.unwrap();
            let mut buf = [0u8; 40];
            s.read_exact(&mut buf).await.unwrap();
        });
        assert_eq!(counter.get(), 0);
    }
}
