//! Origin HTTP requests with the page's `fetch`: one local task per request, streaming the
//! body back to the driver; `Range` for parts; `AbortController` to cancel.

use std::ops::Range;

use bytes::Bytes;
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use js_sys::{Promise, Uint8Array};
use mesh_core::fetch::OriginRequestId;
use wasm_bindgen::{JsCast, JsValue, prelude::wasm_bindgen};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Headers, Request, RequestInit, RequestMode, Response};

/// Pieces of origin bodies waiting for the driver. Small: the request task waits when it is
/// full, which slows the download to the pace of verification.
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

/// Starts `GET url` (with `Range` when `range` is given); its events go to `events`.
pub(crate) fn spawn(
    url: String,
    range: Option<Range<u64>>,
    request: OriginRequestId,
    mut events: mpsc::Sender<OriginEvent>,
) -> OriginTask {
    let controller = AbortController::new().ok();
    let signal = controller.as_ref().map(AbortController::signal);
    wasm_bindgen_futures::spawn_local(async move {
        let event = match get(&url, range, request, signal, &mut events).await {
            Ok(true) => OriginEvent::Done(request),
            Ok(false) => return, // aborted or the driver stopped: nobody is waiting
            Err(reason) => OriginEvent::Failed(request, reason),
        };
        let _ = events.send(event).await;
    });
    OriginTask { controller }
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
    request: OriginRequestId,
    signal: Option<web_sys::AbortSignal>,
    events: &mut mpsc::Sender<OriginEvent>,
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
    if events
        .send(OriginEvent::Headers(request, content_type))
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
        let bytes = Bytes::from(Uint8Array::new(&chunk).to_vec());
        if events
            .send(OriginEvent::Data(request, bytes))
            .await
            .is_err()
        {
            return Ok(false);
        }
    }
    Ok(!aborted())
}
