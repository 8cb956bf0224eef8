//! The node task: a browser shell around [`mesh_engine::Engine`].
//!
//! One local task owns the engine. Each turn takes one input — a command from the page, a
//! swarm event, an origin event or the timer — feeds it to the engine and acts on every
//! output. The node's policy (bootstrap connections and their backoff, the relay reservation,
//! warm peers, connection kinds, origin URLs, source labels) is the engine's; what stays here
//! is what only a tab has: the page's fetch streams and events, its `fetch` for origin
//! requests, `setTimeout`, consent, and the stats tick.

use std::collections::{HashMap, VecDeque};

use mesh_core::small::SmallMap;
use std::time::Duration;

use bytes::Bytes;
use cid::Cid;
use futures::channel::{mpsc, oneshot};
use futures::future::{Fuse, LocalBoxFuture};
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use gloo_timers::future::TimeoutFuture;
use mesh_core::Sha256Digest;
use mesh_core::fetch::{FetchError, FetchId, OriginRequestId};
use mesh_core::time::Instant as CoreInstant;
use mesh_engine::{CancelOrigin, Deliver, DigestId, FetchReport, OriginFetch, Output};
use web_time::Instant;

use crate::config::P2pMode;
use crate::origin::{self, OriginEvent, OriginTask};
use crate::page_turn::PageTurn;
use crate::persist::{Persistence, Restoring};
use crate::report::{FetchDone, PeerChange, StatsReport};
use crate::transport::BrowserEngine;
use crate::web_digest::WebDigest;

/// Longest the loop sleeps without a reason: a safety net, not a poll interval.
const MAX_IDLE: Duration = Duration::from_secs(5);

/// A request from the page.
pub(crate) enum Command {
    Fetch {
        token: u64,
        cid: Cid,
        url: Option<String>,
        output: mpsc::UnboundedSender<FetchChunk>,
    },
    CancelFetch {
        token: u64,
    },
    Stats {
        reply: oneshot::Sender<StatsReport>,
    },
    Consent {
        bootstrap: Vec<libp2p::Multiaddr>,
    },
    RevokeConsent,
    PauseServing(bool),
    Close {
        reply: oneshot::Sender<()>,
    },
}

/// One step of a fetch, in order.
#[derive(Debug)]
pub(crate) enum FetchChunk {
    /// The origin named the asset's media type.
    ContentType(String),
    /// Verified bytes at `offset`; `source` is the sources so far (`peer`, `mixed`, …).
    Data {
        offset: u64,
        data: Bytes,
        source: &'static str,
    },
    Done(FetchReport),
    Failed(Box<FetchError>),
}

/// The page's event sink: `(type, detail)`.
pub(crate) type EventSink = Box<dyn Fn(&str, wasm_bindgen::JsValue)>;

/// The page's side of a running fetch.
#[derive(Debug)]
struct PageFetch {
    token: u64,
    cid: Cid,
    output: mpsc::UnboundedSender<FetchChunk>,
    content_type_sent: bool,
}

/// What [`Driver::new`] needs.
pub(crate) struct DriverParts {
    pub(crate) engine: BrowserEngine,
    pub(crate) p2p: P2pMode,
    pub(crate) stats_interval: Option<Duration>,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) events: EventSink,
    /// The persistent cache's database name, if on.
    pub(crate) persist: Option<String>,
    /// WebCrypto, when the engine hands received blocks out to be hashed.
    pub(crate) web_digest: Option<WebDigest>,
}

pub(crate) struct Driver {
    engine: BrowserEngine,
    epoch: Instant,
    p2p: P2pMode,
    commands: mpsc::Receiver<Command>,
    events: EventSink,
    origin_tx: mpsc::Sender<OriginEvent>,
    origin_rx: mpsc::Receiver<OriginEvent>,
    origin_tasks: SmallMap<OriginRequestId, OriginTask>,
    fetches: SmallMap<FetchId, PageFetch>,
    tokens: HashMap<u64, FetchId>,
    stats_interval: Option<Duration>,
    next_stats: Option<Instant>,
    persist: Persistence,
    web_digest: Option<WebDigest>,
    /// Digests WebCrypto is computing, for the engine.
    digests: FuturesUnordered<LocalBoxFuture<'static, (DigestId, Sha256Digest)>>,
    page_turn: PageTurn,
}

/// Whether the page is waiting for `output`: a fetch's bytes or its end.
fn resolves_page_read(output: &Output) -> bool {
    matches!(
        output,
        Output::Deliver(_) | Output::Completed { .. } | Output::Failed { .. }
    )
}

/// The loop's one `setTimeout`, kept across turns. A turn ends with every input (each
/// data-channel message, for one); a timer set and cleared per turn cost two calls into the
/// browser each time (0.3 ms per 100 KiB request in the fetching tab's CPU profile). It is
/// set again only for an earlier deadline or once it fired; a later deadline lets it fire
/// early, which costs one turn that finds nothing due.
#[derive(Default)]
struct Timer {
    armed: Option<(Instant, Fuse<TimeoutFuture>)>,
}

impl Timer {
    /// The timer for `wake`, set unless it already fires no later.
    fn until(&mut self, wake: Instant) -> &mut Fuse<TimeoutFuture> {
        if self.armed.as_ref().is_none_or(|(at, _)| wake < *at) {
            // Rounded up: a timer that fires before the deadline only costs an empty turn.
            let wait = wake.saturating_duration_since(Instant::now());
            let ms = u32::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(u32::MAX);
            self.armed = Some((wake, TimeoutFuture::new(ms).fuse()));
        }
        let (_, sleep) = self.armed.as_mut().expect("set above");
        sleep
    }

    fn fired(&mut self) {
        self.armed = None;
    }
}

/// Whether `command` waits for the restore under way (see `Driver::run`).
fn must_wait(
    restoring: Option<&Restoring>,
    waiting: &VecDeque<Command>,
    command: &Command,
) -> bool {
    let Some(job) = restoring else {
        return false;
    };
    match command {
        Command::Stats { .. } => false,
        _ if !waiting.is_empty() => true,
        Command::Fetch { cid, .. } => job.holds(cid),
        _ => false,
    }
}

impl Driver {
    pub(crate) fn new(parts: DriverParts) -> Self {
        let (origin_tx, origin_rx) = mpsc::channel(origin::ORIGIN_CHANNEL_CAPACITY);
        let now = Instant::now();
        let mut engine = parts.engine;
        if parts.p2p == P2pMode::On {
            // Time starts here: the epoch is now.
            engine.join(CoreInstant::ZERO);
        }
        Self {
            engine,
            epoch: now,
            p2p: parts.p2p,
            commands: parts.commands,
            events: parts.events,
            origin_tx,
            origin_rx,
            origin_tasks: SmallMap::new(),
            fetches: SmallMap::new(),
            tokens: HashMap::new(),
            stats_interval: parts.stats_interval,
            next_stats: parts.stats_interval.map(|i| now + i),
            persist: Persistence::new(parts.persist),
            web_digest: parts.web_digest,
            digests: FuturesUnordered::new(),
            page_turn: PageTurn::new(),
        }
    }

    /// Runs until the page closes the mesh or drops every handle.
    pub(crate) async fn run(mut self) {
        // The cache of an earlier visit first. Its blocks are verified a slice per turn of the
        // loop, so the bootstrap connection, already dialling, the warm dials and fetches of
        // other assets progress meanwhile; a fetch of an asset the cache holds waits until it
        // is back, to be served from it (and every command after a waiting one waits too, to
        // keep their order; stats never wait).
        let mut restoring = match self.persist.open().await {
            Some(Ok(job)) => Some(job),
            Some(Err(event)) => {
                self.emit("persist", &event);
                None
            }
            None => None,
        };
        let mut waiting: VecDeque<Command> = VecDeque::new();
        let mut timer = Timer::default();
        // The persistent cache's writes of a turn, done after the page's turn (see below).
        let mut writes: Vec<Output> = Vec::new();
        loop {
            let wake = if restoring.is_some() {
                Instant::now()
            } else {
                self.next_wake()
            };
            let mut sleep = timer.until(wake);
            // With outputs left over from a bounded turn, handle them before waiting.
            if !self.engine.has_more_work() {
                futures::select_biased! {
                    command = self.commands.next() => match command {
                        Some(Command::Close { reply }) => {
                            self.shutdown();
                            let _ = reply.send(());
                            return;
                        }
                        None => {
                            self.shutdown();
                            return;
                        }
                        Some(command) if must_wait(restoring.as_ref(), &waiting, &command) => {
                            waiting.push_back(command);
                        }
                        Some(command) => self.on_command(command),
                    },
                    // Before the swarm: a steady stream of its events must not hold back the
                    // blocks already received, which only wait for their digest.
                    (id, digest) = self.digests.select_next_some() => {
                        let now = self.now();
                        self.engine.handle_digest(now, id, digest);
                    }
                    event = self.engine.swarm_mut().select_next_some() => {
                        let now = self.now();
                        self.engine.handle_swarm_event(now, event);
                    }
                    event = self.origin_rx.select_next_some() => self.on_origin_event(event),
                    done = self.persist.done.select_next_some() => {
                        if let Some(event) = self.persist.on_done(done) {
                            self.emit("persist", &event);
                        }
                    }
                    () = sleep => timer.fired(),
                }
            }
            if let Some(job) = restoring.as_mut() {
                let slice = job.next_slice();
                let slice = match &self.web_digest {
                    Some(web) => web.digest_all(slice).await,
                    None => slice,
                };
                let now = self.now();
                if let Some(event) = self
                    .persist
                    .restore_slice(job, slice, &mut self.engine, now)
                {
                    restoring = None;
                    self.emit("persist", &event);
                    for command in waiting.drain(..) {
                        self.on_command(command);
                    }
                }
            }
            self.on_timers();
            let mut page_woken = false;
            while let Some(output) = self.engine.poll_output() {
                match output {
                    Output::Cached { .. } | Output::Uncached { .. } => writes.push(output),
                    output => {
                        page_woken |= resolves_page_read(&output);
                        self.on_output(output);
                    }
                }
                if self.engine.has_more_work() {
                    break;
                }
            }
            // Bytes or an end handed to the page: its continuations run before the rest of
            // the node's work, the cache's writes and the swarm's next poll (page_turn.rs).
            if page_woken {
                self.page_turn.wait().await;
            }
            // In the engine's order: a save and a later delete of the same block stay in order.
            for write in writes.drain(..) {
                self.on_output(write);
            }
        }
    }

    fn now(&self) -> CoreInstant {
        CoreInstant::from_micros(
            u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX),
        )
    }

    /// The earliest of the engine's timer and the stats tick.
    fn next_wake(&self) -> Instant {
        let mut wake = Instant::now() + MAX_IDLE;
        if let Some(t) = self.engine.poll_timeout() {
            wake = wake.min(self.epoch + Duration::from_micros(t.as_micros()));
        }
        if let Some(t) = self.next_stats {
            wake = wake.min(t);
        }
        wake
    }

    fn on_timers(&mut self) {
        let now = self.now();
        if self.engine.poll_timeout().is_some_and(|t| t <= now) {
            self.engine.handle_timeout(now);
        }
        let now_instant = Instant::now();
        if let (Some(t), Some(interval)) = (self.next_stats, self.stats_interval)
            && t <= now_instant
        {
            self.next_stats = Some(now_instant + interval);
            let report = self.report();
            self.emit("stats", &report);
        }
    }

    fn emit<T: serde::Serialize>(&self, kind: &str, detail: &T) {
        let serializer = serde_wasm_bindgen::Serializer::json_compatible();
        match detail.serialize(&serializer) {
            Ok(value) => (self.events)(kind, value),
            Err(e) => tracing::error!(error = %e, "cannot convert an event for the page"),
        }
    }

    fn report(&mut self) -> StatsReport {
        let status = self.engine.status();
        let stats = self.engine.stats();
        let p2p = match (self.p2p, self.engine.joined()) {
            (P2pMode::Off, _) => "off",
            (_, false) if self.engine.left() => "revoked",
            (P2pMode::AfterConsent, false) => "after-consent",
            _ => "on",
        };
        StatsReport::new(
            self.engine.swarm().local_peer_id().to_string(),
            &stats,
            &status,
            p2p,
            self.persist.report(),
            self.engine.serving(),
        )
    }

    // ---- commands ------------------------------------------------------------------------

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Fetch {
                token,
                cid,
                url,
                output,
            } => {
                let now = self.now();
                let id = self.engine.start_fetch(now, cid, url);
                tracing::debug!(%cid, fetch = id.0, url = ?self.engine.origin_url(id), "fetch started");
                self.tokens.insert(token, id);
                self.fetches.insert(
                    id,
                    PageFetch {
                        token,
                        cid,
                        output,
                        content_type_sent: false,
                    },
                );
            }
            Command::CancelFetch { token } => {
                if let Some(id) = self.tokens.remove(&token) {
                    self.fetches.remove(&id);
                    let now = self.now();
                    self.engine.cancel_fetch(now, id);
                }
            }
            Command::Stats { reply } => {
                let _ = reply.send(self.report());
            }
            Command::Consent { bootstrap } => {
                let now = self.now();
                if let Err(e) = self.engine.add_bootstrap(now, &bootstrap) {
                    // Checked by MeshNode::consent already.
                    tracing::error!(error = %e, "bootstrap addresses refused");
                }
                if self.p2p != P2pMode::Off && !self.engine.joined() {
                    tracing::info!("consent given: joining the mesh");
                    self.engine.join(now);
                }
            }
            Command::RevokeConsent => {
                let now = self.now();
                self.engine.leave(now);
            }
            Command::PauseServing(paused) => self.engine.pause_serving(paused),
            Command::Close { .. } => {}
        }
    }

    fn shutdown(&mut self) {
        for task in self.origin_tasks.values() {
            task.abort();
        }
        self.origin_tasks.clear();
        let peers: Vec<_> = self.engine.swarm().connected_peers().copied().collect();
        for peer in peers {
            let _ = self.engine.swarm_mut().disconnect_peer_id(peer);
        }
        tracing::info!("mesh closed");
    }

    // ---- engine outputs ------------------------------------------------------------------

    fn on_output(&mut self, output: Output) {
        match output {
            Output::OriginFetch(OriginFetch {
                fetch,
                request,
                range,
            }) => {
                let Some(url) = self.engine.origin_url(fetch).map(str::to_owned) else {
                    let now = self.now();
                    self.engine
                        .handle_origin_failed(now, request, "no origin URL".to_owned());
                    return;
                };
                tracing::debug!(%url, ?range, "origin request");
                let task = origin::spawn(
                    url,
                    range,
                    request,
                    self.web_digest.clone(),
                    self.origin_tx.clone(),
                );
                self.origin_tasks.insert(request, task);
            }
            Output::CancelOrigin(CancelOrigin { request }) => {
                if let Some(task) = self.origin_tasks.remove(&request) {
                    task.abort();
                }
            }
            Output::Deliver(Deliver {
                fetch,
                offset,
                data,
            }) => {
                let source = self.engine.fetch_sources(fetch).unwrap_or_default().label();
                let delivered = self.fetches.get(&fetch).is_some_and(|f| {
                    f.output
                        .unbounded_send(FetchChunk::Data {
                            offset,
                            data,
                            source,
                        })
                        .is_ok()
                });
                if !delivered {
                    // The page stopped reading: stop spending bandwidth on it.
                    self.forget(fetch);
                    let now = self.now();
                    self.engine.cancel_fetch(now, fetch);
                }
            }
            Output::Completed { fetch, cid, report } => {
                let done = FetchDone::new(cid.to_string(), &report);
                if let Some(f) = self.forget(fetch) {
                    let _ = f.output.unbounded_send(FetchChunk::Done(report));
                }
                self.emit("fetch", &done);
            }
            Output::Failed { fetch, error } => {
                let f = self.forget(fetch);
                let detail = crate::report::FetchFailed {
                    cid: f.as_ref().map(|f| f.cid.to_string()),
                    error: crate::report::FailedError {
                        kind: crate::api::error_kind(&error),
                        message: error.to_string(),
                    },
                };
                if let Some(f) = f {
                    let _ = f.output.unbounded_send(FetchChunk::Failed(Box::new(error)));
                }
                self.emit("fetch", &detail);
            }
            Output::Cancelled { fetch } => {
                self.forget(fetch);
            }
            Output::Digest { id, data } => match &self.web_digest {
                Some(web) => self
                    .digests
                    .push(Box::pin(web.digest(data).map(move |digest| (id, digest)))),
                None => {
                    let now = self.now();
                    self.engine.handle_digest(now, id, Sha256Digest::of(&data));
                }
            },
            Output::Cached { root, blocks } => self.persist.cached(&root, &blocks),
            Output::Uncached { blocks, roots } => self.persist.uncached(&blocks, &roots),
            Output::PeerChanged {
                peer,
                kind,
                connected,
            } => self.emit(
                "peer",
                &PeerChange {
                    peer: peer.to_string(),
                    state: if connected {
                        "connected"
                    } else {
                        "disconnected"
                    },
                    kind: kind.as_str(),
                },
            ),
            _ => {}
        }
    }

    fn forget(&mut self, fetch: FetchId) -> Option<PageFetch> {
        let f = self.fetches.remove(&fetch)?;
        self.tokens.remove(&f.token);
        Some(f)
    }

    fn on_origin_event(&mut self, event: OriginEvent) {
        let now = self.now();
        match event {
            OriginEvent::Headers(request, content_type) => {
                let fetch = self.engine.origin_request_fetch(request);
                if let (Some(ct), Some(f)) =
                    (content_type, fetch.and_then(|id| self.fetches.get_mut(&id)))
                    && !f.content_type_sent
                {
                    f.content_type_sent = true;
                    let _ = f.output.unbounded_send(FetchChunk::ContentType(ct));
                }
            }
            OriginEvent::Data(request, data) => self.engine.handle_origin_data(now, request, data),
            OriginEvent::Leaf(request, data, digest) => {
                self.engine.handle_origin_leaf(now, request, data, digest);
            }
            OriginEvent::Done(request) => {
                self.origin_tasks.remove(&request);
                self.engine.handle_origin_done(now, request);
            }
            OriginEvent::Failed(request, reason) => {
                self.origin_tasks.remove(&request);
                tracing::warn!(%reason, "origin request failed");
                self.engine.handle_origin_failed(now, request, reason);
            }
        }
    }
}
