//! Shared by the integration tests: a sample site on disk and a server over it.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, missing_docs)]

use std::path::Path;

use mesh_origin::{Config, RunningServer};

/// Bytes of the multi-leaf file: over one 256 KiB leaf, so its CID is a dag-pb root.
pub const BIG_LEN: usize = 600_000;

/// Deterministic bytes of `len` (not all zeros, so leaves differ).
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

/// A site with the kinds of files the tests look at.
pub fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "index.html", b"<!doctype html><title>root</title>\n");
    write(root, "big.bin", &pattern(BIG_LEN));
    write(
        root,
        "img/logo.svg",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>\n",
    );
    write(root, "app.mjs", b"export const x = 1;\n");
    write(root, "app.js", b"console.log(1);\n");
    write(root, "mod.wasm", b"\0asm\x01\0\0\0");
    write(root, "docs/index.html", b"docs\n");
    write(root, "empty.txt", b"");
    write(root, "a b.txt", b"space\n");
    write(root, ".secret", b"password\n");
    write(root, ".git/config", b"[core]\n");
    dir
}

pub fn write(root: &Path, relative: &str, bytes: &[u8]) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// A server over `config` on a free loopback port.
pub async fn serve(config: Config) -> RunningServer {
    mesh_origin::start(config).await.unwrap()
}

/// The body of a GET of `url`, as text.
pub async fn get_text(url: &str) -> String {
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The server's counters, from its control API.
pub async fn fetch_stats(url: &str) -> mesh_origin::Stats {
    serde_json::from_str(&get_text(&format!("{url}/_origin/stats")).await).unwrap()
}

/// A client that never follows redirects (the tests look at them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A CORS preflight for a GET of `url` from page `origin` asking to send `headers`.
pub async fn preflight(
    client: &reqwest::Client,
    url: &str,
    origin: &str,
    headers: &str,
) -> reqwest::Response {
    use reqwest::header;
    client
        .request(reqwest::Method::OPTIONS, url)
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, headers)
        .send()
        .await
        .unwrap()
}

/// Sends `request` verbatim over TCP (for paths a URL library would normalise) and returns
/// the status code.
pub async fn raw_status(addr: std::net::SocketAddr, request_line_path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request =
        format!("GET {request_line_path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    let status = text.split(' ').nth(1).unwrap();
    status.parse().unwrap()
}
