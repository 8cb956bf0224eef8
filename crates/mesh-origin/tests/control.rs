//! The test knobs over real HTTP: latency, throttle, the down switch and the counters.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::{BIG_LEN, client, fetch_stats, serve, site};
use mesh_origin::{Config, Settings, Stats};
use reqwest::StatusCode;
use reqwest::header;

async fn control(method: reqwest::Method, url: String) -> reqwest::Response {
    client().request(method, url).send().await.unwrap()
}

#[tokio::test]
async fn latency_delays_every_response_by_at_least_n_ms() {
    let dir = site();
    let server = serve(Config::new(dir.path()).with_latency(Duration::from_millis(120))).await;
    let url = format!("{}/index.html", server.url());
    let client = client();
    // Warm the connection, so the measure below is the server's delay, not a TCP handshake.
    client.get(&url).send().await.unwrap();
    for _ in 0..3 {
        let started = Instant::now();
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            started.elapsed() >= Duration::from_millis(120),
            "{:?}",
            started.elapsed()
        );
    }
    // Changed at run time through the API; control requests themselves are not delayed.
    let answer = control(
        reqwest::Method::PUT,
        format!("{}/_origin/latency?ms=300", server.url()),
    )
    .await;
    assert_eq!(answer.status(), StatusCode::OK);
    let settings: Settings = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
    assert_eq!(settings.latency_ms, 300);
    let started = Instant::now();
    client.get(&url).send().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    let bad = control(
        reqwest::Method::PUT,
        format!("{}/_origin/latency?ms=soon", server.url()),
    )
    .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    server.shutdown().await;
}

#[tokio::test]
async fn throttle_slows_bodies_to_the_rate() {
    let dir = site();
    let server = serve(Config::new(dir.path()).with_rate(Some(200_000))).await;
    let started = Instant::now();
    let body = client()
        .get(format!("{}/big.bin", server.url()))
        .header(header::RANGE, "bytes=0-99999")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.len(), 100_000);
    // 100 kB at 200 kB/s: 10 kB chunks every 50 ms, the first at once, so >= 0.45 s; less
    // the 100 ms of burst a slow reader may build up.
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "{:?}",
        started.elapsed()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn down_gives_503_with_cors_and_up_restores() {
    let dir = site();
    let server = serve(Config::new(dir.path()).with_down(true)).await;
    let url = format!("{}/index.html", server.url());
    let refused = client().get(&url).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()["access-control-allow-origin"], "*");
    // Preflights are still answered, so a page sees the 503 itself, not a CORS failure.
    let preflight = common::preflight(&client(), &url, "http://127.0.0.1:9999", "range").await;
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    // The control API works while down.
    let health = control(
        reqwest::Method::GET,
        format!("{}/_origin/healthz", server.url()),
    )
    .await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.headers()["access-control-allow-origin"], "*");

    let up = control(
        reqwest::Method::POST,
        format!("{}/_origin/up", server.url()),
    )
    .await;
    assert_eq!(up.status(), StatusCode::OK);
    assert_eq!(
        client().get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );

    let down = control(
        reqwest::Method::POST,
        format!("{}/_origin/down", server.url()),
    )
    .await;
    let settings: Settings = serde_json::from_str(&down.text().await.unwrap()).unwrap();
    assert!(settings.down);
    let manifest = client()
        .get(format!("{}{}", server.url(), mesh_origin::MANIFEST_PATH))
        .send()
        .await
        .unwrap();
    assert_eq!(manifest.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(fetch_stats(&server.url()).await.refused_down, 2);
    // A GET on a setter is refused with the methods it takes.
    let wrong = control(
        reqwest::Method::GET,
        format!("{}/_origin/down", server.url()),
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong.headers()["allow"], "POST, OPTIONS");
    server.shutdown().await;
}

#[tokio::test]
async fn stats_count_requests_bytes_and_partials() {
    let dir = site();
    let server = serve(Config::new(dir.path())).await;
    let base = server.url();
    let client = client();
    let full = client.get(format!("{base}/big.bin")).send().await.unwrap();
    assert_eq!(full.bytes().await.unwrap().len(), BIG_LEN);
    let part = client
        .get(format!("{base}/big.bin"))
        .header(header::RANGE, "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(part.bytes().await.unwrap().len(), 100);
    let index = client.get(format!("{base}/")).send().await.unwrap();
    let index_len = index.bytes().await.unwrap().len() as u64;
    let head = client.head(format!("{base}/big.bin")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    let missing = client.get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let stats = fetch_stats(&base).await;
    assert_eq!(stats.requests, 5);
    assert_eq!(stats.partial_responses, 1);
    assert_eq!(stats.bytes_served, BIG_LEN as u64 + 100 + index_len);
    assert_eq!(stats.statuses[&200], 3);
    assert_eq!(stats.statuses[&206], 1);
    assert_eq!(stats.statuses[&404], 1);
    assert_eq!(stats.paths["/big.bin"].bytes, BIG_LEN as u64 + 100);
    assert_eq!(stats.paths["/big.bin"].requests, 3);
    assert_eq!(stats.paths["/index.html"].bytes, index_len);
    // The library handle sees the same counters.
    assert_eq!(server.state().stats(), stats);

    let reset = control(reqwest::Method::POST, format!("{base}/_origin/stats/reset")).await;
    assert_eq!(reset.status(), StatusCode::OK);
    assert_eq!(fetch_stats(&base).await, Stats::default());
    server.shutdown().await;
}

#[tokio::test]
async fn control_preflight_for_browser_tests() {
    let dir = site();
    let server = serve(Config::new(dir.path())).await;
    let preflight = client()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/_origin/latency?ms=80", server.url()),
        )
        .header(header::ORIGIN, "http://127.0.0.1:9999")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "PUT")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    let methods = preflight.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap();
    assert!(
        methods.contains("PUT") && methods.contains("POST"),
        "{methods}"
    );
    server.shutdown().await;
}
