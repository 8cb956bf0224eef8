//! The origin as a source: HTTP GET with Range against a small loopback server, alone, named
//! by CID under a base URL, lying, and as the fallback when a seeder's upload budget runs out.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::*;
use mesh_core::block::{CHUNK_SIZE, MAX_BLOCK_SIZE};
use mesh_core::fetch::FetchError;
use mesh_node::{NodeError, Url};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Longest request head the test server reads.
const MAX_HEAD: usize = 8 * 1024;

/// A request the test origin saw: its path and byte range.
type Seen = (String, Option<(u64, u64)>);

/// An HTTP/1.1 server on 127.0.0.1 answering every GET with `body` (honouring
/// `Range: bytes=a-b`), one request per connection. Records request paths and ranges.
struct Origin {
    url: Url,
    requests: Arc<Mutex<Vec<Seen>>>,
}

impl Origin {
    async fn start(body: Bytes) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        tokio::spawn(async move {
            loop {
                let (mut conn, _) = listener.accept().await.unwrap();
                let body = body.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
                        let n = conn.read(&mut buf).await.unwrap();
                        if n == 0 {
                            return;
                        }
                        head.extend_from_slice(&buf[..n]);
                    }
                    let head = String::from_utf8_lossy(&head).to_string();
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let range = head.lines().find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        if !name.eq_ignore_ascii_case("range") {
                            return None;
                        }
                        let (a, b) = value.trim().strip_prefix("bytes=")?.split_once('-')?;
                        Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?))
                    });
                    log.lock().unwrap().push((path, range));
                    let response = match range {
                        Some((a, b)) => {
                            let part = body.slice(a as usize..=b as usize);
                            let mut r = format!(
                                "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {a}-{b}/{}\r\nConnection: close\r\n\r\n",
                                part.len(),
                                body.len()
                            )
                            .into_bytes();
                            r.extend_from_slice(&part);
                            r
                        }
                        None => {
                            let mut r = format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                body.len()
                            )
                            .into_bytes();
                            r.extend_from_slice(&body);
                            r
                        }
                    };
                    let _ = conn.write_all(&response).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        Self { url, requests }
    }

    fn requests(&self) -> Vec<Seen> {
        self.requests.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_alone_serves_a_fetch() {
    init_tracing();
    let original = data(600_000, 21);
    let origin = Origin::start(original.clone()).await;
    let node = start(config(&[])).await;
    let cid = mesh_core::dag::build_dag(&original).root.cid;
    let asset = origin.url.join("app.js").unwrap();
    let fetched = within("fetch", node.handle.fetch_from(cid, Some(asset)))
        .await
        .unwrap();
    assert_eq!(fetched.data, original);
    assert_eq!(fetched.report.summary.source_label(), "origin");
    assert!(origin.requests().iter().all(|(path, _)| path == "/app.js"));
    stop([node]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_base_url_names_assets_by_cid() {
    init_tracing();
    let original = data(1_000, 22);
    let origin = Origin::start(original.clone()).await;
    let base = origin.url.join("ipfs").unwrap(); // no trailing slash: the node adds it
    let node = start(config(&[]).with_origin_base_url(Some(base))).await;
    let cid = mesh_core::dag::cid_of(&original);
    let fetched = within("fetch", node.handle.fetch(cid)).await.unwrap();
    assert_eq!(fetched.data, original);
    assert_eq!(origin.requests()[0].0, format!("/ipfs/{cid}"));
    stop([node]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lying_origin_is_rejected_and_nothing_is_delivered() {
    init_tracing();
    let original = data(600_000, 23);
    let mut forged = original.to_vec();
    forged[300_000] ^= 1;
    let origin = Origin::start(Bytes::from(forged)).await;
    let node = start(config(&[])).await;
    let cid = mesh_core::dag::build_dag(&original).root.cid;
    let mut stream = node
        .handle
        .fetch_stream(cid, Some(origin.url.join("app.js").unwrap()))
        .await
        .unwrap();
    let mut delivered = 0usize;
    let error = loop {
        match within("fetch", stream.next()).await {
            Some(mesh_node::FetchChunk::Data { offset, data }) => {
                // Whatever was released is genuine.
                let at = offset as usize;
                assert_eq!(data, original.slice(at..at + data.len()));
                delivered += data.len();
            }
            Some(mesh_node::FetchChunk::Failed(e)) => break e,
            other => panic!("expected a failure, got {other:?}"),
        }
    };
    assert!(matches!(error, FetchError::Origin { .. }), "{error}");
    assert!(delivered < original.len());
    stop([node]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spent_upload_budget_sends_fetchers_to_the_origin() {
    init_tracing();
    let servers = dht(1).await;
    // 3 MiB: twelve leaves. The seeder may upload one burst (1 MiB) and then refuses.
    let original = data(3 << 20, 24);
    let origin = Origin::start(original.clone()).await;
    let seeder = start(
        config(&[servers[0].addrs[0].clone()]).with_upload_budget(Some(MAX_BLOCK_SIZE as u64)),
    )
    .await;
    let cid = within("seed", seeder.handle.add_bytes(original.clone()))
        .await
        .unwrap();
    let fetcher = start(config(&[servers[0].addrs[0].clone()])).await;
    within("connect", fetcher.handle.connect(seeder.addrs[0].clone()))
        .await
        .unwrap();
    let fetched = within(
        "fetch",
        fetcher
            .handle
            .fetch_from(cid, Some(origin.url.join("big.bin").unwrap())),
    )
    .await
    .unwrap();
    assert_eq!(fetched.data, original);
    let summary = &fetched.report.summary;
    assert!(summary.bytes_origin > 0, "{summary:?}");
    let serve = seeder.handle.stats().await.unwrap().serve;
    // One burst (1 MiB), plus what the budget refilled meanwhile (17 KiB/s): well under
    // another leaf, let alone the 3 MiB an unlimited seeder would have sent.
    assert!(
        serve.bytes_served < (MAX_BLOCK_SIZE + CHUNK_SIZE) as u64,
        "{serve:?}"
    );
    assert!(serve.over_budget >= 1, "{serve:?}");
    stop([fetcher, seeder]).await;
    stop(servers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_errors_name_the_cause() {
    init_tracing();
    let node = start(config(&[])).await;
    let cid = mesh_core::dag::cid_of(b"no origin here");
    // Nothing listens on port 9 of loopback here: the request fails, and there is no peer.
    let url = Url::parse("http://127.0.0.1:9/asset").unwrap();
    let err = within("fetch", node.handle.fetch_from(cid, Some(url)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, NodeError::Fetch(FetchError::Origin { .. })),
        "{err}"
    );
    stop([node]).await;
}
