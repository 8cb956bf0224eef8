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

/// Streaming state of one file range.
struct Streaming {
    file: tokio::fs::File,
    remaining: u64,
    state: Arc<OriginState>,
    /// The path counted in the stats.
    path: Arc<str>,
    /// When the next chunk may go, when throttled.
    next_at: Instant,
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
    let streaming = Streaming {
        file,
        remaining: len,
        state,
        path,
        next_at: Instant::now(),
    };
    let chunks = stream::try_unfold(streaming, |mut s| async move {
        if s.remaining == 0 {
            return Ok(None);
        }
        let rate = s.state.rate();
        let chunk = match rate {
            Some(rate) => {
                (rate / THROTTLED_CHUNKS_PER_SEC).clamp(MIN_THROTTLED_CHUNK, MAX_CHUNK as u64)
            }
            None => MAX_CHUNK as u64,
        }
        .min(s.remaining);
        // At most MAX_CHUNK, so it fits in usize.
        let mut buf = vec![0u8; usize::try_from(chunk).unwrap_or(MAX_CHUNK)];
        let n = s.file.read(&mut buf).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while being served",
            ));
        }
        buf.truncate(n);
        if let Some(rate) = rate {
            // Pace: this chunk may leave once the previous ones have had their time.
            tokio::time::sleep_until(s.next_at).await;
            let secs = n as f64 / rate as f64;
            s.next_at = s
                .next_at
                .max(Instant::now() - std::time::Duration::from_millis(100))
                + std::time::Duration::from_secs_f64(secs);
        }
        s.remaining -= n as u64;
        s.state.record_body(Some(&s.path), n as u64);
        Ok(Some((Frame::data(Bytes::from(buf)), s)))
    });
    Ok(StreamBody::new(chunks).boxed_unsync())
}
