//! One libp2p stream over one data channel: the spec's framing and its FIN / FIN_ACK /
//! STOP_SENDING / RESET_STREAM state machine.
//!
//! [`StreamState`] is sans-IO (bytes in, frames out) and [`Stream`] drives it over anything that
//! implements [`Channel`]: an `RTCDataChannel` in the browser, an in-memory pipe in the tests.
//! We do not reuse libp2p-webrtc-utils 0.5's `Stream`: it rejects FIN_ACK as invalid data and
//! never sends one, so a js-libp2p peer's `closeWrite` stalls for its 10 s timeout (WEBRTC.md §6.2).

use std::{
    collections::VecDeque,
    io,
    pin::Pin,
    task::{Context, Poll, ready},
    time::Duration,
};

use futures::{AsyncRead, AsyncWrite, FutureExt};
use futures_timer::Delay;

use crate::proto::{self, Flag, Frame, FrameRef, MAX_FRAME_LEN, MAX_PAYLOAD_LEN};

/// How long `poll_close` waits for the FIN_ACK before treating the write half as closed
/// (js-libp2p waits as long).
pub const FIN_ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// Received but unread bytes above which a stream stops taking messages off its channel (a
/// few frames: the rest waits in the channel's queue), except while `poll_close` waits for the
/// FIN_ACK, which may come after any amount of the remote's data (a responder can answer
/// before it reads our FIN). Both the queue and these bytes count toward the connection's
/// receive budget ([`crate::Config::with_max_receive_buffer`]) until the reader has them.
pub const MAX_READ_BUFFER: usize = 64 * 1024;

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // natively only in tests
/// A message-oriented, reliable, ordered channel: what a stream needs of an `RTCDataChannel`.
pub(crate) trait Channel: Unpin {
    /// Ready when one more message may be queued: the channel is open and its send buffer is
    /// below the high-water mark. Errors once the channel is closing or closed.
    fn poll_writable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Queues one message (frames are small; control frames may skip `poll_writable`).
    fn send(&mut self, message: &[u8]) -> io::Result<()>;
    /// The next received message, `None` once the channel has closed and all were taken, or
    /// an error once it closed after dropping messages the stream never took (the connection's
    /// receive budget was spent). Every task that polls is woken (a stream's halves may be
    /// polled from two tasks).
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Vec<u8>>>>;
    /// Starts closing the channel; queued messages are still delivered.
    fn close(&mut self);
    /// Gives back `bytes` of received messages' budget: the stream's reader has them now, or
    /// they were dropped. (A taken message stays counted until then.)
    fn release(&mut self, bytes: usize);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    Open,
    /// The remote sent FIN: EOF once the buffer is drained.
    Finished,
    /// We sent STOP_SENDING or the channel closed: EOF.
    Closed,
    Reset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteState {
    Open,
    /// FIN sent, waiting for FIN_ACK.
    FinSent,
    /// FIN acknowledged (or the wait timed out).
    Finished,
    /// The remote sent STOP_SENDING or the channel closed.
    Stopped,
    Reset,
}

/// The sans-IO state of one stream.
#[derive(Debug)]
pub struct StreamState {
    read: ReadState,
    write: WriteState,
    /// Received bytes not yet split into frames.
    undecoded: Vec<u8>,
    /// Payload ready for the reader.
    readable: VecDeque<u8>,
    /// Control frames to send, oldest first.
    outbox: VecDeque<Vec<u8>>,
    /// Whether our FIN_ACK is queued: once per stream, however often the remote sends FIN.
    fin_acked: bool,
}

impl Default for StreamState {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamState {
    /// A fresh, fully open stream.
    pub fn new() -> Self {
        Self {
            read: ReadState::Open,
            write: WriteState::Open,
            undecoded: Vec::new(),
            readable: VecDeque::new(),
            outbox: VecDeque::new(),
            fin_acked: false,
        }
    }

    /// Takes one received data channel message. A malformed frame resets the stream.
    pub fn handle_message(&mut self, message: &[u8]) {
        if self.read == ReadState::Reset {
            return;
        }
        // Frames are decoded where they lie, and their payload copied once, into `readable`.
        // Only a partial frame is kept across messages (js-libp2p sends one frame per message,
        // so normally there is none).
        if self.undecoded.is_empty() {
            let consumed = self.take_frames(message);
            if self.read != ReadState::Reset {
                self.undecoded.extend_from_slice(&message[consumed..]);
            }
        } else {
            let mut pending = std::mem::take(&mut self.undecoded);
            pending.extend_from_slice(message);
            let consumed = self.take_frames(&pending);
            if self.read != ReadState::Reset {
                pending.drain(..consumed);
                self.undecoded = pending;
            }
        }
    }

    /// Handles the complete frames at the front of `bytes`; how many bytes they took. A
    /// malformed frame resets the stream.
    fn take_frames(&mut self, bytes: &[u8]) -> usize {
        let mut consumed = 0;
        loop {
            let frame = proto::next_frame(&bytes[consumed..], MAX_FRAME_LEN).and_then(|next| {
                next.map(|(body, used)| Ok((FrameRef::decode(body)?, used)))
                    .transpose()
            });
            match frame {
                Ok(Some((frame, used))) => {
                    consumed += used;
                    self.handle_frame(frame);
                }
                Ok(None) => return consumed,
                Err(e) => {
                    tracing::debug!("resetting stream after bad frame: {e}");
                    self.reset();
                    return consumed;
                }
            }
        }
    }

    fn handle_frame(&mut self, frame: FrameRef<'_>) {
        if self.read == ReadState::Open {
            self.readable.extend(frame.message);
        }
        match frame.flag {
            None => {}
            Some(Flag::Fin) => {
                if self.read == ReadState::Open {
                    self.read = ReadState::Finished;
                }
                // One FIN_ACK only: a peer repeating FIN (thousands fit in one message) must
                // not grow our send queue while the channel cannot take them (found by the
                // webrtc_stream fuzz target).
                if self.read != ReadState::Reset && !self.fin_acked {
                    self.fin_acked = true;
                    self.outbox.push_back(Frame::flag(Flag::FinAck).encode());
                }
            }
            Some(Flag::FinAck) if self.write == WriteState::FinSent => {
                self.write = WriteState::Finished;
            }
            Some(Flag::FinAck) => {}
            Some(Flag::StopSending) => {
                if matches!(self.write, WriteState::Open | WriteState::FinSent) {
                    self.write = WriteState::Stopped;
                }
            }
            Some(Flag::ResetStream) => self.abort(),
        }
    }

    /// The channel closed (remote `close()` or the connection went away).
    pub fn handle_channel_closed(&mut self) {
        if self.read == ReadState::Open {
            self.read = ReadState::Closed;
        }
        if matches!(self.write, WriteState::Open | WriteState::FinSent) {
            self.write = WriteState::Stopped;
        }
    }

    /// The channel closed after dropping received bytes (see [`Channel::poll_recv`]): a read
    /// half still open is reset, not ended, so the reader cannot take the cut-off stream for a
    /// whole one (as after a RESET_STREAM from the remote).
    pub fn handle_channel_lost(&mut self) {
        if self.read == ReadState::Open {
            self.abort();
        }
        self.handle_channel_closed();
    }

    /// Copies readable bytes into `buf`: `Some(Ok(n))` with `n > 0` for data, `Some(Ok(0))`
    /// at EOF, `None` when nothing is there yet.
    pub fn read(&mut self, buf: &mut [u8]) -> Option<io::Result<usize>> {
        if !self.readable.is_empty() {
            let (front, back) = self.readable.as_slices();
            let n = buf.len().min(front.len() + back.len());
            let from_front = n.min(front.len());
            buf[..from_front].copy_from_slice(&front[..from_front]);
            buf[from_front..n].copy_from_slice(&back[..n - from_front]);
            self.readable.drain(..n);
            return Some(Ok(n));
        }
        match self.read {
            ReadState::Open => None,
            ReadState::Finished | ReadState::Closed => Some(Ok(0)),
            ReadState::Reset => Some(Err(io::ErrorKind::ConnectionReset.into())),
        }
    }

    /// Bytes received and not yet read.
    pub fn buffered(&self) -> usize {
        self.readable.len()
    }

    /// Received bytes still held: unread payload and a partial frame.
    fn held(&self) -> usize {
        self.readable.len() + self.undecoded.len()
    }

    /// Whether data may still be written: an error once our FIN went out, the remote sent
    /// STOP_SENDING or the stream was reset.
    pub fn check_writable(&self) -> io::Result<()> {
        match self.write {
            WriteState::Open => Ok(()),
            WriteState::Reset => Err(io::ErrorKind::ConnectionReset.into()),
            WriteState::FinSent | WriteState::Finished | WriteState::Stopped => {
                Err(io::ErrorKind::BrokenPipe.into())
            }
        }
    }

    /// Encodes up to [`MAX_PAYLOAD_LEN`] bytes of `buf` as one data frame, if writing is allowed.
    pub fn encode_write(&self, buf: &[u8]) -> io::Result<(Vec<u8>, usize)> {
        self.check_writable()?;
        let n = buf.len().min(MAX_PAYLOAD_LEN);
        Ok((proto::encode_frame(None, &buf[..n]), n))
    }

    /// Closes our write half: queues a FIN (once).
    pub fn close_write(&mut self) {
        if self.write == WriteState::Open {
            self.write = WriteState::FinSent;
            self.outbox.push_back(Frame::flag(Flag::Fin).encode());
        }
    }

    /// `None` while a FIN waits for its FIN_ACK; afterwards how the write half ended.
    pub fn write_closed(&self) -> Option<io::Result<()>> {
        match self.write {
            WriteState::Open | WriteState::FinSent => None,
            WriteState::Finished | WriteState::Stopped => Some(Ok(())),
            WriteState::Reset => Some(Err(io::ErrorKind::ConnectionReset.into())),
        }
    }

    /// The FIN_ACK did not come in time: consider the write half closed anyway.
    pub fn fin_ack_timed_out(&mut self) {
        if self.write == WriteState::FinSent {
            self.write = WriteState::Finished;
        }
    }

    /// Stops reading: queues STOP_SENDING and drops what was buffered.
    pub fn close_read(&mut self) {
        if self.read == ReadState::Open {
            self.read = ReadState::Closed;
            self.outbox
                .push_back(Frame::flag(Flag::StopSending).encode());
        }
        self.readable.clear();
    }

    /// Aborts both halves: queues RESET_STREAM unless the stream is already over.
    pub fn reset(&mut self) {
        if self.read != ReadState::Reset || self.write != WriteState::Reset {
            self.outbox
                .push_back(Frame::flag(Flag::ResetStream).encode());
        }
        self.abort();
    }

    /// Both halves reset, and what was received and not read dropped (its receive budget is
    /// then released): after our RESET_STREAM, the remote's, or a channel that lost bytes.
    fn abort(&mut self) {
        self.read = ReadState::Reset;
        self.write = WriteState::Reset;
        self.readable.clear();
        self.undecoded.clear();
    }

    /// Whether control frames wait to be sent.
    pub fn has_outbox(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// The next control frame to send.
    pub fn poll_outbox(&mut self) -> Option<Vec<u8>> {
        self.outbox.pop_front()
    }

    /// Both halves are over: the channel can be closed.
    pub fn is_done(&self) -> bool {
        self.read != ReadState::Open
            && !matches!(self.write, WriteState::Open | WriteState::FinSent)
    }

    /// FIN sent and not yet acknowledged.
    fn awaits_fin_ack(&self) -> bool {
        self.write == WriteState::FinSent
    }

    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    /// Our write half has ended cleanly (FIN acknowledged, or the remote stopped reading).
    fn write_finished(&self) -> bool {
        matches!(self.write, WriteState::Finished | WriteState::Stopped)
    }
}

/// A libp2p stream over a [`Channel`]: `AsyncRead` + `AsyncWrite` with the spec's half-close.
///
/// `poll_close` sends FIN and completes on FIN_ACK (or after [`FIN_ACK_TIMEOUT`]); reading
/// ends at the remote's FIN. Dropping a stream that is not finished sends RESET_STREAM (or
/// STOP_SENDING when only the read half is left) and closes the channel.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // natively only in tests
pub(crate) struct Stream<C: Channel> {
    channel: C,
    state: StreamState,
    fin_ack_timer: Option<Delay>,
    recv_done: bool,
    channel_closed: bool,
    /// Bytes of taken messages still counted against the channel's receive budget: at most
    /// what the reader has not read yet ([`Channel::release`]).
    held: usize,
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
impl<C: Channel> Stream<C> {
    pub(crate) fn new(channel: C) -> Self {
        Self {
            channel,
            state: StreamState::new(),
            fin_ack_timer: None,
            recv_done: false,
            channel_closed: false,
            held: 0,
        }
    }

    /// Takes received messages into the state machine, sends queued control frames, and
    /// closes the channel once both halves are over.
    fn drive(&mut self, cx: &mut Context<'_>) {
        while !self.recv_done
            && (self.state.buffered() < MAX_READ_BUFFER || self.state.awaits_fin_ack())
        {
            match self.channel.poll_recv(cx) {
                Poll::Ready(Some(Ok(message))) => {
                    self.held += message.len();
                    self.state.handle_message(&message);
                }
                Poll::Ready(None) => {
                    self.recv_done = true;
                    self.state.handle_channel_closed();
                }
                Poll::Ready(Some(Err(e))) => {
                    tracing::debug!("channel lost received bytes: {e}");
                    self.recv_done = true;
                    self.state.handle_channel_lost();
                }
                Poll::Pending => break,
            }
        }
        self.release_read();
        self.flush_outbox(Some(cx));
    }

    /// Gives back the receive budget of everything but the bytes still held (unread payload,
    /// a partial frame): frame headers, control frames, bytes read or discarded.
    fn release_read(&mut self) {
        let unread = self.state.held();
        if self.held > unread {
            self.channel.release(self.held - unread);
            self.held = unread;
        }
    }

    /// Sends queued control frames. With a context, frames wait (in order) until the channel
    /// is open — a FIN on a stream closed before its channel opened must not be lost; without
    /// one (on drop) they go now or never. Closes the channel once both halves are over and
    /// nothing is left to send.
    fn flush_outbox(&mut self, mut cx: Option<&mut Context<'_>>) {
        while self.state.has_outbox() {
            if self.recv_done {
                while self.state.poll_outbox().is_some() {} // closed: nothing can be sent
                break;
            }
            if let Some(cx) = cx.as_deref_mut() {
                match self.channel.poll_writable(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Pending => return,
                    Poll::Ready(Err(_)) => {
                        while self.state.poll_outbox().is_some() {}
                        break;
                    }
                }
            }
            if let Some(frame) = self.state.poll_outbox()
                && let Err(e) = self.channel.send(&frame)
            {
                tracing::debug!("cannot send control frame: {e}");
            }
        }
        if self.state.is_done() && !self.channel_closed {
            self.channel_closed = true;
            self.channel.close();
        }
    }
}

impl<C: Channel> AsyncRead for Stream<C> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.drive(cx);
        let result = this.state.read(buf);
        this.release_read();
        match result {
            Some(result) => Poll::Ready(result),
            None => Poll::Pending,
        }
    }
}

impl<C: Channel> AsyncWrite for Stream<C> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.drive(cx);
        // Check before waiting for room, so a reset or STOP_SENDING fails the write at once.
        this.state.check_writable()?;
        ready!(this.channel.poll_writable(cx))?;
        let (frame, n) = this.state.encode_write(buf)?;
        this.channel.send(&frame)?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Sent messages are queued in the channel, which delivers them in order; waiting
        // for an empty send buffer on every flush would halve throughput.
        self.get_mut().drive(cx);
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.state.close_write();
        this.drive(cx);
        if let Some(result) = this.state.write_closed() {
            return Poll::Ready(result);
        }
        let timer = this
            .fin_ack_timer
            .get_or_insert_with(|| Delay::new(FIN_ACK_TIMEOUT));
        ready!(timer.poll_unpin(cx));
        tracing::debug!("no FIN_ACK within {FIN_ACK_TIMEOUT:?}; closing the write half anyway");
        this.state.fin_ack_timed_out();
        this.flush_outbox(Some(cx));
        Poll::Ready(Ok(()))
    }
}

impl<C: Channel> Drop for Stream<C> {
    fn drop(&mut self) {
        self.channel.release(std::mem::take(&mut self.held));
        if self.state.is_done() {
            return;
        }
        if self.state.write_finished() {
            self.state.close_read();
        } else {
            self.state.reset();
        }
        self.flush_outbox(None);
        if !self.channel_closed {
            self.channel_closed = true;
            self.channel.close();
        }
    }
}

#[cfg(test)]
mod tests;
