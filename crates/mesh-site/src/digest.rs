//! Streaming bytes through mesh-core's DAG builder, so a file of any size is named in constant
//! memory.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use mesh_core::Block;
use mesh_core::dag::{DagBuilder, DagRoot};

use crate::SiteError;

/// Bytes read per call: large enough to amortise syscalls, small enough that memory stays flat
/// whatever the file size (four leaves of the 256 KiB layout).
pub const READ_CHUNK: usize = 1 << 20;

/// Feeds `reader` to a [`DagBuilder`] in [`READ_CHUNK`] pieces until end of input, reporting
/// each piece's length to `on_bytes` (for progress) and each finished block to `sink`.
/// `label` names the input in errors.
pub fn digest_reader(
    mut reader: impl Read,
    label: &Path,
    on_bytes: &mut impl FnMut(u64),
    sink: &mut impl FnMut(Block),
) -> Result<DagRoot, SiteError> {
    let mut builder = DagBuilder::new();
    let mut buf = vec![0u8; READ_CHUNK];
    // Ends at end of input: every iteration consumes at least one byte or returns.
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(SiteError::read(label, e)),
        };
        let piece = buf.get(..n).unwrap_or_default();
        builder.push(piece, sink);
        on_bytes(piece.len() as u64);
    }
    Ok(builder.finish(sink))
}

/// Streams the file at `path` through [`digest_reader`].
pub fn digest_file(
    path: &Path,
    on_bytes: &mut impl FnMut(u64),
    sink: &mut impl FnMut(Block),
) -> Result<DagRoot, SiteError> {
    let file = File::open(path).map_err(|e| SiteError::read(path, e))?;
    digest_reader(file, path, on_bytes, sink)
}

/// The root (CID and size) of the file at `path`, discarding the blocks.
pub fn root_of_file(path: &Path) -> Result<DagRoot, SiteError> {
    digest_file(path, &mut |_| {}, &mut |_| {})
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

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

    #[test]
    fn a_file_is_named_like_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        let bytes: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let mut seen = 0;
        let root = digest_file(&path, &mut |n| seen += n, &mut |_| {}).unwrap();
        assert_eq!(seen, bytes.len() as u64);
        assert_eq!(root.size, bytes.len() as u64);
        assert_eq!(root.cid, mesh_core::dag::cid_of(&bytes));
    }
}
