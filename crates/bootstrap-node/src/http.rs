//! The operations HTTP server: `/metrics`, `/healthz` and `/addrs`.
//!
//! Built on hyper directly rather than a framework: three fixed GET routes need no router or
//! middleware, and hyper is the one HTTP crate every Rust server stack sits on anyway, so it adds
//! the fewest crates to a build that already takes minutes.

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

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
use prometheus_client::registry::Registry;
use tokio::{
    net::TcpListener,
    sync::{Semaphore, watch},
};

/// HTTP connections served at once; further ones wait in the kernel's accept queue.
pub(crate) const MAX_HTTP_CONNECTIONS: usize = 64;
/// Time a client gets to send its request headers.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

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
        addr: SocketAddr,
        registry: Registry,
        status: watch::Receiver<NodeStatus>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let state = Arc::new(State { registry, status });
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
    loop {
        let permit = tokio::select! {
            _ = stopped.changed() => return,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let stream = tokio::select! {
            _ = stopped.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "HTTP accept failed");
                    continue;
                }
            },
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(route(&state, &req)) }
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
            drop(permit);
        });
    }
}

fn route(state: &State, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
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

fn metrics(state: &State) -> Response<Full<Bytes>> {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &state.registry) {
        // CORS too: a page (the demo's dashboard, the browser tests) may read the relay's
        // byte counter; nothing here is secret that /addrs does not already tell.
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
