//! dag-pb and UnixFS decoding (`mesh_core::unixfs`) of arbitrary node bytes: what a hostile
//! DAG builder can put in a block whose hash matches.
//!
//! Properties: never a panic; the link and blocksize caps hold; a decoded `PbNode` re-encodes
//! canonically and decodes to the same node; a decoded file node has a filesize equal to the
//! sum of its links' sizes and survives `encode_file_node` → `decode_file_node` unchanged.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use mesh_core::unixfs::{MAX_DECODE_LINKS, PbNode, UnixFsData, decode_file_node, encode_file_node};

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    if let Ok(node) = PbNode::decode(&bytes) {
        assert!(node.links.len() <= MAX_DECODE_LINKS);
        let again = PbNode::decode(&Bytes::from(node.encode())).expect("re-encoded node decodes");
        assert_eq!(again, node);
    }
    if let Ok(unixfs) = UnixFsData::parse(&bytes) {
        assert!(unixfs.blocksizes.len() <= MAX_DECODE_LINKS);
    }
    if let Ok(file) = decode_file_node(&bytes) {
        assert!(file.links.len() <= MAX_DECODE_LINKS);
        let sum = file
            .links
            .iter()
            .try_fold(0u64, |acc, l| acc.checked_add(l.size));
        assert_eq!(sum, Some(file.filesize));
        let again = decode_file_node(&Bytes::from(encode_file_node(&file.links)))
            .expect("re-encoded file node decodes");
        assert_eq!(again, file);
    }
});
