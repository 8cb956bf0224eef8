//! HTTPS: HTTP/2 negotiated by ALPN (HTTP/1.1 for clients that ask for it), with ranges,
//! validators and CORS working over it, and the binary's `--tls-*` flags.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::process::{Command, Stdio};

use common::{BIG_LEN, pattern, serve, site};
use mesh_origin::tls::{LOOPBACK_NAMES, SPKI_FILE};
use mesh_origin::{Config, RunningServer, TlsIdentity};
use reqwest::header::{self, HeaderMap};
use reqwest::{StatusCode, Version};

fn loopback() -> Vec<String> {
    LOOPBACK_NAMES.iter().map(|s| (*s).to_owned()).collect()
}

/// An HTTPS origin over the sample site, and the identity it presents.
async fn https_server() -> (tempfile::TempDir, RunningServer, TlsIdentity) {
    let dir = site();
    let (identity, _, _) = TlsIdentity::self_signed(&loopback()).unwrap();
    let server = serve(Config::new(dir.path()).with_tls(identity.clone())).await;
    (dir, server, identity)
}

/// A client that trusts only `identity`'s self-signed certificate; `http1` forbids h2.
fn client_trusting(identity: &TlsIdentity, http1: bool) -> reqwest::Client {
    let root = reqwest::Certificate::from_der(identity.chain()[0].as_ref()).unwrap();
    let builder = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(root)
        .https_only(true)
        .redirect(reqwest::redirect::Policy::none());
    let builder = if http1 { builder.http1_only() } else { builder };
    builder.build().unwrap()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn h2_is_negotiated_and_ranges_validators_and_cors_work_over_it() {
    let (_dir, server, identity) = https_server().await;
    assert!(
        server.url().starts_with("https://127.0.0.1:"),
        "{}",
        server.url()
    );
    let client = client_trusting(&identity, false);
    let url = format!("{}/big.bin", server.url());
    let expected = pattern(BIG_LEN);

    let full = client.get(&url).send().await.unwrap();
    assert_eq!(full.version(), Version::HTTP_2);
    assert_eq!(full.status(), StatusCode::OK);
    let etag = header(full.headers(), "etag").to_owned();
    assert!(etag.starts_with("\"bafybei"), "{etag}");
    assert_eq!(full.bytes().await.unwrap().as_ref(), expected.as_slice());

    let ranged = client
        .get(&url)
        .header(header::RANGE, "bytes=262140-262150")
        .header(header::ORIGIN, "https://page.example")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.version(), Version::HTTP_2);
    assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
    let headers = ranged.headers().clone();
    assert_eq!(
        header(&headers, "content-range"),
        format!("bytes 262140-262150/{BIG_LEN}")
    );
    assert_eq!(header(&headers, "access-control-allow-origin"), "*");
    assert_eq!(header(&headers, "timing-allow-origin"), "*");
    assert_eq!(
        ranged.bytes().await.unwrap().as_ref(),
        &expected[262_140..=262_150]
    );

    let unsatisfiable = client
        .get(&url)
        .header(header::RANGE, format!("bytes={BIG_LEN}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(unsatisfiable.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    let revalidated = client
        .get(&url)
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.version(), Version::HTTP_2);
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(revalidated.headers(), "etag"), etag);

    let preflight = common::preflight(&client, &url, "https://page.example", "range").await;
    assert_eq!(preflight.version(), Version::HTTP_2);
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    assert!(
        header(preflight.headers(), "access-control-allow-headers")
            .to_ascii_lowercase()
            .contains("range")
    );

    let manifest = client
        .get(format!("{}{}", server.url(), mesh_origin::MANIFEST_PATH))
        .send()
        .await
        .unwrap();
    assert_eq!(manifest.version(), Version::HTTP_2);
    assert_eq!(manifest.status(), StatusCode::OK);

    // The control API is on the same port, so over h2 as well; the egress counters see the
    // bodies sent over h2.
    let stats = client
        .get(format!("{}/_origin/stats", server.url()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let stats: serde_json::Value = serde_json::from_slice(&stats).unwrap();
    assert_eq!(
        stats["paths"]["/big.bin"]["bytes"],
        u64::try_from(BIG_LEN + 11).unwrap()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn forty_concurrent_requests_are_all_served_over_h2() {
    let (_dir, server, identity) = https_server().await;
    let client = client_trusting(&identity, false);
    // Forty requests at once, as a page with forty assets makes them: over HTTP/2 they are
    // streams of one connection (a browser's HTTP/1.1 would queue all but six).
    let fetches = (0..40).map(|i| {
        let client = client.clone();
        let url = format!("{}/big.bin", server.url());
        async move {
            let response = client
                .get(url)
                .header(header::RANGE, format!("bytes={i}-{}", i + 99))
                .send()
                .await
                .unwrap();
            (response.version(), response.bytes().await.unwrap().len())
        }
    });
    for (version, len) in futures::future::join_all(fetches).await {
        assert_eq!((version, len), (Version::HTTP_2, 100));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn http1_stays_available_over_tls_and_in_the_clear() {
    let (_dir, server, identity) = https_server().await;
    let response = client_trusting(&identity, true)
        .get(format!("{}/app.js", server.url()))
        .header(header::RANGE, "bytes=0-6")
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), Version::HTTP_11);
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(response.text().await.unwrap(), "console");
    server.shutdown().await;

    let dir = site();
    let plain = serve(Config::new(dir.path())).await;
    assert!(plain.url().starts_with("http://"), "{}", plain.url());
    let response = common::client()
        .get(format!("{}/app.js", plain.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), Version::HTTP_11);
    plain.shutdown().await;
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_certificate_is_refused_and_others_go_on() {
    let (_dir, server, identity) = https_server().await;
    // Another self-signed certificate as the only root: the handshake fails.
    let (stranger, _, _) = TlsIdentity::self_signed(&loopback()).unwrap();
    let err = client_trusting(&stranger, false)
        .get(format!("{}/app.js", server.url()))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    // Plain HTTP to the TLS port gets no HTTP answer (the handshake fails), and does not
    // disturb the server.
    let plain = format!("http://{}/app.js", server.local_addr());
    assert!(common::client().get(plain).send().await.is_err());
    let ok = client_trusting(&identity, false)
        .get(format!("{}/app.js", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    server.shutdown().await;
}

#[tokio::test]
async fn the_binary_serves_https_with_a_kept_self_signed_certificate() {
    let dir = site();
    let tls = tempfile::tempdir().unwrap();
    let tls_dir = tls.path().join("tls");
    let root = dir.path().to_str().unwrap();
    let args = [
        "--root",
        root,
        "--listen",
        "127.0.0.1:0",
        "--tls-self-signed",
        tls_dir.to_str().unwrap(),
    ];
    let mut spki = Vec::new();
    for _ in 0..2 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mesh-origin"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        let url = line.strip_prefix("listening ").unwrap().trim().to_owned();
        assert!(url.starts_with("https://127.0.0.1:"), "{line:?}");
        let identity = TlsIdentity::from_pem_files(
            &tls_dir.join(mesh_origin::tls::CERT_FILE),
            &tls_dir.join(mesh_origin::tls::KEY_FILE),
        )
        .unwrap();
        let written = std::fs::read_to_string(tls_dir.join(SPKI_FILE)).unwrap();
        assert_eq!(written.trim_end(), identity.spki_sha256());
        spki.push(written);
        let response = client_trusting(&identity, false)
            .get(format!("{url}/index.html"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.version(), Version::HTTP_2);
        assert_eq!(response.status(), StatusCode::OK);
        child.kill().unwrap();
        child.wait().unwrap();
    }
    // The second start reused the certificate: Chromium's SPKI flag stays valid.
    assert_eq!(spki[0], spki[1]);
}

#[test]
fn bad_tls_flags_are_one_line_errors() {
    let dir = site();
    let root = dir.path().to_str().unwrap();
    let missing = dir.path().join("missing.pem");
    let missing = missing.to_str().unwrap();
    let not_pem = dir.path().join("app.js");
    let not_pem = not_pem.to_str().unwrap();
    for (args, needle) in [
        (
            vec!["--tls-cert", missing, "--tls-key", missing],
            "cannot read",
        ),
        (
            vec!["--tls-cert", not_pem, "--tls-key", not_pem],
            "no PEM certificate",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_mesh-origin"))
            .args(["--root", root, "--listen", "127.0.0.1:0"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
        assert!(
            stderr.starts_with("mesh-origin: error: TLS: ") && stderr.contains(needle),
            "{stderr:?}"
        );
    }
    // --tls-cert without --tls-key is a usage error.
    let output = Command::new(env!("CARGO_BIN_EXE_mesh-origin"))
        .args(["--root", root, "--tls-cert", not_pem])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}
