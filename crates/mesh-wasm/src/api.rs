//! The wasm-bindgen surface: `MeshNode` and `FetchHandle`, wrapped by the JS shim
//! (`js/index.js`) into `createMesh`, `mesh.fetch` and friends.
//!
//! Errors cross into JS as plain objects `{kind, message}`, which the shim turns into
//! `MeshError`s; `kind` is one of `config`, `integrity`, `origin`, `unavailable`,
//! `unsupported`, `aborted`, `closed`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::transport::BrowserEngine;
use cid::Cid;
use futures::channel::{mpsc, oneshot};
use futures::{SinkExt, StreamExt};
use js_sys::{Object, Reflect, Uint8Array};
use libp2p::identity::Keypair;
use mesh_core::fetch::{FetchError, OriginError, Planner};
use mesh_core::store::MemoryStore;
use mesh_engine::{Engine, EngineConfig};
use mesh_protocol::blocks::{BlockCodec, BlockServer};
use wasm_bindgen::prelude::*;

use crate::config::{RawOptions, Settings};
use crate::driver::{Command, Driver, DriverParts, FetchChunk};
use crate::report::FetchDone;

/// Commands queued for the node task before the page's calls wait.
const COMMAND_QUEUE: usize = 256;

/// The kind of a fetch error, as `MeshError.kind`.
pub(crate) fn error_kind(error: &FetchError) -> &'static str {
    match error {
        FetchError::Unsupported { .. } => "unsupported",
        FetchError::NoSource { .. } => "unavailable",
        FetchError::Origin { source, .. } => match source {
            OriginError::Transport(_) | OriginError::Truncated | OriginError::TooLarge { .. } => {
                "origin"
            }
            _ => "integrity",
        },
        _ => "origin",
    }
}

fn js_error(kind: &str, message: impl std::fmt::Display) -> JsValue {
    let error = Object::new();
    // Setting plain data properties on a fresh object cannot fail.
    let _ = Reflect::set(&error, &"kind".into(), &kind.into());
    let _ = Reflect::set(&error, &"message".into(), &message.to_string().into());
    error.into()
}

/// Logging is process-wide: set it up once, at the level of the first mesh created.
///
/// The npm package's build compiles every log statement out (`release_max_level_off`, see
/// Cargo.toml); then there is nothing to print and the console subscriber is not linked either.
fn init_logging(level: tracing::Level) {
    if tracing::level_filters::STATIC_MAX_LEVEL == tracing::level_filters::LevelFilter::OFF {
        return;
    }
    thread_local!(static DONE: Cell<bool> = const { Cell::new(false) });
    if !DONE.with(|d| d.replace(true)) {
        let config = tracing_wasm::WASMLayerConfigBuilder::new()
            .set_max_level(level)
            .set_report_logs_in_timings(false)
            .build();
        tracing_wasm::set_as_global_default_with_config(config);
    }
}

/// A running browser node.
#[wasm_bindgen]
pub struct MeshNode {
    commands: mpsc::Sender<Command>,
    settings: Settings,
    /// Manifest path of each CID, built once: `resolve` of a CID runs on every fetch and a
    /// manifest may hold 200 000 assets.
    paths_by_cid: std::collections::HashMap<Cid, String>,
    peer_id: String,
    next_token: Cell<u64>,
}

#[wasm_bindgen]
impl MeshNode {
    /// Starts a node. `options` is the page's `createMesh` options object (with `bootstrap`
    /// already filled from `bootstrapUrl`); `manifest_json` the manifest text if any;
    /// `on_event(type, detail)` receives `stats`, `peer` and `fetch` events.
    pub fn start(
        options: JsValue,
        manifest_json: Option<js_sys::JsString>,
        on_event: js_sys::Function,
    ) -> Result<MeshNode, JsValue> {
        let raw = crate::js_input::options(&options).map_err(|e| js_error("config", e))?;
        let (manifest, site) = manifest_json
            .as_ref()
            .map(crate::js_input::manifest)
            .transpose()
            .map_err(|e| js_error("config", e))?
            .unzip();
        let settings = Settings::from_raw(raw, manifest).map_err(|e| js_error("config", e))?;
        init_logging(settings.log_level);

        let keypair = Keypair::generate_ed25519();
        let peer_id = keypair.public().to_peer_id();
        // A browser finds providers through its bootstrap nodes (delegated routing): the
        // package carries no Kademlia.
        let protocol = mesh_protocol::Config::new(settings.namespace.clone())
            .with_routing(mesh_protocol::RoutingMode::Delegated);
        let codec = BlockCodec::new();
        let swarm =
            crate::transport::build(&keypair, &protocol, codec.clone(), settings.webrtc.clone())
                .map_err(|e| js_error("config", e))?;
        let bootstrap = settings
            .bootstrap
            .iter()
            .map(|text| text.parse::<libp2p::Multiaddr>())
            .collect::<Result<Vec<_>, _>>()
            // Checked by Settings already; parse failures cannot happen here.
            .map_err(|e| js_error("config", e))?;
        let warm_assets = settings
            .manifest
            .as_ref()
            .map(|m| m.assets.values().map(|e| e.cid).collect())
            .unwrap_or_default();
        let web_digest = crate::web_digest::WebDigest::find();
        let planner = Planner::new(
            settings.planner.clone(),
            MemoryStore::new(settings.cache_bytes),
        );
        // A tab's listen addresses are relayed addresses through the bootstrap node, so they
        // are advertised even when that node is on loopback (tests, local demos).
        let engine: BrowserEngine = Engine::new(
            swarm,
            planner,
            BlockServer::new(settings.serve.clone()),
            codec,
            &protocol,
            EngineConfig::default()
                .with_advertise_loopback(true)
                .with_exchange_over_relayed(false)
                .with_bootstrap(bootstrap)
                .with_reserve_relay(true)
                .with_serve(settings.serving)
                .with_warm_peers(settings.warm_peers, warm_assets)
                .with_origin_base(settings.origin_base.clone())
                // The site's rendezvous key: the CID of its manifest, as every tab of it has it.
                .with_site(site)
                // The jitter only spreads redials of many tabs; Math.random suffices.
                .with_seed((js_sys::Math::random() * (1u64 << 53) as f64) as u64)
                // Blocks from peers hashed by WebCrypto where the page has it.
                .with_shell_digest_min_bytes(
                    web_digest.is_some().then_some(crate::web_digest::MIN_BYTES),
                ),
        )
        .map_err(|e| js_error("config", e))?;
        let (commands_tx, commands) = mpsc::channel(COMMAND_QUEUE);
        let events: crate::driver::EventSink = Box::new(move |kind: &str, detail: JsValue| {
            if let Err(e) = on_event.call2(&JsValue::NULL, &kind.into(), &detail) {
                tracing::warn!(?e, "the page's event handler threw");
            }
        });
        let driver = Driver::new(DriverParts {
            engine,
            p2p: settings.p2p,
            stats_interval: settings.stats_interval,
            commands,
            events,
            persist: settings.persist.clone(),
            web_digest,
        });
        wasm_bindgen_futures::spawn_local(driver.run());
        let paths_by_cid = settings
            .manifest
            .iter()
            .flat_map(|m| m.assets.iter().map(|(path, e)| (e.cid, path.clone())))
            .collect();
        Ok(MeshNode {
            commands: commands_tx,
            paths_by_cid,
            settings,
            peer_id: peer_id.to_string(),
            next_token: Cell::new(1),
        })
    }

    /// This tab's peer id.
    #[wasm_bindgen(getter, js_name = peerId)]
    pub fn peer_id(&self) -> String {
        self.peer_id.clone()
    }

    /// Resolves a CID or a site path: `{cid, path, type, size}` (path, type and size only for
    /// manifest entries). Throws a `config` error for something that is neither.
    pub fn resolve(&self, cid_or_path: &str) -> Result<JsValue, JsValue> {
        let out = Object::new();
        let set = |k: &str, v: JsValue| {
            let _ = Reflect::set(&out, &k.into(), &v);
        };
        if let Ok(cid) = Cid::try_from(cid_or_path) {
            set("cid", cid.to_string().into());
            // A CID the manifest knows still gets its media type.
            if let Some(manifest) = &self.settings.manifest
                && let Some(path) = self.paths_by_cid.get(&cid)
                && let Some(entry) = manifest.assets.get(path)
            {
                set("path", path.as_str().into());
                set("type", entry.content_type.as_str().into());
                set("size", (entry.size as f64).into());
            }
            if let Some(base) = &self.settings.origin_base {
                set("url", mesh_engine::origin_url(base, &cid).into());
            }
            return Ok(out.into());
        }
        let Some(manifest) = &self.settings.manifest else {
            return Err(js_error(
                "config",
                format!("{cid_or_path:?} is not a CID, and there is no manifest to look it up in"),
            ));
        };
        let Some(entry) = manifest.get_url_path(cid_or_path) else {
            return Err(js_error(
                "not-found",
                format!("{cid_or_path:?} is not a CID and not in the manifest"),
            ));
        };
        set("cid", entry.cid.to_string().into());
        set("path", cid_or_path.into());
        set("type", entry.content_type.as_str().into());
        set("size", (entry.size as f64).into());
        Ok(out.into())
    }

    /// Starts fetching `cid` (origin `url` if peers fall short). Read it with
    /// [`FetchHandle::next`].
    pub fn fetch(&self, cid: &str, url: Option<String>) -> Result<FetchHandle, JsValue> {
        let cid = Cid::try_from(cid).map_err(|e| js_error("config", format!("{cid:?}: {e}")))?;
        let token = self.next_token.get();
        self.next_token.set(token + 1);
        let (output, chunks) = mpsc::unbounded();
        self.commands
            .clone()
            .try_send(Command::Fetch {
                token,
                cid,
                url,
                output,
            })
            .map_err(|e| {
                if e.is_disconnected() {
                    js_error("closed", "the mesh is closed")
                } else {
                    js_error("busy", "too many calls queued; try again")
                }
            })?;
        Ok(FetchHandle {
            token,
            cid: cid.to_string(),
            chunks: Rc::new(RefCell::new(Some(chunks))),
            commands: self.commands.clone(),
            content_type: Rc::new(RefCell::new(None)),
            source: Rc::new(RefCell::new("origin")),
        })
    }

    /// The node's figures (a Promise of the stats object).
    pub async fn stats(&self) -> Result<JsValue, JsValue> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .clone()
            .send(Command::Stats { reply })
            .await
            .map_err(|_| js_error("closed", "the mesh is closed"))?;
        let report = answer
            .await
            .map_err(|_| js_error("closed", "the mesh is closed"))?;
        serde::Serialize::serialize(&report, &serde_wasm_bindgen::Serializer::json_compatible())
            .map_err(|e| js_error("internal", e))
    }

    /// Allows peer connections when started with `p2p: 'after-consent'`, or again after
    /// [`MeshNode::revoke_consent`]. `bootstrap`: addresses learnt only now (the page's
    /// `bootstrapUrl`, fetched after consent), checked like the `bootstrap` option.
    pub fn consent(&self, bootstrap: Option<Vec<String>>) -> Result<(), JsValue> {
        let raw = RawOptions {
            bootstrap: bootstrap.unwrap_or_default(),
            ..RawOptions::default()
        };
        let addrs = Settings::from_raw(raw, None)
            .map_err(|e| js_error("config", e))?
            .bootstrap
            .iter()
            .map(|text| text.parse::<libp2p::Multiaddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| js_error("config", e))?;
        self.send(Command::Consent { bootstrap: addrs })
    }

    /// Withdraws consent: closes every peer connection, stops serving and announcing. Fetches
    /// go on from the origin and the cache, verified.
    #[wasm_bindgen(js_name = revokeConsent)]
    pub fn revoke_consent(&self) -> Result<(), JsValue> {
        self.send(Command::RevokeConsent)
    }

    /// Pauses (`true`) or resumes serving other tabs: the page calls it when the tab is hidden,
    /// on Save-Data or on a metered connection.
    #[wasm_bindgen(js_name = pauseServing)]
    pub fn pause_serving(&self, paused: bool) -> Result<(), JsValue> {
        self.send(Command::PauseServing(paused))
    }

    fn send(&self, command: Command) -> Result<(), JsValue> {
        self.commands
            .clone()
            .try_send(command)
            .map_err(|_| js_error("closed", "the mesh is closed"))
    }

    /// Stops the node: closes connections and aborts origin requests.
    pub async fn close(&self) -> Result<(), JsValue> {
        let (reply, answer) = oneshot::channel();
        if self
            .commands
            .clone()
            .send(Command::Close { reply })
            .await
            .is_ok()
        {
            let _ = answer.await;
        }
        Ok(())
    }
}

/// A fetch in progress.
#[wasm_bindgen]
pub struct FetchHandle {
    token: u64,
    cid: String,
    chunks: Rc<RefCell<Option<mpsc::UnboundedReceiver<FetchChunk>>>>,
    commands: mpsc::Sender<Command>,
    content_type: Rc<RefCell<Option<String>>>,
    source: Rc<RefCell<&'static str>>,
}

#[wasm_bindgen]
impl FetchHandle {
    /// The fetched CID.
    #[wasm_bindgen(getter)]
    pub fn cid(&self) -> String {
        self.cid.clone()
    }

    /// The media type the origin named, once its response arrived.
    #[wasm_bindgen(getter, js_name = contentType)]
    pub fn content_type(&self) -> Option<String> {
        self.content_type.borrow().clone()
    }

    /// Where the delivered bytes came from so far: `peer`, `origin`, `cache` or `mixed`.
    #[wasm_bindgen(getter)]
    pub fn source(&self) -> String {
        (*self.source.borrow()).to_owned()
    }

    /// The next verified piece: `{offset, data: Uint8Array, source}`, or `{done: summary}` at
    /// the end; rejects with `{kind, message}` on failure.
    pub fn next(&self) -> js_sys::Promise {
        let chunks = Rc::clone(&self.chunks);
        let content_type = Rc::clone(&self.content_type);
        let source = Rc::clone(&self.source);
        let cid = self.cid.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            loop {
                let next = futures::future::poll_fn(|cx| match chunks.borrow_mut().as_mut() {
                    Some(rx) => rx.poll_next_unpin(cx),
                    None => std::task::Poll::Ready(None),
                })
                .await;
                let out = Object::new();
                let set = |k: &str, v: JsValue| {
                    let _ = Reflect::set(&out, &k.into(), &v);
                };
                match next {
                    Some(FetchChunk::ContentType(ct)) => {
                        *content_type.borrow_mut() = Some(ct);
                        continue;
                    }
                    Some(FetchChunk::Data {
                        offset,
                        data,
                        source: s,
                    }) => {
                        *source.borrow_mut() = s;
                        set("offset", (offset as f64).into());
                        set("data", Uint8Array::from(&data[..]).into());
                        set("source", s.into());
                    }
                    Some(FetchChunk::Done(report)) => {
                        let done = FetchDone::new(cid.clone(), &report);
                        *source.borrow_mut() = done.source;
                        let summary = serde::Serialize::serialize(
                            &done,
                            &serde_wasm_bindgen::Serializer::json_compatible(),
                        )
                        .map_err(|e| js_error("internal", e))?;
                        set("done", summary);
                    }
                    Some(FetchChunk::Failed(error)) => {
                        return Err(js_error(error_kind(&error), &*error));
                    }
                    None => {
                        return Err(if chunks.borrow().is_none() {
                            js_error("aborted", "the fetch was cancelled")
                        } else {
                            js_error("closed", "the mesh closed during the fetch")
                        });
                    }
                }
                return Ok(out.into());
            }
        })
    }

    /// Stops the fetch: its wants, pins and origin requests are released.
    pub fn cancel(&self) {
        self.chunks.borrow_mut().take();
        let _ = self
            .commands
            .clone()
            .try_send(Command::CancelFetch { token: self.token });
    }
}
