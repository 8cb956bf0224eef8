//! Origin HTTP requests: one task per request, streaming the body back to the driver.
//!
//! reqwest (rustls, ring) was chosen over bare hyper: it handles redirects, TLS and connection
//! reuse in a few lines, is maintained by hyper's author, and its ring-based rustls matches the
//! crypto libp2p already links (no second TLS stack, no C toolchain for aws-lc).

use std::ops::Range;

use bytes::Bytes;
use mesh_core::fetch::OriginRequestId;
use reqwest::{Client, StatusCode, Url, header};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

/// Pieces of origin bodies waiting for the driver. Small: the request task waits when it is
/// full, which slows the HTTP download to the pace of verification.
pub(crate) const ORIGIN_CHANNEL_CAPACITY: usize = 64;

/// What an origin request task reports.
#[derive(Debug)]
pub(crate) enum OriginEvent {
    /// The next piece of the body.
    Data(OriginRequestId, Bytes),
    /// The body ended.
    Done(OriginRequestId),
    /// The request failed.
    Failed(OriginRequestId, String),
}

/// Starts `GET url` (with `Range` when `range` is given); its events go to `events`.
pub(crate) fn spawn(
    client: Client,
    url: Url,
    range: Option<Range<u64>>,
    request: OriginRequestId,
    events: mpsc::Sender<OriginEvent>,
) -> AbortHandle {
    tokio::spawn(async move {
        let event = match get(&client, url, range, request, &events).await {
            Ok(()) => OriginEvent::Done(request),
            Err(reason) => OriginEvent::Failed(request, reason),
        };
        // The driver may be gone (shutdown): nothing left to tell.
        let _ = events.send(event).await;
    })
    .abort_handle()
}

async fn get(
    client: &Client,
    url: Url,
    range: Option<Range<u64>>,
    request: OriginRequestId,
    events: &mpsc::Sender<OriginEvent>,
) -> Result<(), String> {
    let mut builder = client.get(url.clone());
    if let Some(range) = &range {
        if range.is_empty() {
            return Ok(());
        }
        builder = builder.header(
            header::RANGE,
            format!("bytes={}-{}", range.start, range.end - 1),
        );
    }
    let mut response = builder
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status();
    let expected = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    if status != expected {
        return Err(format!("GET {url}: HTTP {status}, expected {expected}"));
    }
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?
    {
        if events
            .send(OriginEvent::Data(request, chunk))
            .await
            .is_err()
        {
            return Ok(()); // The driver stopped.
        }
    }
    Ok(())
}
