//! Cross-origin access: every response may be read by any page.
//!
//! The pages that use this server are served from elsewhere (wasm-bindgen-test-runner's port,
//! the demo's page server, a Playwright fixture), and a CDN serving public assets answers
//! `Access-Control-Allow-Origin: *` anyway. Credentials are never allowed (`*` forbids them),
//! so no cookie or authorisation ever crosses.
//!
//! Preflights are answered for any method this server implements and echo the request
//! headers asked for: a page asking with `Range: bytes=-100` (a suffix range is not
//! CORS-safelisted) or `If-None-Match` must get through, and a test server has no header to
//! hide.

use hyper::header::{self, HeaderMap, HeaderValue};

/// Headers a page may read besides the CORS-safelisted ones: what a Range-fetching client
/// needs (`Content-Range`, `Content-Length`, `Accept-Ranges`) and the validator (`ETag`, the
/// asset's CID).
pub const EXPOSED_HEADERS: &str =
    "Content-Range, Content-Length, Content-Type, ETag, Accept-Ranges, Cache-Control, Retry-After";

/// Request headers allowed when a preflight does not list any (or lists something that is
/// not a header-name list).
pub const DEFAULT_ALLOWED_HEADERS: &str = "Range, If-None-Match, If-Range, Content-Type";

/// How long a browser may cache a preflight answer, in seconds.
pub const PREFLIGHT_MAX_AGE_SECS: u32 = 600;

/// Adds the headers every response carries.
pub fn add_cors_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED_HEADERS),
    );
    // Resource Timing of cross-origin fetches (time to first byte, transfer size) is hidden
    // from the page without this; the mesh's stats compare exactly those numbers.
    headers.insert("timing-allow-origin", HeaderValue::from_static("*"));
}

/// Whether a request is a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`).
pub fn is_preflight(method: &hyper::Method, headers: &HeaderMap) -> bool {
    method == hyper::Method::OPTIONS && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The headers of a preflight answer allowing `methods` (a comma-separated list).
pub fn add_preflight_headers(request: &HeaderMap, response: &mut HeaderMap, methods: &'static str) {
    add_cors_headers(response);
    response.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(methods),
    );
    let asked = request
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .filter(|value| is_header_name_list(value.as_bytes()))
        .cloned();
    response.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        asked.unwrap_or_else(|| HeaderValue::from_static(DEFAULT_ALLOWED_HEADERS)),
    );
    response.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from(PREFLIGHT_MAX_AGE_SECS),
    );
    // Chromium's Private Network Access asks before a page on a public or other private
    // address may reach a loopback server; a test origin says yes.
    if request
        .get("access-control-request-private-network")
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"true"))
    {
        response.insert(
            "access-control-allow-private-network",
            HeaderValue::from_static("true"),
        );
    }
}

/// Whether `value` is a comma-separated list of header names (tokens), as browsers send in
/// `Access-Control-Request-Headers`: the only thing worth echoing back.
fn is_header_name_list(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= 1024
        && value
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-_,. ".contains(&b))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn preflight_echoes_header_lists_only() {
        let mut request = HeaderMap::new();
        request.insert(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            HeaderValue::from_static("range,if-none-match"),
        );
        let mut response = HeaderMap::new();
        add_preflight_headers(&request, &mut response, "GET, HEAD");
        assert_eq!(
            response[header::ACCESS_CONTROL_ALLOW_HEADERS],
            "range,if-none-match"
        );
        assert_eq!(response[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");

        request.insert(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            HeaderValue::from_static("x;evil=1"),
        );
        let mut response = HeaderMap::new();
        add_preflight_headers(&request, &mut response, "GET, HEAD");
        assert_eq!(
            response[header::ACCESS_CONTROL_ALLOW_HEADERS],
            DEFAULT_ALLOWED_HEADERS
        );
        assert!(!response.contains_key("access-control-allow-private-network"));
    }

    #[test]
    fn private_network_access_is_granted_when_asked() {
        let mut request = HeaderMap::new();
        request.insert(
            "access-control-request-private-network",
            HeaderValue::from_static("true"),
        );
        let mut response = HeaderMap::new();
        add_preflight_headers(&request, &mut response, "GET, HEAD");
        assert_eq!(response["access-control-allow-private-network"], "true");
    }
}
