//! `mesh cid`: print the CID of files, as `ipfs add --cid-version 1` would.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;

use crate::digest::Input;
use crate::error::CliError;

/// Arguments of `mesh cid`.
#[derive(Debug, clap::Args)]
pub(crate) struct CidArgs {
    /// Files to name; `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,

    /// Print `CID  SIZE  BLOCKS  PATH` per file: size in bytes and the number of distinct
    /// blocks (leaves and dag-pb nodes) a peer would transfer.
    #[arg(short, long)]
    long: bool,
}

/// Names each file in turn, printing as it goes; stops at the first unreadable one.
pub(crate) fn run(args: &CidArgs, out: &mut impl Write) -> Result<(), CliError> {
    let several = args.files.len() > 1;
    for arg in &args.files {
        let input = Input::from_arg(arg);
        let line = if args.long {
            // Identical leaves (runs of zeros, say) share a CID and travel once: count CIDs.
            let mut cids = HashSet::new();
            let root = input.digest(&mut |_| {}, &mut |block| {
                cids.insert(*block.cid());
            })?;
            format!(
                "{}  {}  {}  {}",
                root.cid,
                root.size,
                cids.len(),
                input.label().display()
            )
        } else {
            let root = crate::digest::root_of(&input)?;
            if several {
                format!("{}  {}", root.cid, input.label().display())
            } else {
                root.cid.to_string()
            }
        };
        writeln!(out, "{line}").map_err(|e| CliError::write("<stdout>", e))?;
    }
    Ok(())
}
