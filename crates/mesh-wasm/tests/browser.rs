//! The browser node in headless Chromium against real servers: a bootstrap node, an HTTP
//! origin, a native seeder and a frozen provider, started by `tests/browser/lib/with-servers.mjs`
//! (run through `scripts/test-browser.sh`). Ports are fixed at build time (see that script).
#![cfg(target_arch = "wasm32")]

use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
use mesh_wasm::{FetchHandle, MeshNode};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const ORIGIN: &str = match option_env!("MESH_TEST_ORIGIN") {
    Some(v) => v,
    None => "http://127.0.0.1:47811",
};
const BOOTSTRAP_HTTP: &str = match option_env!("MESH_TEST_BOOTSTRAP_HTTP") {
    Some(v) => v,
    None => "http://127.0.0.1:47813",
};

type TestResult = Result<(), JsValue>;

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

fn path(obj: &JsValue, keys: &[&str]) -> JsValue {
    keys.iter().fold(obj.clone(), |o, k| get(&o, k))
}

async fn http_text(url: &str) -> Result<String, JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    let res: web_sys::Response = JsFuture::from(window.fetch_with_str(url))
        .await?
        .dyn_into()?;
    if !res.ok() {
        return Err(format!("GET {url}: HTTP {}", res.status()).into());
    }
    JsFuture::from(res.text()?)
        .await?
        .as_string()
        .ok_or_else(|| "not text".into())
}

async fn http_bytes(url: &str) -> Result<Vec<u8>, JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    let res: web_sys::Response = JsFuture::from(window.fetch_with_str(url))
        .await?
        .dyn_into()?;
    let buf = JsFuture::from(res.array_buffer()?).await?;
    Ok(Uint8Array::new(&buf).to_vec())
}

/// A timer for polling the servers' state; never used to order events.
async fn sleep(ms: u32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms as i32);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// The fixture site's manifest, served by the origin.
async fn manifest() -> Result<String, JsValue> {
    http_text(&format!("{ORIGIN}/.well-known/mesh/manifest.json")).await
}

async fn bootstrap_addrs() -> Result<JsValue, JsValue> {
    js_sys::JSON::parse(&http_text(&format!("{BOOTSTRAP_HTTP}/addrs")).await?)
}

/// Options for a node: the bootstrap node's addresses, a 1 s stats interval off.
async fn options(extra: &[(&str, JsValue)]) -> Result<JsValue, JsValue> {
    let o = Object::new();
    Reflect::set(&o, &"bootstrap".into(), &bootstrap_addrs().await?)?;
    Reflect::set(&o, &"statsIntervalMs".into(), &0.into())?;
    Reflect::set(&o, &"originBase".into(), &format!("{ORIGIN}/").into())?;
    // Loopback only: host candidates, no STUN.
    Reflect::set(&o, &"iceServers".into(), &js_sys::Array::new())?;
    // Every node of this page would share one database: the persistence tests name their own.
    Reflect::set(&o, &"persist".into(), &false.into())?;
    for (k, v) in extra {
        Reflect::set(&o, &(*k).into(), v)?;
    }
    Ok(o.into())
}

fn no_events() -> Function {
    Function::new_no_args("")
}

/// Starts a node with the test servers' options. (Loopback ICE candidates need camera and
/// microphone permission: webdriver.json's `--use-fake-ui-for-media-stream` grants it.)
async fn start(extra: &[(&str, JsValue)]) -> Result<MeshNode, JsValue> {
    MeshNode::start(
        options(extra).await?,
        Some(manifest().await?.into()),
        no_events(),
    )
}

async fn stats(node: &MeshNode) -> Result<JsValue, JsValue> {
    node.stats().await
}

/// Polls the node's stats until `ok` holds, for up to `secs` seconds.
async fn wait_for(
    node: &MeshNode,
    secs: u32,
    what: &str,
    ok: impl Fn(&JsValue) -> bool,
) -> Result<JsValue, JsValue> {
    for _ in 0..secs * 20 {
        let s = stats(node).await?;
        if ok(&s) {
            return Ok(s);
        }
        sleep(50).await;
    }
    Err(format!(
        "timed out waiting for {what}: {:?}",
        js_sys::JSON::stringify(&stats(node).await?)
    )
    .into())
}

async fn wait_connected(node: &MeshNode) -> Result<JsValue, JsValue> {
    wait_for(
        node,
        15,
        "a bootstrap connection and a relay reservation",
        |s| {
            path(s, &["peers", "bootstrap"]).as_f64() == Some(1.0)
                && get(s, "reachable").as_bool() == Some(true)
        },
    )
    .await
}

/// Reads a fetch to the end: (bytes, summary, first chunk's source).
async fn read_all(handle: &FetchHandle) -> Result<(Vec<u8>, JsValue, String), JsValue> {
    read_rest(handle, Vec::new()).await
}

/// Like [`read_all`], for a fetch whose first `bytes` were read already.
async fn read_rest(
    handle: &FetchHandle,
    mut bytes: Vec<u8>,
) -> Result<(Vec<u8>, JsValue, String), JsValue> {
    let mut first_source = None;
    loop {
        let next = JsFuture::from(handle.next()).await?;
        let done = get(&next, "done");
        if !done.is_undefined() {
            let source = first_source
                .unwrap_or_else(|| get(&done, "source").as_string().unwrap_or_default());
            return Ok((bytes, done, source));
        }
        let offset = get(&next, "offset").as_f64().ok_or("no offset")? as usize;
        if offset != bytes.len() {
            return Err(format!("chunk at {offset}, expected {}", bytes.len()).into());
        }
        first_source.get_or_insert_with(|| get(&next, "source").as_string().unwrap_or_default());
        bytes.extend(Uint8Array::new(&get(&next, "data")).to_vec());
    }
}

async fn fixture(name: &str) -> Result<Vec<u8>, JsValue> {
    http_bytes(&format!("{ORIGIN}/{name}")).await
}

fn resolve_cid(node: &MeshNode, p: &str) -> Result<String, JsValue> {
    get(&node.resolve(p)?, "cid")
        .as_string()
        .ok_or_else(|| "no cid".into())
}

fn url(name: &str) -> Option<String> {
    Some(format!("{ORIGIN}/{name}"))
}

/// A tab that joined the mesh and fetched `file` from the origin, so it holds and announces
/// it: the tab, the file's CID, its bytes and the fetch's summary.
async fn seeding_tab(
    extra: &[(&str, JsValue)],
    file: &str,
) -> Result<(MeshNode, String, Vec<u8>, JsValue), JsValue> {
    let tab = start(extra).await?;
    wait_connected(&tab).await?;
    let cid = resolve_cid(&tab, &format!("/{file}"))?;
    let (bytes, done, _) = read_all(&tab.fetch(&cid, url(file))?).await?;
    Ok((tab, cid, bytes, done))
}

#[wasm_bindgen_test]
async fn connects_to_the_bootstrap_node_and_holds_a_relay_reservation() -> TestResult {
    let node = start(&[]).await?;
    let s = wait_connected(&node).await?;
    assert_eq!(get(&s, "p2p").as_string().as_deref(), Some("on"));
    assert!(path(&s, &["peers", "routingTable"]).as_f64() >= Some(1.0));
    node.close().await?;
    Ok(())
}

#[wasm_bindgen_test]
async fn fetches_from_a_peer_found_in_the_dht() -> TestResult {
    // A cold WebSocket dial of the seeder takes longer than 200 ms here (~400 ms): with the
    // default deadline the origin would rightly win. A long deadline shows the peer path.
    let node = start(&[("fallbackMs", 5000.into())]).await?;
    wait_connected(&node).await?;
    for name in ["peer.bin", "peer-small.txt"] {
        let cid = resolve_cid(&node, &format!("/{name}"))?;
        let handle = node.fetch(&cid, url(name))?;
        let (bytes, done, _) = read_all(&handle).await?;
        assert_eq!(bytes, fixture(name).await?, "{name}");
        assert_eq!(
            get(&done, "source").as_string().as_deref(),
            Some("peer"),
            "{name}"
        );
        assert_eq!(get(&done, "bytesOrigin").as_f64(), Some(0.0), "{name}");
    }
    let s = stats(&node).await?;
    assert!(path(&s, &["peers", "mesh"]).as_f64() >= Some(1.0));
    assert!(path(&s, &["bytes", "peer"]).as_f64() >= Some(1_305_000.0));
    // peer.bin's five leaves were hashed by WebCrypto (the test page is on localhost, a
    // secure context); peer-small.txt is under the size that pays for it.
    assert!(get(&s, "webCryptoHashes").as_f64() >= Some(5.0), "{s:?}");
    node.close().await?;
    Ok(())
}

#[wasm_bindgen_test]
async fn goes_to_the_origin_at_once_when_nobody_provides() -> TestResult {
    // A long deadline, so that "at once" is told from "at the deadline" with room to spare on
    // a loaded machine (a first byte in a few hundred ms there is no failure).
    let node = start(&[("fallbackMs", 3000.into())]).await?;
    wait_connected(&node).await?;
    let cid = resolve_cid(&node, "/origin-only.txt")?;
    let handle = node.fetch(&cid, url("origin-only.txt"))?;
    let (bytes, done, _) = read_all(&handle).await?;
    assert_eq!(bytes, fixture("origin-only.txt").await?);
    assert_eq!(get(&done, "source").as_string().as_deref(), Some("origin"));
    // The DHT answered "nobody" quickly: no reason to wait for the deadline.
    let ttfb = get(&done, "ttfbMs").as_f64().ok_or("no ttfb")?;
    assert!(ttfb < 1500.0, "waited for the 3 s deadline: ttfb {ttfb} ms");
    assert_eq!(handle.content_type().as_deref(), Some("text/plain"));
    // Its one leaf was hashed by WebCrypto as it came from the origin.
    let s = stats(&node).await?;
    assert_eq!(get(&s, "webCryptoHashes").as_f64(), Some(1.0), "{s:?}");
    node.close().await?;
    Ok(())
}

#[wasm_bindgen_test]
async fn falls_back_at_the_deadline_when_the_provider_is_dead() -> TestResult {
    // The stalled provider's record is in the DHT but it never answers: the origin request
    // must start at the deadline, not when the dial finally times out.
    let node = start(&[("fallbackMs", 200.into())]).await?;
    wait_connected(&node).await?;
    let cid = resolve_cid(&node, "/stalled.bin")?;
    let handle = node.fetch(&cid, url("stalled.bin"))?;
    let (bytes, done, _) = read_all(&handle).await?;
    assert_eq!(bytes, fixture("stalled.bin").await?);
    assert_eq!(get(&done, "source").as_string().as_deref(), Some("origin"));
    assert_eq!(get(&done, "fellBack").as_bool(), Some(true));
    let ttfb = get(&done, "ttfbMs").as_f64().ok_or("no ttfb")?;
    assert!(
        ttfb >= 200.0,
        "origin asked before the deadline: ttfb {ttfb} ms"
    );
    // Generous: a loopback origin answers in milliseconds once asked.
    assert!(
        ttfb < 2000.0,
        "origin asked long after the deadline: ttfb {ttfb} ms"
    );
    node.close().await?;
    Ok(())
}

#[wasm_bindgen_test]
async fn refuses_origin_bytes_that_do_not_match_the_cid() -> TestResult {
    let node = start(&[("p2p", "off".into())]).await?;
    let cid = resolve_cid(&node, "/origin-only.txt")?;
    // The origin URL serves other bytes: a tampered CDN.
    let handle = node.fetch(&cid, url("other.bin"))?;
    let error = match read_all(&handle).await {
        Ok(_) => return Err("tampered bytes were accepted".into()),
        Err(e) => e,
    };
    assert_eq!(
        get(&error, "kind").as_string().as_deref(),
        Some("integrity"),
        "{error:?}"
    );
    let s = stats(&node).await?;
    assert_eq!(path(&s, &["bytes", "origin"]).as_f64(), Some(0.0));
    // WebCrypto hashed the body (the test page is a secure context); its digest gave it away.
    assert!(get(&s, "webCryptoHashes").as_f64() >= Some(1.0), "{s:?}");
    node.close().await?;
    Ok(())
}

#[wasm_bindgen_test]
async fn a_cancelled_fetch_reports_aborted() -> TestResult {
    let node = start(&[("p2p", "off".into())]).await?;
    let cid = resolve_cid(&node, "/cache-0.bin")?;
    let handle = node.fetch(&cid, url("cache-0.bin"))?;
    handle.cancel();
    let error = match read_all(&handle).await {
        Ok(_) => return Err("a cancelled fetch completed".into()),
        Err(e) => e,
    };
    assert_eq!(get(&error, "kind").as_string().as_deref(), Some("aborted"));
    // A `next()` already waiting when the fetch is cancelled settles too: the node drops the
    // fetch's sender when the cancel reaches it, which wakes the waiting read.
    let handle = node.fetch(&cid, url("cache-0.bin"))?;
    let waiting = JsFuture::from(handle.next());
    // One turn of the microtask queue: `next()`'s task runs and waits (the origin's answer
    // is a network round trip away).
    JsFuture::from(Promise::resolve(&JsValue::NULL)).await?;
    handle.cancel();
    let settled = futures::future::select(waiting, Box::pin(sleep(10_000))).await;
    let futures::future::Either::Left((result, _)) = settled else {
        return Err("a next() pending at the cancel never settled".into());
    };
    let error = result.err().ok_or("a cancelled fetch delivered a piece")?;
    assert_eq!(get(&error, "kind").as_string().as_deref(), Some("aborted"));
    // The node is still fine afterwards.
    let (bytes, _, _) = read_all(&node.fetch(&cid, url("cache-0.bin"))?).await?;
    assert_eq!(bytes.len(), 600_000);
    node.close().await?;
    Ok(())
}

#[wasm_bindgen_test]
async fn p2p_off_opens_no_connection_and_still_verifies() -> TestResult {
    let node = start(&[("p2p", "off".into())]).await?;
    let cid = resolve_cid(&node, "/peer-small.txt")?;
    let (bytes, done, _) = read_all(&node.fetch(&cid, url("peer-small.txt"))?).await?;
    assert_eq!(bytes, fixture("peer-small.txt").await?);
    assert_eq!(get(&done, "source").as_string().as_deref(), Some("origin"));
    let s = stats(&node).await?;
    assert_eq!(path(&s, &["peers", "connected"]).as_f64(), Some(0.0));
    assert_eq!(get(&s, "p2p").as_string().as_deref(), Some("off"));
    node.close().await?;
    Ok(())
}

#[wasm_bindgen_test]
async fn after_consent_joins_only_once_consent_is_given() -> TestResult {
    let node = start(&[("p2p", "after-consent".into())]).await?;
    sleep(300).await;
    let s = stats(&node).await?;
    assert_eq!(path(&s, &["peers", "connected"]).as_f64(), Some(0.0));
    assert_eq!(get(&s, "p2p").as_string().as_deref(), Some("after-consent"));
    node.consent(None)?;
    let s = wait_connected(&node).await?;
    assert_eq!(get(&s, "p2p").as_string().as_deref(), Some("on"));
    node.close().await?;
    Ok(())
}

#[wasm_bindgen_test]
async fn bootstrap_addresses_given_with_consent_are_dialled() -> TestResult {
    // As the JS shim does in 'after-consent' mode: the bootstrap list is fetched only after
    // consent and handed over with it.
    let o = options(&[("p2p", "after-consent".into())]).await?;
    Reflect::delete_property(&o.clone().into(), &"bootstrap".into())?;
    let node = MeshNode::start(o, Some(manifest().await?.into()), no_events())?;
    let addrs: Vec<String> = js_sys::Array::from(&bootstrap_addrs().await?)
        .iter()
        .filter_map(|a| a.as_string())
        .collect();
    assert!(node.consent(Some(vec!["/not/an/addr".into()])).is_err());
    node.consent(Some(addrs))?;
    wait_connected(&node).await?;
    node.close().await?;
    Ok(())
}

#[wasm_bindgen_test]
async fn revoking_consent_closes_every_connection_until_given_again() -> TestResult {
    let node = start(&[]).await?;
    let s = wait_connected(&node).await?;
    assert_eq!(get(&s, "p2p").as_string().as_deref(), Some("on"));
    node.revoke_consent()?;
    let s = wait_for(&node, 5, "every connection closed", |s| {
        path(s, &["peers", "connected"]).as_f64() == Some(0.0)
    })
    .await?;
    assert_eq!(path(&s, &["peers", "connected"]).as_f64(), Some(0.0));
    assert_eq!(get(&s, "p2p").as_string().as_deref(), Some("revoked"));
    assert_eq!(get(&s, "reachable").as_bool(), Some(false));
    // Fetches go on from the origin, verified.
    let cid = resolve_cid(&node, "/peer-small.txt")?;
    let (bytes, done, _) = read_all(&node.fetch(&cid, url("peer-small.txt"))?).await?;
    assert_eq!(bytes, fixture("peer-small.txt").await?);
    assert_eq!(get(&done, "source").as_string().as_deref(), Some("origin"));
    // No redial behind the page's back.
    sleep(600).await;
    let s = stats(&node).await?;
    assert_eq!(path(&s, &["peers", "connected"]).as_f64(), Some(0.0));
    node.consent(None)?;
    let s = wait_connected(&node).await?;
    assert_eq!(get(&s, "p2p").as_string().as_deref(), Some("on"));
    node.close().await?;
    Ok(())
}

#[wasm_bindgen_test]
async fn serving_can_be_off_or_paused() -> TestResult {
    let quiet = start(&[("serve", false.into())]).await?;
    let s = wait_for(&quiet, 15, "a bootstrap connection", |s| {
        path(s, &["peers", "bootstrap"]).as_f64() == Some(1.0)
    })
    .await?;
    assert_eq!(path(&s, &["serve", "serving"]).as_bool(), Some(false));
    // Nobody needs to reach a tab that serves nothing: no relay reservation.
    sleep(300).await;
    assert_eq!(
        get(&stats(&quiet).await?, "reachable").as_bool(),
        Some(false)
    );
    quiet.close().await?;

    let node = start(&[]).await?;
    wait_connected(&node).await?;
    assert_eq!(
        path(&stats(&node).await?, &["serve", "serving"]).as_bool(),
        Some(true)
    );
    node.pause_serving(true)?;
    assert_eq!(
        path(&stats(&node).await?, &["serve", "serving"]).as_bool(),
        Some(false)
    );
    node.pause_serving(false)?;
    assert_eq!(
        path(&stats(&node).await?, &["serve", "serving"]).as_bool(),
        Some(true)
    );
    node.close().await?;
    Ok(())
}

#[wasm_bindgen_test]
async fn the_cache_stays_within_its_budget_and_serves_hits() -> TestResult {
    let budget = 1u32 << 20;
    let node = start(&[("p2p", "off".into()), ("cacheBytes", budget.into())]).await?;
    for i in 0..4 {
        let name = format!("cache-{i}.bin");
        let cid = resolve_cid(&node, &format!("/{name}"))?;
        let (bytes, _, _) = read_all(&node.fetch(&cid, url(&name))?).await?;
        assert_eq!(bytes, fixture(&name).await?);
        let s = stats(&node).await?;
        let used = path(&s, &["store", "usedBytes"])
            .as_f64()
            .ok_or("no usedBytes")?;
        assert!(
            used <= f64::from(budget),
            "store holds {used} bytes, budget {budget}"
        );
    }
    let s = stats(&node).await?;
    assert!(path(&s, &["store", "evictions"]).as_f64() >= Some(1.0));
    // The last asset is still held: a second fetch is a cache hit, with no origin URL at all.
    let cid = resolve_cid(&node, "/cache-3.bin")?;
    let (bytes, done, _) = read_all(&node.fetch(&cid, None)?).await?;
    assert_eq!(bytes.len(), 600_000);
    assert_eq!(get(&done, "source").as_string().as_deref(), Some("cache"));
    node.close().await?;
    Ok(())
}

#[wasm_bindgen_test]
async fn bad_options_are_config_errors() -> TestResult {
    let o = Object::new();
    Reflect::set(&o, &"fallbackMs".into(), &(-5).into())?;
    let error = match MeshNode::start(o.into(), None, no_events()) {
        Ok(_) => return Err("a negative fallbackMs was accepted".into()),
        Err(e) => e,
    };
    assert_eq!(get(&error, "kind").as_string().as_deref(), Some("config"));
    let message = get(&error, "message").as_string().unwrap_or_default();
    assert!(message.contains("fallbackMs"), "{message}");
    // Unknown names are refused here too, not only by the shim (serde-wasm-bindgen would
    // skip them): at the top level and inside an RTCIceServer.
    let refused = |options: JsValue, manifest: Option<&str>, what: &str| match MeshNode::start(
        options,
        manifest.map(js_sys::JsString::from),
        no_events(),
    ) {
        Ok(_) => Err(format!("{what} was accepted")),
        Err(e) => {
            let kind = get(&e, "kind").as_string();
            let message = get(&e, "message").as_string().unwrap_or_default();
            if kind.as_deref() == Some("config") {
                Ok(message)
            } else {
                Err(format!("{what}: {kind:?} {message}"))
            }
        }
    };
    let typo = js_sys::JSON::parse(r#"{"fallbackMS":100}"#)?;
    let message = refused(typo, None, "an unknown option")?;
    assert!(message.contains("`fallbackMS`"), "{message}");
    let ice = js_sys::JSON::parse(r#"{"iceServers":[{"urls":"stun:x:3478","user":"u"}]}"#)?;
    let message = refused(ice, None, "an unknown RTCIceServer key")?;
    assert!(
        message.contains("iceServers") && message.contains("`user`"),
        "{message}"
    );
    let wrong_type = js_sys::JSON::parse(r#"{"serve":"yes"}"#)?;
    let message = refused(wrong_type, None, "serve: 'yes'")?;
    assert!(message.contains("bool"), "{message}");
    // The manifest: JSON, version first, then shape, paths and media types.
    let manifests = [
        ("{not json", "invalid manifest JSON"),
        (
            r#"{"version":2,"assets":{"x":1}}"#,
            "unsupported manifest version 2",
        ),
        (r#"{"assets":{}}"#, "`version`"),
        (
            r#"{"version":1,"assets":{"/a":1}}"#,
            "invalid manifest JSON",
        ),
        (
            r#"{"version":1,"assets":{"/a":{"cid":"nope","size":1,"type":""}}}"#,
            "invalid manifest JSON",
        ),
        (
            r#"{"version":1,"assets":{"a.txt":{"cid":"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku","size":1,"type":""}}}"#,
            "invalid site path",
        ),
        (
            r#"{"version":1,"assets":{"/a":{"cid":"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku","size":1,"type":"a\nb"}}}"#,
            "invalid media type",
        ),
    ];
    for (manifest, expected) in manifests {
        let message = refused(JsValue::UNDEFINED, Some(manifest), manifest)?;
        assert!(message.contains("manifest"), "{message}");
        assert!(message.contains(expected), "{manifest}: {message}");
    }
    Ok(())
}

#[wasm_bindgen_test]
async fn announces_what_it_fetched_so_another_tab_finds_it() -> TestResult {
    // Tab A loads an asset from the origin and announces it; tab B, with no origin URL at
    // all, finds A in the DHT, dials it over /webrtc (signaling through A's relay
    // reservation) and gets the asset from it.
    let (a, cid, bytes, done) = seeding_tab(&[], "origin-only.txt").await?;
    assert_eq!(get(&done, "source").as_string().as_deref(), Some("origin"));
    let b = start(&[("fallbackMs", 5000.into())]).await?;
    wait_connected(&b).await?;
    // A's announcement may still be on its way: B retries until the DHT knows A.
    let mut last_error = JsValue::NULL;
    for _ in 0..40 {
        match read_all(&b.fetch(&cid, None)?).await {
            Ok((got, done, _)) => {
                assert_eq!(got, bytes);
                assert_eq!(get(&done, "source").as_string().as_deref(), Some("peer"));
                let peers = js_sys::Object::keys(&get(&done, "peers").dyn_into()?);
                assert_eq!(peers.get(0).as_string(), Some(a.peer_id()));
                a.close().await?;
                b.close().await?;
                return Ok(());
            }
            Err(e) => last_error = e,
        }
        sleep(100).await;
    }
    Err(format!("tab B never found tab A's copy: {last_error:?}").into())
}

#[wasm_bindgen_test]
async fn a_tab_with_no_upload_budget_serves_nothing() -> TestResult {
    // Tab A holds upload.txt (from the origin) but may upload nothing; tab B, with no origin
    // URL, asks A and is refused, so its fetch fails instead of taking A's bandwidth.
    let (a, cid, _, _) = seeding_tab(&[("uploadBytesPerMinute", 0.into())], "upload.txt").await?;
    let b = start(&[("fallbackMs", 1000.into())]).await?;
    wait_connected(&b).await?;
    for _ in 0..40 {
        if read_all(&b.fetch(&cid, None)?).await.is_ok() {
            return Err("tab A served a block with an upload budget of 0".into());
        }
        let refused = path(&stats(&a).await?, &["serve", "overBudget"]).as_f64();
        if refused >= Some(1.0) {
            let served = path(&stats(&a).await?, &["serve", "bytesServed"]).as_f64();
            assert_eq!(served, Some(0.0));
            a.close().await?;
            b.close().await?;
            return Ok(());
        }
        sleep(100).await;
    }
    Err("tab B never asked tab A".into())
}

/// The bootstrap node's relayed-bytes counter.
async fn relayed_bytes() -> Result<f64, JsValue> {
    let metrics = http_text(&format!("{BOOTSTRAP_HTTP}/metrics")).await?;
    metrics
        .lines()
        .find(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|n| n.starts_with("bootstrap_relay_bytes"))
        })
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| JsValue::from(format!("no relay byte counter in /metrics:\n{metrics}")))
}

/// Tab B fetches `name` with no origin URL until tab A (which holds it) is found.
async fn fetch_from_tab(b: &MeshNode, cid: &str) -> Result<(Vec<u8>, JsValue), JsValue> {
    let mut last_error = JsValue::NULL;
    for _ in 0..40 {
        match read_all(&b.fetch(cid, None)?).await {
            Ok((bytes, done, _)) => return Ok((bytes, done)),
            Err(e) => last_error = e,
        }
        sleep(100).await;
    }
    Err(format!("the other tab's copy was never found: {last_error:?}").into())
}

#[wasm_bindgen_test]
async fn tabs_exchange_mebibytes_directly_not_through_the_relay() -> TestResult {
    let (a, cid, bytes, done) = seeding_tab(&[], "tab-to-tab.bin").await?;
    assert_eq!(get(&done, "source").as_string().as_deref(), Some("origin"));
    let b = start(&[("fallbackMs", 5000.into())]).await?;
    wait_connected(&b).await?;
    let relayed_before = relayed_bytes().await?;
    let (got, done) = fetch_from_tab(&b, &cid).await?;
    assert!(got == bytes, "tab B's copy differs from the origin's");
    // Every byte from tab A: in this fetch, or (kept in B's cache) in an earlier attempt that
    // found A before its announcement had fully propagated.
    assert_eq!(get(&done, "bytesOrigin").as_f64(), Some(0.0));
    let peer = get(&done, "bytesPeer").as_f64().unwrap_or(0.0);
    let cache = get(&done, "bytesCache").as_f64().unwrap_or(0.0);
    assert!(
        peer > 0.0 && peer + cache >= f64::from(3u32 << 20),
        "peer {peer}, cache {cache}"
    );
    let relayed = relayed_bytes().await? - relayed_before;
    // Signaling (SDP, candidates, the circuit handshake) is a few KiB; the 3 MiB went direct.
    assert!(
        relayed < 64.0 * 1024.0,
        "{relayed} bytes went through the relay"
    );
    a.close().await?;
    b.close().await?;
    Ok(())
}

#[wasm_bindgen_test]
async fn a_seeding_tab_closing_mid_transfer_costs_only_a_refetch() -> TestResult {
    let (a, cid, expected, _) = seeding_tab(&[], "seeder-leaves.bin").await?;
    let b = start(&[("fallbackMs", 5000.into())]).await?;
    wait_connected(&b).await?;
    // Wait until the DHT knows A, without fetching yet: a probe fetch with no origin.
    let (probe, _) = fetch_from_tab(&b, &resolve_cid(&a, "/seeder-leaves.bin")?).await?;
    assert!(probe == expected);
    // A fresh tab C starts the real fetch from A, with the origin as the fallback; A leaves
    // as soon as C has its first verified bytes.
    let c = start(&[("fallbackMs", 5000.into())]).await?;
    wait_connected(&c).await?;
    let handle = c.fetch(&cid, url("seeder-leaves.bin"))?;
    let first = JsFuture::from(handle.next()).await?;
    let got = Uint8Array::new(&get(&first, "data")).to_vec();
    a.close().await?;
    let (got, done, _) = read_rest(&handle, got).await?;
    assert!(got == expected, "bytes differ after the seeder left");
    let sources = get(&done, "source").as_string().unwrap_or_default();
    assert!(sources == "mixed" || sources == "peer", "source {sources}");
    b.close().await?;
    c.close().await?;
    Ok(())
}

#[wasm_bindgen_test]
async fn warm_connections_let_a_fetch_beat_the_deadline_from_a_peer() -> TestResult {
    // Tab A holds warm.txt. Tab B starts with the site's manifest and, before the page asks
    // for anything, opens a direct connection to A (a provider of a manifest asset). B's
    // fetch then comes from A within the default 200 ms deadline, although a cold dial alone
    // takes longer than that.
    let (a, cid, expected, _) = seeding_tab(&[], "warm.txt").await?;
    let peers = js_sys::Array::new();
    let record = Function::new_with_args(
        "peers, type, detail",
        "if (type === 'peer' && detail.kind === 'mesh' && detail.state === 'connected') peers.push(detail.peer)",
    )
    .bind1(&JsValue::NULL, &peers);
    let b = MeshNode::start(
        options(&[("warmPeers", 4.into())]).await?,
        Some(manifest().await?.into()),
        record,
    )?;
    wait_connected(&b).await?;
    let a_id = JsValue::from(a.peer_id());
    let mut warm = false;
    for _ in 0..200 {
        if peers.includes(&a_id, 0) {
            warm = true;
            break;
        }
        sleep(50).await;
    }
    assert!(warm, "tab B never opened a warm connection to tab A");
    let (got, done, _) = read_all(&b.fetch(&cid, url("warm.txt"))?).await?;
    assert!(got == expected);
    assert_eq!(
        get(&done, "source").as_string().as_deref(),
        Some("peer"),
        "{:?}",
        js_sys::JSON::stringify(&done)
    );
    assert_eq!(get(&done, "fellBack").as_bool(), Some(false));
    a.close().await?;
    b.close().await?;
    Ok(())
}

/// `warming` (what `mesh.ready()` waits for) ends once a tab that holds an asset of the site
/// (and so provides its rendezvous key) is connected, before the new tab fetches anything.
#[wasm_bindgen_test]
async fn warming_ends_with_a_warm_connection_to_a_holder_of_the_site() -> TestResult {
    let (a, _, _, _) = seeding_tab(&[("fallbackMs", 5000.into())], "peer-small.txt").await?;
    let b = start(&[]).await?;
    assert_eq!(get(&stats(&b).await?, "warming").as_bool(), Some(true));
    let s = wait_for(&b, 20, "the first warm connection", |s| {
        get(s, "warming").as_bool() == Some(false)
    })
    .await?;
    assert!(
        path(&s, &["peers", "mesh"]).as_f64() >= Some(1.0),
        "{:?}",
        js_sys::JSON::stringify(&s)
    );
    assert_eq!(path(&s, &["bytes", "peer"]).as_f64(), Some(0.0));
    a.close().await?;
    b.close().await?;
    Ok(())
}

// ---- the persistent cache ----------------------------------------------------------------

/// A node without peers whose persistent cache is the database `name` (its own per test).
async fn start_persisting(name: &str, extra: &[(&str, JsValue)]) -> Result<MeshNode, JsValue> {
    let mut all = vec![
        ("p2p", JsValue::from("off")),
        ("persist", true.into()),
        ("cacheName", name.into()),
    ];
    all.extend(extra.iter().cloned());
    start(&all).await
}

/// Waits until the node restored its cache (or found none) and every write committed.
async fn persist_settled(node: &MeshNode, saved_assets: f64) -> Result<JsValue, JsValue> {
    let s = wait_for(node, 10, "the persistent cache to settle", |s| {
        let p = get(s, "persist");
        get(&p, "state").as_string().as_deref() != Some("loading")
            && get(&p, "pendingWrites").as_f64() == Some(0.0)
            && get(&p, "savedAssets").as_f64() >= Some(saved_assets)
    })
    .await?;
    Ok(get(&s, "persist"))
}

/// Runs `script` in a read-write transaction over the cache database `name`, with `blocks`
/// (its object store) and `arg` in scope; resolves with `out` once committed. The test reads
/// and damages the database directly, as a disk or another program could.
async fn with_db(name: &str, arg: JsValue, script: &str) -> Result<JsValue, JsValue> {
    let body = format!(
        "return new Promise((resolve, reject) => {{
           const open = indexedDB.open(name);
           open.onerror = () => reject(open.error);
           open.onsuccess = () => {{
             const db = open.result;
             const tx = db.transaction(['blocks', 'roots'], 'readwrite');
             const blocks = tx.objectStore('blocks');
             let out;
             {script};
             tx.oncomplete = () => {{ db.close(); resolve(out); }};
             tx.onerror = () => reject(tx.error);
           }};
         }})"
    );
    let f = Function::new_with_args("name, arg", &body);
    let promise: js_sys::Promise = f.call2(&JsValue::NULL, &name.into(), &arg)?.dyn_into()?;
    JsFuture::from(promise).await
}

async fn db_bytes(name: &str) -> Result<f64, JsValue> {
    with_db(
        name,
        JsValue::NULL,
        "const r = blocks.getAll(); r.onsuccess = () => { out = r.result.reduce((n, v) => n + v.d.length, 0); }",
    )
    .await?
    .as_f64()
    .ok_or_else(|| "no byte count".into())
}

async fn fetch_fixture(node: &MeshNode, name: &str) -> Result<JsValue, JsValue> {
    let cid = resolve_cid(node, &format!("/{name}"))?;
    let (bytes, done, _) = read_all(&node.fetch(&cid, url(name))?).await?;
    assert_eq!(bytes, fixture(name).await?, "{name}");
    Ok(done)
}

#[wasm_bindgen_test]
async fn a_second_visit_serves_the_persisted_cache_without_the_origin() -> TestResult {
    let db = "test-second-visit";
    let first = start_persisting(db, &[]).await?;
    let names = [
        "cache-0.bin",
        "cache-1.bin",
        "cache-2.bin",
        "origin-only.txt",
    ];
    for name in names {
        let done = fetch_fixture(&first, name).await?;
        assert_eq!(get(&done, "source").as_string().as_deref(), Some("origin"));
    }
    let p = persist_settled(&first, 4.0).await?;
    // Three roots over three leaves each, and one block.
    assert_eq!(get(&p, "savedBlocks").as_f64(), Some(13.0));
    first.close().await?;

    // 1.8 MB of blocks: the restore takes more than one slice. A fetch asked before it ends
    // waits for it and is served from the cache.
    let second = start_persisting(db, &[]).await?;
    let early = fetch_fixture(&second, "cache-2.bin").await?;
    assert_eq!(get(&early, "source").as_string().as_deref(), Some("cache"));
    let p = persist_settled(&second, 0.0).await?;
    assert_eq!(get(&p, "state").as_string().as_deref(), Some("on"));
    assert_eq!(get(&p, "restoredAssets").as_f64(), Some(4.0));
    assert_eq!(get(&p, "restoredBlocks").as_f64(), Some(13.0));
    for name in names {
        let done = fetch_fixture(&second, name).await?;
        assert_eq!(
            get(&done, "source").as_string().as_deref(),
            Some("cache"),
            "{name}"
        );
        assert_eq!(get(&done, "bytesOrigin").as_f64(), Some(0.0), "{name}");
    }
    let s = stats(&second).await?;
    assert_eq!(path(&s, &["bytes", "origin"]).as_f64(), Some(0.0));
    second.close().await?;
    Ok(())
}

#[wasm_bindgen_test]
async fn the_persisted_cache_stays_within_the_budget_across_visits() -> TestResult {
    let db = "test-budget";
    let budget = 1u32 << 20;
    let first = start_persisting(db, &[("cacheBytes", budget.into())]).await?;
    for i in 0..4 {
        fetch_fixture(&first, &format!("cache-{i}.bin")).await?;
    }
    let p = persist_settled(&first, 4.0).await?;
    assert!(
        get(&p, "deletedBlocks").as_f64() >= Some(3.0),
        "evicted blocks deleted"
    );
    let held = db_bytes(db).await?;
    assert!(
        held <= f64::from(budget),
        "the database holds {held} bytes, budget {budget}"
    );
    first.close().await?;

    // Only the newest 600 kB asset fits: it alone comes back, served from the cache.
    let second = start_persisting(db, &[("cacheBytes", budget.into())]).await?;
    let p = persist_settled(&second, 0.0).await?;
    assert_eq!(get(&p, "restoredAssets").as_f64(), Some(1.0));
    let s = stats(&second).await?;
    assert!(path(&s, &["store", "usedBytes"]).as_f64() <= Some(f64::from(budget)));
    let done = fetch_fixture(&second, "cache-3.bin").await?;
    assert_eq!(get(&done, "source").as_string().as_deref(), Some("cache"));
    second.close().await?;

    Ok(())
}

#[wasm_bindgen_test]
async fn a_block_changed_on_disk_is_dropped_and_never_served() -> TestResult {
    let db = "test-corrupt";
    let first = start_persisting(db, &[]).await?;
    fetch_fixture(&first, "origin-only.txt").await?;
    persist_settled(&first, 1.0).await?;
    first.close().await?;
    let cid = resolve_cid(&first, "/origin-only.txt")?;
    with_db(
        db,
        cid.clone().into(),
        "const r = blocks.get(arg); r.onsuccess = () => { const v = r.result; v.d[0] ^= 1; blocks.put(v, arg); }",
    )
    .await?;

    let second = start_persisting(db, &[]).await?;
    let p = persist_settled(&second, 0.0).await?;
    assert_eq!(get(&p, "corruptBlocks").as_f64(), Some(1.0));
    assert_eq!(get(&p, "restoredAssets").as_f64(), Some(0.0));
    // WebCrypto hashed it (the test page is a secure context) and its digest gave it away.
    let s = stats(&second).await?;
    assert_eq!(get(&s, "webCryptoHashes").as_f64(), Some(1.0), "{s:?}");
    // Not served from the cache: the origin's verified bytes instead, saved again.
    let done = fetch_fixture(&second, "origin-only.txt").await?;
    assert_eq!(get(&done, "source").as_string().as_deref(), Some("origin"));
    persist_settled(&second, 1.0).await?;
    second.close().await?;
    let stored = with_db(
        db,
        cid.into(),
        "const r = blocks.get(arg); r.onsuccess = () => { out = r.result.d; }",
    )
    .await?;
    assert_eq!(
        Uint8Array::new(&stored).to_vec(),
        fixture("origin-only.txt").await?
    );
    Ok(())
}

#[wasm_bindgen_test]
async fn persist_false_writes_nothing() -> TestResult {
    let db = "test-persist-off";
    let node = start(&[
        ("p2p", "off".into()),
        ("persist", false.into()),
        ("cacheName", db.into()),
    ])
    .await?;
    fetch_fixture(&node, "origin-only.txt").await?;
    let s = stats(&node).await?;
    assert_eq!(
        path(&s, &["persist", "state"]).as_string().as_deref(),
        Some("off")
    );
    node.close().await?;
    let names =
        Function::new_no_args("return indexedDB.databases().then(dbs => dbs.map(d => d.name))")
            .call0(&JsValue::NULL)?
            .dyn_into::<js_sys::Promise>()?;
    let names: js_sys::Array = JsFuture::from(names).await?.dyn_into()?;
    assert!(!names.includes(&db.into(), 0), "no database {db}");
    Ok(())
}

#[wasm_bindgen_test]
async fn without_indexeddb_the_node_says_so_and_runs_in_memory() -> TestResult {
    let events = js_sys::Array::new();
    let sink = Function::new_with_args(
        "events",
        "return (type, detail) => events.push([type, detail])",
    )
    .call1(&JsValue::NULL, &events)?
    .dyn_into::<Function>()?;
    // As in a private window where storage is blocked: no `indexedDB` at all. (It is an own
    // property of the global object: the original is put back afterwards, as it was.)
    let hide = Function::new_no_args(
        "const original = Object.getOwnPropertyDescriptor(globalThis, 'indexedDB');
         Object.defineProperty(globalThis, 'indexedDB', { value: undefined, configurable: true });
         return () => Object.defineProperty(globalThis, 'indexedDB', original);",
    );
    let unhide: Function = hide.call0(&JsValue::NULL)?.dyn_into()?;
    let opts = options(&[
        ("p2p", "off".into()),
        ("persist", true.into()),
        ("cacheName", "test-unavailable".into()),
    ])
    .await;
    let manifest = manifest().await;
    let node = opts.and_then(|o| MeshNode::start(o, Some(manifest?.into()), sink));
    let settled = match &node {
        Ok(node) => persist_settled(node, 0.0).await,
        Err(e) => Err(e.clone()),
    };
    unhide.call0(&JsValue::NULL)?;
    let node = node?;
    let p = settled?;
    assert_eq!(get(&p, "state").as_string().as_deref(), Some("unavailable"));
    let error = events
        .iter()
        .find(|e| get(e, "0").as_string().as_deref() == Some("persist"))
        .map(|e| get(&get(&e, "1"), "kind"))
        .ok_or("no persist event")?;
    assert_eq!(error.as_string().as_deref(), Some("unavailable"));
    // The node works on: an asset by CID, verified, from the origin.
    let done = fetch_fixture(&node, "origin-only.txt").await?;
    assert_eq!(get(&done, "source").as_string().as_deref(), Some("origin"));
    node.close().await?;
    Ok(())
}
