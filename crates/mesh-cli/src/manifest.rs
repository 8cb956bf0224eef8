//! `mesh manifest`: describe a site directory as a manifest (site path → `{cid, size, type}`).

use std::fs;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mesh_core::manifest::Manifest;
use mesh_site::manifest::{describe, insert};
use mesh_site::walk::walk_site;

use crate::error::CliError;
use crate::output::{human_bytes, human_duration, plural};

/// Arguments of `mesh manifest`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = WALK_RULES)]
pub(crate) struct ManifestArgs {
    /// The site's root directory.
    #[arg(value_name = "DIR")]
    dir: PathBuf,

    /// Write the manifest to FILE (replaced atomically) instead of standard output. A FILE
    /// inside DIR is left out of the manifest.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Never draw the progress bar (it is only drawn when stderr is a terminal anyway).
    #[arg(long, env = "MESH_NO_PROGRESS", value_parser = clap::builder::FalseyValueParser::new())]
    no_progress: bool,

    /// Print nothing on stderr but errors: no progress bar, warnings or summary.
    #[arg(short, long)]
    quiet: bool,
}

/// Shown by `mesh manifest --help`.
const WALK_RULES: &str = "\
Which files are listed:
  * every regular file under DIR, visited in sorted order; site paths are `/` + the path
    relative to DIR with `/` separators (`DIR/img/a.svg` is `/img/a.svg`)
  * hidden files and directories (name starting with `.`) are skipped
  * the output FILE is skipped when it lies inside DIR
  * a symlink is listed (under its own path) only if it resolves to a regular, non-hidden file
    inside DIR; symlinks to directories, out of DIR, or dangling are skipped with a warning

Content types come from the file extension (application/octet-stream when unknown).";

/// Walks, hashes and writes; prints a summary line on stderr.
pub(crate) fn run(args: &ManifestArgs, out: &mut impl Write) -> Result<(), CliError> {
    let started = Instant::now();
    let walk = walk_site(&args.dir, args.output.as_deref())?;
    if !args.quiet {
        for skipped in &walk.skipped {
            eprintln!(
                "mesh: warning: skipping {}: {}",
                skipped.path.display(),
                skipped.reason
            );
        }
    }

    let progress = progress_bar(walk.total_bytes(), args.quiet || args.no_progress);
    let mut manifest = Manifest::new();
    let mut total = 0u64;
    for (done, file) in walk.files.iter().enumerate() {
        progress.set_message(format!("{}/{} files", done, walk.files.len()));
        let entry = describe(file, &mut |n| progress.inc(n))?;
        total += entry.size;
        insert(&mut manifest, file, entry)?;
    }
    progress.finish_and_clear();

    let mut json = manifest.to_json();
    json.push('\n');
    match &args.output {
        Some(path) => write_atomically(path, json.as_bytes())?,
        None => out
            .write_all(json.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| CliError::write("<stdout>", e))?,
    }
    if !args.quiet {
        let to = args
            .output
            .as_ref()
            .map(|p| format!(" -> {}", p.display()))
            .unwrap_or_default();
        eprintln!(
            "mesh: manifest of {}, {} ({} bytes), in {}{to}",
            plural(walk.files.len(), "file"),
            human_bytes(total),
            total,
            human_duration(started.elapsed()),
        );
    }
    Ok(())
}

/// A bytes-hashed bar on stderr when stderr is a terminal and nobody said otherwise; else a
/// hidden bar, so logs and pipes stay clean.
fn progress_bar(total_bytes: u64, disabled: bool) -> ProgressBar {
    if disabled || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(
        "{spinner} hashing [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}) {msg}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr()).with_style(style)
}

/// Writes `data` to a hidden temporary file next to `path`, then renames it over `path`, so a
/// server reading the manifest never sees half of one.
fn write_atomically(path: &Path, data: &[u8]) -> Result<(), CliError> {
    let name = path
        .file_name()
        .ok_or_else(|| CliError::write(path, io::Error::other("not a file name")))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = fs::write(&tmp, data).and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = result {
        // Best effort: the temporary file may not even exist.
        let _ = fs::remove_file(&tmp);
        return Err(CliError::write(path, e));
    }
    Ok(())
}
