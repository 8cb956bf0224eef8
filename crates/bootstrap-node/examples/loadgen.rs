//! Load generator for the bootstrap node: many lightweight native clients in one process.
//!
//! Each client is its own libp2p peer (TCP + noise + yamux, identify, ping, Kademlia in client
//! mode — what a browser tab runs, minus WebRTC): it connects, announces one provider record and
//! then stays connected. At every step the generator measures, against the bootstrap process:
//! clients held (the node's own connection gauge), resident memory (`VmRSS`), provider-lookup
//! latency (a sample of clients looks up other clients' records, checking the answer), and CPU
//! time spent per 1,000 joining clients and per 1,000 idle connected clients.
//!
//! ```text
//! cargo build --release -p bootstrap-node --examples
//! target/release/examples/loadgen --bootstrap-bin target/release/bootstrap-node --clients 10000
//! ```
//!
//! Or against a running node: `--target <tcp multiaddr> --http <host:port> --pid <pid>`.
//!
//! With `--relay`, every client also takes a relay reservation (as a browser tab does), and at
//! the end each client dials the next one through the relay, all at once: a NAT full of tabs,
//! since every client shares 127.0.0.1. It reports failed and hung (past the timeout) dials.
//!
//! ```text
//! target/release/examples/loadgen --bootstrap-bin target/release/bootstrap-node --clients 500 --step 500 --relay
//! ```
//! Everything stays on loopback; every loop is bounded by the client count or a timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use clap::Parser;
use futures::StreamExt;
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder, identify, kad,
    multiaddr::Protocol,
    noise, ping, relay,
    swarm::{NetworkBehaviour, SwarmEvent},
    tcp, yamux,
};
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Longest wait for one join or lookup before it counts as failed.
const OP_TIMEOUT: Duration = Duration::from_secs(60);
/// Commands queued per client.
const MAX_QUEUED_COMMANDS: usize = 4;

#[derive(Debug, Parser)]
struct Args {
    /// Spawn this bootstrap-node binary on loopback (otherwise give --target, --http, --pid).
    #[arg(long)]
    bootstrap_bin: Option<PathBuf>,
    /// TCP multiaddr (with /p2p) of a running node.
    #[arg(long)]
    target: Option<Multiaddr>,
    /// HTTP address of a running node.
    #[arg(long)]
    http: Option<SocketAddr>,
    /// Process id of a running node.
    #[arg(long)]
    pid: Option<u32>,
    /// Clients to connect in total.
    #[arg(long, default_value = "10000")]
    clients: usize,
    /// Measure after every this many clients.
    #[arg(long, default_value = "2000")]
    step: usize,
    /// Clients joining at once.
    #[arg(long, default_value = "128")]
    join_concurrency: usize,
    /// Provider lookups per measurement.
    #[arg(long, default_value = "1000")]
    lookups: usize,
    /// Lookups in flight at once.
    #[arg(long, default_value = "32")]
    lookup_concurrency: usize,
    /// Seconds of idle holding for the CPU-per-connected-client measurement.
    #[arg(long, default_value = "20")]
    hold_secs: u64,
    /// Namespace of the node.
    #[arg(long, default_value = "default")]
    namespace: String,
    /// Take a relay reservation per client, and finish with every client dialling another one
    /// through the relay.
    #[arg(long)]
    relay: bool,
}

#[derive(NetworkBehaviour)]
struct ClientBehaviour {
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    relay: relay::client::Behaviour,
}

enum Cmd {
    Lookup {
        key: kad::RecordKey,
        reply: oneshot::Sender<(Duration, Vec<libp2p::PeerId>)>,
    },
    /// Dial `target` through the relay; answer with the time to a relayed connection.
    Dial {
        target: PeerId,
        reply: oneshot::Sender<Result<Duration, String>>,
    },
}

/// A lookup in flight: when it started, the providers found so far, where to answer.
type PendingLookup = (
    Instant,
    Vec<libp2p::PeerId>,
    oneshot::Sender<(Duration, Vec<libp2p::PeerId>)>,
);

struct ClientHandle {
    peer: libp2p::PeerId,
    key: kad::RecordKey,
    cmds: mpsc::Sender<Cmd>,
}

/// What every generated client speaks and does.
struct Profile {
    kad_protocol: StreamProtocol,
    identify_version: String,
    /// Take a relay reservation.
    reserve: bool,
}

/// The node under test.
struct Node {
    target: Multiaddr,
    http: SocketAddr,
    pid: u32,
    child: Option<Child>,
    _data: Option<tempfile::TempDir>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    let node = node_under_test(&args);
    let kad_protocol =
        StreamProtocol::try_from_owned(format!("/mesh/{}/kad/1.0.0", args.namespace))
            .expect("namespace forms a protocol id");
    let identify_version = format!("/mesh/{}/1.0.0", args.namespace);

    println!(
        "bootstrap pid {} at {} ({} clients, step {}, {} lookups per step)",
        node.pid, node.target, args.clients, args.step, args.lookups
    );
    println!(
        "| clients | held by node | node RSS MiB | provider records | lookup p50 ms | lookup p99 ms | lookups ok | join CPU s per 1k | loadgen RSS MiB |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");

    let held = Arc::new(AtomicUsize::new(0));
    let mut clients: Vec<ClientHandle> = Vec::with_capacity(args.clients);
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut failed_joins = 0usize;
    while clients.len() < args.clients {
        let batch = args.step.min(args.clients - clients.len());
        let cpu_before = cpu_seconds(node.pid);
        let (joined, failed) = join_batch(
            &node,
            clients.len(),
            batch,
            args.join_concurrency,
            &Profile {
                kad_protocol: kad_protocol.clone(),
                identify_version: identify_version.clone(),
                reserve: args.relay,
            },
            &held,
        )
        .await;
        failed_joins += failed;
        if joined.is_empty() {
            println!("no client of the last {batch} could join; stopping");
            break;
        }
        clients.extend(joined);
        let join_cpu = cpu_seconds(node.pid) - cpu_before;

        let (latencies, ok) =
            lookups(&clients, args.lookups, args.lookup_concurrency, &mut rng).await;
        let metrics = http_get(node.http, "/metrics");
        let held_by_node = metric(&metrics, "bootstrap_connections{transport=\"tcp\"}");
        let records = metric(&metrics, "bootstrap_provider_records");
        println!(
            "| {} | {} | {:.0} | {} | {:.1} | {:.1} | {}/{} | {:.2} | {:.0} |",
            clients.len(),
            held_by_node.map_or("?".to_owned(), |v| format!("{v:.0}")),
            rss_mib(node.pid),
            records.map_or("?".to_owned(), |v| format!("{v:.0}")),
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.99),
            ok,
            args.lookups,
            join_cpu / (batch as f64 / 1000.0),
            rss_mib(std::process::id()),
        );
    }

    // Idle cost: every client connected, pinging every 15 s, nothing else happening.
    let cpu_before = cpu_seconds(node.pid);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.hold_secs)).await;
    let idle_cpu = cpu_seconds(node.pid) - cpu_before;
    let wall = started.elapsed().as_secs_f64();
    println!();
    println!(
        "held {} clients for {:.0} s: node CPU {:.2} % of one core per 1k connected clients ({:.2} % in total); {} joins failed",
        held.load(Ordering::Relaxed),
        wall,
        100.0 * idle_cpu / wall / (clients.len() as f64 / 1000.0),
        100.0 * idle_cpu / wall,
        failed_joins,
    );

    // Lookups once the joins have settled, measured with the node's and our own CPU use: on a
    // shared machine the generator's thousands of swarms compete with the node for the cores.
    let (node_cpu, own_cpu, started) = (
        cpu_seconds(node.pid),
        cpu_seconds(std::process::id()),
        Instant::now(),
    );
    let (latencies, ok) = lookups(&clients, args.lookups, args.lookup_concurrency, &mut rng).await;
    let wall = started.elapsed().as_secs_f64();
    println!(
        "steady state, {} clients: lookup p50 {:.1} ms, p99 {:.1} ms, {}/{} correct, {:.0} lookups/s; during the lookups node CPU {:.0} %, generator CPU {:.0} % (of one core)",
        clients.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        ok,
        args.lookups,
        args.lookups as f64 / wall,
        100.0 * (cpu_seconds(node.pid) - node_cpu) / wall,
        100.0 * (cpu_seconds(std::process::id()) - own_cpu) / wall,
    );

    if args.relay {
        relay_dials(&clients, &node).await;
    }
}

fn node_under_test(args: &Args) -> Node {
    if let Some(bin) = &args.bootstrap_bin {
        let data = tempfile::tempdir().unwrap();
        let max = (args.clients + 1024).to_string();
        // Logs go to a file: a pipe nobody reads would fill up and stall the node.
        let log_path = data.path().join("node.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut child = Command::new(bin)
            .args([
                "--data-dir",
                &data.path().join("keys").display().to_string(),
            ])
            .args([
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--http-listen",
                "127.0.0.1:0",
            ])
            .args(["--max-connections", &max, "--namespace", &args.namespace])
            .args(["--max-provider-records", &max])
            // Every generated client shares 127.0.0.1.
            .args(["--max-connections-per-ip", &max])
            // Reservations carry the node's external address; on loopback that is the listen one.
            .args(args.relay.then_some("--announce-listen-addrs"))
            .env("RUST_LOG", "warn,bootstrap_node=info")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn bootstrap-node");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let target: Multiaddr = line.trim().parse().expect("a printed multiaddr");
        // Keep draining stdout for as long as the node lives.
        std::thread::spawn(move || for _ in stdout.lines() {});
        // The HTTP line is logged before the addresses are printed.
        let logged = std::fs::read_to_string(&log_path).unwrap();
        let http = logged
            .lines()
            .find_map(|l| {
                l.split_once("HTTP server listening addr=")
                    .map(|(_, a)| a.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("no HTTP address logged: {logged}"))
            .parse()
            .unwrap();
        let pid = child.id();
        Node {
            target,
            http,
            pid,
            child: Some(child),
            _data: Some(data),
        }
    } else {
        Node {
            target: args.target.clone().expect("--target or --bootstrap-bin"),
            http: args.http.expect("--http or --bootstrap-bin"),
            pid: args.pid.expect("--pid or --bootstrap-bin"),
            child: None,
            _data: None,
        }
    }
}

/// A node the generator spawned ends with it.
impl Drop for Node {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn join_batch(
    node: &Node,
    first: usize,
    count: usize,
    concurrency: usize,
    profile: &Profile,
    held: &Arc<AtomicUsize>,
) -> (Vec<ClientHandle>, usize) {
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut pending = Vec::with_capacity(count);
    for i in first..first + count {
        let permit = slots.clone().acquire_owned().await.unwrap();
        let key = kad::RecordKey::new(&format!("loadgen-{i}"));
        let swarm = new_client(
            profile.kad_protocol.clone(),
            profile.identify_version.clone(),
        );
        let peer = *swarm.local_peer_id();
        let (cmds, rx) = mpsc::channel(MAX_QUEUED_COMMANDS);
        let (ready_tx, ready) = oneshot::channel();
        tokio::spawn(run_client(
            swarm,
            node.target.clone(),
            key.clone(),
            rx,
            held.clone(),
            ready_tx,
            profile.reserve,
        ));
        pending.push(tokio::spawn(async move {
            let ok = matches!(tokio::time::timeout(OP_TIMEOUT, ready).await, Ok(Ok(true)));
            drop(permit);
            ok.then_some(ClientHandle { peer, key, cmds })
        }));
    }
    let mut joined = Vec::with_capacity(count);
    let mut failed = 0;
    for handle in pending {
        match handle.await.unwrap() {
            Some(client) => joined.push(client),
            None => failed += 1,
        }
    }
    (joined, failed)
}

fn new_client(kad_protocol: StreamProtocol, identify_version: String) -> Swarm<ClientBehaviour> {
    SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .unwrap()
        .with_behaviour(|key, relay| {
            let peer = key.public().to_peer_id();
            let mut config = kad::Config::new(kad_protocol);
            config.set_periodic_bootstrap_interval(None);
            // The default (20 per bucket, 256 buckets, allocated up front) costs about 1 MiB per
            // client; these clients only ever know the one bootstrap node.
            config.set_kbucket_size(std::num::NonZeroUsize::MIN);
            let mut kad =
                kad::Behaviour::with_config(peer, kad::store::MemoryStore::new(peer), config);
            kad.set_mode(Some(kad::Mode::Client));
            ClientBehaviour {
                identify: identify::Behaviour::new(identify::Config::new(
                    identify_version,
                    key.public(),
                )),
                ping: ping::Behaviour::default(),
                kad,
                relay,
            }
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build()
}

/// One client: join, announce, then answer lookup commands until the generator ends.
async fn run_client(
    mut swarm: Swarm<ClientBehaviour>,
    target: Multiaddr,
    key: kad::RecordKey,
    mut cmds: mpsc::Receiver<Cmd>,
    held: Arc<AtomicUsize>,
    ready: oneshot::Sender<bool>,
    reserve: bool,
) {
    let mut ready = Some(ready);
    let mut dials: HashMap<PeerId, (Instant, oneshot::Sender<Result<Duration, String>>)> =
        HashMap::new();
    let mut server_addr = target.clone();
    let Some(libp2p::multiaddr::Protocol::P2p(server)) = server_addr.pop() else {
        panic!("target needs /p2p");
    };
    swarm.behaviour_mut().kad.add_address(&server, server_addr);
    // Like a browser, announce the relayed address through the node: Kademlia leaves providers
    // without any address out of its answers.
    let circuit = target.clone().with(Protocol::P2pCircuit);
    swarm.add_external_address(circuit.clone());
    if swarm.dial(target).is_err() {
        let _ = ready.take().map(|r| r.send(false));
        return;
    }
    let mut lookups: HashMap<kad::QueryId, PendingLookup> = HashMap::new();
    loop {
        tokio::select! {
            event = swarm.select_next_some() => match event {
                SwarmEvent::ConnectionEstablished { peer_id, endpoint, .. } if endpoint.is_relayed() => {
                    if let Some((started, reply)) = dials.remove(&peer_id) {
                        let _ = reply.send(Ok(started.elapsed()));
                    }
                }
                SwarmEvent::ConnectionEstablished { num_established, endpoint, .. } if num_established.get() == 1 && !endpoint.is_relayed() => {
                    held.fetch_add(1, Ordering::Relaxed);
                    if ready.is_some() && swarm.behaviour_mut().kad.start_providing(key.clone()).is_err() {
                        let _ = ready.take().map(|r| r.send(false));
                    }
                }
                SwarmEvent::ConnectionClosed { num_established: 0, endpoint, .. } if !endpoint.is_relayed() => {
                    held.fetch_sub(1, Ordering::Relaxed);
                }
                SwarmEvent::Behaviour(ClientBehaviourEvent::Relay(relay::client::Event::ReservationReqAccepted { .. })) => {
                    let _ = ready.take().map(|r| r.send(true));
                }
                SwarmEvent::ListenerClosed { .. } => {
                    let _ = ready.take().map(|r| r.send(false));
                }
                SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                    if let Some((_, reply)) = peer_id.and_then(|p| dials.remove(&p)) {
                        let _ = reply.send(Err(error.to_string()));
                    }
                    let _ = ready.take().map(|r| r.send(false));
                }
                SwarmEvent::Behaviour(ClientBehaviourEvent::Kad(kad::Event::OutboundQueryProgressed { id, result, step, .. })) => match result {
                    kad::QueryResult::StartProviding(result) => {
                        if reserve && result.is_ok() {
                            // Ready once the reservation is accepted (or not).
                            if swarm.listen_on(circuit.clone()).is_err() {
                                let _ = ready.take().map(|r| r.send(false));
                            }
                        } else {
                            let _ = ready.take().map(|r| r.send(result.is_ok()));
                        }
                    }
                    kad::QueryResult::GetProviders(result) => {
                        if let (Some((_, found, _)), Ok(kad::GetProvidersOk::FoundProviders { providers, .. })) = (lookups.get_mut(&id), result) {
                            found.extend(providers);
                        }
                        if let Some((started, found, reply)) = step.last.then(|| lookups.remove(&id)).flatten() {
                            let _ = reply.send((started.elapsed(), found));
                        }
                    }
                    _ => {}
                },
                _ => {}
            },
            cmd = cmds.recv() => match cmd {
                Some(Cmd::Lookup { key, reply }) => {
                    let id = swarm.behaviour_mut().kad.get_providers(key);
                    lookups.insert(id, (Instant::now(), Vec::new(), reply));
                }
                Some(Cmd::Dial { target: peer, reply }) => {
                    let through_relay = circuit.clone().with(Protocol::P2p(peer));
                    match swarm.dial(through_relay) {
                        Ok(()) => {
                            dials.insert(peer, (Instant::now(), reply));
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e.to_string()));
                        }
                    }
                }
                // The generator is done with this client.
                None => return,
            },
        }
    }
}

/// Every client dials the next one through the relay, all at once. Prints how many connected,
/// failed, or hung (no answer within [`OP_TIMEOUT`]), the dial latencies, and the node's relay
/// counters.
async fn relay_dials(clients: &[ClientHandle], node: &Node) {
    let started = Instant::now();
    let mut pending = Vec::with_capacity(clients.len());
    for (i, client) in clients.iter().enumerate() {
        let target = clients[(i + 1) % clients.len()].peer;
        let (reply, answer) = oneshot::channel();
        let sent = client.cmds.send(Cmd::Dial { target, reply }).await;
        pending.push(tokio::spawn(async move {
            match sent {
                Ok(()) => match tokio::time::timeout(OP_TIMEOUT, answer).await {
                    Ok(Ok(outcome)) => outcome.map_err(Some),
                    Ok(Err(_)) => Err(Some("client ended".to_owned())),
                    Err(_) => Err(None),
                },
                Err(_) => Err(Some("client ended".to_owned())),
            }
        }));
    }
    let (mut latencies, mut failed, mut hung) = (Vec::new(), Vec::new(), 0usize);
    for handle in pending {
        match handle.await.unwrap() {
            Ok(latency) => latencies.push(latency.as_secs_f64() * 1000.0),
            Err(Some(error)) => failed.push(error),
            Err(None) => hung += 1,
        }
    }
    latencies.sort_by(f64::total_cmp);
    let metrics = http_get(node.http, "/metrics");
    let value =
        |sample: &str| metric(&metrics, sample).map_or("?".to_owned(), |v| format!("{v:.0}"));
    println!();
    println!(
        "relay, {} clients on 127.0.0.1: {} relayed dials connected, {} failed, {} hung (> {} s), all done in {:.1} s; dial p50 {:.0} ms, p99 {:.0} ms; node: {} reservations held, {} reservations denied, {} circuits open, {} circuits denied",
        clients.len(),
        latencies.len(),
        failed.len(),
        hung,
        OP_TIMEOUT.as_secs(),
        started.elapsed().as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        value("bootstrap_relay_reservations"),
        value("bootstrap_relay_reservations_denied_total"),
        value("bootstrap_relay_circuits"),
        value("bootstrap_relay_circuits_denied_total"),
    );
    if let Some(error) = failed.first() {
        println!("first failure: {error}");
    }
}

/// Runs `count` lookups of random clients' keys from random clients; returns the latencies in
/// milliseconds of the correct answers and how many were correct.
async fn lookups(
    clients: &[ClientHandle],
    count: usize,
    concurrency: usize,
    rng: &mut XorShift,
) -> (Vec<f64>, usize) {
    if clients.len() < 2 {
        return (Vec::new(), 0);
    }
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut pending = Vec::with_capacity(count);
    for _ in 0..count {
        let asker_index = rng.below(clients.len());
        // Someone else's record: a client finds its own in its local store without asking.
        let wanted_index = (asker_index + 1 + rng.below(clients.len() - 1)) % clients.len();
        let (asker, wanted) = (&clients[asker_index], &clients[wanted_index]);
        let (reply, answer) = oneshot::channel();
        let permit = slots.clone().acquire_owned().await.unwrap();
        let sent = asker
            .cmds
            .send(Cmd::Lookup {
                key: wanted.key.clone(),
                reply,
            })
            .await;
        let expect = wanted.peer;
        pending.push(tokio::spawn(async move {
            let result = match sent {
                Ok(()) => tokio::time::timeout(OP_TIMEOUT, answer)
                    .await
                    .ok()
                    .and_then(Result::ok),
                Err(_) => None,
            };
            drop(permit);
            result.and_then(|(latency, found)| found.contains(&expect).then_some(latency))
        }));
    }
    let mut latencies = Vec::with_capacity(count);
    for handle in pending {
        if let Some(latency) = handle.await.unwrap() {
            latencies.push(latency.as_secs_f64() * 1000.0);
        }
    }
    let ok = latencies.len();
    latencies.sort_by(f64::total_cmp);
    (latencies, ok)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Resident memory of a process, from `/proc/<pid>/status`.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// User plus system CPU seconds of a process, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return f64::NAN;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    // `rest` starts at field 3 (state), so utime (14) is index 11 and stime (15) index 12.
    (ticks(11) + ticks(12)) / clock_ticks_per_second()
}

/// `getconf CLK_TCK`; 100 on every Linux this runs on, asked rather than assumed.
fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

fn http_get(addr: SocketAddr, path: &str) -> String {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut body = String::new();
    let _ = stream.read_to_string(&mut body);
    body
}

fn metric(body: &str, sample: &str) -> Option<f64> {
    body.lines().find_map(|l| {
        l.strip_prefix(sample)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Seeded xorshift64: reproducible choice of who looks up whom.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}
