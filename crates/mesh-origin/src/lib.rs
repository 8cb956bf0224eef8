//! # mesh-origin
//!
//! The origin server of mesh's demos and tests: a static file server that behaves like the
//! CDN edge a mesh page falls back to, plus the knobs a test needs to make that edge far,
//! slow or gone.
//!
//! * Files from a root directory (and extra directories under URL prefixes), published by the
//!   same rules as `mesh manifest` (hidden files and symlinks out of the site are never
//!   served), with the same media types the manifest records (`.wasm` is
//!   `application/wasm`, `.js`/`.mjs` `text/javascript`).
//! * `Range` requests: one byte range gets `206` with `Content-Range`; an unsatisfiable one
//!   `416` with `Content-Range: bytes */LEN`; several ranges get the whole file (`200`), see
//!   [`range`]. `If-Range` with our ETag is honoured.
//! * Strong `ETag` = the file's CID (what `mesh cid` prints); `If-None-Match` gives `304`.
//!   `Cache-Control` is configurable.
//! * CORS for pages on other origins, preflights included ([`cors`]).
//! * The root's manifest at [`MANIFEST_PATH`], computed at start-up with the code
//!   `mesh manifest` uses, or loaded from a file.
//! * Added latency before each response's headers, a body throttle, a down switch (`503`),
//!   and counters of the bytes served: see [`control`] for the `/_origin/` API.
//! * Plain HTTP/1.1, or HTTPS offering HTTP/2 and HTTP/1.1 by ALPN ([`tls`]): a CDN edge
//!   speaks HTTP/2, and over HTTP/1.1 a browser queues all but six requests per origin, which
//!   would make the origin look slower than its latency.
//!
//! Non-goals: compression (bytes on the wire are the file's bytes, so the egress counters
//! are exact), directory listings, HTTP/3, client certificates, authentication (listen on
//! loopback).
//!
//! ```no_run
//! # async fn run() -> Result<(), mesh_origin::OriginError> {
//! use std::time::Duration;
//! let server = mesh_origin::start(
//!     mesh_origin::Config::new("www").with_latency(Duration::from_millis(80)),
//! )
//! .await?;
//! println!("listening {}", server.url());
//! server.state().set_down(true); // what POST /_origin/down does
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod body;
mod compress;
pub mod config;
pub mod control;
pub mod cors;
mod error;
mod files;
mod manifest;
pub mod range;
mod serve;
mod server;
pub mod state;
pub mod tls;

pub use config::{CONTROL_PREFIX, Config, DEFAULT_CACHE_CONTROL, MANIFEST_PATH, Mount};
pub use error::OriginError;
pub use server::{
    HEADER_READ_TIMEOUT, MAX_CONNECTIONS, RunningServer, SHUTDOWN_GRACE, TLS_HANDSHAKE_TIMEOUT,
    start,
};
pub use state::{OriginState, PathStats, Settings, Stats};
pub use tls::{TlsError, TlsIdentity};
