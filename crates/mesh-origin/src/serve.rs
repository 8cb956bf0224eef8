//! Answering `GET` and `HEAD` for files and the manifest: conditional requests, ranges,
//! content encoding, headers.

use std::io;
use std::path::Path;
use std::sync::Arc;

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode};
use mesh_core::manifest::{decode_url_path, validate_site_path};

use crate::body::{self, Body};
use crate::compress;
use crate::cors::add_cors_headers;
use crate::files::{INDEX_FILE, Resolved};
use crate::range::{RangeRequest, parse_range};
use crate::server::Context;

/// A plain-text response (errors, control answers) with CORS and `no-store`.
pub(crate) fn text(status: StatusCode, message: impl Into<String>) -> Response<Body> {
    let mut message = message.into();
    message.push('\n');
    let mut response = Response::new(body::full(message));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    add_cors_headers(headers);
    response
}

/// Serves the manifest document.
pub(crate) fn manifest(ctx: &Context, method: &Method, request: &HeaderMap) -> Response<Body> {
    let doc = &ctx.manifest;
    let mut response = if if_none_match(request, &doc.etag) {
        not_modified()
    } else {
        let mut response = Response::new(if method == Method::HEAD {
            body::empty()
        } else {
            ctx.state.record_body(None, doc.body.len() as u64);
            body::full(doc.body.clone())
        });
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(doc.body.len()));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    };
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&doc.etag) {
        headers.insert(header::ETAG, etag);
    }
    // The manifest names content, so a stale copy points at old CIDs: revalidate every time
    // (cheap, thanks to the ETag).
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    add_cors_headers(headers);
    ctx.state.record_response(response.status().as_u16(), None);
    response
}

/// Serves the file the URL path `raw_path` names (query in `query`, for redirects).
pub(crate) async fn file(
    ctx: &Context,
    method: &Method,
    raw_path: &str,
    query: Option<&str>,
    request: &HeaderMap,
) -> Response<Body> {
    let Some(decoded) = decode_url_path(raw_path) else {
        return counted(ctx, None, text(StatusCode::BAD_REQUEST, "invalid URL path"));
    };
    let site_path = if decoded.ends_with('/') {
        format!("{decoded}{INDEX_FILE}")
    } else {
        decoded.clone()
    };
    if let Err(e) = validate_site_path(&site_path) {
        return counted(ctx, None, text(StatusCode::BAD_REQUEST, e.to_string()));
    }
    let path = match ctx.mounts.resolve(&decoded) {
        Resolved::File(path) => path,
        Resolved::Directory => {
            let location = match query {
                Some(query) => format!("{raw_path}/?{query}"),
                None => format!("{raw_path}/"),
            };
            let mut response = text(StatusCode::MOVED_PERMANENTLY, "a directory");
            if let Ok(location) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            return counted(ctx, None, response);
        }
        Resolved::Missing => {
            return counted(ctx, None, text(StatusCode::NOT_FOUND, "not found"));
        }
    };
    let key: Arc<str> = Arc::from(site_path.as_str());
    let response = match open_and_respond(ctx, method, &path, &site_path, key.clone(), request)
        .await
    {
        Ok(response) => response,
        Err(e) if e.kind() == io::ErrorKind::NotFound => text(StatusCode::NOT_FOUND, "not found"),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            text(StatusCode::FORBIDDEN, "forbidden")
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot serve file");
            text(StatusCode::INTERNAL_SERVER_ERROR, "cannot read the file")
        }
    };
    counted(ctx, Some(&key), response)
}

/// Counts `response` in the stats and returns it.
fn counted(ctx: &Context, path: Option<&str>, response: Response<Body>) -> Response<Body> {
    ctx.state.record_response(response.status().as_u16(), path);
    response
}

async fn open_and_respond(
    ctx: &Context,
    method: &Method,
    path: &Path,
    site_path: &str,
    key: Arc<str>,
    request: &HeaderMap,
) -> io::Result<Response<Body>> {
    let file = tokio::fs::File::open(path).await?;
    let meta = file.metadata().await?;
    if !meta.is_file() {
        return Err(io::ErrorKind::NotFound.into());
    }
    let len = meta.len();
    let cid = ctx
        .cids
        .cid_of(path, len, meta.modified().ok())
        .await
        .map_err(io::Error::other)?;
    let content_type = mesh_site::content_type::content_type_of(site_path);
    let encodable = ctx.encoded.is_some() && compress::compressible(content_type);
    // Whole responses only: a Range names bytes of the file, not of an encoded copy.
    let encoding = (encodable
        && len > 0
        && len <= compress::MAX_ENCODED_FILE
        && request.get(header::RANGE).is_none())
    .then(|| compress::negotiate(request))
    .flatten();
    let cid_etag = format!("\"{cid}\"");
    let etag = encoding.map_or_else(|| cid_etag.clone(), |e| e.etag(&cid_etag));

    let mut response = if if_none_match(request, &etag) {
        not_modified()
    } else if let (Some(encoding), Some(cache)) = (encoding, &ctx.encoded) {
        let encoded = cache.get(&cid_etag, encoding, path.to_owned()).await?;
        let encoded_len = encoded.len();
        let body = if method == Method::HEAD {
            body::empty()
        } else {
            body::paced(encoded, ctx.state.clone(), key)
        };
        let mut response = Response::new(body);
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(encoded_len));
        headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static(encoding.token()),
        );
        response
    } else {
        let range = match request.get(header::RANGE).and_then(|v| v.to_str().ok()) {
            Some(range) if if_range_holds(request, &etag) => parse_range(range, len),
            _ => RangeRequest::Full,
        };
        let (status, start, count) = match range {
            RangeRequest::Full => (StatusCode::OK, 0, len),
            RangeRequest::Partial(r) => (StatusCode::PARTIAL_CONTENT, r.start, r.len()),
            RangeRequest::Unsatisfiable => {
                let mut response = text(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable");
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{len}")) {
                    response.headers_mut().insert(header::CONTENT_RANGE, value);
                }
                response
                    .headers_mut()
                    .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
                return Ok(response);
            }
        };
        let body = if method == Method::HEAD || count == 0 {
            body::empty()
        } else {
            body::file_range(file, start, count, ctx.state.clone(), key).await?
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
        if let RangeRequest::Partial(r) = range {
            if let Ok(value) = HeaderValue::from_str(&r.content_range(len)) {
                headers.insert(header::CONTENT_RANGE, value);
            }
        }
        response
    };
    let modified = response.status() != StatusCode::NOT_MODIFIED;
    let headers = response.headers_mut();
    if modified {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        // Browsers must take the type we say (a module script, wasm), never guess one.
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
    }
    if encodable {
        // Caches must keep the encoded and the plain copy apart.
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(header::CACHE_CONTROL, ctx.cache_control.clone());
    add_cors_headers(headers);
    Ok(response)
}

/// A `304 Not Modified` without body (the caller adds the validator headers).
fn not_modified() -> Response<Body> {
    let mut response = Response::new(body::empty());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    response
}

/// Whether `If-None-Match` lists `etag` (weak comparison, as RFC 9110 §13.1.2 says) or is `*`.
pub(crate) fn if_none_match(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// Whether a `Range` is to be honoured given `If-Range`: absent, or exactly our strong ETag.
/// A date never matches (we send no `Last-Modified`), so the full file is sent, as RFC 9110
/// §13.1.5 requires when the validator does not match.
pub(crate) fn if_range_holds(request: &HeaderMap, etag: &str) -> bool {
    match request.get(header::IF_RANGE) {
        None => true,
        Some(value) => value.to_str().is_ok_and(|value| value.trim() == etag),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: header::HeaderName, value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        let etag = "\"bafk\"";
        assert!(if_none_match(
            &headers(header::IF_NONE_MATCH, "\"bafk\""),
            etag
        ));
        assert!(if_none_match(
            &headers(header::IF_NONE_MATCH, "\"x\", W/\"bafk\""),
            etag
        ));
        assert!(if_none_match(&headers(header::IF_NONE_MATCH, "*"), etag));
        assert!(!if_none_match(
            &headers(header::IF_NONE_MATCH, "\"bafkx\""),
            etag
        ));
        assert!(!if_none_match(&HeaderMap::new(), etag));
    }

    #[test]
    fn if_range_needs_the_strong_tag() {
        let etag = "\"bafk\"";
        assert!(if_range_holds(&HeaderMap::new(), etag));
        assert!(if_range_holds(&headers(header::IF_RANGE, "\"bafk\""), etag));
        assert!(!if_range_holds(
            &headers(header::IF_RANGE, "W/\"bafk\""),
            etag
        ));
        assert!(!if_range_holds(
            &headers(header::IF_RANGE, "Wed, 21 Oct 2015 07:28:00 GMT"),
            etag
        ));
    }
}
