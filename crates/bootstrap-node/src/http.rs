//! The operations HTTP server: `/metrics`, `/healthz` and `/addrs`.
//!
//! Every request is counted against its client's rate limit (429 with `Retry-After` beyond
//! it), and `/metrics` is served only to whom `--metrics-access` allows: it tells an attacker
//! how close each limit is to its end.
//!
//! Built on hyper directly rather than a framework: three fixed GET routes need no router or
//! middleware, and hyper is the one HTTP crate every Rust server stack sits on anyway, so it adds
//! the fewest crates to a build that already takes minutes.

use std::{
    convert::Infallible,
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{
    Method, Request, Response, StatusCode,
    body::Incoming,
    header::{self, HeaderValue},
    server::conn::http1,
    service::service_fn,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use libp2p::Multiaddr;
use prometheus_client::{metrics::counter::Counter, registry::Registry};
use tokio::{
    net::TcpListener,
    sync::{Semaphore, mpsc, watch},
};

use crate::{
    config::{Config, MetricsAccess, Secret},
    http_limits::{ConnectionSlots, RequestLimiter},
};

/// HTTP connections served at once; further ones wait in the kernel's accept queue.
pub(crate) const MAX_HTTP_CONNECTIONS: usize = 64;
/// The answer to a client that holds [`MAX_HTTP_CONNECTIONS_PER_CLIENT`] connections already.
const TOO_MANY_CONNECTIONS: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\n\
    Content-Length: 0\r\nConnection: close\r\n\r\n";
/// Time a client gets to send its request headers.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of the HTTP server, from the node's [`Config`].
#[derive(Debug, Clone)]
pub(crate) struct HttpConfig {
    /// Where to listen.
    pub(crate) listen: SocketAddr,
    /// Who may read `/metrics`.
    pub(crate) metrics_access: MetricsAccess,
    /// The bearer token for [`MetricsAccess::Token`].
    pub(crate) metrics_token: Option<Secret>,
    /// Requests per client at once.
    pub(crate) burst_per_ip: NonZeroU32,
    /// Time to regain one request per client.
    pub(crate) refill_per_ip: Duration,
    /// Take the client's address from the last `X-Forwarded-For` entry.
    pub(crate) trust_forwarded_for: bool,
}

impl HttpConfig {
    pub(crate) fn of(config: &Config) -> Self {
        Self {
            listen: config.http_listen,
            metrics_access: config.metrics_access,
            metrics_token: config.metrics_token.clone(),
            burst_per_ip: config.http_burst_per_ip,
            refill_per_ip: config.http_refill_per_ip,
            trust_forwarded_for: config.http_trust_forwarded_for,
        }
    }
}

/// What the HTTP server reports about the node, updated by the node's event loop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NodeStatus {
    /// Every listener is up and the node is serving.
    pub ready: bool,
    /// The addresses to give to clients.
    pub addrs: Vec<Multiaddr>,
}

/// Shared state of the HTTP handlers.
#[derive(Debug)]
struct State {
    registry: Registry,
    status: watch::Receiver<NodeStatus>,
    config: HttpConfig,
    limiter: Mutex<RequestLimiter>,
    limited: Counter,
}

/// A running HTTP server; dropping it does not stop it, [`HttpServer::shutdown`] does.
#[derive(Debug)]
pub(crate) struct HttpServer {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    local_addr: SocketAddr,
}

impl HttpServer {
    /// Binds `addr` (so a taken port is reported before the node starts) and serves in a task.
    pub(crate) async fn start(
        config: HttpConfig,
        registry: Registry,
        status: watch::Receiver<NodeStatus>,
        limited: Counter,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.listen).await?;
        let local_addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let state = Arc::new(State {
            registry,
            status,
            limiter: Mutex::new(RequestLimiter::new(
                config.burst_per_ip,
                config.refill_per_ip,
            )),
            config,
            limited,
        });
        let task = tokio::spawn(serve(listener, state, stopped));
        Ok(Self {
            stop,
            task,
            local_addr,
        })
    }

    /// The address the server is bound to.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting connections and waits for the accept loop to end.
    pub(crate) async fn shutdown(self) {
        // Sending fails only if the task has already ended, which is what we want anyway.
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "HTTP server task failed");
        }
    }
}

async fn serve(listener: TcpListener, state: Arc<State>, mut stopped: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(MAX_HTTP_CONNECTIONS));
    // Behind a proxy every connection comes from the proxy: only the request rate, which sees
    // the forwarded address, can tell clients apart.
    let mut per_client = (!state.config.trust_forwarded_for).then(ConnectionSlots::default);
    // At most one message per connection in flight, so at most `MAX_HTTP_CONNECTIONS`.
    let (closed_tx, mut closed) = mpsc::unbounded_channel::<IpAddr>();
    loop {
        let permit = tokio::select! {
            _ = stopped.changed() => return,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = stopped.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "HTTP accept failed");
                    continue;
                }
            },
        };
        let peer = peer.ip().to_canonical();
        if let Some(per_client) = &mut per_client {
            while let Ok(ip) = closed.try_recv() {
                per_client.close(ip);
            }
            if !per_client.try_open(peer) {
                state.limited.inc();
                // Best effort and without waiting: the client is already over its share.
                let _ = stream.try_write(TOO_MANY_CONNECTIONS);
                continue;
            }
        }
        let state = state.clone();
        let closed_tx = closed_tx.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, &req, peer)) }
            });
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(error = %e, "HTTP connection ended with an error");
            }
            // Fails only once the server has stopped.
            let _ = closed_tx.send(peer);
            drop(permit);
        });
    }
}

/// Rate-limits, then routes, a request that arrived over a TCP connection from `peer`.
fn handle(state: &State, req: &Request<Incoming>, peer: IpAddr) -> Response<Full<Bytes>> {
    let client = if state.config.trust_forwarded_for {
        forwarded_for(req).unwrap_or(peer)
    } else {
        peer
    };
    let checked = state
        .limiter
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .check(client, Instant::now());
    match checked {
        Ok(()) => route(state, req, peer),
        Err(wait) => {
            state.limited.inc();
            too_many_requests(wait)
        }
    }
}

/// The address the nearest proxy appended to `X-Forwarded-For` (earlier entries are whatever
/// the client claimed).
fn forwarded_for(req: &Request<Incoming>) -> Option<IpAddr> {
    let last = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .next_back()?;
    let entry = last.to_str().ok()?.rsplit(',').next()?.trim();
    entry.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

fn too_many_requests(wait: Duration) -> Response<Full<Bytes>> {
    // Whole seconds, rounded up: a client retrying at once would only be refused again.
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut response = respond(
        StatusCode::TOO_MANY_REQUESTS,
        "too many requests\n",
        "text/plain",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}

fn route(state: &State, req: &Request<Incoming>, peer: IpAddr) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (_, "/metrics") if state.config.metrics_access == MetricsAccess::Off => {
            respond(StatusCode::NOT_FOUND, "not found\n", "text/plain")
        }
        (&Method::GET, "/metrics") if !metrics_allowed(&state.config, req, peer) => respond(
            StatusCode::FORBIDDEN,
            "metrics are not served to this client (see --metrics-access)\n",
            "text/plain",
        ),
        (&Method::GET, "/metrics") => metrics(state),
        (&Method::GET, "/healthz") => healthz(state),
        (&Method::GET, "/addrs") => addrs(state),
        (&Method::OPTIONS, "/addrs" | "/metrics") => {
            with_cors(respond(StatusCode::NO_CONTENT, "", "text/plain"))
        }
        (_, "/metrics" | "/healthz" | "/addrs") => respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed\n",
            "text/plain",
        ),
        _ => respond(StatusCode::NOT_FOUND, "not found\n", "text/plain"),
    }
}

/// Whether `--metrics-access` lets this request read `/metrics`.
fn metrics_allowed(config: &HttpConfig, req: &Request<Incoming>, peer: IpAddr) -> bool {
    let proxied = ["forwarded", "x-forwarded-for", "x-real-ip"]
        .iter()
        .any(|name| req.headers().contains_key(*name));
    match config.metrics_access {
        MetricsAccess::Off => false,
        MetricsAccess::Loopback => !proxied && peer.is_loopback(),
        MetricsAccess::Private => !proxied && is_private(peer),
        MetricsAccess::Token => {
            let presented = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            match (presented, &config.metrics_token) {
                (Some(presented), Some(token)) => same_secret(presented, token.expose()),
                _ => false,
            }
        }
        MetricsAccess::Public => true,
    }
}

/// Loopback, private (RFC 1918), unique-local or link-local: inside the operator's network.
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
        IpAddr::V6(ip) => ip.is_loopback() || ip.is_unique_local() || ip.is_unicast_link_local(),
    }
}

/// Compares without stopping at the first difference, so timing does not reveal the token.
fn same_secret(presented: &str, secret: &str) -> bool {
    presented.len() == secret.len()
        && presented
            .bytes()
            .zip(secret.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

fn metrics(state: &State) -> Response<Full<Bytes>> {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &state.registry) {
        // CORS too: a page the operator serves (the demo's dashboard, the browser tests) may
        // read the relay's byte counter; who gets here at all is `--metrics-access`'s call.
        Ok(()) => with_cors(respond(
            StatusCode::OK,
            body,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )),
        Err(_) => respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode metrics\n",
            "text/plain",
        ),
    }
}

fn healthz(state: &State) -> Response<Full<Bytes>> {
    if state.status.borrow().ready {
        respond(StatusCode::OK, "ok\n", "text/plain")
    } else {
        respond(StatusCode::SERVICE_UNAVAILABLE, "starting\n", "text/plain")
    }
}

fn addrs(state: &State) -> Response<Full<Bytes>> {
    let addrs: Vec<String> = state
        .status
        .borrow()
        .addrs
        .iter()
        .map(ToString::to_string)
        .collect();
    let body = serde_json::to_string(&addrs).unwrap_or_else(|_| "[]".to_owned());
    let mut response = with_cors(respond(StatusCode::OK, body, "application/json"));
    // Addresses change only on restart or reconfiguration; let pages cache them briefly.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    response
}

fn with_cors(mut response: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, OPTIONS"),
    );
    response
}

fn respond(
    status: StatusCode,
    body: impl Into<Bytes>,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
