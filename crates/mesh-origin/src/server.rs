//! Starting the server, accepting connections (plain HTTP/1.1, or TLS with HTTP/2 or HTTP/1.1
//! as ALPN chose), routing requests, stopping.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use mesh_core::manifest::Manifest;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use crate::body::{self, Body};
use crate::compress::EncodedCache;
use crate::config::{CONTROL_PREFIX, Config, MANIFEST_PATH};
use crate::control;
use crate::cors::{add_preflight_headers, is_preflight};
use crate::error::OriginError;
use crate::files::{CidCache, Mounts};
use crate::manifest::ManifestDoc;
use crate::serve::{self, text};
use crate::state::OriginState;

/// Connections served at once; further ones wait in the kernel's accept queue. Browsers open
/// six per origin per profile, so this is room for dozens of tabs' worth of test traffic.
pub const MAX_CONNECTIONS: usize = 1024;
/// Time a client gets to send its request headers (a half-open connection must not hold a
/// slot for ever).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Time a client gets to complete the TLS handshake, for the same reason.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight responses get to finish once shutdown is asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Methods files and the manifest answer.
const FILE_METHODS: &str = "GET, HEAD, OPTIONS";

/// What every request handler reads.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) mounts: Mounts,
    pub(crate) cids: Arc<CidCache>,
    pub(crate) manifest: ManifestDoc,
    pub(crate) cache_control: HeaderValue,
    pub(crate) state: Arc<OriginState>,
    /// Encoded copies of compressible files; `None` when encoding is off.
    pub(crate) encoded: Option<EncodedCache>,
}

/// A running origin server. Dropping it does not stop it; [`shutdown`](Self::shutdown) does.
#[derive(Debug)]
pub struct RunningServer {
    local_addr: SocketAddr,
    https: bool,
    ctx: Arc<Context>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// Checks `config`, computes (or loads) the manifest, binds the address and starts serving
/// in a task of the current tokio runtime. When this returns, requests are answered.
pub async fn start(config: Config) -> Result<RunningServer, OriginError> {
    let cache_control = HeaderValue::from_str(&config.cache_control)
        .ok()
        .filter(|value| value.as_bytes().iter().all(|b| (b' '..=b'~').contains(b)))
        .ok_or_else(|| OriginError::BadCacheControl(config.cache_control.clone()))?;
    let mounts = Mounts::open(&config.root, &config.mounts)?;
    let cids = Arc::new(CidCache::default());
    let manifest = match &config.manifest_file {
        Some(path) => ManifestDoc::load(path)?,
        None => {
            // Hashing the whole site is blocking work.
            let root = config.root.clone();
            let seeded = cids.clone();
            tokio::task::spawn_blocking(move || ManifestDoc::compute(&root, &seeded))
                .await
                .map_err(|e| OriginError::Manifest {
                    root: config.root.clone(),
                    source: mesh_site::SiteError::read(&config.root, std::io::Error::other(e)),
                })??
        }
    };
    let tls = match &config.tls {
        Some(identity) => Some(TlsAcceptor::from(Arc::new(identity.server_config()?))),
        None => None,
    };
    let listener =
        TcpListener::bind(config.listen)
            .await
            .map_err(|source| OriginError::Listen {
                addr: config.listen,
                source,
            })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| OriginError::Listen {
            addr: config.listen,
            source,
        })?;
    let ctx = Arc::new(Context {
        mounts,
        cids,
        manifest,
        cache_control,
        state: Arc::new(OriginState::new(config.settings)),
        encoded: config.compress.then(EncodedCache::default),
    });
    let (stop, stopped) = watch::channel(false);
    let https = tls.is_some();
    let task = tokio::spawn(accept_loop(listener, tls, ctx.clone(), stopped));
    Ok(RunningServer {
        local_addr,
        https,
        ctx,
        stop,
        task,
    })
}

impl RunningServer {
    /// The bound address (with the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://ADDR`, or `https://ADDR` with TLS, without a trailing slash.
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr)
    }

    /// The live settings and counters, the same the control API changes and reports.
    pub fn state(&self) -> &Arc<OriginState> {
        &self.ctx.state
    }

    /// The manifest being served.
    pub fn manifest(&self) -> &Manifest {
        &self.ctx.manifest.manifest
    }

    /// Stops accepting, lets in-flight responses finish for up to [`SHUTDOWN_GRACE`], and
    /// returns once every connection is closed.
    pub async fn shutdown(self) {
        // Fails only if the loop already ended, which is the goal anyway.
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "server task failed");
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    ctx: Arc<Context>,
    mut stopped: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = GracefulShutdown::new();
    loop {
        let permit = tokio::select! {
            _ = stopped.changed() => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let (ctx, tls, watcher) = (ctx.clone(), tls.clone(), graceful.watcher());
        tokio::spawn(async move {
            serve_connection(stream, tls, ctx, watcher).await;
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the grace period; closing them");
    }
}

/// Serves one connection until it closes: HTTP/1.1 in the clear, or after a TLS handshake
/// HTTP/2 when the client chose `h2` by ALPN and HTTP/1.1 otherwise.
async fn serve_connection(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    ctx: Arc<Context>,
    watcher: Watcher,
) {
    let service = service_fn(move |req| {
        let ctx = ctx.clone();
        async move { Ok::<_, Infallible>(handle(&ctx, req).await) }
    });
    let http1 = || {
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT);
        builder
    };
    let result = match tls {
        None => {
            let conn = http1().serve_connection(TokioIo::new(stream), service);
            watcher.watch(conn).await
        }
        Some(acceptor) => {
            let stream =
                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!("TLS handshake timed out");
                        return;
                    }
                };
            if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                let conn = http2::Builder::new(TokioExecutor::new())
                    .timer(TokioTimer::new())
                    .serve_connection(TokioIo::new(stream), service);
                watcher.watch(conn).await
            } else {
                let conn = http1().serve_connection(TokioIo::new(stream), service);
                watcher.watch(conn).await
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Routes one request.
async fn handle(ctx: &Context, req: Request<Incoming>) -> Response<Body> {
    let (parts, _body) = req.into_parts();
    let path = parts.uri.path();
    let query = parts.uri.query();
    let method = &parts.method;
    let headers = &parts.headers;
    tracing::debug!(%method, uri = %parts.uri, "request");

    if let Some(endpoint) = path.strip_prefix(CONTROL_PREFIX) {
        return control::handle(&ctx.state, method, endpoint, query, headers);
    }

    // Everything else is "the CDN": it is far away, and it may be down.
    let latency = ctx.state.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if is_preflight(method, headers) {
        // Answered while down too, so that the page sees the 503 itself rather than a
        // CORS failure.
        let mut response = Response::new(body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        add_preflight_headers(headers, response.headers_mut(), FILE_METHODS);
        ctx.state.record_response(204, None);
        return response;
    }
    if ctx.state.is_down() {
        ctx.state.record_refused();
        let mut response = text(
            StatusCode::SERVICE_UNAVAILABLE,
            "origin is down (mesh-origin --down, or POST /_origin/down)",
        );
        response
            .headers_mut()
            .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    }
    match *method {
        Method::GET | Method::HEAD if path == MANIFEST_PATH => {
            serve::manifest(ctx, method, headers)
        }
        Method::GET | Method::HEAD => serve::file(ctx, method, path, query, headers).await,
        _ => {
            let status = if *method == Method::OPTIONS {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::METHOD_NOT_ALLOWED
            };
            let mut response = if status == StatusCode::NO_CONTENT {
                let mut response = Response::new(body::empty());
                *response.status_mut() = status;
                crate::cors::add_cors_headers(response.headers_mut());
                response
            } else {
                text(status, "files answer GET, HEAD and OPTIONS")
            };
            response
                .headers_mut()
                .insert(hyper::header::ALLOW, HeaderValue::from_static(FILE_METHODS));
            ctx.state.record_response(status.as_u16(), None);
            response
        }
    }
}
