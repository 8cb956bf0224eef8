//! `mesh-origin`: the static origin server of mesh's demos and tests (see the library docs).
//!
//! Prints `listening http://ADDR` (`https://` with TLS) on stdout once requests are answered,
//! then serves until SIGINT or SIGTERM (exit 0). A bad configuration (missing root, bad mount,
//! invalid manifest, port in use, unusable certificate or key) is one line on stderr and exit
//! status 2.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mesh_origin::tls::LOOPBACK_NAMES;
use mesh_origin::{Config, DEFAULT_CACHE_CONTROL, Mount, OriginError, TlsIdentity};

/// Exit status of every failure, as clap uses for usage errors.
const EXIT_TROUBLE: u8 = 2;

/// Serve a site directory like a CDN edge would (Range, CORS, CID ETags, the mesh manifest at
/// /.well-known/mesh/manifest.json), with added latency, a throttle and a down switch for
/// tests. Control API under /_origin/ (healthz, state, stats, stats/reset, down, up,
/// latency?ms=N, rate?bytes_per_sec=N).
#[derive(Debug, Parser)]
#[command(name = "mesh-origin", version)]
struct Args {
    /// The site root, served at / and described by the manifest.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "www",
        env = "MESH_ORIGIN_ROOT"
    )]
    root: PathBuf,

    /// Also serve DIR under URL prefix PREFIX (e.g. /pkg=crates/mesh-wasm/pkg); repeatable.
    /// Mounted files are not in the manifest.
    #[arg(long = "mount", value_name = "PREFIX=DIR")]
    mounts: Vec<String>,

    /// Address to listen on; port 0 picks a free port (read it from the `listening` line).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8080",
        env = "MESH_ORIGIN_LISTEN"
    )]
    listen: SocketAddr,

    /// Cache-Control of files (the manifest is always `no-cache`).
    #[arg(long, value_name = "VALUE", default_value = DEFAULT_CACHE_CONTROL)]
    cache_control: String,

    /// Serve this manifest file instead of computing the root's at start-up.
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,

    /// Milliseconds added before each response's headers (a distant CDN edge: e.g. 80).
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 0,
        env = "MESH_ORIGIN_LATENCY_MS"
    )]
    latency_ms: u64,

    /// Throttle every response body to this many bytes per second (0: unlimited).
    #[arg(long, value_name = "BYTES_PER_SEC", default_value_t = 0)]
    rate: u64,

    /// Start down: every request outside /_origin/ gets 503 until POST /_origin/up.
    #[arg(long)]
    down: bool,

    /// Send compressible files (text, scripts, JSON, SVG, wasm) as stored even to clients
    /// that accept br or gzip. By default whole responses are encoded, as CDN edges do.
    #[arg(long, env = "MESH_ORIGIN_NO_COMPRESS")]
    no_compress: bool,

    /// Serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) with this PEM certificate chain, leaf first.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Serve HTTPS with a self-signed certificate for localhost, 127.0.0.1, ::1 (and the listen
    /// address) kept in DIR: DIR/cert.pem and DIR/key.pem, made at the first start and reused
    /// after, and DIR/spki-sha256.txt, the value of Chromium's
    /// --ignore-certificate-errors-spki-list. Delete DIR for a new one.
    #[arg(long, value_name = "DIR", conflicts_with = "tls_cert")]
    tls_self_signed: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MESH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mesh-origin: error: {e}");
            ExitCode::from(EXIT_TROUBLE)
        }
    }
}

fn config(args: Args) -> Result<Config, OriginError> {
    let mut config = Config::new(args.root)
        .with_listen(args.listen)
        .with_cache_control(args.cache_control)
        .with_latency(Duration::from_millis(args.latency_ms))
        .with_rate(Some(args.rate))
        .with_down(args.down)
        .with_compress(!args.no_compress);
    for spec in &args.mounts {
        config = config.with_mount(spec.parse::<Mount>()?);
    }
    if let Some(manifest) = args.manifest {
        config = config.with_manifest_file(manifest);
    }
    let identity = match (args.tls_cert, args.tls_key, args.tls_self_signed) {
        (Some(cert), Some(key), _) => Some(TlsIdentity::from_pem_files(&cert, &key)?),
        (_, _, Some(dir)) => {
            let mut names: Vec<String> = LOOPBACK_NAMES.iter().map(|&n| n.to_owned()).collect();
            let ip = args.listen.ip();
            if !ip.is_loopback() && !ip.is_unspecified() {
                names.push(ip.to_string());
            }
            Some(TlsIdentity::load_or_create(&dir, &names)?)
        }
        _ => None,
    };
    if let Some(identity) = identity {
        eprintln!(
            "mesh-origin: HTTPS (h2, http/1.1), certificate SPKI sha256 {}",
            identity.spki_sha256()
        );
        config = config.with_tls(identity);
    }
    Ok(config)
}

fn run(args: Args) -> Result<(), OriginError> {
    let config = config(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(OriginError::Runtime)?;
    runtime.block_on(async {
        let server = mesh_origin::start(config).await?;
        let mut stdout = std::io::stdout();
        // A harness reads this line to learn the port; nothing else goes to stdout.
        let _ = writeln!(stdout, "listening {}", server.url()).and_then(|()| stdout.flush());
        eprintln!(
            "mesh-origin: serving {} files of the manifest at {}{}",
            server.manifest().len(),
            server.url(),
            mesh_origin::MANIFEST_PATH
        );
        wait_for_signal().await;
        server.shutdown().await;
        Ok(())
    })
}

/// Returns on SIGINT or SIGTERM (on other platforms, Ctrl-C).
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
