//! The two halves of a session stream as pollable state: a reader that yields one frame at a
//! time and a writer that drains a queue of encoded frames, batching what queued up while the
//! last write was under way into one flush.
//!
//! Each half is moved into the future that uses it and handed back when that future ends, so a
//! frame is never half-read or half-written when the handler looks at the half again.

use std::collections::VecDeque;
use std::io;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::io::{ReadHalf, WriteHalf};
use futures::{AsyncWriteExt, FutureExt};
use libp2p::Stream;
use mesh_core::wire::{BlockRequest, BlockResponse, Message};

use crate::blocks::BlockCodec;
use crate::blocks::codec::encode_frame;

/// Frames written per flush at most, so that a long queue of blocks still reports progress
/// (and frees send slots) as it goes.
const MAX_BATCH_BYTES: usize = 1 << 20;

type Read<T> = BoxFuture<'static, (ReadHalf<Stream>, io::Result<T>)>;

/// Reads one message after another: requests on a peer's stream, answers on ours.
pub(super) struct FrameReader<T> {
    codec: BlockCodec,
    read: fn(BlockCodec, ReadHalf<Stream>) -> Read<T>,
    state: ReadState<T>,
}

enum ReadState<T> {
    Idle(ReadHalf<Stream>),
    Reading(Read<T>),
    /// Between the two (never observed outside `poll_next`).
    Taken,
}

impl FrameReader<BlockRequest> {
    /// Reads a peer's requests; the codec counts malformed ones.
    pub(super) fn requests(half: ReadHalf<Stream>, codec: BlockCodec) -> Self {
        Self {
            codec,
            read: |codec, mut half| {
                async move {
                    let request = codec.read_request(&mut half).await;
                    (half, request)
                }
                .boxed()
            },
            state: ReadState::Idle(half),
        }
    }
}

impl FrameReader<BlockResponse> {
    /// Reads the answers to our requests.
    pub(super) fn responses(half: ReadHalf<Stream>, codec: BlockCodec) -> Self {
        Self {
            codec,
            read: |codec, mut half| {
                async move {
                    let response = codec.read_response(&mut half).await;
                    (half, response)
                }
                .boxed()
            },
            state: ReadState::Idle(half),
        }
    }
}

impl<T> FrameReader<T> {
    /// The next message. An error ends the reader: after a malformed frame the stream's
    /// framing cannot be trusted, and a closed stream yields [`io::ErrorKind::UnexpectedEof`].
    pub(super) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        loop {
            match std::mem::replace(&mut self.state, ReadState::Taken) {
                ReadState::Idle(half) => {
                    self.state = ReadState::Reading((self.read)(self.codec.clone(), half));
                }
                ReadState::Reading(mut read) => match read.poll_unpin(cx) {
                    Poll::Ready((half, message)) => {
                        self.state = ReadState::Idle(half);
                        return Poll::Ready(message);
                    }
                    Poll::Pending => {
                        self.state = ReadState::Reading(read);
                        return Poll::Pending;
                    }
                },
                ReadState::Taken => return Poll::Pending,
            }
        }
    }
}

/// Writes queued frames in order. `T` tags each frame, and the tags of the frames a write
/// flushed come back from [`FrameWriter::poll_flushed`].
pub(super) struct FrameWriter<T> {
    max: usize,
    queue: VecDeque<(Bytes, T)>,
    state: WriteState<T>,
}

type Written<T> = (WriteHalf<Stream>, Vec<T>, io::Result<()>);

enum WriteState<T> {
    Idle(WriteHalf<Stream>),
    Writing(BoxFuture<'static, Written<T>>),
    Failed,
}

impl<T: Send + 'static> FrameWriter<T> {
    pub(super) fn new(half: WriteHalf<Stream>, max: usize) -> Self {
        Self {
            max,
            queue: VecDeque::new(),
            state: WriteState::Idle(half),
        }
    }

    /// Queues `message` as one frame. A message over the limit is refused with
    /// [`io::ErrorKind::InvalidInput`] and nothing is queued.
    pub(super) fn push(&mut self, message: &Message, tag: T) -> io::Result<()> {
        self.queue
            .push_back((encode_frame(message, self.max)?, tag));
        Ok(())
    }

    /// Whether frames are queued or being written.
    pub(super) fn is_busy(&self) -> bool {
        !self.queue.is_empty() || matches!(self.state, WriteState::Writing(_))
    }

    /// Drives the writes. Ready with the tags of frames that went out and were flushed, or
    /// with the error that ended the writer.
    pub(super) fn poll_flushed(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Vec<T>>> {
        loop {
            match std::mem::replace(&mut self.state, WriteState::Failed) {
                WriteState::Idle(mut half) => {
                    if self.queue.is_empty() {
                        self.state = WriteState::Idle(half);
                        return Poll::Pending;
                    }
                    let mut frames = Vec::new();
                    let mut tags = Vec::new();
                    let mut bytes = 0;
                    while let Some((frame, tag)) = self.queue.pop_front() {
                        bytes += frame.len();
                        frames.push(frame);
                        tags.push(tag);
                        if bytes >= MAX_BATCH_BYTES {
                            break;
                        }
                    }
                    self.state = WriteState::Writing(
                        async move {
                            let mut result = Ok(());
                            for frame in &frames {
                                result = half.write_all(frame).await;
                                if result.is_err() {
                                    break;
                                }
                            }
                            if result.is_ok() {
                                result = half.flush().await;
                            }
                            (half, tags, result)
                        }
                        .boxed(),
                    );
                }
                WriteState::Writing(mut write) => match write.poll_unpin(cx) {
                    Poll::Ready((half, tags, Ok(()))) => {
                        self.state = WriteState::Idle(half);
                        return Poll::Ready(Ok(tags));
                    }
                    // The writer stays failed; the caller fails what was queued on it.
                    Poll::Ready((_, _, Err(e))) => return Poll::Ready(Err(e)),
                    Poll::Pending => {
                        self.state = WriteState::Writing(write);
                        return Poll::Pending;
                    }
                },
                WriteState::Failed => return Poll::Pending,
            }
        }
    }
}
