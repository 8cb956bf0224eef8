//! `mesh verify`: check that a file's content is what a CID names.

use std::io::Write;
use std::path::PathBuf;

use mesh_core::Cid;
use mesh_core::block::{DAG_PB_CODEC, RAW_CODEC, SHA2_256};

use crate::digest::{Input, root_of};
use crate::error::CliError;

/// Arguments of `mesh verify`.
#[derive(Debug, clap::Args)]
#[command(after_help = crate::EXIT_STATUS_HELP)]
pub(crate) struct VerifyArgs {
    /// The file to check; `-` reads standard input.
    file: PathBuf,

    /// The CID it should have (CIDv1, as `mesh cid` or `ipfs add --cid-version 1` print).
    cid: String,
}

/// Prints `ok <cid>` when the content matches; a mismatch is an error (exit status 1).
pub(crate) fn run(args: &VerifyArgs, out: &mut impl Write) -> Result<(), CliError> {
    // Check the CID before reading: a typo should not cost a pass over a large file.
    let expected = parse_cid(&args.cid)?;
    let input = Input::from_arg(&args.file);
    let actual = root_of(&input)?.cid;
    if actual != expected {
        return Err(CliError::Mismatch {
            path: input.label().to_owned(),
            expected: Box::new(expected),
            actual: Box::new(actual),
        });
    }
    writeln!(out, "ok {actual}").map_err(|e| CliError::write("<stdout>", e))
}

/// Parses a CID argument and refuses the ones no mesh file DAG can have.
pub(crate) fn parse_cid(text: &str) -> Result<Cid, CliError> {
    let cid = Cid::try_from(text.trim()).map_err(|e| CliError::InvalidCid {
        text: text.to_owned(),
        reason: e.to_string(),
    })?;
    let reason = if cid.version() == cid::Version::V0 {
        Some(
            "CIDv0 (Qm…) names a DAG without raw leaves; mesh names files with CIDv1, as `ipfs add --cid-version 1` does",
        )
    } else if !matches!(cid.codec(), RAW_CODEC | DAG_PB_CODEC) {
        Some("its codec is neither raw nor dag-pb")
    } else if cid.hash().code() != SHA2_256 {
        Some("its hash is not sha2-256")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(CliError::UnsupportedCid {
            cid: Box::new(cid),
            reason,
        }),
        None => Ok(cid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_FILE: &str = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";

    #[test]
    fn parses_cidv1_and_trims_whitespace() {
        let cid = parse_cid(&format!(" {EMPTY_FILE}\n")).expect("valid CID");
        assert_eq!(cid.to_string(), EMPTY_FILE);
    }

    #[test]
    fn rejects_garbage() {
        let err = parse_cid("not-a-cid").expect_err("garbage");
        assert!(matches!(err, CliError::InvalidCid { .. }), "{err:?}");
        assert!(err.to_string().starts_with("invalid CID \"not-a-cid\": "));
    }

    #[test]
    fn rejects_cidv0() {
        // A well-formed CIDv0 (of the empty UnixFS directory).
        let err = parse_cid("QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn").expect_err("v0");
        assert!(matches!(err, CliError::UnsupportedCid { .. }), "{err:?}");
    }

    #[test]
    fn rejects_other_codecs() {
        // dag-cbor (0x71) over sha2-256.
        let err = parse_cid("bafyreigbtj4x7ip5legnfznufuopl4sg4knzc2cof6duas4b3q2fy6swua")
            .expect_err("dag-cbor");
        assert!(matches!(err, CliError::UnsupportedCid { .. }), "{err:?}");
    }
}
