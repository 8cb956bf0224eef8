//! The stream state machine over in-memory channels, stepped by hand (no timers, no sleeps).

use std::{
    collections::VecDeque,
    io,
    pin::pin,
    sync::{Arc, Mutex},
    task::{Context, Poll, Waker},
};

use futures::{AsyncReadExt, AsyncWriteExt, FutureExt, future};

use super::*;
use crate::proto::{Flag, Frame};

#[derive(Default)]
struct Queue {
    messages: VecDeque<Vec<u8>>,
    /// Like an RTCDataChannel still `connecting`: sends fail, writers wait.
    opening: bool,
    closed: bool,
    /// Closed after dropping received messages, as a channel whose receive budget was spent.
    lost: bool,
    wakers: Vec<Waker>,
    /// Bytes of messages taken off this queue and not yet released by the stream.
    held: usize,
}

/// One end of an in-memory data channel: ordered, reliable, closes both ways.
struct MemChannel {
    tx: Arc<Mutex<Queue>>,
    rx: Arc<Mutex<Queue>>,
}

fn pair() -> (MemChannel, MemChannel) {
    let a = Arc::new(Mutex::new(Queue::default()));
    let b = Arc::new(Mutex::new(Queue::default()));
    (
        MemChannel {
            tx: a.clone(),
            rx: b.clone(),
        },
        MemChannel { tx: b, rx: a },
    )
}

fn lock(q: &Arc<Mutex<Queue>>) -> std::sync::MutexGuard<'_, Queue> {
    q.lock().expect("test mutex not poisoned")
}

impl Channel for MemChannel {
    fn poll_writable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut q = lock(&self.tx);
        if q.closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if q.opening {
            q.wakers.push(cx.waker().clone());
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }

    fn send(&mut self, message: &[u8]) -> io::Result<()> {
        let mut q = lock(&self.tx);
        if q.closed || q.opening {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        q.messages.push_back(message.to_vec());
        for w in q.wakers.drain(..) {
            w.wake();
        }
        Ok(())
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Vec<u8>>>> {
        let mut q = lock(&self.rx);
        if let Some(m) = q.messages.pop_front() {
            q.held += m.len();
            return Poll::Ready(Some(Ok(m)));
        }
        if q.lost {
            return Poll::Ready(Some(Err(io::ErrorKind::ConnectionReset.into())));
        }
        if q.closed {
            return Poll::Ready(None);
        }
        if !q.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            q.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    fn close(&mut self) {
        for q in [&self.tx, &self.rx] {
            let mut q = lock(q);
            q.closed = true;
            for w in q.wakers.drain(..) {
                w.wake();
            }
        }
    }

    fn release(&mut self, bytes: usize) {
        let mut q = lock(&self.rx);
        q.held = q
            .held
            .checked_sub(bytes)
            .expect("released only what was taken");
    }
}

impl MemChannel {
    /// Frames sent by the other end so far (raw-peer side of a test).
    fn take_frames(&mut self) -> Vec<Frame> {
        let mut bytes: Vec<u8> = lock(&self.rx).messages.drain(..).flatten().collect();
        let bodies = proto::split_frames(&mut bytes, MAX_FRAME_LEN).expect("valid frames");
        assert!(bytes.is_empty(), "partial frame left");
        bodies
            .iter()
            .map(|b| Frame::decode(b).expect("valid frame"))
            .collect()
    }

    fn send_frame(&mut self, frame: Frame) {
        self.send(&frame.encode()).expect("channel open");
    }

    /// Received bytes the stream still counts against the budget.
    fn held(&self) -> usize {
        lock(&self.tx).held
    }

    fn is_closed(&self) -> bool {
        lock(&self.rx).closed
    }

    /// What the other end's channel does when its receive budget is spent: drops the messages
    /// its stream has not taken and closes.
    fn drop_unread_and_close(&mut self) {
        {
            let mut q = lock(&self.tx);
            q.messages.clear();
            q.lost = true;
        }
        self.close();
    }
}

fn cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

fn read_now(stream: &mut Stream<MemChannel>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
    pin!(stream.read(buf)).poll_unpin(&mut cx())
}

fn close_now(stream: &mut Stream<MemChannel>) -> Poll<io::Result<()>> {
    Pin::new(stream).poll_close(&mut cx())
}

#[test]
fn close_sends_fin_and_completes_on_fin_ack() {
    let (a, mut raw) = pair();
    let mut stream = Stream::new(a);
    assert!(matches!(
        pin!(stream.write(b"req")).poll_unpin(&mut cx()),
        Poll::Ready(Ok(3))
    ));
    assert!(close_now(&mut stream).is_pending(), "must wait for FIN_ACK");
    assert_eq!(
        raw.take_frames(),
        [Frame::data(b"req".to_vec()), Frame::flag(Flag::Fin)]
    );
    assert!(
        close_now(&mut stream).is_pending(),
        "FIN sent once, still waiting"
    );
    assert_eq!(raw.take_frames(), []);
    raw.send_frame(Frame::flag(Flag::FinAck));
    assert!(matches!(close_now(&mut stream), Poll::Ready(Ok(()))));
    // Write half closed, read half still open: the response can come.
    raw.send_frame(Frame::data(b"resp".to_vec()));
    let mut buf = [0; 16];
    assert!(matches!(
        read_now(&mut stream, &mut buf),
        Poll::Ready(Ok(4))
    ));
    assert_eq!(&buf[..4], b"resp");
    assert!(!raw.is_closed());
    raw.send_frame(Frame::flag(Flag::Fin));
    assert!(matches!(
        read_now(&mut stream, &mut buf),
        Poll::Ready(Ok(0))
    ));
    assert_eq!(raw.take_frames(), [Frame::flag(Flag::FinAck)]);
    assert!(raw.is_closed(), "both halves over: channel closed");
}

#[test]
fn fin_is_acknowledged_without_writing_and_data_before_it_is_read() {
    let (a, mut raw) = pair();
    let mut stream = Stream::new(a);
    raw.send_frame(Frame {
        flag: Some(Flag::Fin),
        message: b"last".to_vec(),
    });
    let mut buf = [0; 2];
    assert!(matches!(
        read_now(&mut stream, &mut buf),
        Poll::Ready(Ok(2))
    ));
    assert_eq!(raw.take_frames(), [Frame::flag(Flag::FinAck)]);
    assert!(matches!(
        read_now(&mut stream, &mut buf),
        Poll::Ready(Ok(2))
    ));
    assert_eq!(&buf, b"st");
    assert!(matches!(
        read_now(&mut stream, &mut buf),
        Poll::Ready(Ok(0))
    ));
    // Our write half is still open after the remote's FIN.
    assert!(matches!(
        pin!(stream.write(b"x")).poll_unpin(&mut cx()),
        Poll::Ready(Ok(1))
    ));
}

#[test]
fn a_repeated_fin_is_acknowledged_once() {
    let (a, mut raw) = pair();
    let mut stream = Stream::new(a);
    // Many FINs in one message, then more in another: one FIN_ACK in all.
    let fins: Vec<u8> = (0..1000)
        .flat_map(|_| Frame::flag(Flag::Fin).encode())
        .collect();
    raw.send(&fins).expect("channel open");
    raw.send_frame(Frame::flag(Flag::Fin));
    let mut buf = [0; 2];
    assert!(matches!(
        read_now(&mut stream, &mut buf),
        Poll::Ready(Ok(0))
    ));
    assert_eq!(raw.take_frames(), [Frame::flag(Flag::FinAck)]);
    raw.send_frame(Frame::flag(Flag::Fin));
    assert!(matches!(
        read_now(&mut stream, &mut buf),
        Poll::Ready(Ok(0))
    ));
    assert_eq!(raw.take_frames(), []);
}

#[test]
fn stop_sending_fails_writes() {
    let (a, mut raw) = pair();
    let mut stream = Stream::new(a);
    raw.send_frame(Frame::flag(Flag::StopSending));
    let err = match pin!(stream.write(b"x")).poll_unpin(&mut cx()) {
        Poll::Ready(Err(e)) => e,
        other => panic!("expected an error, got {other:?}"),
    };
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    // Reading still works.
    raw.send_frame(Frame::data(b"y".to_vec()));
    let mut buf = [0; 4];
    assert!(matches!(
        read_now(&mut stream, &mut buf),
        Poll::Ready(Ok(1))
    ));
}

#[test]
fn reset_fails_both_halves_and_discards_buffered_data() {
    let (a, mut raw) = pair();
    let mut stream = Stream::new(a);
    raw.send_frame(Frame::data(b"unread".to_vec()));
    raw.send_frame(Frame::flag(Flag::ResetStream));
    let mut buf = [0; 8];
    match read_now(&mut stream, &mut buf) {
        Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
        other => panic!("expected reset, got {other:?}"),
    }
    match pin!(stream.write(b"x")).poll_unpin(&mut cx()) {
        Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
        other => panic!("expected reset, got {other:?}"),
    }
}

#[test]
fn drop_of_an_open_stream_sends_reset_and_closes_the_channel() {
    let (a, mut raw) = pair();
    drop(Stream::new(a));
    assert_eq!(raw.take_frames(), [Frame::flag(Flag::ResetStream)]);
    assert!(raw.is_closed());
}

#[test]
fn drop_after_clean_write_close_sends_stop_sending() {
    let (a, mut raw) = pair();
    let mut stream = Stream::new(a);
    assert!(close_now(&mut stream).is_pending());
    raw.send_frame(Frame::flag(Flag::FinAck));
    assert!(matches!(close_now(&mut stream), Poll::Ready(Ok(()))));
    drop(stream);
    assert_eq!(
        raw.take_frames(),
        [Frame::flag(Flag::Fin), Frame::flag(Flag::StopSending)]
    );
    assert!(raw.is_closed());
}

#[test]
fn malformed_frame_resets_the_stream() {
    let (a, mut raw) = pair();
    let mut stream = Stream::new(a);
    raw.send(&[0x03, 0x0b, 0x00, 0x00]).expect("open"); // wire type 3
    let mut buf = [0; 4];
    assert!(matches!(
        read_now(&mut stream, &mut buf),
        Poll::Ready(Err(_))
    ));
    assert_eq!(raw.take_frames(), [Frame::flag(Flag::ResetStream)]);
    let mut oversize = vec![0x81, 0x80, 0x01]; // a 16385-byte frame
    oversize.resize(3 + 16385, 0);
    let (a, mut raw) = pair();
    let mut stream = Stream::new(a);
    raw.send(&oversize).expect("open");
    assert!(matches!(
        read_now(&mut stream, &mut buf),
        Poll::Ready(Err(_))
    ));
}

#[test]
fn frames_split_across_messages_are_reassembled() {
    let (a, mut raw) = pair();
    let mut stream = Stream::new(a);
    let mut bytes = Frame::data(b"hello".to_vec()).encode();
    bytes.extend(Frame::flag(Flag::Fin).encode());
    for b in bytes {
        raw.send(&[b]).expect("open");
    }
    let mut out = Vec::new();
    assert!(matches!(
        pin!(stream.read_to_end(&mut out)).poll_unpin(&mut cx()),
        Poll::Ready(Ok(5))
    ));
    assert_eq!(out, b"hello");
}

/// Frames are decoded in place from each message; a message may hold several frames and end
/// inside one, whose rest comes with the next message (the spec allows batching and splitting).
#[test]
fn batched_frames_and_a_partial_tail_are_read_in_order() {
    let (a, mut raw) = pair();
    let mut stream = Stream::new(a);
    let mut bytes = Frame::data(b"one".to_vec()).encode();
    bytes.extend(Frame::data(b"two".to_vec()).encode());
    bytes.extend(Frame::data(b"three".to_vec()).encode());
    bytes.extend(Frame::flag(Flag::Fin).encode());
    // The first message ends inside "three"; the second holds its rest and the FIN.
    let cut = bytes.len() - 5;
    raw.send(&bytes[..cut]).expect("open");
    raw.send(&bytes[cut..]).expect("open");
    let mut out = Vec::new();
    assert!(matches!(
        pin!(stream.read_to_end(&mut out)).poll_unpin(&mut cx()),
        Poll::Ready(Ok(11))
    ));
    assert_eq!(out, b"onetwothree");
}

#[test]
fn channel_closed_without_fin_is_eof_and_fails_writes() {
    let (a, mut raw) = pair();
    let mut stream = Stream::new(a);
    raw.send_frame(Frame::data(b"ab".to_vec()));
    raw.close();
    let mut out = Vec::new();
    assert!(matches!(
        pin!(stream.read_to_end(&mut out)).poll_unpin(&mut cx()),
        Poll::Ready(Ok(2))
    ));
    assert!(matches!(
        pin!(stream.write(b"x")).poll_unpin(&mut cx()),
        Poll::Ready(Err(_))
    ));
}

#[test]
fn channel_closed_after_dropping_received_bytes_is_a_reset() {
    let (a, mut raw) = pair();
    let mut stream = Stream::new(a);
    raw.send_frame(Frame::data(b"taken".to_vec()));
    let mut buf = [0; 2];
    assert!(matches!(
        read_now(&mut stream, &mut buf),
        Poll::Ready(Ok(2))
    ));
    // More comes, and the channel drops it before the stream takes it.
    raw.send_frame(Frame::data(b"dropped".to_vec()));
    raw.drop_unread_and_close();
    let mut out = Vec::new();
    match pin!(stream.read_to_end(&mut out)).poll_unpin(&mut cx()) {
        Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
        other => panic!("a cut-off stream must not read as whole: {other:?}"),
    }
    match pin!(stream.write(b"x")).poll_unpin(&mut cx()) {
        Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
        other => panic!("expected reset, got {other:?}"),
    }
    assert_eq!(raw.held(), 0, "what the stream held is released");
}

#[test]
fn writes_are_cut_into_frames_of_at_most_16_kib() {
    let (a, raw) = pair();
    let mut stream = Stream::new(a);
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    assert!(matches!(
        pin!(stream.write_all(&data)).poll_unpin(&mut cx()),
        Poll::Ready(Ok(()))
    ));
    let mut received = Vec::new();
    let mut count = 0;
    let mut bytes: Vec<u8> = Vec::new();
    for m in lock(&raw.rx).messages.drain(..) {
        assert!(m.len() <= MAX_FRAME_LEN, "message of {} bytes", m.len());
        count += 1;
        bytes.extend(m);
    }
    for body in proto::split_frames(&mut bytes, MAX_FRAME_LEN).expect("valid") {
        received.extend(Frame::decode(&body).expect("valid").message);
    }
    assert_eq!(received, data);
    assert_eq!(count, data.len().div_ceil(MAX_PAYLOAD_LEN));
}

/// Two real streams back to back: a half-closed request/response and a 1 MiB echo.
#[test]
fn request_response_and_echo_between_two_streams() {
    let (a, b) = pair();
    let (mut client, mut server) = (Stream::new(a), Stream::new(b));
    let payload: Vec<u8> = (0..1024 * 1024u32).map(|i| (i * 7 % 256) as u8).collect();
    let client_side = async {
        client.write_all(&payload).await?;
        client.close().await?;
        let mut back = Vec::new();
        client.read_to_end(&mut back).await?;
        io::Result::Ok(back)
    };
    let server_side = async {
        let mut got = Vec::new();
        server.read_to_end(&mut got).await?;
        server.write_all(&got).await?;
        server.close().await?;
        io::Result::Ok(got.len())
    };
    let (back, n) = futures::executor::block_on(future::try_join(client_side, server_side))
        .expect("echo succeeds");
    assert_eq!(n, payload.len());
    assert_eq!(back, payload);
    assert!(client.state.is_done() && server.state.is_done());
}

#[test]
fn fin_of_a_stream_closed_before_its_channel_opened_is_sent_once_open() {
    let (a, mut raw) = pair();
    lock(&a.tx).opening = true;
    let mut stream = Stream::new(a);
    assert!(close_now(&mut stream).is_pending());
    assert_eq!(
        raw.take_frames(),
        [],
        "nothing can be sent while the channel opens"
    );
    lock(&stream.channel.tx).opening = false;
    assert!(
        close_now(&mut stream).is_pending(),
        "FIN sent, FIN_ACK awaited"
    );
    assert_eq!(raw.take_frames(), [Frame::flag(Flag::Fin)]);
    raw.send_frame(Frame::flag(Flag::FinAck));
    assert!(matches!(close_now(&mut stream), Poll::Ready(Ok(()))));
}

/// A responder may answer before it reads our FIN, so its FIN_ACK can follow more data than
/// the stream reads ahead: the close must still see it (it waited for the FIN_ACK timeout, and
/// every block request over /webrtc timed out), and the budget must still count the data.
#[test]
fn close_sees_a_fin_ack_behind_more_than_the_read_buffer() {
    let (a, mut raw) = pair();
    let mut stream = Stream::new(a);
    assert!(matches!(
        pin!(stream.write(b"req")).poll_unpin(&mut cx()),
        Poll::Ready(Ok(3))
    ));
    assert!(close_now(&mut stream).is_pending());
    let response: Vec<u8> = (0..256 * 1024u32).map(|i| (i % 251) as u8).collect();
    for chunk in response.chunks(MAX_PAYLOAD_LEN) {
        raw.send_frame(Frame::data(chunk.to_vec()));
    }
    raw.send_frame(Frame::flag(Flag::FinAck));
    assert!(
        matches!(close_now(&mut stream), Poll::Ready(Ok(()))),
        "the FIN_ACK behind 256 KiB ends the close"
    );
    assert!(
        raw.held() >= response.len(),
        "unread bytes stay counted: {} < {}",
        raw.held(),
        response.len()
    );
    raw.send_frame(Frame::flag(Flag::Fin));
    let mut got = Vec::new();
    assert!(matches!(
        pin!(stream.read_to_end(&mut got)).poll_unpin(&mut cx()),
        Poll::Ready(Ok(_))
    ));
    assert!(got == response, "the response arrives whole");
    assert_eq!(raw.held(), 0, "everything read is released");
}

/// Past [`MAX_READ_BUFFER`] of unread bytes (and no close waiting) the stream leaves messages
/// in the channel; what it took is released as the reader reads it.
#[test]
fn read_ahead_stops_at_the_read_buffer_and_releases_as_read() {
    let (a, mut raw) = pair();
    let mut stream = Stream::new(a);
    let data = vec![7u8; 4 * MAX_READ_BUFFER];
    for chunk in data.chunks(MAX_PAYLOAD_LEN) {
        raw.send_frame(Frame::data(chunk.to_vec()));
    }
    let mut buf = vec![0; 1024];
    assert!(matches!(
        read_now(&mut stream, &mut buf),
        Poll::Ready(Ok(1024))
    ));
    let held = raw.held();
    assert!(
        held < MAX_READ_BUFFER + MAX_FRAME_LEN,
        "{held} bytes taken off the channel"
    );
    assert!(held >= stream.state.buffered());
    let mut rest = vec![0; data.len() - 1024];
    assert!(matches!(
        pin!(stream.read_exact(&mut rest)).poll_unpin(&mut cx()),
        Poll::Ready(Ok(()))
    ));
    assert_eq!(raw.held(), 0);
    drop(stream);
}
