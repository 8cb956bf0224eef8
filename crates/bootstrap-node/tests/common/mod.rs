//! Test support: the real `bootstrap-node` binary as a child process, a plain HTTP/1.1 getter,
//! and a native libp2p client speaking the node's protocols.
#![allow(clippy::unwrap_used, dead_code, unreachable_pub, missing_docs)]

pub mod client;

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    path::Path,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{
        Arc, Mutex,
        mpsc::{self, Receiver, RecvTimeoutError},
    },
    thread,
    time::{Duration, Instant},
};

use libp2p::{Multiaddr, PeerId, multiaddr::Protocol};

/// Generous: a debug binary on a busy 2-core machine.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Waiting for a condition that follows from a network event on loopback.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(30);

pub const LOOPBACK_LISTEN: [&str; 3] = [
    "/ip4/127.0.0.1/tcp/0",
    "/ip4/127.0.0.1/tcp/0/ws",
    "/ip4/127.0.0.1/udp/0/webrtc-direct",
];

enum Line {
    Out(String),
    Err(String),
}

/// A running `bootstrap-node` process; killed on drop.
pub struct BootNode {
    child: Child,
    pub addrs: Vec<Multiaddr>,
    pub http: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    lines: Receiver<Line>,
    stderr_reader: Option<thread::JoinHandle<()>>,
}

/// Runs the binary to completion (for configuration errors), bounded by `START_TIMEOUT`.
pub fn run_to_exit(args: &[&str]) -> (ExitStatus, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bootstrap-node"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + START_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("bootstrap-node {args:?} did not exit");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status, out, err)
}

impl BootNode {
    /// Starts a node on loopback (TCP, WebSocket, WebRTC-direct, HTTP on ephemeral ports) with
    /// `extra` flags, and waits until it printed its addresses.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Self {
        let mut args: Vec<String> = vec![
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--http-listen".into(),
            "127.0.0.1:0".into(),
        ];
        for addr in LOOPBACK_LISTEN {
            args.push("--listen".into());
            args.push(addr.into());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::start_with(&args, LOOPBACK_LISTEN.len())
    }

    /// Starts the binary with exactly `args` and waits for `expected_addrs` lines on stdout.
    pub fn start_with(args: &[String], expected_addrs: usize) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bootstrap-node"))
            .args(args)
            .env("RUST_LOG", "info,bootstrap_node=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let out_tx = tx.clone();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = out_tx.send(Line::Out(line));
            }
        });
        let stderr = child.stderr.take().unwrap();
        let err_log = log.clone();
        let stderr_reader = thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                err_log.lock().unwrap().push(line.clone());
                let _ = tx.send(Line::Err(line));
            }
        });
        let mut addrs = Vec::new();
        let mut http = None;
        let deadline = Instant::now() + START_TIMEOUT;
        while addrs.len() < expected_addrs || http.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(Line::Out(line)) => addrs.push(line.parse::<Multiaddr>().unwrap()),
                Ok(Line::Err(line)) => {
                    if line.contains("HTTP server listening") {
                        http = Some(logged_addr(&line));
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    let _ = child.kill();
                    panic!(
                        "bootstrap-node did not start; stderr:\n{}",
                        log.lock().unwrap().join("\n")
                    );
                }
            }
        }
        Self {
            child,
            addrs,
            http: http.unwrap(),
            log,
            lines,
            stderr_reader: Some(stderr_reader),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn peer_id(&self) -> PeerId {
        match self.addrs[0].iter().last() {
            Some(Protocol::P2p(peer)) => peer,
            _ => panic!("printed address without /p2p"),
        }
    }

    /// The printed address of the given transport (`tcp`, `ws` or `webrtc-direct`).
    pub fn addr(&self, transport: &str) -> Multiaddr {
        self.addrs
            .iter()
            .find(|a| {
                let has = |p: fn(&Protocol) -> bool| a.iter().any(|x| p(&x));
                match transport {
                    "ws" => has(|p| matches!(p, Protocol::Ws(_))),
                    "webrtc-direct" => has(|p| matches!(p, Protocol::WebRTCDirect)),
                    "tcp" => {
                        has(|p| matches!(p, Protocol::Tcp(_)))
                            && !has(|p| matches!(p, Protocol::Ws(_)))
                    }
                    _ => panic!("unknown transport {transport}"),
                }
            })
            .unwrap_or_else(|| panic!("no {transport} address in {:?}", self.addrs))
            .clone()
    }

    pub fn get(&self, path: &str) -> HttpResponse {
        http_get(self.http, path)
    }

    /// The value of one sample (`name` or `name{labels}`) on /metrics, if present.
    pub fn metric(&self, sample: &str) -> Option<f64> {
        let body = self.get("/metrics").body;
        body.lines().find_map(|line| {
            let rest = line.strip_prefix(sample)?;
            rest.strip_prefix(' ')?.trim().parse().ok()
        })
    }

    /// Waits until `sample` on /metrics satisfies `ok`.
    pub fn wait_metric(&self, sample: &str, ok: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        loop {
            let value = self.metric(sample);
            if let Some(v) = value.filter(|v| ok(*v)) {
                return v;
            }
            if Instant::now() > deadline {
                panic!("metric {sample} stuck at {value:?}; log:\n{}", self.log());
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Sends SIGTERM, waits for the process to exit, and returns its status and whole stderr.
    pub fn terminate(mut self) -> (ExitStatus, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + START_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            thread::sleep(Duration::from_millis(20));
        };
        // The pipe closes with the process: the reader ends after the last line.
        self.stderr_reader.take().unwrap().join().unwrap();
        (status, self.log())
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Drains stdout lines printed after start.
    pub fn later_stdout(&self) -> Vec<String> {
        self.lines
            .try_iter()
            .filter_map(|l| match l {
                Line::Out(s) => Some(s),
                Line::Err(_) => None,
            })
            .collect()
    }
}

impl Drop for BootNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `addr` field of a log line, human (`addr=…`) or JSON (`"addr":"…"`).
fn logged_addr(line: &str) -> SocketAddr {
    let rest = line
        .split_once("addr=")
        .or_else(|| line.split_once("\"addr\":\""))
        .unwrap_or_else(|| panic!("no addr in {line}"))
        .1;
    let end = rest
        .find(|c: char| c == '"' || c.is_whitespace())
        .unwrap_or(rest.len());
    rest[..end].parse().unwrap()
}

pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal HTTP/1.1 GET; the server closes the connection after each response.
pub fn http_get(addr: SocketAddr, path: &str) -> HttpResponse {
    http_get_with(addr, path, &[])
}

/// [`http_get`] with extra request headers.
pub fn http_get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut head_lines = head.lines();
    let status = head_lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = head_lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// On loopback the listen addresses are the public ones; relay reservations need them announced.
pub const ANNOUNCE: &str = "--announce-listen-addrs";

/// Starts A, then B joined to A, then C joined to A and B.
pub fn three_nodes(dirs: &[tempfile::TempDir; 3]) -> [BootNode; 3] {
    let a = BootNode::start(dirs[0].path(), &[ANNOUNCE]);
    let a_addr = a.addr("tcp").to_string();
    let b = BootNode::start(dirs[1].path(), &[ANNOUNCE, "--peer", &a_addr]);
    let b_addr = b.addr("tcp").to_string();
    let c = BootNode::start(
        dirs[2].path(),
        &[ANNOUNCE, "--peer", &a_addr, "--peer", &b_addr],
    );
    [a, b, c]
}
