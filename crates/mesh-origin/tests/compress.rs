//! Content encoding over real HTTP: which responses are encoded, that they decode to the file,
//! that validators and caches keep representations apart, and that egress counts what was sent.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::io::Read;

use common::{client, fetch_stats, serve, write};
use mesh_origin::Config;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};

/// Compressible text of `len` bytes (a script-like repetition with some variety).
fn script(len: usize) -> Vec<u8> {
    let mut text = String::new();
    for i in 0.. {
        if text.len() >= len {
            break;
        }
        text.push_str(&format!("export const value{i} = {};\n", i % 97));
    }
    text.truncate(len);
    text.into_bytes()
}

fn site() -> (tempfile::TempDir, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let js = script(300_000);
    write(dir.path(), "app.js", &js);
    write(dir.path(), "pic.png", &js);
    (dir, js)
}

async fn get(
    url: &str,
    headers: &[(header::HeaderName, &str)],
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut request = client().get(url);
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

fn header(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn brotli_and_gzip_decode_to_the_file_and_egress_counts_encoded_bytes() {
    let (dir, js) = site();
    let server = serve(Config::new(dir.path())).await;
    let url = format!("{}/app.js", server.url());

    let (status, headers, body) = get(
        &url,
        &[(header::ACCEPT_ENCODING, "gzip, deflate, br, zstd")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, header::CONTENT_ENCODING), Some("br"));
    assert_eq!(header(&headers, header::VARY), Some("accept-encoding"));
    assert_eq!(
        header(&headers, header::CONTENT_LENGTH),
        Some(body.len().to_string().as_str())
    );
    assert!(
        body.len() * 5 < js.len(),
        "{} bytes encoded of {}",
        body.len(),
        js.len()
    );
    let mut decoded = Vec::new();
    brotli::Decompressor::new(&body[..], 4096)
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, js);
    assert_eq!(
        fetch_stats(&server.url()).await.paths["/app.js"].bytes,
        body.len() as u64
    );

    let (_, headers, gz) = get(&url, &[(header::ACCEPT_ENCODING, "gzip")]).await;
    assert_eq!(header(&headers, header::CONTENT_ENCODING), Some("gzip"));
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, js);

    // Nothing accepted: the file as stored.
    let (_, headers, plain) = get(&url, &[]).await;
    assert_eq!(header(&headers, header::CONTENT_ENCODING), None);
    assert_eq!(plain, js);
    server.shutdown().await;
}

#[tokio::test]
async fn ranges_and_incompressible_types_go_out_as_stored() {
    let (dir, js) = site();
    let server = serve(Config::new(dir.path())).await;
    let accept = (header::ACCEPT_ENCODING, "br, gzip");

    let (status, headers, body) = get(
        &format!("{}/app.js", server.url()),
        &[accept.clone(), (header::RANGE, "bytes=100-199")],
    )
    .await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&headers, header::CONTENT_ENCODING), None);
    assert_eq!(body, &js[100..200]);

    let (_, headers, body) = get(&format!("{}/pic.png", server.url()), &[accept]).await;
    assert_eq!(header(&headers, header::CONTENT_ENCODING), None);
    assert_eq!(header(&headers, header::VARY), None);
    assert_eq!(body, js);
    server.shutdown().await;
}

#[tokio::test]
async fn each_representation_has_its_own_etag() {
    let (dir, _) = site();
    let server = serve(Config::new(dir.path())).await;
    let url = format!("{}/app.js", server.url());
    let (_, plain, _) = get(&url, &[]).await;
    let (_, br, _) = get(&url, &[(header::ACCEPT_ENCODING, "br")]).await;
    let plain_tag = header(&plain, header::ETAG).unwrap().to_owned();
    let br_tag = header(&br, header::ETAG).unwrap().to_owned();
    assert_ne!(plain_tag, br_tag);
    assert_eq!(br_tag, format!("{}.br\"", plain_tag.trim_end_matches('"')));

    let (status, headers, body) = get(
        &url,
        &[
            (header::ACCEPT_ENCODING, "br"),
            (header::IF_NONE_MATCH, &br_tag),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(header(&headers, header::VARY), Some("accept-encoding"));
    // The plain copy's tag does not validate the encoded one.
    let (status, _, _) = get(
        &url,
        &[
            (header::ACCEPT_ENCODING, "br"),
            (header::IF_NONE_MATCH, &plain_tag),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    server.shutdown().await;
}

#[tokio::test]
async fn compression_can_be_turned_off() {
    let (dir, js) = site();
    let server = serve(Config::new(dir.path()).with_compress(false)).await;
    let (_, headers, body) = get(
        &format!("{}/app.js", server.url()),
        &[(header::ACCEPT_ENCODING, "br, gzip")],
    )
    .await;
    assert_eq!(header(&headers, header::CONTENT_ENCODING), None);
    assert_eq!(header(&headers, header::VARY), None);
    assert_eq!(body, js);
    server.shutdown().await;
}
