//! Origin HTTP requests with the page's `fetch`: one local task per request, streaming the
//! body back to the driver; `Range` for parts; `AbortController` to cancel.

use std::ops::Range;

use bytes::Bytes;
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use js_sys::{Promise, Uint8Array};
use mesh_core::Sha256Digest;
use mesh_core::dag::LeafCutter;
use mesh_core::fetch::OriginRequestId;
use wasm_bindgen::{JsCast, JsValue, prelude::wasm_bindgen};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Headers, Request, RequestInit, RequestMode, Response};

use crate::web_digest::WebDigest;

/// Pieces of origin bodies waiting for the driver. Small: the request task waits when it is
/// full, which slows the download to the pace of verification. (With WebCrypto a piece is a
/// leaf, up to 256 KiB: up to 16 MiB of bodies can wait here.)
pub(crate) const ORIGIN_CHANNEL_CAPACITY: usize = 64;

#[wasm_bindgen]
extern "C" {
    /// The global `fetch` (of a window or a worker alike).
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(request: &Request) -> Promise;
}

/// What an origin request task reports.
#[derive(Debug)]
pub(crate) enum OriginEvent {
    /// The response's headers arrived: its media type, if it named one.
    Headers(OriginRequestId, Option<String>),
    /// The next piece of the body.
    Data(OriginRequestId, Bytes),
    /// The next piece of the body, one leaf, with its SHA-256 from WebCrypto.
    Leaf(OriginRequestId, Bytes, Sha256Digest),
    /// The body ended.
    Done(OriginRequestId),
    /// The request failed.
    Failed(OriginRequestId, String),
}

/// A running origin request; dropping it does not abort it, [`OriginTask::abort`] does.
#[derive(Debug)]
pub(crate) struct OriginTask {
    controller: Option<AbortController>,
}

impl OriginTask {
    /// Aborts the request (its task then ends quietly).
    pub(crate) fn abort(&self) {
        if let Some(controller) = &self.controller {
            controller.abort();
        }
    }
}

/// Starts `GET url` (with `Range` when `range` is given); its events go to `events`. With
/// `web_digest`, the body goes to the driver cut into leaves, each hashed by WebCrypto
/// ([`OriginEvent::Leaf`]), so the planner does not hash them again.
pub(crate) fn spawn(
    url: String,
    range: Option<Range<u64>>,
    request: OriginRequestId,
    web_digest: Option<WebDigest>,
    mut events: mpsc::Sender<OriginEvent>,
) -> OriginTask {
    let controller = AbortController::new().ok();
    let signal = controller.as_ref().map(AbortController::signal);
    wasm_bindgen_futures::spawn_local(async move {
        let sink = BodySink {
            request,
            events: &mut events,
            leaves: web_digest.map(|web| (web, LeafCutter::default())),
            started: false,
        };
        let event = match get(&url, range, signal, sink).await {
            Ok(true) => OriginEvent::Done(request),
            Ok(false) => return, // aborted or the driver stopped: nobody is waiting
            Err(reason) => OriginEvent::Failed(request, reason),
        };
        let _ = events.send(event).await;
    });
    OriginTask { controller }
}

/// Where a body's bytes go: to the driver as they come, or cut into the file's leaves
/// ([`LeafCutter`]: a request starts at a leaf) and sent each with its WebCrypto digest.
struct BodySink<'a> {
    request: OriginRequestId,
    events: &'a mut mpsc::Sender<OriginEvent>,
    leaves: Option<(WebDigest, LeafCutter)>,
    /// Whether a byte came yet.
    started: bool,
}

impl BodySink<'_> {
    /// Takes the next piece of the body; `false` when nobody listens any more.
    async fn piece(&mut self, piece: &Uint8Array) -> bool {
        // One copy into wasm memory per piece (a crossing per call; cutting the piece on the
        // JS side took three per piece and doubled the glue's time per request).
        let bytes = Bytes::from(piece.to_vec());
        let Some((web, cutter)) = &mut self.leaves else {
            return self
                .events
                .send(OriginEvent::Data(self.request, bytes))
                .await
                .is_ok();
        };
        if !self.started {
            // The first byte's time is the origin's latency, which the planner measures: an
            // empty piece tells it now, not when the first leaf is whole.
            self.started = true;
            let first = OriginEvent::Data(self.request, Bytes::new());
            if self.events.send(first).await.is_err() {
                return false;
            }
        }
        let mut whole = Vec::new();
        cutter.push(bytes, &mut |leaf| whole.push(leaf));
        for leaf in whole {
            if !send_leaf(web, self.events, self.request, leaf).await {
                return false;
            }
        }
        true
    }

    /// The body ended: its last, shorter leaf goes out. `false` when nobody listens any more.
    async fn end(self) -> bool {
        match self.leaves {
            Some((web, cutter)) => match cutter.finish() {
                Some(leaf) => send_leaf(&web, self.events, self.request, leaf).await,
                None => true,
            },
            None => true,
        }
    }
}

/// Hashes `leaf` with WebCrypto and sends it with its digest; `false` when nobody listens.
async fn send_leaf(
    web: &WebDigest,
    events: &mut mpsc::Sender<OriginEvent>,
    request: OriginRequestId,
    leaf: Bytes,
) -> bool {
    let digest = web.digest(leaf.clone()).await;
    events
        .send(OriginEvent::Leaf(request, leaf, digest))
        .await
        .is_ok()
}

fn js_error(url: &str, e: &JsValue) -> String {
    let message = e
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"));
    format!("GET {url}: {message}")
}

/// Runs one request. `Ok(false)` when it was aborted or nobody listens any more.
async fn get(
    url: &str,
    range: Option<Range<u64>>,
    signal: Option<web_sys::AbortSignal>,
    mut sink: BodySink<'_>,
) -> Result<bool, String> {
    let init = RequestInit::new();
    init.set_method("GET");
    init.set_mode(RequestMode::Cors);
    if let Some(signal) = &signal {
        init.set_signal(Some(signal));
    }
    let headers = Headers::new().map_err(|e| js_error(url, &e))?;
    if let Some(range) = &range {
        if range.is_empty() {
            return Ok(true);
        }
        headers
            .set("Range", &format!("bytes={}-{}", range.start, range.end - 1))
            .map_err(|e| js_error(url, &e))?;
    }
    init.set_headers(&headers);
    let req = Request::new_with_str_and_init(url, &init).map_err(|e| js_error(url, &e))?;
    let aborted = || signal.as_ref().is_some_and(web_sys::AbortSignal::aborted);
    let response = match JsFuture::from(global_fetch(&req)).await {
        Ok(r) => r,
        Err(_) if aborted() => return Ok(false),
        Err(e) => return Err(js_error(url, &e)),
    };
    let response: Response = response
        .dyn_into()
        .map_err(|_| format!("GET {url}: fetch did not return a Response"))?;
    let expected = if range.is_some() { 206 } else { 200 };
    if response.status() != expected {
        return Err(format!(
            "GET {url}: HTTP {}, expected {expected}",
            response.status()
        ));
    }
    let content_type = response.headers().get("content-type").ok().flatten();
    if sink
        .events
        .send(OriginEvent::Headers(sink.request, content_type))
        .await
        .is_err()
    {
        return Ok(false);
    }
    let Some(body) = response.body() else {
        return Ok(true); // empty body
    };
    let mut chunks = wasm_streams::ReadableStream::from_raw(body).into_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(_) if aborted() => return Ok(false),
            Err(e) => return Err(js_error(url, &e)),
        };
        if !sink.piece(&Uint8Array::new(&chunk)).await {
            return Ok(false);
        }
    }
    if aborted() || !sink.end().await {
        return Ok(false);
    }
    Ok(true)
}
