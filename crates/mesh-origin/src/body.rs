//! Response bodies: small in-memory ones, and file ranges streamed in chunks, throttled when a
//! rate is set and counted as they go.

use std::io::{self, SeekFrom};
use std::sync::Arc;

use bytes::Bytes;
use futures::stream;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::Frame;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::time::Instant;

use crate::state::OriginState;

/// The body type of every response.
pub(crate) type Body = UnsyncBoxBody<Bytes, io::Error>;

/// Largest chunk read and sent at once.
pub(crate) const MAX_CHUNK: usize = 64 * 1024;
/// Smallest chunk when throttled.
const MIN_THROTTLED_CHUNK: u64 = 1024;
/// Chunks per second aimed at when throttled: smooth enough for a progress bar, few enough
/// that the timer is not the cost.
const THROTTLED_CHUNKS_PER_SEC: u64 = 20;

/// No body.
pub(crate) fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// A body held in memory.
pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Paces chunks to the configured rate, if any, and counts them as sent.
struct Pacer {
    state: Arc<OriginState>,
    /// The path counted in the stats.
    path: Arc<str>,
    /// When the next chunk may go, when throttled.
    next_at: Instant,
}

impl Pacer {
    fn new(state: Arc<OriginState>, path: Arc<str>) -> Self {
        Self {
            state,
            path,
            next_at: Instant::now(),
        }
    }

    /// How many of `remaining` bytes the next chunk takes.
    fn chunk_len(&self, remaining: u64) -> u64 {
        match self.state.rate() {
            Some(rate) => {
                (rate / THROTTLED_CHUNKS_PER_SEC).clamp(MIN_THROTTLED_CHUNK, MAX_CHUNK as u64)
            }
            None => MAX_CHUNK as u64,
        }
        .min(remaining)
    }

    /// Waits until a chunk of `n` bytes may leave, then counts it.
    async fn send(&mut self, n: usize) {
        if let Some(rate) = self.state.rate() {
            // Pace: this chunk may leave once the previous ones have had their time.
            tokio::time::sleep_until(self.next_at).await;
            let secs = n as f64 / rate as f64;
            self.next_at = self
                .next_at
                .max(Instant::now() - std::time::Duration::from_millis(100))
                + std::time::Duration::from_secs_f64(secs);
        }
        self.state.record_body(Some(&self.path), n as u64);
    }
}

/// `len` bytes of `file` from `start`, read as they are sent. A file that turns out shorter
/// than promised ends the body with an error, which aborts the connection: the client sees
/// a truncated response rather than one that looks complete.
pub(crate) async fn file_range(
    mut file: tokio::fs::File,
    start: u64,
    len: u64,
    state: Arc<OriginState>,
    path: Arc<str>,
) -> io::Result<Body> {
    if start > 0 {
        file.seek(SeekFrom::Start(start)).await?;
    }
    let streaming = (file, len, Pacer::new(state, path));
    let chunks = stream::try_unfold(streaming, |(mut file, remaining, mut pacer)| async move {
        if remaining == 0 {
            return Ok(None);
        }
        // At most MAX_CHUNK, so it fits in usize.
        let chunk = usize::try_from(pacer.chunk_len(remaining)).unwrap_or(MAX_CHUNK);
        let mut buf = vec![0u8; chunk];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while being served",
            ));
        }
        buf.truncate(n);
        pacer.send(n).await;
        Ok(Some((
            Frame::data(Bytes::from(buf)),
            (file, remaining - n as u64, pacer),
        )))
    });
    Ok(StreamBody::new(chunks).boxed_unsync())
}

/// `data` (an encoded copy held in memory) sent in chunks, paced and counted like a file.
pub(crate) fn paced(data: Bytes, state: Arc<OriginState>, path: Arc<str>) -> Body {
    let chunks = stream::unfold(
        (data, Pacer::new(state, path)),
        |(mut data, mut pacer)| async move {
            if data.is_empty() {
                return None;
            }
            let chunk = usize::try_from(pacer.chunk_len(data.len() as u64)).unwrap_or(MAX_CHUNK);
            let piece = data.split_to(chunk);
            pacer.send(piece.len()).await;
            Some((Ok(Frame::data(piece)), (data, pacer)))
        },
    );
    StreamBody::new(chunks).boxed_unsync()
}
