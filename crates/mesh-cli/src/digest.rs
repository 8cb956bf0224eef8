//! Streaming inputs through the DAG builder, so a file of any size is named in constant memory.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use mesh_core::Block;
use mesh_core::dag::{DagBuilder, DagRoot};

use crate::error::CliError;

/// Bytes read per call: large enough to amortise syscalls, small enough that memory stays flat
/// whatever the file size (four leaves of the 256 KiB layout).
pub(crate) const READ_CHUNK: usize = 1 << 20;

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

    /// Streams the whole input through a [`DagBuilder`]; see [`digest_reader`].
    pub(crate) fn digest(
        &self,
        on_bytes: &mut impl FnMut(u64),
        sink: &mut impl FnMut(Block),
    ) -> Result<DagRoot, CliError> {
        match self {
            Self::Stdin => digest_reader(io::stdin().lock(), self.label(), on_bytes, sink),
            Self::File(path) => {
                let file = File::open(path).map_err(|e| CliError::read(path, e))?;
                digest_reader(file, path, on_bytes, sink)
            }
        }
    }
}

/// Feeds `reader` to a [`DagBuilder`] in [`READ_CHUNK`] pieces until end of input, reporting
/// each piece's length to `on_bytes` (for progress) and each finished block to `sink`.
/// `label` names the input in errors.
pub(crate) fn digest_reader(
    mut reader: impl Read,
    label: &Path,
    on_bytes: &mut impl FnMut(u64),
    sink: &mut impl FnMut(Block),
) -> Result<DagRoot, CliError> {
    let mut builder = DagBuilder::new();
    let mut buf = vec![0u8; READ_CHUNK];
    // Ends at end of input: every iteration consumes at least one byte or returns.
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CliError::read(label, e)),
        };
        let piece = buf.get(..n).unwrap_or_default();
        builder.push(piece, sink);
        on_bytes(piece.len() as u64);
    }
    Ok(builder.finish(sink))
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

    #[test]
    fn read_errors_name_the_input() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("device on fire"))
            }
        }
        let err = digest_reader(Broken, Path::new("x.bin"), &mut |_| {}, &mut |_| {})
            .expect_err("a failing reader fails the digest");
        assert_eq!(err.to_string(), "cannot read x.bin: device on fire");
    }
}
