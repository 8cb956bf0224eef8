//! Files over real HTTP: bodies, ranges, validators, types, paths, CORS and the manifest.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{BIG_LEN, client, get_text, pattern, raw_status, serve, site};
use mesh_core::dag::cid_of;
use mesh_core::manifest::Manifest;
use mesh_origin::{Config, MANIFEST_PATH, Mount};
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn full_get_has_the_bytes_and_cdn_headers() {
    let dir = site();
    let server = serve(Config::new(dir.path())).await;
    let response = client()
        .get(format!("{}/big.bin", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(header(&headers, "content-length"), BIG_LEN.to_string());
    assert_eq!(header(&headers, "accept-ranges"), "bytes");
    assert_eq!(header(&headers, "cache-control"), "public, max-age=3600");
    assert_eq!(header(&headers, "content-type"), "application/octet-stream");
    // Over one leaf: the ETag is the dag-pb root CID, as `mesh cid` prints it.
    let expected = pattern(BIG_LEN);
    assert_eq!(
        header(&headers, "etag"),
        format!("\"{}\"", cid_of(&expected))
    );
    assert!(header(&headers, "etag").starts_with("\"bafybei"));
    let body = response.bytes().await.unwrap();
    assert_eq!(body.as_ref(), expected.as_slice());
    server.shutdown().await;
}

#[tokio::test]
async fn ranges_give_206_with_exact_bytes() {
    let dir = site();
    let server = serve(Config::new(dir.path())).await;
    let url = format!("{}/big.bin", server.url());
    let expected = pattern(BIG_LEN);
    let cases = [
        ("bytes=0-99", 0, 99),
        ("bytes=262140-262150", 262_140, 262_150),
        ("bytes=599990-", 599_990, BIG_LEN - 1),
        ("bytes=-10", BIG_LEN - 10, BIG_LEN - 1),
        ("bytes=-1000000", 0, BIG_LEN - 1),
        ("bytes=599999-700000", BIG_LEN - 1, BIG_LEN - 1),
    ];
    for (range, start, end) in cases {
        let response = client()
            .get(&url)
            .header(header::RANGE, range)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        let headers = response.headers().clone();
        assert_eq!(
            header(&headers, "content-range"),
            format!("bytes {start}-{end}/{BIG_LEN}"),
            "{range}"
        );
        assert_eq!(
            header(&headers, "content-length"),
            (end - start + 1).to_string()
        );
        let body = response.bytes().await.unwrap();
        assert_eq!(body.as_ref(), &expected[start..=end], "{range}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn unsatisfiable_multi_and_ignored_ranges() {
    let dir = site();
    let server = serve(Config::new(dir.path())).await;
    let get = |path: &str, range: &'static str| {
        client()
            .get(format!("{}{path}", server.url()))
            .header(header::RANGE, range)
            .send()
    };
    let response = get("/big.bin", "bytes=600000-").await.unwrap();
    assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        header(response.headers(), "content-range"),
        format!("bytes */{BIG_LEN}")
    );
    let response = get("/empty.txt", "bytes=0-").await.unwrap();
    assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(response.headers(), "content-range"), "bytes */0");

    // Several ranges: the whole file, as documented.
    let response = get("/big.bin", "bytes=0-1,10-11").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().len(), BIG_LEN);
    // A malformed header is ignored.
    let response = get("/big.bin", "bytes=9-1").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    server.shutdown().await;
}

#[tokio::test]
async fn head_has_the_get_headers_and_no_body() {
    let dir = site();
    let server = serve(Config::new(dir.path())).await;
    let url = format!("{}/big.bin", server.url());
    let get = client().get(&url).send().await.unwrap();
    let head = client().head(&url).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    for name in ["content-length", "content-type", "etag", "accept-ranges"] {
        assert_eq!(
            header(head.headers(), name),
            header(get.headers(), name),
            "{name}"
        );
    }
    assert!(head.bytes().await.unwrap().is_empty());
    let head = client()
        .head(&url)
        .header(header::RANGE, "bytes=-5")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(head.headers(), "content-length"), "5");
    server.shutdown().await;
}

#[tokio::test]
async fn etag_revalidation_and_if_range() {
    let dir = site();
    let server = serve(Config::new(dir.path()).with_cache_control("no-cache")).await;
    let url = format!("{}/img/logo.svg", server.url());
    let first = client().get(&url).send().await.unwrap();
    assert_eq!(header(first.headers(), "cache-control"), "no-cache");
    let etag = header(first.headers(), "etag").to_owned();
    let bytes = first.bytes().await.unwrap();
    assert_eq!(etag, format!("\"{}\"", cid_of(&bytes)));

    let again = client()
        .get(&url)
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(again.headers(), "etag"), etag);
    assert_eq!(header(again.headers(), "access-control-allow-origin"), "*");
    assert!(again.bytes().await.unwrap().is_empty());

    let other = client()
        .get(&url)
        .header(header::IF_NONE_MATCH, "\"bafkreisomethingelse\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);

    // If-Range: our ETag keeps the range, anything else gets the whole (new) file.
    let ranged = |if_range: String| {
        client()
            .get(&url)
            .header(header::RANGE, "bytes=0-3")
            .header(header::IF_RANGE, if_range)
            .send()
    };
    assert_eq!(
        ranged(etag.clone()).await.unwrap().status(),
        StatusCode::PARTIAL_CONTENT
    );
    assert_eq!(
        ranged("\"stale\"".into()).await.unwrap().status(),
        StatusCode::OK
    );

    // A changed file gets a new ETag (the cache notices size and mtime).
    common::write(
        dir.path(),
        "img/logo.svg",
        b"<svg xmlns='http://www.w3.org/2000/svg'><g/></svg>\n",
    );
    let changed = client()
        .get(&url)
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    let new_etag = header(changed.headers(), "etag").to_owned();
    assert_ne!(new_etag, etag);
    assert_eq!(
        new_etag,
        format!("\"{}\"", cid_of(&changed.bytes().await.unwrap()))
    );
    server.shutdown().await;
}

#[tokio::test]
async fn content_types_browsers_insist_on() {
    let dir = site();
    let server = serve(Config::new(dir.path())).await;
    for (path, content_type) in [
        ("/mod.wasm", "application/wasm"),
        ("/app.mjs", "text/javascript"),
        ("/app.js", "text/javascript"),
        ("/index.html", "text/html"),
        ("/img/logo.svg", "image/svg+xml"),
        ("/a%20b.txt", "text/plain"),
    ] {
        let response = client()
            .get(format!("{}{path}", server.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            header(response.headers(), "content-type"),
            content_type,
            "{path}"
        );
        assert_eq!(
            header(response.headers(), "x-content-type-options"),
            "nosniff"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn directories_indexes_and_missing_files() {
    let dir = site();
    let server = serve(Config::new(dir.path())).await;
    let get = |path: &str| client().get(format!("{}{path}", server.url())).send();
    let root = get("/").await.unwrap();
    assert_eq!(root.status(), StatusCode::OK);
    assert_eq!(
        root.text().await.unwrap(),
        "<!doctype html><title>root</title>\n"
    );
    assert_eq!(get("/docs/").await.unwrap().text().await.unwrap(), "docs\n");
    let redirect = get("/docs?x=1").await.unwrap();
    assert_eq!(redirect.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(header(redirect.headers(), "location"), "/docs/?x=1");
    assert_eq!(get("/img/").await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(
        get("/nope.txt").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let wrong_method = client()
        .post(format!("{}/index.html", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        header(wrong_method.headers(), "allow"),
        "GET, HEAD, OPTIONS"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn traversal_hidden_files_and_escaping_symlinks_are_refused() {
    let dir = site();
    let outside = tempfile::tempdir().unwrap();
    common::write(outside.path(), "secret.txt", b"top secret\n");
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        dir.path().join("leak.txt"),
    )
    .unwrap();
    let server = serve(Config::new(dir.path().join("docs"))).await;
    let addr = server.local_addr();
    // Sent raw: an HTTP client library would resolve the dots before sending.
    for path in [
        "/../index.html",
        "/%2e%2e/index.html",
        "/.%2E/index.html",
        "/..%2findex.html",
        "/a/../../index.html",
        "/index.html/..",
        "//etc/passwd",
        "/%5c..%5cindex.html",
    ] {
        let status = raw_status(addr, path).await;
        assert!(status == 400 || status == 404, "{path} answered {status}");
    }
    assert_eq!(raw_status(addr, "/index.html").await, 200);
    server.shutdown().await;

    let server = serve(Config::new(dir.path())).await;
    let addr = server.local_addr();
    for path in ["/.secret", "/.git/config", "/%2esecret", "/leak.txt"] {
        assert_eq!(raw_status(addr, path).await, 404, "{path}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn mounts_serve_other_directories_under_a_prefix() {
    let dir = site();
    let pkg = tempfile::tempdir().unwrap();
    common::write(pkg.path(), "mesh_bg.wasm", b"\0asm\x01\0\0\0 pkg");
    let server =
        serve(Config::new(dir.path()).with_mount(Mount::new("/pkg", pkg.path()).unwrap())).await;
    let response = client()
        .get(format!("{}/pkg/mesh_bg.wasm", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "content-type"),
        "application/wasm"
    );
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        b"\0asm\x01\0\0\0 pkg"
    );
    // Mounts are not part of the root's manifest.
    assert!(server.manifest().get("/pkg/mesh_bg.wasm").is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn cors_preflight_and_response_headers() {
    let dir = site();
    let server = serve(Config::new(dir.path())).await;
    let url = format!("{}/big.bin", server.url());
    let preflight = common::preflight(
        &client(),
        &url,
        "http://127.0.0.1:9999",
        "range, if-none-match",
    )
    .await;
    assert!(preflight.status().is_success());
    let headers = preflight.headers();
    assert_eq!(header(headers, "access-control-allow-origin"), "*");
    assert!(header(headers, "access-control-allow-methods").contains("GET"));
    let allowed = header(headers, "access-control-allow-headers").to_ascii_lowercase();
    assert!(
        allowed.contains("range") && allowed.contains("if-none-match"),
        "{allowed}"
    );

    let response = client()
        .get(&url)
        .header(header::ORIGIN, "http://127.0.0.1:9999")
        .header(header::RANGE, "bytes=-100")
        .send()
        .await
        .unwrap();
    let headers = response.headers();
    assert_eq!(header(headers, "access-control-allow-origin"), "*");
    let exposed = header(headers, "access-control-expose-headers").to_ascii_lowercase();
    for name in [
        "content-range",
        "content-length",
        "etag",
        "content-type",
        "accept-ranges",
    ] {
        assert!(exposed.contains(name), "{name} not exposed: {exposed}");
    }
    // Errors carry CORS too, so a page can read them.
    let missing = client()
        .get(format!("{}/nope", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        header(missing.headers(), "access-control-allow-origin"),
        "*"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn manifest_matches_mesh_core_cids_and_mesh_manifest() {
    let dir = site();
    let server = serve(Config::new(dir.path())).await;
    let url = format!("{}{MANIFEST_PATH}", server.url());
    let response = client().get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "content-type"),
        "application/json"
    );
    assert_eq!(
        header(response.headers(), "access-control-allow-origin"),
        "*"
    );
    let etag = header(response.headers(), "etag").to_owned();
    let text = response.text().await.unwrap();
    let manifest = Manifest::from_json(&text).unwrap();
    let paths: Vec<&str> = manifest.assets.keys().map(String::as_str).collect();
    assert_eq!(
        paths,
        [
            "/a b.txt",
            "/app.js",
            "/app.mjs",
            "/big.bin",
            "/docs/index.html",
            "/empty.txt",
            "/img/logo.svg",
            "/index.html",
            "/mod.wasm",
        ]
    );
    for (path, entry) in &manifest.assets {
        let relative = path.trim_start_matches('/');
        let bytes = std::fs::read(dir.path().join(relative)).unwrap();
        assert_eq!(entry.cid, cid_of(&bytes), "{path}");
        assert_eq!(entry.size, bytes.len() as u64, "{path}");
        // The ETag of each file is the manifest's CID, its type the manifest's type.
        let file = client()
            .head(format!("{}{}", server.url(), path.replace(' ', "%20")))
            .send()
            .await
            .unwrap();
        assert_eq!(header(file.headers(), "etag"), format!("\"{}\"", entry.cid));
        assert_eq!(header(file.headers(), "content-type"), entry.content_type);
    }
    // Byte for byte what `mesh manifest DIR` writes (same mesh-site code, pretty JSON + \n).
    let site = mesh_site::manifest::manifest_of_dir(dir.path(), None).unwrap();
    assert_eq!(text, format!("{}\n", site.manifest.to_json()));

    let again = client()
        .get(&url)
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    server.shutdown().await;
}

#[tokio::test]
async fn a_prebuilt_manifest_is_served_verbatim() {
    let dir = site();
    let file = dir.path().join("prebuilt.json");
    let mut manifest = Manifest::new();
    manifest
        .insert(
            "/elsewhere.js",
            mesh_core::manifest::ManifestEntry {
                cid: cid_of(b"x"),
                size: 1,
                content_type: "text/javascript".into(),
            },
        )
        .unwrap();
    let json = manifest.to_json();
    std::fs::write(&file, &json).unwrap();
    let server = serve(Config::new(dir.path()).with_manifest_file(&file)).await;
    let text = get_text(&format!("{}{MANIFEST_PATH}", server.url())).await;
    assert_eq!(text, json);
    server.shutdown().await;
}
