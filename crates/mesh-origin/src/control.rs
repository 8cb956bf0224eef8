//! The control API under `/_origin/`, on the same port as the files so a browser test can
//! reach it with `fetch`:
//!
//! | Request | Effect |
//! |---|---|
//! | `GET /_origin/healthz` | `200 ok` once serving (also while down) |
//! | `GET /_origin/state` | the [`Settings`] as JSON |
//! | `POST /_origin/down`, `POST /_origin/up` | the down switch |
//! | `PUT`/`POST /_origin/latency?ms=N` | added latency |
//! | `PUT`/`POST /_origin/rate?bytes_per_sec=N` | body throttle, 0 = unlimited |
//! | `GET /_origin/stats` | the [`Stats`](crate::state::Stats) as JSON |
//! | `POST`/`DELETE /_origin/stats/reset` | zero the counters |
//!
//! Setting changes answer with the new settings. Control requests are never delayed, never
//! refused while down and not counted. There is no authentication: this is a test server,
//! listen on loopback only.

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode};

use crate::body::{self, Body};
use crate::cors::{add_cors_headers, add_preflight_headers, is_preflight};
use crate::serve::text;
use crate::state::{OriginState, Settings};

/// Methods any control endpoint may be called with (for preflights).
const CONTROL_METHODS: &str = "GET, HEAD, POST, PUT, DELETE, OPTIONS";

/// Answers a request whose path starts with [`CONTROL_PREFIX`](crate::config::CONTROL_PREFIX)
/// (`endpoint` is the rest).
pub(crate) fn handle(
    state: &OriginState,
    method: &Method,
    endpoint: &str,
    query: Option<&str>,
    request: &HeaderMap,
) -> Response<Body> {
    if is_preflight(method, request) {
        let mut response = Response::new(body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        add_preflight_headers(request, response.headers_mut(), CONTROL_METHODS);
        return response;
    }
    let read = method == Method::GET || method == Method::HEAD;
    let write = method == Method::POST || method == Method::PUT;
    match endpoint {
        "healthz" if read => text(StatusCode::OK, "ok"),
        "state" if read => settings(state),
        "stats" if read => json(StatusCode::OK, &state.stats()),
        "stats/reset" if write || method == Method::DELETE => {
            state.reset_stats();
            json(StatusCode::OK, &state.stats())
        }
        "down" if method == Method::POST => {
            state.set_down(true);
            settings(state)
        }
        "up" if method == Method::POST => {
            state.set_down(false);
            settings(state)
        }
        "latency" if write => match number_param(query, "ms") {
            Ok(ms) => {
                state.set_latency(std::time::Duration::from_millis(ms));
                settings(state)
            }
            Err(message) => text(StatusCode::BAD_REQUEST, message),
        },
        "rate" if write => match number_param(query, "bytes_per_sec") {
            Ok(rate) => {
                state.set_rate(Some(rate));
                settings(state)
            }
            Err(message) => text(StatusCode::BAD_REQUEST, message),
        },
        "healthz" | "state" | "stats" | "stats/reset" | "down" | "up" | "latency" | "rate" => {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allowed(endpoint)));
            response
        }
        _ => text(StatusCode::NOT_FOUND, "no such control endpoint"),
    }
}

/// The `Allow` header of each endpoint.
fn allowed(endpoint: &str) -> &'static str {
    match endpoint {
        "healthz" | "state" | "stats" => "GET, HEAD, OPTIONS",
        "stats/reset" => "POST, PUT, DELETE, OPTIONS",
        "down" | "up" => "POST, OPTIONS",
        _ => "POST, PUT, OPTIONS",
    }
}

fn settings(state: &OriginState) -> Response<Body> {
    json::<Settings>(StatusCode::OK, &state.settings())
}

/// A JSON response with CORS and `no-store`.
fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    match serde_json::to_string_pretty(value) {
        Ok(mut json) => {
            json.push('\n');
            let mut response = Response::new(body::full(json));
            *response.status_mut() = status;
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            add_cors_headers(headers);
            response
        }
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// The non-negative integer query parameter `name`.
fn number_param(query: Option<&str>, name: &str) -> Result<u64, String> {
    let value = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .ok_or_else(|| format!("missing query parameter {name}=N"))?;
    value
        .parse()
        .map_err(|_| format!("{name} must be a non-negative integer, not {value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_params() {
        assert_eq!(number_param(Some("ms=80"), "ms"), Ok(80));
        assert_eq!(number_param(Some("x=1&ms=0"), "ms"), Ok(0));
        assert!(number_param(Some("ms=-1"), "ms").is_err());
        assert!(number_param(Some("ms=abc"), "ms").is_err());
        assert!(number_param(None, "ms").is_err());
        assert!(number_param(Some("msx=1"), "ms").is_err());
    }
}
