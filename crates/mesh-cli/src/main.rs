//! `mesh`: name, describe and verify mesh assets from the command line.
//!
//! The binary is a thin I/O shell over `mesh-core`: it reads files and walks directories
//! (through `mesh-site`, shared with the origin server so both publish the same files), and
//! leaves chunking, hashing and the manifest format to the core, so its CIDs are the ones the
//! browser nodes compute.

mod cid;
mod digest;
mod error;
mod get;
mod manifest;
mod net;
mod output;
mod seed;
mod verify;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::{CliError, EXIT_TROUBLE};

/// Exit statuses, shown by `mesh --help` and `mesh verify --help`.
const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  success (verify: the content matches the CID)
  1  verify: the content does not match the CID
  2  usage error, invalid or unsupported CID, unreadable input or unwritable output,
     or a failed seed/get (node cannot start, asset cannot be fetched)";

/// Content identifiers, site manifests and verification for mesh assets, and a native mesh
/// node to seed and fetch them. CIDs are the ones `ipfs add --cid-version 1` prints (raw
/// 256 KiB leaves, balanced dag-pb DAG).
#[derive(Debug, Parser)]
#[command(name = "mesh", version, after_help = EXIT_STATUS_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the CID of each file (one per line; with several files `CID  PATH`).
    Cid(cid::CidArgs),
    /// Write the manifest of a site directory: site path -> {cid, size, type}, as JSON.
    Manifest(manifest::ManifestArgs),
    /// Check that a file's content has the given CID; prints `ok CID` on success.
    Verify(verify::VerifyArgs),
    /// Seed files to the mesh: add, announce in the DHT, print `CID  PATH` lines and the
    /// node's multiaddrs, serve until SIGINT/SIGTERM.
    Seed(seed::SeedArgs),
    /// Fetch an asset by CID from the mesh (and the origin with --origin), verify every
    /// block, write it; where the bytes came from goes to stderr.
    Get(get::GetArgs),
}

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with status 2, --help and --version with 0.
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line, no backtrace: every CliError message names the file and the reason.
            eprintln!("mesh: error: {err}");
            ExitCode::from(exit_status(&err))
        }
    }
}

/// Runs the chosen subcommand with stdout as its output.
fn run(cli: &Cli) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match &cli.command {
        Command::Cid(args) => cid::run(args, &mut out)?,
        Command::Manifest(args) => manifest::run(args, &mut out)?,
        Command::Verify(args) => verify::run(args, &mut out)?,
        Command::Seed(args) => seed::run(args, &mut out)?,
        Command::Get(args) => get::run(args, &mut out)?,
    }
    out.flush()?;
    Ok(())
}

/// The documented exit status of an error.
fn exit_status(err: &anyhow::Error) -> u8 {
    err.downcast_ref::<CliError>()
        .map_or(EXIT_TROUBLE, CliError::exit_code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
