//! The options `createMesh` accepts, checked before anything starts.
//!
//! The JS shim hands the page's options object over as-is (after fetching `bootstrapUrl` and
//! the manifest, which need the network); everything is validated here so a typo fails
//! `createMesh` with a `config` error naming the option, rather than a silent default.
//!
//! In the browser the options and the manifest are parsed by the browser's own `JSON` and read
//! with serde-wasm-bindgen (`crate::js_input`), so no JSON parser is compiled into the wasm
//! (12 KB less of the gzipped module than with serde_json); natively, the tests read them with
//! serde_json. The checks here are the same for both.

use std::time::Duration;

use mesh_core::fetch::Config as PlannerConfig;
use mesh_core::manifest::Manifest;
use mesh_protocol::Namespace;
use mesh_protocol::blocks::ServeConfig;
use serde::Deserialize;

/// Default block-store budget of a tab: enough for a site's assets, small next to a tab's
/// usual memory. Pages with large media raise it with `cacheBytes`.
pub const DEFAULT_CACHE_BYTES: u64 = 64 << 20;

/// Default upload budget: 64 MiB per minute per tab, so serving peers never competes
/// noticeably with the page's own traffic on a typical connection.
pub const DEFAULT_UPLOAD_BYTES_PER_MINUTE: u64 = 64 << 20;

/// Default number of warm tab-to-tab connections: a dial costs ~0.2–0.4 s, more than the
/// 200 ms deadline, so assets come from peers mostly over connections opened in advance; a few
/// suffice to spread load and survive one peer leaving, and each costs an RTCPeerConnection.
pub const DEFAULT_WARM_PEERS: usize = 4;

/// Most warm connections a tab may ask for.
pub const MAX_WARM_PEERS: u64 = 32;

/// Smallest cache a tab may be given: one largest block (1 MiB), or nothing could be kept.
pub const MIN_CACHE_BYTES: u64 = 1 << 20;

/// Most `RTCPeerConnection`s a page may allow (`maxPeerConnections`); Chromium refuses new
/// ones past a few hundred per page anyway.
pub const MAX_PEER_CONNECTIONS: u64 = 256;
/// Default share of the upload budget one peer may take, in percent: four peers at least share
/// a tab's upload, so one greedy peer cannot take all of it.
pub const DEFAULT_UPLOAD_PEER_SHARE_PERCENT: u8 = 25;

/// Longest fallback deadline accepted. Beyond it the promise "never slower than without mesh"
/// would be broken by configuration.
pub const MAX_FALLBACK_MS: u64 = 10_000;

/// When the node may open peer connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum P2pMode {
    /// From the start.
    #[default]
    On,
    /// Never: every asset comes from the origin (still verified) or the cache.
    Off,
    /// Only after `mesh.consent()`; until then as `Off`.
    AfterConsent,
}

/// Every option name [`RawOptions`] has, as the page writes it. serde-wasm-bindgen reads only
/// the fields a struct names, so in the browser unknown names are refused against this list
/// (a test checks it against the struct's fields).
pub const OPTION_NAMES: &[&str] = &[
    "bootstrap",
    "namespace",
    "fallbackMs",
    "largeFallbackMs",
    "cacheBytes",
    "uploadBytesPerMinute",
    "uploadPeerSharePercent",
    "serve",
    "p2p",
    "originBase",
    "logLevel",
    "statsIntervalMs",
    "iceServers",
    "warmPeers",
    "persist",
    "cacheName",
    "maxPeerConnections",
    "maxHandshakes",
    "maxStreamsPerPeer",
    "receiveBufferBytes",
    "manifest",
    "bootstrapUrl",
];

/// The keys of one `iceServers` entry ([`RawIceServer`]).
pub const ICE_SERVER_KEYS: &[&str] = &["urls", "username", "credential"];

/// The options object, as the page writes it (camelCase keys).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawOptions {
    /// Bootstrap multiaddrs, each ending in `/p2p/<peer id>`.
    #[serde(default)]
    pub bootstrap: Vec<String>,
    /// The deployment namespace (default `default`).
    pub namespace: Option<String>,
    /// Origin fallback deadline in ms (default 200).
    pub fallback_ms: Option<f64>,
    /// Origin fallback deadline for multi-block assets in ms (default: `fallbackMs`).
    pub large_fallback_ms: Option<f64>,
    /// Block-store budget in bytes.
    pub cache_bytes: Option<f64>,
    /// Upload budget in bytes per minute; 0 serves nothing.
    pub upload_bytes_per_minute: Option<f64>,
    /// Most of the upload budget one peer may take, in percent (1–100, default 25).
    pub upload_peer_share_percent: Option<f64>,
    /// Announce what this tab holds and serve other tabs (default true); off, the tab only
    /// fetches.
    pub serve: Option<bool>,
    /// `on`, `off` or `after-consent`.
    pub p2p: Option<P2pMode>,
    /// Base URL for assets named by CID only: `<originBase>/<cid>`.
    pub origin_base: Option<String>,
    /// Console log level: `error`, `warn` (default), `info`, `debug`, `trace`.
    pub log_level: Option<String>,
    /// How often a `stats` event is sent, in ms (default 1000; 0 disables).
    pub stats_interval_ms: Option<f64>,
    /// STUN/TURN servers for tab-to-tab WebRTC, as `RTCIceServer`s. Default: none (host
    /// candidates only): no third party learns of the tab unless the site names its servers.
    pub ice_servers: Option<Vec<RawIceServer>>,
    /// Direct connections kept open to providers of the manifest's assets (default
    /// [`DEFAULT_WARM_PEERS`]; 0 opens none in advance).
    pub warm_peers: Option<f64>,
    /// Keep the cache across visits in IndexedDB (default `true`).
    pub persist: Option<bool>,
    /// Name of the IndexedDB database of the persistent cache (default `mesh-<namespace>`).
    pub cache_name: Option<String>,
    /// Tab-to-tab `RTCPeerConnection`s at once, including those being set up (default
    /// [`mesh_webrtc::DEFAULT_MAX_CONNECTIONS`]; at least `warmPeers`).
    pub max_peer_connections: Option<f64>,
    /// Tab-to-tab handshakes in progress at once (default
    /// [`mesh_webrtc::DEFAULT_MAX_HANDSHAKES`]).
    pub max_handshakes: Option<f64>,
    /// Streams one peer may have open to this tab at once (default
    /// [`mesh_webrtc::DEFAULT_MAX_INBOUND_STREAMS`]).
    pub max_streams_per_peer: Option<f64>,
    /// Bytes one tab-to-tab connection may have received and not yet read (default
    /// [`mesh_webrtc::DEFAULT_MAX_RECEIVE_BUFFER`]).
    pub receive_buffer_bytes: Option<f64>,
    /// Read by the JS shim (the manifest, fetched or given); never reaches here as such.
    #[serde(default, skip_deserializing)]
    pub manifest: (),
    /// Read by the JS shim (`bootstrap` is filled from it).
    #[serde(default, skip_deserializing)]
    pub bootstrap_url: (),
}

/// One `RTCIceServer`: `{urls, username?, credential?}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIceServer {
    /// One URL or several.
    pub urls: OneOrMany,
    /// TURN user name.
    pub username: Option<String>,
    /// TURN credential.
    pub credential: Option<String>,
}

/// A string or a list of strings, as `RTCIceServer.urls` accepts.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// A bad option: which one and why.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("option `{option}`: {reason}")]
pub struct ConfigError {
    /// The option's name as the page writes it.
    pub option: &'static str,
    /// What is wrong.
    pub reason: String,
}

fn bad(option: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        option,
        reason: reason.into(),
    }
}

/// Checked settings of a browser node.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Bootstrap addresses (validated multiaddr text ending in `/p2p/...`).
    pub bootstrap: Vec<String>,
    /// The namespace.
    pub namespace: Namespace,
    /// The planner's settings.
    pub planner: PlannerConfig,
    /// The store budget.
    pub cache_bytes: u64,
    /// The block server's settings.
    pub serve: ServeConfig,
    /// When peers may be used.
    pub p2p: P2pMode,
    /// Base URL for CID-only fetches (always ends in `/`).
    pub origin_base: Option<String>,
    /// The site manifest, if any.
    pub manifest: Option<Manifest>,
    /// Log level.
    pub log_level: tracing::Level,
    /// Stats event interval; `None` for none.
    pub stats_interval: Option<Duration>,
    /// The tab-to-tab transport's settings.
    pub webrtc: mesh_webrtc::Config,
    /// Warm connections to keep.
    pub warm_peers: usize,
    /// The IndexedDB database of the persistent cache; `None` with `persist: false`.
    pub persist: Option<String>,
    /// Whether the tab announces and serves (the `serve` option).
    pub serving: bool,
}

/// Longest `cacheName` accepted.
pub const MAX_CACHE_NAME: usize = 128;

fn whole(option: &'static str, value: f64, min: u64, max: u64) -> Result<u64, ConfigError> {
    if !value.is_finite() || value.fract() != 0.0 || value < 0.0 {
        return Err(bad(
            option,
            format!("{value} is not a whole number of at least 0"),
        ));
    }
    // Checked against `max` before the cast, so the cast cannot saturate silently.
    if value > max as f64 || (value as u64) < min {
        return Err(bad(option, format!("{value} is outside {min}..={max}")));
    }
    Ok(value as u64)
}

impl Settings {
    /// Checks `raw`; `manifest` is the site manifest the shim fetched, if any, already parsed
    /// and checked ([`Manifest::validate`]).
    pub fn from_raw(raw: RawOptions, manifest: Option<Manifest>) -> Result<Self, ConfigError> {
        let namespace = match raw.namespace.as_deref() {
            None => Namespace::default(),
            Some(ns) => Namespace::new(ns).map_err(|e| bad("namespace", e.to_string()))?,
        };
        // A bootstrap node's /addrs lists its TCP address too: addresses a browser cannot
        // dial are dropped, as long as one it can dial remains.
        let mut bootstrap = Vec::new();
        for addr in &raw.bootstrap {
            if check_bootstrap_addr(addr).map_err(|reason| bad("bootstrap", reason))? {
                bootstrap.push(addr.clone());
            }
        }
        if bootstrap.is_empty() && !raw.bootstrap.is_empty() {
            return Err(bad(
                "bootstrap",
                format!(
                    "none of {:?} is reachable from a browser (needs /ws, /wss or /webrtc-direct)",
                    raw.bootstrap
                ),
            ));
        }
        let fallback_ms = match raw.fallback_ms {
            None => 200,
            Some(ms) => whole("fallbackMs", ms, 0, MAX_FALLBACK_MS)?,
        };
        // The page's promise is "the origin by fallbackMs": a longer deadline for large assets
        // (the simulator's 800 ms, docs/SIMULATION.md#defaults) is the page's choice.
        let large_fallback_ms = match raw.large_fallback_ms {
            None => fallback_ms,
            Some(ms) => whole("largeFallbackMs", ms, 0, MAX_FALLBACK_MS)?,
        };
        let cache_bytes = match raw.cache_bytes {
            None => DEFAULT_CACHE_BYTES,
            Some(b) => whole("cacheBytes", b, MIN_CACHE_BYTES, 1 << 40)?,
        };
        let upload = match raw.upload_bytes_per_minute {
            None => DEFAULT_UPLOAD_BYTES_PER_MINUTE,
            Some(b) => whole("uploadBytesPerMinute", b, 0, 1 << 40)?,
        };
        let peer_share = match raw.upload_peer_share_percent {
            None => DEFAULT_UPLOAD_PEER_SHARE_PERCENT,
            // At most 100, so the cast is exact.
            Some(p) => whole("uploadPeerSharePercent", p, 1, 100)? as u8,
        };
        let stats_interval = match raw.stats_interval_ms {
            None => Some(Duration::from_secs(1)),
            Some(ms) => match whole("statsIntervalMs", ms, 0, 3_600_000)? {
                0 => None,
                ms => Some(Duration::from_millis(ms.max(50))),
            },
        };
        let log_level = match raw.log_level.as_deref().unwrap_or("warn") {
            "error" => tracing::Level::ERROR,
            "warn" => tracing::Level::WARN,
            "info" => tracing::Level::INFO,
            "debug" => tracing::Level::DEBUG,
            "trace" => tracing::Level::TRACE,
            other => {
                return Err(bad(
                    "logLevel",
                    format!("{other:?} is not one of error, warn, info, debug, trace"),
                ));
            }
        };
        let origin_base = match raw.origin_base {
            None => None,
            Some(base) if base.starts_with("http://") || base.starts_with("https://") => {
                Some(if base.ends_with('/') {
                    base
                } else {
                    format!("{base}/")
                })
            }
            Some(base) => return Err(bad("originBase", format!("{base:?} is not an http(s) URL"))),
        };
        let webrtc = match raw.ice_servers {
            // A STUN server learns the tab's public address: only the site may choose to
            // involve one (mesh-webrtc's default is none as well).
            None => mesh_webrtc::Config::new(),
            Some(servers) => {
                let mut ice = Vec::new();
                for server in servers {
                    let urls = match server.urls {
                        OneOrMany::One(u) => vec![u],
                        OneOrMany::Many(us) => us,
                    };
                    if urls.is_empty() {
                        return Err(bad("iceServers", "a server without urls"));
                    }
                    for url in &urls {
                        if !["stun:", "stuns:", "turn:", "turns:"]
                            .iter()
                            .any(|p| url.starts_with(p))
                        {
                            return Err(bad(
                                "iceServers",
                                format!("{url:?} is not a stun: or turn: URL"),
                            ));
                        }
                    }
                    ice.push(mesh_webrtc::IceServer {
                        urls,
                        username: server.username,
                        credential: server.credential,
                    });
                }
                mesh_webrtc::Config::new().with_ice_servers(ice)
            }
        };
        let warm_peers = match raw.warm_peers {
            None => DEFAULT_WARM_PEERS,
            Some(n) => whole("warmPeers", n, 0, MAX_WARM_PEERS)? as usize,
        };
        // On by default: a returning visitor's tab serves and announces what it holds at once,
        // within the same `cacheBytes` the memory cache has.
        let persist = match (raw.persist.unwrap_or(true), raw.cache_name) {
            (false, _) => None,
            (true, None) => Some(format!("mesh-{}", namespace.as_str())),
            (true, Some(name)) if name.is_empty() || name.len() > MAX_CACHE_NAME => {
                return Err(bad(
                    "cacheName",
                    format!("must be 1 to {MAX_CACHE_NAME} characters"),
                ));
            }
            (true, Some(name)) => Some(name),
        };
        let webrtc = tab_caps(
            webrtc,
            warm_peers,
            [
                raw.max_peer_connections,
                raw.max_handshakes,
                raw.max_streams_per_peer,
                raw.receive_buffer_bytes,
            ],
        )?;
        Ok(Self {
            bootstrap,
            namespace,
            planner: PlannerConfig::new()
                .with_fallback_after(Duration::from_millis(fallback_ms))
                .with_large_fallback_after(Duration::from_millis(large_fallback_ms))
                // Fetch buffers count toward the tab's one memory figure (docs/SECURITY.md).
                .with_fetch_buffer(cache_bytes),
            cache_bytes,
            serve: ServeConfig::new()
                .with_upload_budget(Some(upload))
                .with_peer_share_percent(peer_share),
            p2p: raw.p2p.unwrap_or_default(),
            origin_base,
            manifest,
            log_level,
            stats_interval,
            webrtc,
            warm_peers,
            persist,
            serving: raw.serve.unwrap_or(true),
        })
    }
}

/// The `/webrtc` resource caps (docs/SECURITY.md, "Browser node"), checked: the options
/// `maxPeerConnections`, `maxHandshakes`, `maxStreamsPerPeer` and `receiveBufferBytes`.
fn tab_caps(
    webrtc: mesh_webrtc::Config,
    warm_peers: usize,
    [connections, handshakes, streams, receive]: [Option<f64>; 4],
) -> Result<mesh_webrtc::Config, ConfigError> {
    let connections = match connections {
        None => mesh_webrtc::DEFAULT_MAX_CONNECTIONS.max(warm_peers) as u64,
        Some(n) => whole(
            "maxPeerConnections",
            n,
            (warm_peers as u64).max(1),
            MAX_PEER_CONNECTIONS,
        )?,
    };
    let handshakes = match handshakes {
        None => mesh_webrtc::DEFAULT_MAX_HANDSHAKES as u64,
        Some(n) => whole("maxHandshakes", n, 1, MAX_PEER_CONNECTIONS)?,
    };
    let streams = match streams {
        None => mesh_webrtc::DEFAULT_MAX_INBOUND_STREAMS as u64,
        Some(n) => whole("maxStreamsPerPeer", n, 1, 1024)?,
    };
    // At least one largest block and its framing, or a requested block could never arrive.
    let receive = match receive {
        None => mesh_webrtc::DEFAULT_MAX_RECEIVE_BUFFER as u64,
        Some(n) => whole("receiveBufferBytes", n, 2 << 20, 1 << 30)?,
    };
    Ok(webrtc
        .with_max_connections(connections as usize)
        .with_max_handshakes(handshakes as usize)
        .with_max_inbound_streams(streams as usize)
        .with_max_receive_buffer(receive as usize))
}

/// Checks that a bootstrap address is a multiaddr ending in `/p2p/<id>`; `Ok(false)` if a
/// browser cannot dial it (plain TCP, QUIC).
fn check_bootstrap_addr(addr: &str) -> Result<bool, String> {
    let parsed: libp2p_types::Multiaddr = addr
        .parse()
        .map_err(|e| format!("{addr:?} is not a multiaddr: {e}"))?;
    match parsed.iter().last() {
        Some(libp2p_types::Protocol::P2p(_)) => {}
        _ => return Err(format!("{addr} must end in /p2p/<peer id>")),
    }
    let browser_dialable = parsed.iter().any(|p| {
        matches!(
            p,
            libp2p_types::Protocol::Ws(_)
                | libp2p_types::Protocol::Wss(_)
                | libp2p_types::Protocol::WebRTCDirect
        )
    });
    Ok(browser_dialable)
}

/// The multiaddr types, from whichever libp2p build this target has.
mod libp2p_types {
    pub(crate) use mesh_protocol::libp2p::{Multiaddr, multiaddr::Protocol};
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOT: &str =
        "/ip4/127.0.0.1/tcp/4002/ws/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";

    fn raw(json: &str) -> Result<RawOptions, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn defaults() -> Result<(), Box<dyn std::error::Error>> {
        let s = Settings::from_raw(raw("{}")?, None)?;
        assert_eq!(s.planner.fallback_after, Duration::from_millis(200));
        // Large assets too: the origin by fallbackMs unless the page asks otherwise.
        assert_eq!(s.planner.large_fallback_after, Duration::from_millis(200));
        assert_eq!(s.cache_bytes, DEFAULT_CACHE_BYTES);
        assert_eq!(s.p2p, P2pMode::On);
        assert_eq!(s.stats_interval, Some(Duration::from_secs(1)));
        assert_eq!(s.persist.as_deref(), Some("mesh-default"));
        assert!(s.serving);
        assert_eq!(
            s.serve.peer_share_percent,
            DEFAULT_UPLOAD_PEER_SHARE_PERCENT
        );
        // No third-party STUN server unless the site names one.
        assert_eq!(
            s.webrtc,
            mesh_webrtc::Config::new().with_ice_servers(Vec::new())
        );
        Ok(())
    }

    #[test]
    fn tab_resource_caps_are_options() -> Result<(), Box<dyn std::error::Error>> {
        let json = r#"{"warmPeers":2,"maxPeerConnections":2,"maxHandshakes":1,
            "maxStreamsPerPeer":16,"receiveBufferBytes":4194304}"#;
        let s = Settings::from_raw(raw(json)?, None)?;
        let expected = mesh_webrtc::Config::new()
            .with_ice_servers(Vec::new())
            .with_max_connections(2)
            .with_max_handshakes(1)
            .with_max_inbound_streams(16)
            .with_max_receive_buffer(4 << 20);
        assert_eq!(s.webrtc, expected);
        Ok(())
    }

    #[test]
    fn accepts_a_full_config() -> Result<(), Box<dyn std::error::Error>> {
        let json = format!(
            r#"{{"bootstrap":["{BOOT}"],"namespace":"shop","fallbackMs":150,"cacheBytes":2097152,
               "uploadBytesPerMinute":0,"p2p":"after-consent","originBase":"http://127.0.0.1:8080/cid",
               "logLevel":"debug","statsIntervalMs":0,"serve":false,"uploadPeerSharePercent":50,
               "iceServers":[{{"urls":"stun:127.0.0.1:3478"}},{{"urls":["turn:t:3478"],"username":"u","credential":"c"}}]}}"#
        );
        let s = Settings::from_raw(raw(&json)?, None)?;
        assert_eq!(s.planner.fallback_after, Duration::from_millis(150));
        assert_eq!(s.p2p, P2pMode::AfterConsent);
        assert_eq!(s.origin_base.as_deref(), Some("http://127.0.0.1:8080/cid/"));
        assert_eq!(s.serve.upload_bytes_per_minute, Some(0));
        assert_eq!(s.stats_interval, None);
        assert!(!s.serving);
        assert_eq!(s.serve.peer_share_percent, 50);
        Ok(())
    }

    #[test]
    fn persistence_can_be_named_or_turned_off() -> Result<(), Box<dyn std::error::Error>> {
        let s = Settings::from_raw(raw(r#"{"namespace":"shop","cacheName":"c1"}"#)?, None)?;
        assert_eq!(s.persist.as_deref(), Some("c1"));
        let s = Settings::from_raw(raw(r#"{"namespace":"shop"}"#)?, None)?;
        assert_eq!(s.persist.as_deref(), Some("mesh-shop"));
        let s = Settings::from_raw(raw(r#"{"persist":false,"cacheName":"c1"}"#)?, None)?;
        assert_eq!(s.persist, None);
        Ok(())
    }

    #[test]
    fn unknown_options_are_refused() {
        assert!(raw(r#"{"fallbackMS":100}"#).is_err());
    }

    /// The names the browser checks unknown options against are exactly the struct's fields:
    /// serde's own refusal of an unknown field lists them.
    #[test]
    fn option_names_are_the_fields() {
        let expected = |json: &str| {
            let message = match serde_json::from_str::<RawOptions>(json) {
                Ok(_) => String::new(),
                Err(e) => e.to_string(),
            };
            let mut names: Vec<String> = message
                .split('`')
                .skip(3)
                .step_by(2)
                .map(str::to_owned)
                .collect();
            names.sort();
            names
        };
        let sorted = |list: &[&str]| {
            let mut names: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
            names.sort();
            names
        };
        // `manifest` and `bootstrapUrl` are read by the shim; serde skips them.
        let known: Vec<&str> = OPTION_NAMES
            .iter()
            .copied()
            .filter(|n| !["manifest", "bootstrapUrl"].contains(n))
            .collect();
        assert_eq!(expected(r#"{"?":0}"#), sorted(&known));
        assert_eq!(
            expected(r#"{"iceServers":[{"urls":"stun:x","?":0}]}"#),
            sorted(ICE_SERVER_KEYS)
        );
    }

    #[test]
    fn bad_values_name_their_option() -> Result<(), Box<dyn std::error::Error>> {
        let cases = [
            (r#"{"fallbackMs":-1}"#, "fallbackMs"),
            (r#"{"fallbackMs":1.5}"#, "fallbackMs"),
            (r#"{"fallbackMs":60000}"#, "fallbackMs"),
            (r#"{"largeFallbackMs":-3}"#, "largeFallbackMs"),
            (r#"{"cacheBytes":10}"#, "cacheBytes"),
            (r#"{"namespace":"no spaces"}"#, "namespace"),
            (r#"{"bootstrap":["not an addr"]}"#, "bootstrap"),
            (r#"{"bootstrap":["/ip4/127.0.0.1/tcp/1/ws"]}"#, "bootstrap"),
            (r#"{"logLevel":"loud"}"#, "logLevel"),
            (r#"{"originBase":"ftp://x"}"#, "originBase"),
            (r#"{"iceServers":[{"urls":"http://x"}]}"#, "iceServers"),
            (r#"{"iceServers":[{"urls":[]}]}"#, "iceServers"),
            (r#"{"warmPeers":100}"#, "warmPeers"),
            (r#"{"cacheName":""}"#, "cacheName"),
            (r#"{"maxPeerConnections":2}"#, "maxPeerConnections"),
            (r#"{"maxPeerConnections":1000}"#, "maxPeerConnections"),
            (r#"{"maxHandshakes":0}"#, "maxHandshakes"),
            (r#"{"maxStreamsPerPeer":1.5}"#, "maxStreamsPerPeer"),
            (r#"{"receiveBufferBytes":1000}"#, "receiveBufferBytes"),
            (r#"{"uploadPeerSharePercent":0}"#, "uploadPeerSharePercent"),
            (
                r#"{"uploadPeerSharePercent":101}"#,
                "uploadPeerSharePercent",
            ),
        ];
        for (json, option) in cases {
            let err = Settings::from_raw(raw(json)?, None).err();
            assert_eq!(err.map(|e| e.option), Some(option), "{json}");
        }
        let tcp_only = format!(r#"{{"bootstrap":["{}"]}}"#, BOOT.replace("/ws", ""));
        let err = Settings::from_raw(raw(&tcp_only)?, None).err();
        assert!(err.is_some_and(|e| e.reason.contains("browser")));
        // Beside a dialable address, a TCP one is dropped, not an error.
        let mixed = format!(
            r#"{{"bootstrap":["{}","{BOOT}"]}}"#,
            BOOT.replace("/ws", "")
        );
        let s = Settings::from_raw(raw(&mixed)?, None)?;
        assert_eq!(s.bootstrap, vec![BOOT.to_owned()]);
        Ok(())
    }
}
