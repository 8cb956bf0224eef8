//! A direct WebRTC connection as a libp2p [`StreamMuxer`]: one data channel per stream
//! (browser only).

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use futures::{AsyncRead, AsyncWrite, StreamExt};
use libp2p::core::muxing::{StreamMuxer, StreamMuxerEvent};
use send_wrapper::SendWrapper;
use web_sys::RtcPeerConnectionState;

use crate::{
    limits::{Slot, Slots},
    peer_connection::{DataChannel, PeerConnection},
    stream::{Channel as _, Stream},
};

/// A direct `/webrtc` connection. Dropping or closing it closes the `RTCPeerConnection`.
pub struct Connection {
    // wasm32 is single-threaded; libp2p wants Send.
    inner: SendWrapper<PeerConnection>,
    /// Streams the remote has open ([`crate::Config::with_max_inbound_streams`]).
    inbound_streams: Slots,
    /// Its place among the transport's connections, given back when it is dropped.
    _slot: Slot,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}

impl Connection {
    pub(crate) fn new(mut pc: PeerConnection, slot: Slot, max_inbound_streams: usize) -> Self {
        pc.watch_transports();
        Self {
            inner: SendWrapper::new(pc),
            inbound_streams: Slots::new(max_inbound_streams),
            _slot: slot,
        }
    }
}

/// One stream of a [`Connection`].
pub struct WebRtcStream {
    inner: SendWrapper<Stream<DataChannel>>,
    /// For a stream the remote opened, its place among the connection's inbound streams.
    _slot: Option<Slot>,
}

impl std::fmt::Debug for WebRtcStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebRtcStream").finish_non_exhaustive()
    }
}

impl WebRtcStream {
    fn new(channel: DataChannel, slot: Option<Slot>) -> Self {
        Self {
            inner: SendWrapper::new(Stream::new(channel)),
            _slot: slot,
        }
    }
}

impl AsyncRead for WebRtcStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for WebRtcStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.inner).poll_close(cx)
    }
}

fn state_error(pc: &PeerConnection) -> Option<io::Error> {
    if pc.transport_closed() {
        return Some(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "remote closed the connection",
        ));
    }
    match pc.pc.connection_state() {
        RtcPeerConnectionState::Failed => Some(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "peer connection failed",
        )),
        RtcPeerConnectionState::Closed => Some(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "peer connection closed",
        )),
        _ => None,
    }
}

impl StreamMuxer for Connection {
    type Substream = WebRtcStream;
    type Error = io::Error;

    fn poll_inbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        if let Some(e) = state_error(&self.inner) {
            return Poll::Ready(Err(e));
        }
        loop {
            match self.inner.inbound.poll_next_unpin(cx) {
                Poll::Ready(Some(mut channel)) => match self.inbound_streams.try_acquire() {
                    Some(slot) => return Poll::Ready(Ok(WebRtcStream::new(channel, Some(slot)))),
                    None => {
                        tracing::debug!("remote opened too many streams; closing the newest");
                        channel.close();
                    }
                },
                Poll::Ready(None) => {
                    return Poll::Ready(Err(io::ErrorKind::ConnectionAborted.into()));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn poll_outbound(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        if let Some(e) = state_error(&self.inner) {
            return Poll::Ready(Err(e));
        }
        // Writes wait for the channel to open; the remote sees it at once.
        Poll::Ready(Ok(WebRtcStream::new(self.inner.create_channel(""), None)))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.pc.close();
        Poll::Ready(Ok(()))
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<StreamMuxerEvent, Self::Error>> {
        loop {
            if let Some(e) = state_error(&self.inner) {
                return Poll::Ready(Err(e));
            }
            match self.inner.state_changes.poll_next_unpin(cx) {
                Poll::Ready(Some(())) => continue,
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }
}
