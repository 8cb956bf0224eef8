//! `bootstrap-node`: runs a mesh bootstrap node until SIGTERM or SIGINT.
//!
//! Configuration errors are one line on stderr and a non-zero exit; the node's dialable
//! multiaddrs go to stdout, one per line; logs go to stderr.

use std::{io::IsTerminal, process::ExitCode};

use bootstrap_node::{Config, LogFormat, Node};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// Exit code for a configuration the node cannot start with (clap uses 2 for usage errors).
const EXIT_CONFIG: u8 = 1;

fn main() -> ExitCode {
    // Before anything touches TLS: the WebRTC stack (ring) and rustls' default (aws-lc-rs) would
    // otherwise both claim the process-wide provider and the process panics at start.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let config = match Config::try_parse() {
        Ok(config) => config,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let message = e.to_string();
            let line = message.lines().next().unwrap_or("invalid arguments");
            let line = line.strip_prefix("error: ").unwrap_or(line);
            eprintln!("bootstrap-node: error: {line}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log_format);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("bootstrap-node: error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    runtime.block_on(async {
        let node = match Node::start(config).await {
            Ok(node) => node,
            Err(e) => {
                eprintln!("bootstrap-node: error: {e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        };
        node.run(shutdown_signal()).await;
        ExitCode::SUCCESS
    })
}

fn init_logging(format: LogFormat) {
    // Default: our own progress at info, libraries only when something is wrong.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,bootstrap_node=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Completes on SIGTERM (container stop) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(term), Ok(int)) => (term, int),
        _ => {
            tracing::warn!("cannot install signal handlers; stop the node with SIGKILL");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}
