//! Mesh engines on libp2p's in-memory transport, driven in virtual time.
//!
//! The test owns the clock ([`MemNet::now`]): [`MemNet::run`] polls every swarm until the
//! network is idle (messages between in-memory connections move without any time passing),
//! and [`MemNet::advance_to`] moves the clock and fires the engines' timers. Each engine's
//! outputs are collected in order in [`TestNode::outputs`] for the test to read and answer
//! (origin requests are answered by the test, not by HTTP).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use cid::Cid;
use futures::StreamExt;
use libp2p::core::transport::{MemoryTransport, OptionalTransport, Transport as _};
use libp2p::core::upgrade::Version;
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId, Swarm, noise, relay, yamux};
use mesh_core::dag::build_dag;
use mesh_core::fetch::{Config as PlannerConfig, FetchId, OriginRequestId, Planner};
use mesh_core::store::MemoryStore;
use mesh_core::time::Instant as CoreInstant;
use mesh_engine::{AnnounceError, Deliver, Engine, EngineConfig, FetchReport, Output};
use mesh_protocol::blocks::{BlockCodec, BlockServer, ServeConfig};
use mesh_protocol::{Behaviour, KadMode, Namespace, RoutingMode};

/// Polling rounds [`MemNet::run`] allows before it calls the network stuck.
const MAX_ROUNDS: usize = 200_000;

/// How often, and how long apart, [`MemNet::run`] checks that an idle network stays idle
/// before it calls it settled.
const QUIET_CHECKS: u32 = 4;
const QUIET_CHECK: Duration = Duration::from_micros(500);
/// Quiet checks after which [`MemNet::run`] stops waiting for connections to be identified
/// (about 2 s: a connection to a peer that never identifies is a test's own doing).
const MAX_QUIET_CHECKS: u32 = 4000;

/// Block-store budget of a test node.
const STORE_BYTES: u64 = 64 << 20;

/// Records that some task in the network was woken: it has more to do.
struct Woken(AtomicBool);

impl futures::task::ArcWake for Woken {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.0.store(true, Ordering::SeqCst);
    }
}

/// `/memory/<port>` ports, unique within the process (tests of one binary run in parallel
/// threads and share the in-memory transport's registry).
static NEXT_PORT: AtomicU64 = AtomicU64::new(1);

/// A node's index in its [`MemNet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeId(pub usize);

/// One engine and what it said.
pub struct TestNode {
    /// The engine.
    pub engine: Engine,
    /// Its identity (to restart it under the same peer id).
    pub keypair: Keypair,
    /// Where it listens, ending in `/p2p/<peer>`.
    pub addr: Multiaddr,
    /// Every output, in order, not yet taken by the test.
    pub outputs: Vec<Output>,
    /// The source label of each delivery, read from the engine when the delivery was taken
    /// (what a shell hands the page with the bytes).
    pub labels: Vec<(FetchId, Option<&'static str>)>,
    /// Not polled: the process is stopped (SIGSTOP), its connections hang.
    frozen: bool,
    listener: libp2p::core::transport::ListenerId,
}

impl TestNode {
    /// The peer id.
    pub fn peer_id(&self) -> PeerId {
        *self.engine.swarm().local_peer_id()
    }

    /// Takes the outputs collected so far.
    pub fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.outputs)
    }

    /// Kademlia, on a node that routes by it (the test bootstrap node, DHT-walking nodes):
    /// what tests read provider records from.
    pub fn kad(&mut self) -> &mut libp2p::kad::Behaviour<libp2p::kad::store::MemoryStore> {
        self.engine
            .swarm_mut()
            .behaviour_mut()
            .routing
            .kad_mut()
            .expect("the node routes by Kademlia")
    }
}

/// A set of engines on the in-memory transport, with a virtual clock.
pub struct MemNet {
    nodes: Vec<Option<TestNode>>,
    /// The one waker every task in the network is polled with: a wake between two
    /// [`MemNet::run`]s (a dropped peer's connection closing) is still seen.
    woken: Arc<Woken>,
    namespace: Namespace,
    /// The virtual time, given to every engine call.
    pub now: CoreInstant,
    /// Block-store budget of nodes spawned from now on.
    store_bytes: u64,
}

impl Default for MemNet {
    fn default() -> Self {
        Self::new()
    }
}

impl MemNet {
    /// An empty network at time zero.
    pub fn new() -> Self {
        Self {
            nodes: Vec::new(),
            woken: Arc::new(Woken(AtomicBool::new(true))),
            namespace: Namespace::new("test").expect("a valid namespace"),
            now: CoreInstant::ZERO,
            store_bytes: STORE_BYTES,
        }
    }

    /// Gives nodes spawned from now on a block store of `bytes` (default 64 MiB).
    pub fn set_store_bytes(&mut self, bytes: u64) {
        self.store_bytes = bytes;
    }

    /// A fresh `/memory` address.
    pub fn fresh_addr() -> Multiaddr {
        Multiaddr::empty().with(Protocol::Memory(NEXT_PORT.fetch_add(1, Ordering::Relaxed)))
    }

    /// Starts a node listening on a fresh address.
    /// `routing`: a [`KadMode`], or [`RoutingMode::Delegated`] for a node that routes as a
    /// browser does (through its bootstrap nodes).
    pub fn spawn(
        &mut self,
        routing: impl Into<RoutingMode>,
        planner: PlannerConfig,
        engine: EngineConfig,
    ) -> NodeId {
        self.spawn_at(
            Keypair::generate_ed25519(),
            Self::fresh_addr(),
            routing,
            planner,
            engine,
        )
    }

    /// Starts a bootstrap node (a DHT server with default settings) and returns it with the
    /// address that [`EngineConfig::with_bootstrap`] takes to join it.
    pub fn spawn_bootstrap(&mut self) -> (NodeId, Multiaddr) {
        let boot = self.spawn(
            KadMode::Server,
            PlannerConfig::new(),
            EngineConfig::default(),
        );
        let addr = self.node(boot).addr.clone();
        (boot, addr)
    }

    /// Starts a node with `keypair` listening on `listen` (to bring a node back at the
    /// address others know). Listen addresses are advertised, as on any reachable node.
    pub fn spawn_at(
        &mut self,
        keypair: Keypair,
        listen: Multiaddr,
        routing: impl Into<RoutingMode>,
        planner: PlannerConfig,
        config: EngineConfig,
    ) -> NodeId {
        let peer = keypair.public().to_peer_id();
        // A node that holds relay reservations (as a browser does) gets the relay client's
        // transport and behaviour; its reservations then run the real protocol against the
        // bootstrap node.
        let (relayed, relay) = if config.reserve_relay {
            let (t, b) = relay::client::new(peer);
            (OptionalTransport::some(t), Some(b))
        } else {
            (OptionalTransport::none(), None)
        };
        let transport = relayed
            .or_transport(MemoryTransport::default())
            .upgrade(Version::V1)
            .authenticate(noise::Config::new(&keypair).expect("noise keys from an ed25519 key"))
            .multiplex(yamux::Config::default())
            .boxed();
        let protocol =
            mesh_protocol::Config::new(self.namespace.clone()).with_routing(routing.into());
        let codec = BlockCodec::new();
        let behaviour = Behaviour::with_codec(&keypair, &protocol, relay, codec.clone());
        let mut swarm = Swarm::new(
            transport,
            behaviour,
            peer,
            // Connection tasks run inside the swarm's poll: one thread, no runtime. Idle
            // connections stay: a test's connections close when it closes them.
            mesh_protocol::swarm_config(libp2p::swarm::Config::without_executor())
                .with_idle_connection_timeout(Duration::from_secs(3600)),
        );
        let listener = swarm
            .listen_on(listen.clone())
            .expect("a free /memory address");
        let planner = Planner::new(planner, MemoryStore::new(self.store_bytes));
        let engine = Engine::new(
            swarm,
            planner,
            BlockServer::new(ServeConfig::new()),
            codec,
            &protocol,
            config.with_advertise_loopback(true),
        )
        .expect("test bootstrap addresses name their peers");
        self.nodes.push(Some(TestNode {
            engine,
            keypair,
            addr: listen.with(Protocol::P2p(peer)),
            outputs: Vec::new(),
            labels: Vec::new(),
            frozen: false,
            listener,
        }));
        let id = NodeId(self.nodes.len() - 1);
        self.run();
        id
    }

    /// The node `id` (panics if it was stopped: a test bug).
    pub fn node(&mut self, id: NodeId) -> &mut TestNode {
        self.nodes[id.0].as_mut().expect("the node is running")
    }

    /// Node `id` starts dialling its bootstrap nodes ([`Engine::join`]).
    pub fn join(&mut self, id: NodeId) {
        let now = self.now;
        self.node(id).engine.join(now);
        self.run();
    }

    /// Stops polling node `id`, as if its process were stopped: whatever is sent to it
    /// waits, dials to it hang. Its timers do not fire either.
    pub fn freeze(&mut self, id: NodeId) {
        self.node(id).frozen = true;
    }

    /// Polls node `id` again after [`MemNet::freeze`], as if its process were continued
    /// (SIGCONT): it then finds whatever was sent to it meanwhile.
    pub fn thaw(&mut self, id: NodeId) {
        self.node(id).frozen = false;
        self.run();
    }

    /// Stops node `id`: its swarm is dropped, and with it every connection.
    pub fn stop(&mut self, id: NodeId) {
        let mut node = self.nodes[id.0].take().expect("the node is running");
        // The in-memory transport frees a port only when its listener is removed, not when
        // it is dropped: free it, so the node can come back at the same address.
        node.engine.swarm_mut().remove_listener(node.listener);
        drop(node);
        self.run();
    }

    /// Polls every swarm and engine until nothing moves (no time passes): a round in which no
    /// swarm had an event and nothing inside any of them was woken.
    pub fn run(&mut self) {
        let woken = Arc::clone(&self.woken);
        let waker = futures::task::waker(Arc::clone(&woken));
        let mut cx = Context::from_waker(&waker);
        let mut quiet = 0;
        for _ in 0..MAX_ROUNDS {
            let was_woken = woken.0.swap(false, Ordering::SeqCst);
            let mut progressed = false;
            for node in self.nodes.iter_mut().flatten().filter(|n| !n.frozen) {
                while let Some(output) = node.engine.poll_output() {
                    if let Output::Deliver(d) = &output {
                        let label = node.engine.fetch_sources(d.fetch).map(|s| s.label());
                        node.labels.push((d.fetch, label));
                    }
                    node.outputs.push(output);
                    progressed = true;
                }
                if let Poll::Ready(Some(event)) = node.engine.swarm_mut().poll_next_unpin(&mut cx) {
                    node.engine.handle_swarm_event(self.now, event);
                    progressed = true;
                }
            }
            if progressed || was_woken || woken.0.load(Ordering::SeqCst) {
                quiet = 0;
                continue;
            }
            // Idle here, but libp2p arms some zero-length timers (identify's first request on
            // each connection) on futures-timer's own thread, which wakes a swarm from outside
            // a little later, on a loaded machine many milliseconds later: call the network
            // idle once it stayed so for a while and every connection is identified.
            if quiet >= QUIET_CHECKS && (quiet >= MAX_QUIET_CHECKS || self.all_identified()) {
                return;
            }
            quiet += 1;
            std::thread::sleep(QUIET_CHECK);
        }
        panic!("the in-memory network never settled");
    }

    /// Whether every running node knows each peer it is connected to as a mesh peer (all
    /// nodes here speak the block exchange, so only an identify still in flight says no).
    fn all_identified(&self) -> bool {
        self.nodes.iter().flatten().filter(|n| !n.frozen).all(|n| {
            n.engine
                .swarm()
                .connected_peers()
                .all(|p| n.engine.is_mesh_peer(p))
        })
    }

    /// The earliest timer of any engine.
    pub fn next_timeout(&self) -> Option<CoreInstant> {
        self.nodes
            .iter()
            .flatten()
            .filter(|n| !n.frozen)
            .filter_map(|n| n.engine.poll_timeout())
            .min()
    }

    /// Moves the clock to `t` (never backwards), firing every timer due on the way in order,
    /// and runs the network after each.
    pub fn advance_to(&mut self, t: CoreInstant) {
        assert!(t >= self.now, "time must not go backwards");
        while let Some(due) = self.next_timeout().filter(|due| *due <= t) {
            self.now = self.now.max(due);
            let now = self.now;
            for node in self.nodes.iter_mut().flatten().filter(|n| !n.frozen) {
                if node.engine.poll_timeout().is_some_and(|d| d <= now) {
                    node.engine.handle_timeout(now);
                }
            }
            self.run();
        }
        self.now = t;
        self.run();
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&mut self, d: Duration) {
        self.advance_to(self.now + d);
    }

    /// Chunks `data` into node `id`'s store, pinned, and announces its root; returns the root
    /// once the announcement went out.
    pub fn seed(&mut self, id: NodeId, data: &[u8]) -> Cid {
        let root = self.add(id, data);
        assert_eq!(
            self.announced(id, root),
            Some(Ok(())),
            "{root} was not announced"
        );
        root
    }

    /// Chunks `data` into node `id`'s store, pinned, and starts announcing its root (the
    /// outcome: [`MemNet::announced`]); returns the root.
    pub fn add(&mut self, id: NodeId, data: &[u8]) -> Cid {
        let dag = build_dag(data);
        let root = dag.root.cid;
        self.node(id)
            .engine
            .add(root, dag.blocks)
            .expect("the test store holds the content");
        self.run();
        root
    }

    /// How node `id`'s announcement of `root` ended, once it did.
    pub fn announced(&mut self, id: NodeId, root: Cid) -> Option<Result<(), AnnounceError>> {
        self.node(id).outputs.iter().find_map(|o| match o {
            Output::Announced { cid, result } if *cid == root => Some(result.clone()),
            _ => None,
        })
    }

    /// Starts fetching `cid` at node `id`, with origin requests going to `origin`.
    pub fn fetch(&mut self, id: NodeId, cid: Cid, origin: Option<&str>) -> FetchId {
        let now = self.now;
        let fetch = self
            .node(id)
            .engine
            .start_fetch(now, cid, origin.map(str::to_owned));
        self.run();
        fetch
    }

    /// The origin request node `id` made for `fetch`, if it made one.
    pub fn origin_request(&mut self, id: NodeId, fetch: FetchId) -> Option<OriginRequestId> {
        self.node(id).outputs.iter().find_map(|o| match o {
            Output::OriginFetch(r) if r.fetch == fetch => Some(r.request),
            _ => None,
        })
    }

    /// Answers the origin request node `id` made for `fetch` with `body`, whole, as a
    /// shell would, and runs the network.
    pub fn serve_origin(&mut self, id: NodeId, fetch: FetchId, body: Bytes) {
        let request = self
            .origin_request(id, fetch)
            .expect("the node asked the origin for this fetch");
        let now = self.now;
        let engine = &mut self.node(id).engine;
        engine.handle_origin_data(now, request, body);
        engine.handle_origin_done(now, request);
        self.run();
    }

    /// The verified bytes node `id` delivered for `fetch` so far, checked to be in order.
    pub fn delivered(&mut self, id: NodeId, fetch: FetchId) -> Bytes {
        let mut out = Vec::new();
        for o in &self.node(id).outputs {
            if let Output::Deliver(Deliver {
                fetch: f,
                offset,
                data,
            }) = o
                && *f == fetch
            {
                assert_eq!(
                    *offset,
                    out.len() as u64,
                    "deliveries in order, without gaps"
                );
                out.extend_from_slice(data);
            }
        }
        out.into()
    }

    /// The report of `fetch` at node `id`, once it completed.
    pub fn completed(&mut self, id: NodeId, fetch: FetchId) -> Option<FetchReport> {
        self.node(id).outputs.iter().find_map(|o| match o {
            Output::Completed {
                fetch: f, report, ..
            } if *f == fetch => Some(report.clone()),
            _ => None,
        })
    }
}
