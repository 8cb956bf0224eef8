//! The node task: a tokio shell around [`mesh_engine::Engine`].
//!
//! Each turn takes one input (a command, a swarm event, an origin event or the planner's
//! timer), feeds it to the engine, then acts on every output: origin requests run as tasks
//! (reqwest), verified bytes go to the fetch's stream, peers and announcements answer the
//! handles waiting for them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use cid::Cid;
use futures::StreamExt;
use libp2p::core::transport::ListenerId;
use libp2p::{Multiaddr, PeerId};
use mesh_core::fetch::{FetchId, OriginRequestId};
use mesh_core::time::Instant as CoreInstant;
use mesh_engine::{AnnounceError, CancelOrigin, Deliver, Engine, OriginFetch, Output};
use reqwest::Url;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::error::{NodeError, StartError};
use crate::handle::{Command, FetchChunk};
use crate::origin::{self, OriginEvent};
use mesh_engine::NodeStatus;

/// How often the status is refreshed even without events: the codec counts rejected requests
/// inside connection handlers, which wake nobody.
const STATUS_INTERVAL: Duration = Duration::from_millis(250);

/// A handle waiting in [`NodeHandle::connect`](crate::NodeHandle::connect): the address it
/// gave and where the answer goes.
type ConnectWaiter = (Multiaddr, oneshot::Sender<Result<PeerId, NodeError>>);

/// Everything the node task owns.
pub(crate) struct Driver {
    engine: Engine,
    epoch: Instant,
    http: Option<reqwest::Client>,
    commands: mpsc::Receiver<Command>,
    origin_tx: mpsc::Sender<OriginEvent>,
    origin_rx: mpsc::Receiver<OriginEvent>,
    origin_tasks: BTreeMap<OriginRequestId, AbortHandle>,
    /// Where each fetch's verified bytes go.
    fetches: BTreeMap<FetchId, mpsc::UnboundedSender<FetchChunk>>,
    announce_waiters: HashMap<Cid, Vec<oneshot::Sender<Result<Cid, NodeError>>>>,
    /// Handles waiting for a peer to be connected and identified.
    connect_waiters: BTreeMap<PeerId, Vec<ConnectWaiter>>,
    listeners_pending: HashSet<ListenerId>,
    ready: Option<oneshot::Sender<Result<(), StartError>>>,
    status: watch::Sender<NodeStatus>,
}

/// What [`Driver::new`] needs beyond the engine.
pub(crate) struct DriverParts {
    pub(crate) engine: Engine,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) listeners: HashSet<ListenerId>,
    pub(crate) ready: oneshot::Sender<Result<(), StartError>>,
    pub(crate) status: watch::Sender<NodeStatus>,
}

impl Driver {
    pub(crate) fn new(parts: DriverParts) -> Self {
        let (origin_tx, origin_rx) = mpsc::channel(origin::ORIGIN_CHANNEL_CAPACITY);
        let mut engine = parts.engine;
        // Time starts here: the epoch is now.
        engine.join(CoreInstant::ZERO);
        Self {
            engine,
            epoch: Instant::now(),
            http: None,
            commands: parts.commands,
            origin_tx,
            origin_rx,
            origin_tasks: BTreeMap::new(),
            fetches: BTreeMap::new(),
            announce_waiters: HashMap::new(),
            connect_waiters: BTreeMap::new(),
            listeners_pending: parts.listeners,
            ready: Some(parts.ready),
            status: parts.status,
        }
    }

    /// Runs until shutdown or until every handle is dropped.
    pub(crate) async fn run(mut self) {
        let mut status_tick = tokio::time::interval(STATUS_INTERVAL);
        status_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let timer = self.engine.poll_timeout().map(|t| self.deadline(t));
            let more = self.engine.has_more_work();
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown) | None => break,
                    Some(command) => self.on_command(command),
                },
                event = self.engine.swarm_mut().select_next_some() => {
                    let now = self.now();
                    self.engine.handle_swarm_event(now, event);
                }
                Some(event) = self.origin_rx.recv() => self.on_origin_event(event),
                () = sleep_until(timer), if timer.is_some() => {
                    let now = self.now();
                    self.engine.handle_timeout(now);
                }
                () = std::future::ready(()), if more => {}
                _ = status_tick.tick() => {}
            }
            while let Some(output) = self.engine.poll_output() {
                self.on_output(output);
                if self.engine.has_more_work() {
                    break;
                }
            }
            self.publish_status();
        }
        for task in self.origin_tasks.values() {
            task.abort();
        }
        tracing::debug!("node stopped");
    }

    fn now(&self) -> CoreInstant {
        CoreInstant::from_micros(
            u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX),
        )
    }

    fn deadline(&self, t: CoreInstant) -> Instant {
        self.epoch + Duration::from_micros(t.as_micros())
    }

    // ---- commands ----------------------------------------------------------------------

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Add {
                root,
                blocks,
                reply,
            } => match self.engine.add(root, blocks) {
                Ok(()) => self.announce_waiters.entry(root).or_default().push(reply),
                Err(e) => {
                    let _ = reply.send(Err(NodeError::Store(e)));
                }
            },
            Command::Fetch {
                cid,
                origin,
                output,
            } => {
                let now = self.now();
                let id = self.engine.start_fetch(now, cid, origin.map(String::from));
                tracing::info!(%cid, fetch = id.0, origin = ?self.engine.origin_url(id), "fetch started");
                self.fetches.insert(id, output);
            }
            Command::Connect { addr, reply } => match self.engine.connect(addr.clone()) {
                Ok(peer) => self
                    .connect_waiters
                    .entry(peer)
                    .or_default()
                    .push((addr, reply)),
                Err(reason) => {
                    let _ = reply.send(Err(NodeError::Connect { addr, reason }));
                }
            },
            Command::ListenAddrs { reply } => {
                let swarm = self.engine.swarm();
                let peer = *swarm.local_peer_id();
                let addrs = swarm
                    .listeners()
                    .map(|a| a.clone().with_p2p(peer).unwrap_or_else(|a| a))
                    .collect();
                let _ = reply.send(addrs);
            }
            Command::Stats { reply } => {
                let _ = reply.send(self.engine.stats());
            }
            Command::Shutdown => {}
        }
    }

    // ---- engine outputs ----------------------------------------------------------------

    fn on_output(&mut self, output: Output) {
        match output {
            Output::OriginFetch(OriginFetch {
                fetch,
                request,
                range,
            }) => self.origin_fetch(fetch, request, range),
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
                let delivered = self
                    .fetches
                    .get(&fetch)
                    .is_some_and(|f| f.send(FetchChunk::Data { offset, data }).is_ok());
                if !delivered {
                    // Nobody is reading any more: stop spending bandwidth on it.
                    self.fetches.remove(&fetch);
                    let now = self.now();
                    self.engine.cancel_fetch(now, fetch);
                }
            }
            Output::Completed { fetch, report, .. } => {
                if let Some(f) = self.fetches.remove(&fetch) {
                    let _ = f.send(FetchChunk::Done(report));
                }
            }
            Output::Failed { fetch, error } => {
                if let Some(f) = self.fetches.remove(&fetch) {
                    let _ = f.send(FetchChunk::Failed(error));
                }
            }
            Output::Cancelled { fetch } => {
                self.fetches.remove(&fetch);
            }
            // An announcement that reached too few DHT nodes still leaves the record to be
            // republished: the add succeeded. One the node refused (its provider-record
            // limit) did not.
            Output::Announced { cid, result } => {
                for reply in self.announce_waiters.remove(&cid).unwrap_or_default() {
                    let _ = reply.send(match &result {
                        Err(AnnounceError::Refused(reason)) => Err(NodeError::Announce {
                            cid,
                            reason: reason.clone(),
                        }),
                        Ok(()) | Err(AnnounceError::Incomplete(_)) => Ok(cid),
                    });
                }
            }
            // Only asked for with `EngineConfig::shell_digest_min_bytes`, which this node
            // leaves off; answered anyway, so a block can never wait forever.
            Output::Digest { id, data } => {
                let now = self.now();
                self.engine
                    .handle_digest(now, id, mesh_core::Sha256Digest::of(&data));
            }
            Output::PeerReady { peer } => self.connect_settled(peer, None),
            Output::PeerUnusable { peer, reason } => self.connect_settled(peer, Some(reason)),
            Output::Listening { listener, .. } => self.listener_ready(listener, Ok(())),
            Output::ListenerFailed {
                listener,
                address,
                reason,
            } => self.listener_ready(
                listener,
                Err(StartError::Listen {
                    addr: address.unwrap_or(Multiaddr::empty()),
                    reason,
                }),
            ),
            _ => {}
        }
    }

    /// Answers the handles waiting for `peer`: `Ok` or the reason it is not usable.
    fn connect_settled(&mut self, peer: PeerId, failure: Option<String>) {
        for (addr, reply) in self.connect_waiters.remove(&peer).unwrap_or_default() {
            let result = match &failure {
                None => Ok(peer),
                Some(reason) => Err(NodeError::Connect {
                    addr,
                    reason: reason.clone(),
                }),
            };
            let _ = reply.send(result);
        }
    }

    fn listener_ready(&mut self, listener: ListenerId, result: Result<(), StartError>) {
        if !self.listeners_pending.remove(&listener) {
            return;
        }
        if (result.is_err() || self.listeners_pending.is_empty())
            && let Some(ready) = self.ready.take()
        {
            let _ = ready.send(result);
        }
    }

    fn origin_fetch(
        &mut self,
        fetch: FetchId,
        request: OriginRequestId,
        range: Option<std::ops::Range<u64>>,
    ) {
        let now = self.now();
        let Some(url) = self.engine.origin_url(fetch).map(Url::parse) else {
            self.engine
                .handle_origin_failed(now, request, "no origin URL".to_owned());
            return;
        };
        let url = match url {
            Ok(url) => url,
            Err(e) => {
                self.engine
                    .handle_origin_failed(now, request, e.to_string());
                return;
            }
        };
        let client = match &self.http {
            Some(client) => client.clone(),
            None => match reqwest::Client::builder()
                .user_agent(concat!("mesh-node/", env!("CARGO_PKG_VERSION")))
                .build()
            {
                Ok(client) => {
                    self.http = Some(client.clone());
                    client
                }
                Err(e) => {
                    self.engine
                        .handle_origin_failed(now, request, e.to_string());
                    return;
                }
            },
        };
        tracing::debug!(%url, ?range, "origin request");
        let task = origin::spawn(client, url, range, request, self.origin_tx.clone());
        self.origin_tasks.insert(request, task);
    }

    fn on_origin_event(&mut self, event: OriginEvent) {
        let now = self.now();
        match event {
            OriginEvent::Data(request, data) => self.engine.handle_origin_data(now, request, data),
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

    fn publish_status(&mut self) {
        let status = self.engine.status();
        self.status.send_if_modified(|s| {
            let changed = *s != status;
            *s = status;
            changed
        });
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
