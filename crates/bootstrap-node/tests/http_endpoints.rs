//! The operations HTTP port: /healthz, /addrs (CORS), /metrics; JSON logs; SIGTERM exits 0.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    BootNode,
    client::{Background, connect, find_providers, new_client},
    http_get_with,
};
use libp2p::kad::RecordKey;
use libp2p::multiaddr::Protocol;

#[test]
fn healthz_and_addrs() {
    let dir = tempfile::tempdir().unwrap();
    let node = BootNode::start(dir.path(), &[]);

    let health = node.get("/healthz");
    assert_eq!(health.status, 200);
    assert_eq!(health.body, "ok\n");

    let addrs = node.get("/addrs");
    assert_eq!(addrs.status, 200);
    assert_eq!(addrs.header("access-control-allow-origin"), Some("*"));
    assert_eq!(addrs.header("content-type"), Some("application/json"));
    let listed: Vec<String> = serde_json::from_str(&addrs.body).unwrap();
    let printed: Vec<String> = node.addrs.iter().map(ToString::to_string).collect();
    assert_eq!(listed, printed, "/addrs serves what was printed");
    let peer = node.peer_id();
    assert!(listed.iter().all(|a| a.ends_with(&format!("/p2p/{peer}"))));
    let webrtc = node.addr("webrtc-direct");
    assert!(
        webrtc.to_string().contains("/webrtc-direct/certhash/"),
        "{webrtc}"
    );
    assert!(webrtc.iter().any(|p| matches!(p, Protocol::Certhash(_))));

    assert_eq!(node.get("/nope").status, 404);
}

#[test]
fn external_addresses_are_published_with_certhash() {
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = vec![
        "--data-dir".into(),
        dir.path().display().to_string(),
        "--http-listen".into(),
        "127.0.0.1:0".into(),
    ];
    for addr in common::LOOPBACK_LISTEN {
        args.extend(["--listen".into(), addr.into()]);
    }
    for addr in [
        "/dns4/boot.example.org/tcp/443/wss",
        "/ip4/203.0.113.7/udp/4001/webrtc-direct",
    ] {
        args.extend(["--external-address".into(), addr.into()]);
    }
    let node = BootNode::start_with(&args, 2);
    let wss = node.addrs[0].to_string();
    assert!(
        wss.starts_with("/dns4/boot.example.org/tcp/443/wss/p2p/"),
        "{wss}"
    );
    let webrtc = node.addrs[1].to_string();
    assert!(
        webrtc.starts_with("/ip4/203.0.113.7/udp/4001/webrtc-direct/certhash/"),
        "{webrtc}"
    );
    let listed: Vec<String> = serde_json::from_str(&node.get("/addrs").body).unwrap();
    assert_eq!(listed, vec![wss, webrtc]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_expose_the_named_families() {
    let dir = tempfile::tempdir().unwrap();
    let node = BootNode::start(dir.path(), &[]);

    // One connection per native transport, so the per-transport gauge has samples.
    let mut over_tcp = new_client().await;
    let boot = connect(&mut over_tcp, &node.addr("tcp")).await;
    // One Kademlia request, so the inbound-request family has a sample.
    let mut tcp_addr = node.addr("tcp");
    tcp_addr.pop();
    over_tcp.behaviour_mut().kad.add_address(&boot, tcp_addr);
    assert!(
        find_providers(&mut over_tcp, &RecordKey::new(b"nothing"))
            .await
            .is_empty()
    );
    let over_tcp = Background::spawn(over_tcp);
    let mut over_ws = new_client().await;
    connect(&mut over_ws, &node.addr("ws")).await;
    let _over_ws = Background::spawn(over_ws);
    node.wait_metric("bootstrap_connections{transport=\"tcp\"}", |v| v == 1.0);
    node.wait_metric("bootstrap_connections{transport=\"websocket\"}", |v| {
        v == 1.0
    });

    let metrics = node.get("/metrics");
    assert_eq!(metrics.status, 200);
    // Readable from a page (the demo's dashboard shows the relay's bytes).
    assert_eq!(metrics.header("access-control-allow-origin"), Some("*"));
    for family in [
        "bootstrap_connections",
        "bootstrap_connections_denied",
        "bootstrap_relay_reservations",
        "bootstrap_relay_circuits",
        "bootstrap_relay_circuits_closed",
        "bootstrap_relay_bytes",
        "bootstrap_kad_routing_peers",
        "bootstrap_provider_records",
        "bootstrap_provider_keys",
        "bootstrap_provider_peers",
        "bootstrap_provider_records_removed",
        "bootstrap_provider_records_refused",
        "bootstrap_connections_denied_by_source",
        "bootstrap_http_requests_limited",
        "libp2p_swarm_connections_established",
        "libp2p_bandwidth_bytes",
        "libp2p_kad_inbound_requests",
    ] {
        assert!(
            metrics.body.contains(&format!("# TYPE {family} ")),
            "family {family} missing from /metrics:\n{}",
            metrics.body
        );
    }

    drop(over_tcp);
    node.wait_metric("bootstrap_connections{transport=\"tcp\"}", |v| v == 0.0);
}

#[test]
fn json_logs_and_sigterm_exit_zero() {
    let dir = tempfile::tempdir().unwrap();
    let node = BootNode::start(dir.path(), &["--log-format", "json"]);
    let (status, log) = node.terminate();
    assert!(status.success(), "exit status {status:?}");
    for line in log.lines() {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(value.get("level").is_some(), "{line}");
    }
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains("\"stopped\""), "{log}");
}

#[test]
fn requests_beyond_a_clients_rate_get_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let node = BootNode::start(
        dir.path(),
        &["--http-burst-per-ip", "5", "--http-refill-per-ip", "90s"],
    );
    for _ in 0..5 {
        assert_eq!(node.get("/addrs").status, 200);
    }
    let refused = node.get("/addrs");
    assert_eq!(refused.status, 429);
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=90).contains(&retry), "Retry-After {retry}");
    // Every path counts, /metrics included.
    assert_eq!(node.get("/metrics").status, 429);
    assert_eq!(node.get("/healthz").status, 429);
}

#[test]
fn behind_a_proxy_each_forwarded_client_has_its_own_rate() {
    let dir = tempfile::tempdir().unwrap();
    let node = BootNode::start(
        dir.path(),
        &[
            "--http-burst-per-ip",
            "2",
            "--http-refill-per-ip",
            "90s",
            "--http-trust-forwarded-for",
        ],
    );
    let from = |client: &str| {
        // The last entry is the one the proxy appended; earlier ones are the client's claims.
        let chain = format!("10.9.9.9, {client}");
        http_get_with(node.http, "/addrs", &[("X-Forwarded-For", &chain)]).status
    };
    assert_eq!([from("198.51.100.1"), from("198.51.100.1")], [200, 200]);
    assert_eq!(from("198.51.100.1"), 429);
    assert_eq!(from("198.51.100.2"), 200);
}

#[test]
fn metrics_access_is_configurable() {
    // Default (private): a scraper on the operator's network, not a client through a proxy.
    let dir = tempfile::tempdir().unwrap();
    let node = BootNode::start(dir.path(), &[]);
    assert_eq!(node.get("/metrics").status, 200);
    let proxied = http_get_with(node.http, "/metrics", &[("X-Forwarded-For", "203.0.113.9")]);
    assert_eq!(proxied.status, 403);
    assert_eq!(
        http_get_with(node.http, "/metrics", &[("Forwarded", "for=203.0.113.9")]).status,
        403
    );
    drop(node);

    let dir = tempfile::tempdir().unwrap();
    let node = BootNode::start(dir.path(), &["--metrics-access", "off"]);
    assert_eq!(node.get("/metrics").status, 404);
    assert_eq!(node.get("/healthz").status, 200);
    drop(node);

    let token = "s3cret-token-0123456789";
    let dir = tempfile::tempdir().unwrap();
    let node = BootNode::start(
        dir.path(),
        &["--metrics-access", "token", "--metrics-token", token],
    );
    assert_eq!(node.get("/metrics").status, 403);
    let wrong = http_get_with(
        node.http,
        "/metrics",
        &[("Authorization", "Bearer s3cret-token-0123456780")],
    );
    assert_eq!(wrong.status, 403);
    let bearer = format!("Bearer {token}");
    let right = http_get_with(node.http, "/metrics", &[("Authorization", &bearer)]);
    assert_eq!(right.status, 200);
    assert!(right.body.contains("# TYPE bootstrap_connections "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_cannot_hold_every_http_connection() {
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::{TcpSocket, TcpStream},
    };

    let dir = tempfile::tempdir().unwrap();
    let node = BootNode::start(dir.path(), &[]);
    // A slow client: connections opened and never sent a request (held until the header
    // timeout), more than any one client may hold.
    let mut idle = Vec::new();
    for _ in 0..64 {
        idle.push(TcpStream::connect(node.http).await.unwrap());
    }
    // Another client (127.0.0.2 is loopback too) is still served.
    let other = TcpSocket::new_v4().unwrap();
    other.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut other = other.connect(node.http).await.unwrap();
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(common::EVENT_TIMEOUT, other.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The slow client's connections beyond its share were turned away at once.
    // Every stream ends: the turned-away ones with their 429, the admitted ones when the
    // server's header-read timeout closes them. Read them all at once, so no wait is a guess.
    let answers = futures::future::join_all(idle.into_iter().map(|mut stream| async move {
        let mut buf = [0u8; 64];
        match tokio::time::timeout(common::EVENT_TIMEOUT, stream.read(&mut buf)).await {
            Ok(Ok(n)) => buf[..n].starts_with(b"HTTP/1.1 429"),
            _ => false,
        }
    }))
    .await;
    let turned_away = answers.iter().filter(|&&refused| refused).count();
    assert_eq!(turned_away, 64 - 16);
}
