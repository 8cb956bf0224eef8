//! Streaming inputs through the DAG builder, so a file of any size is named in constant memory.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use mesh_core::Block;
use mesh_core::dag::DagRoot;
use mesh_site::digest::digest_reader;

use crate::error::CliError;

/// How standard input is named in messages.
const STDIN_LABEL: &str = "<stdin>";

/// A file argument: a path, or `-` for standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Input {
    /// Standard input.
    Stdin,
    /// A file on disk.
    File(PathBuf),
}

impl Input {
    /// Interprets a command-line path, `-` meaning standard input.
    pub(crate) fn from_arg(path: &Path) -> Self {
        if path.as_os_str() == "-" {
            Self::Stdin
        } else {
            Self::File(path.to_owned())
        }
    }

    /// How the input is named in output and messages.
    pub(crate) fn label(&self) -> &Path {
        match self {
            Self::Stdin => Path::new(STDIN_LABEL),
            Self::File(path) => path,
        }
    }

    /// Streams the whole input through mesh-core's DAG builder; see [`digest_reader`].
    pub(crate) fn digest(
        &self,
        on_bytes: &mut impl FnMut(u64),
        sink: &mut impl FnMut(Block),
    ) -> Result<DagRoot, CliError> {
        match self {
            Self::Stdin => Ok(digest_reader(
                io::stdin().lock(),
                self.label(),
                on_bytes,
                sink,
            )?),
            Self::File(path) => {
                let file = File::open(path).map_err(|e| CliError::read(path, e))?;
                Ok(digest_reader(file, path, on_bytes, sink)?)
            }
        }
    }
}

/// Streams `input` and returns only its root, discarding the blocks.
pub(crate) fn root_of(input: &Input) -> Result<DagRoot, CliError> {
    input.digest(&mut |_| {}, &mut |_| {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dash_means_stdin() {
        assert_eq!(Input::from_arg(Path::new("-")), Input::Stdin);
        assert_eq!(Input::Stdin.label(), Path::new("<stdin>"));
        let file = Input::from_arg(Path::new("./-"));
        assert_eq!(file, Input::File(PathBuf::from("./-")));
    }
}
