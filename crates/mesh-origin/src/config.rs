//! What to serve and how: [`Config`] (built with `Config::new()` and `with_*`) and the
//! `--mount` syntax.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mesh_core::manifest::validate_site_path;

use crate::error::OriginError;
use crate::state::Settings;
use crate::tls::TlsIdentity;

/// `Cache-Control` sent with files unless configured otherwise: an hour, shared caches
/// allowed, the CDN default for versioned static assets.
pub const DEFAULT_CACHE_CONTROL: &str = "public, max-age=3600";

/// Where the site manifest is served.
pub const MANIFEST_PATH: &str = "/.well-known/mesh/manifest.json";

/// Prefix of the control API; never a file.
pub const CONTROL_PREFIX: &str = "/_origin/";

/// A directory served under a URL prefix (`--mount /pkg=DIR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    prefix: String,
    dir: PathBuf,
}

impl Mount {
    /// `dir` served under `prefix`, an absolute URL path without a trailing `/` (`/pkg`).
    /// Prefixes under `/_origin/` and hidden segments (such as `/.well-known`) are refused:
    /// they are the control API's and the manifest's.
    pub fn new(prefix: &str, dir: impl Into<PathBuf>) -> Result<Self, OriginError> {
        let bad = |reason: &'static str| OriginError::BadMount {
            spec: prefix.to_owned(),
            reason,
        };
        validate_site_path(prefix).map_err(|_| {
            bad("the prefix must be an absolute URL path such as /pkg, without a trailing /")
        })?;
        if prefix.split('/').any(|segment| segment.starts_with('.')) {
            return Err(bad("the prefix must not have hidden segments"));
        }
        if format!("{prefix}/").starts_with(CONTROL_PREFIX) {
            return Err(bad("/_origin is the control API"));
        }
        Ok(Self {
            prefix: prefix.to_owned(),
            dir: dir.into(),
        })
    }

    /// The URL prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl std::str::FromStr for Mount {
    type Err = OriginError;

    /// `PREFIX=DIR`, e.g. `/pkg=crates/mesh-wasm/pkg`.
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let (prefix, dir) = spec.split_once('=').ok_or_else(|| OriginError::BadMount {
            spec: spec.to_owned(),
            reason: "expected PREFIX=DIR, e.g. /pkg=pkg",
        })?;
        if dir.is_empty() {
            return Err(OriginError::BadMount {
                spec: spec.to_owned(),
                reason: "the directory is empty",
            });
        }
        Self::new(prefix, dir)
    }
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// The site root, served at `/` and described by the manifest.
    pub root: PathBuf,
    /// Extra directories under URL prefixes.
    pub mounts: Vec<Mount>,
    /// The address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// `Cache-Control` of files.
    pub cache_control: String,
    /// Serve this manifest file instead of computing the root's.
    pub manifest_file: Option<PathBuf>,
    /// Initial down switch, latency and throttle.
    pub settings: Settings,
    /// Serve HTTPS (HTTP/2 or HTTP/1.1 by ALPN) with this certificate; `None`: plain HTTP/1.1.
    pub tls: Option<TlsIdentity>,
    /// Send whole responses of compressible files (text, scripts, JSON, SVG, wasm) brotli- or
    /// gzip-encoded when the client accepts it, as CDN edges do.
    pub compress: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self::new("www")
    }
}

impl Config {
    /// Serve `root` on `127.0.0.1:0` with the defaults: plain HTTP, no mount,
    /// [`DEFAULT_CACHE_CONTROL`], computed manifest, up, no latency, no throttle, compressible
    /// files encoded for clients that accept it.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            mounts: Vec::new(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            cache_control: DEFAULT_CACHE_CONTROL.to_owned(),
            manifest_file: None,
            settings: Settings {
                down: false,
                latency_ms: 0,
                rate_bytes_per_sec: None,
            },
            tls: None,
            compress: true,
        }
    }

    /// Turns content encoding of compressible files on (the default) or off.
    pub fn with_compress(mut self, compress: bool) -> Self {
        self.compress = compress;
        self
    }

    /// Serves HTTPS with `identity`, offering HTTP/2 and HTTP/1.1 by ALPN.
    pub fn with_tls(mut self, identity: TlsIdentity) -> Self {
        self.tls = Some(identity);
        self
    }

    /// Adds a mount.
    pub fn with_mount(mut self, mount: Mount) -> Self {
        self.mounts.push(mount);
        self
    }

    /// Sets the listen address.
    pub fn with_listen(mut self, listen: SocketAddr) -> Self {
        self.listen = listen;
        self
    }

    /// Sets the files' `Cache-Control`.
    pub fn with_cache_control(mut self, value: impl Into<String>) -> Self {
        self.cache_control = value.into();
        self
    }

    /// Serves a prebuilt manifest file.
    pub fn with_manifest_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.manifest_file = Some(path.into());
        self
    }

    /// Starts down (every non-control request gets a 503).
    pub fn with_down(mut self, down: bool) -> Self {
        self.settings.down = down;
        self
    }

    /// Adds `latency` before each non-control response (millisecond precision).
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.settings.latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Throttles bodies to `bytes_per_sec` (`None` or 0: unlimited).
    pub fn with_rate(mut self, bytes_per_sec: Option<u64>) -> Self {
        self.settings.rate_bytes_per_sec = bytes_per_sec.filter(|&rate| rate > 0);
        self
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn mount_syntax() {
        let mount: Mount = "/pkg=crates/x/pkg".parse().unwrap();
        assert_eq!(mount.prefix(), "/pkg");
        assert_eq!(mount.dir(), Path::new("crates/x/pkg"));
        let nested: Mount = "/a/b=dir=with=equals".parse().unwrap();
        assert_eq!(nested.dir(), Path::new("dir=with=equals"));
        for bad in [
            "pkg",
            "pkg=dir",
            "/pkg/=dir",
            "/=dir",
            "/pkg=",
            "/_origin=dir",
            "/_origin/x=dir",
            "/.well-known=dir",
            "/a/../b=dir",
        ] {
            let err = bad.parse::<Mount>().unwrap_err();
            assert!(matches!(err, OriginError::BadMount { .. }), "{bad}: {err}");
        }
        // Only the exact control prefix is reserved.
        assert!("/_originals=dir".parse::<Mount>().is_ok());
    }
}
