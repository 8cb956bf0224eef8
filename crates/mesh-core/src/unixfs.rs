//! The dag-pb / UnixFS node format.
//!
//! Internal nodes of a file DAG are dag-pb `PBNode`s whose `Data` is a UnixFS `Data` message.
//! Both are protobuf; we use `prost`'s derive for the leaf messages (`PBLink`, UnixFS `Data`)
//! and write the outer `PBNode` by hand, because canonical dag-pb puts `Links` (field 2)
//! *before* `Data` (field 1) while a derived encoder writes fields in tag order. The CID is a
//! hash of these bytes, so the order is not cosmetic.
//!
//! Nodes come from untrusted peers (their hash matches, but whoever built the DAG may be
//! hostile), so decoding is bounded: at most [`MAX_DECODE_LINKS`] links and blocksizes per
//! node, counted before anything is allocated for them, and every link must name a CID.

use bytes::{Buf, Bytes};
use cid::Cid;
use prost::Message;
use prost::encoding::{self, DecodeContext, WireType};

/// Most links (and UnixFS blocksizes) accepted in one decoded node. Our layout uses at most
/// [`crate::block::MAX_LINKS`]; other importers use up to 1024 (IPIP-499), and a 1 MiB block
/// could otherwise claim hundreds of thousands of links.
pub const MAX_DECODE_LINKS: usize = 8192;

/// `PBNode.Data`.
const PB_NODE_DATA: u32 = 1;
/// `PBNode.Links`.
const PB_NODE_LINKS: u32 = 2;
/// UnixFS `Data.blocksizes`.
const UNIXFS_BLOCKSIZES: u32 = 4;

/// Why node bytes are not a usable dag-pb / UnixFS file node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnixFsError {
    /// Not valid protobuf, or not the dag-pb shape.
    #[error("invalid protobuf: {0}")]
    Protobuf(String),
    /// A `PBNode` field other than `Data` and `Links` (the dag-pb spec forbids them).
    #[error("unknown dag-pb field {0}")]
    UnknownField(u32),
    /// More links or blocksizes than [`MAX_DECODE_LINKS`].
    #[error("{count} links or blocksizes, over the limit of {max}")]
    TooManyLinks {
        /// How many the node holds (counted up to the first one over the limit).
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A link without `Hash`.
    #[error("link {0} has no hash")]
    MissingHash(usize),
    /// A link whose `Hash` is not exactly one binary CID.
    #[error("link {index} has an invalid CID: {reason}")]
    BadCid {
        /// Position of the link.
        index: usize,
        /// What the CID parser said.
        reason: String,
    },
    /// A dag-pb node without a UnixFS `Data` field.
    #[error("node has no UnixFS data")]
    MissingData,
    /// The UnixFS type is not `File`.
    #[error("UnixFS type {0} is not a file")]
    NotAFile(i32),
    /// The file node carries file bytes itself; our layout keeps all bytes in raw leaves.
    #[error("file node carries {0} bytes of inline data")]
    InlineData(usize),
    /// No `filesize` in a file node.
    #[error("file node has no filesize")]
    MissingFilesize,
    /// `blocksizes` does not have one entry per link.
    #[error("{blocksizes} blocksizes for {links} links")]
    BlocksizeCount {
        /// Number of links.
        links: usize,
        /// Number of blocksizes.
        blocksizes: usize,
    },
    /// `filesize` differs from the sum of `blocksizes`.
    #[error("filesize {filesize} but blocksizes add up to {sum:?}")]
    FilesizeMismatch {
        /// The claimed file size.
        filesize: u64,
        /// The sum of blocksizes (`None` if it overflows `u64`).
        sum: Option<u64>,
    },
}

impl From<prost::DecodeError> for UnixFsError {
    fn from(e: prost::DecodeError) -> Self {
        UnixFsError::Protobuf(e.to_string())
    }
}

/// One link of a dag-pb node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbLink {
    /// The child.
    pub cid: Cid,
    /// The link name. File nodes written by kubo carry it *present but empty*, which is part
    /// of the hashed bytes: `Some("")` is not the same node as `None`.
    pub name: Option<String>,
    /// Cumulative size of the child: its block and all blocks below it.
    pub tsize: Option<u64>,
}

/// A dag-pb node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PbNode {
    /// Links, in order.
    pub links: Vec<PbLink>,
    /// Opaque payload; for UnixFS an encoded [`UnixFsData`].
    pub data: Option<Bytes>,
}

/// Wire form of `PBLink` (fields in tag order, which is the canonical order).
#[derive(Clone, PartialEq, Message)]
struct PbLinkProto {
    #[prost(bytes = "bytes", optional, tag = "1")]
    hash: Option<Bytes>,
    #[prost(string, optional, tag = "2")]
    name: Option<String>,
    #[prost(uint64, optional, tag = "3")]
    tsize: Option<u64>,
}

impl PbNode {
    /// Canonical dag-pb bytes: every link, then the data.
    pub fn encode(&self) -> Vec<u8> {
        let protos: Vec<PbLinkProto> = self
            .links
            .iter()
            .map(|l| PbLinkProto {
                hash: Some(Bytes::from(l.cid.to_bytes())),
                name: l.name.clone(),
                tsize: l.tsize,
            })
            .collect();
        let data_len = self
            .data
            .as_ref()
            .map_or(0, |d| encoding::bytes::encoded_len(PB_NODE_DATA, d));
        let mut buf = Vec::with_capacity(
            encoding::message::encoded_len_repeated(PB_NODE_LINKS, &protos) + data_len,
        );
        for link in &protos {
            encoding::message::encode(PB_NODE_LINKS, link, &mut buf);
        }
        if let Some(data) = &self.data {
            encoding::bytes::encode(PB_NODE_DATA, data, &mut buf);
        }
        buf
    }

    /// Parses dag-pb bytes (fields in any order), refusing unknown fields, links without a
    /// valid CID and more than [`MAX_DECODE_LINKS`] links.
    pub fn decode(bytes: &Bytes) -> Result<Self, UnixFsError> {
        let count = count_entries(bytes, PB_NODE_LINKS, Entries::PbLinks)?;
        let mut links = Vec::with_capacity(count);
        let mut data = None;
        let mut buf = bytes.clone();
        while buf.has_remaining() {
            let (tag, wire_type) = encoding::decode_key(&mut buf)?;
            match tag {
                PB_NODE_LINKS => {
                    encoding::check_wire_type(WireType::LengthDelimited, wire_type)?;
                    let len = length(&mut buf)?;
                    let proto = PbLinkProto::decode(buf.split_to(len))?;
                    links.push(link_from_proto(links.len(), proto)?);
                }
                PB_NODE_DATA => {
                    encoding::check_wire_type(WireType::LengthDelimited, wire_type)?;
                    let len = length(&mut buf)?;
                    data = Some(buf.split_to(len));
                }
                other => return Err(UnixFsError::UnknownField(other)),
            }
        }
        Ok(PbNode { links, data })
    }
}

/// Reads a length prefix and checks it fits in what is left.
fn length(buf: &mut Bytes) -> Result<usize, UnixFsError> {
    let len = encoding::decode_varint(buf)?;
    match usize::try_from(len) {
        Ok(len) if len <= buf.remaining() => Ok(len),
        _ => Err(UnixFsError::Protobuf(
            "length past the end of the buffer".into(),
        )),
    }
}

/// What [`count_entries`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entries {
    /// `PBNode.Links`: one entry per occurrence; any field but `Data` and `Links` is refused.
    PbLinks,
    /// A repeated varint field, which a proto2 parser must accept packed too: a packed run
    /// holds one entry per varint in it.
    Varints,
}

/// Counts the entries of field `tag`, failing once there are more than
/// [`MAX_DECODE_LINKS`], so that decoding allocates only for what it will accept.
fn count_entries(bytes: &[u8], tag: u32, kind: Entries) -> Result<usize, UnixFsError> {
    let mut buf = bytes;
    let mut count = 0usize;
    // Every pass consumes at least the key byte.
    while buf.has_remaining() {
        let (t, wire_type) = encoding::decode_key(&mut buf)?;
        if kind == Entries::PbLinks && t != PB_NODE_DATA && t != PB_NODE_LINKS {
            return Err(UnixFsError::UnknownField(t));
        }
        let before = buf;
        encoding::skip_field(wire_type, t, &mut buf, DecodeContext::default())?;
        if t != tag {
            continue;
        }
        count += match (kind, wire_type) {
            (Entries::Varints, WireType::LengthDelimited) => {
                let mut packed = &before[..before.len() - buf.len()];
                encoding::decode_varint(&mut packed)?;
                // Each varint ends with the one byte that has its high bit clear.
                packed.iter().filter(|&&b| b < 0x80).count()
            }
            _ => 1,
        };
        if count > MAX_DECODE_LINKS {
            return Err(UnixFsError::TooManyLinks {
                count,
                max: MAX_DECODE_LINKS,
            });
        }
    }
    Ok(count)
}

fn link_from_proto(index: usize, proto: PbLinkProto) -> Result<PbLink, UnixFsError> {
    let hash = proto.hash.ok_or(UnixFsError::MissingHash(index))?;
    let mut reader: &[u8] = &hash;
    let cid = Cid::read_bytes(&mut reader).map_err(|e| UnixFsError::BadCid {
        index,
        reason: e.to_string(),
    })?;
    if !reader.is_empty() {
        return Err(UnixFsError::BadCid {
            index,
            reason: format!("{} bytes after the CID", reader.len()),
        });
    }
    Ok(PbLink {
        cid,
        name: proto.name,
        tsize: proto.tsize,
    })
}

/// The UnixFS node types (`Data.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum DataType {
    /// Raw bytes.
    Raw = 0,
    /// A directory.
    Directory = 1,
    /// A file (the only type our DAGs use).
    File = 2,
    /// Metadata.
    Metadata = 3,
    /// A symbolic link.
    Symlink = 4,
    /// A HAMT-sharded directory.
    HamtShard = 5,
}

/// The UnixFS `Data` message (proto2) carried in a dag-pb node's `Data`.
#[derive(Clone, PartialEq, Message)]
pub struct UnixFsData {
    /// The node type, a [`DataType`] value (kept raw: unknown types must still decode).
    #[prost(enumeration = "DataType", required, tag = "1")]
    pub data_type: i32,
    /// Inline file bytes.
    #[prost(bytes = "bytes", optional, tag = "2")]
    pub data: Option<Bytes>,
    /// Size of the file below this node.
    #[prost(uint64, optional, tag = "3")]
    pub filesize: Option<u64>,
    /// File bytes below each link, in link order. Not packed: proto2 default, what kubo
    /// writes, and part of the hash.
    #[prost(uint64, repeated, packed = "false", tag = "4")]
    pub blocksizes: Vec<u64>,
    /// HAMT hash function (directories only; unused here).
    #[prost(uint64, optional, tag = "5")]
    pub hash_type: Option<u64>,
    /// HAMT fanout (directories only; unused here).
    #[prost(uint64, optional, tag = "6")]
    pub fanout: Option<u64>,
}

impl UnixFsData {
    /// Parses UnixFS `Data` bytes, refusing more than [`MAX_DECODE_LINKS`] blocksizes.
    pub fn parse(bytes: &Bytes) -> Result<Self, UnixFsError> {
        count_entries(bytes, UNIXFS_BLOCKSIZES, Entries::Varints)?;
        Ok(UnixFsData::decode(bytes.clone())?)
    }
}

/// A link of a file node as our layout sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLink {
    /// The child: a raw leaf or another file node.
    pub cid: Cid,
    /// File bytes under the child (its UnixFS blocksize).
    pub size: u64,
    /// Encoded bytes of the child's whole subtree (the dag-pb `Tsize`).
    pub tsize: u64,
}

/// A validated internal file node of the raw-leaves layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileNode {
    /// Children in file order.
    pub links: Vec<FileLink>,
    /// Total file bytes below the node; equals the sum of the links' sizes.
    pub filesize: u64,
}

/// Encodes a file node over `links` exactly as kubo does: links with an empty name and the
/// subtree size, then UnixFS `Data {Type: File, filesize, blocksizes}`.
pub fn encode_file_node(links: &[FileLink]) -> Vec<u8> {
    let data = UnixFsData {
        data_type: DataType::File as i32,
        data: None,
        filesize: Some(links.iter().map(|l| l.size).sum()),
        blocksizes: links.iter().map(|l| l.size).collect(),
        hash_type: None,
        fanout: None,
    };
    PbNode {
        links: links
            .iter()
            .map(|l| PbLink {
                cid: l.cid,
                name: Some(String::new()),
                tsize: Some(l.tsize),
            })
            .collect(),
        data: Some(Bytes::from(data.encode_to_vec())),
    }
    .encode()
}

/// Decodes and checks a file node: dag-pb with UnixFS `File` data, no inline bytes, one
/// blocksize per link and a filesize equal to their sum. A missing `Tsize` reads as 0.
pub fn decode_file_node(bytes: &Bytes) -> Result<FileNode, UnixFsError> {
    let node = PbNode::decode(bytes)?;
    let data = UnixFsData::parse(node.data.as_ref().ok_or(UnixFsError::MissingData)?)?;
    if data.data_type != DataType::File as i32 {
        return Err(UnixFsError::NotAFile(data.data_type));
    }
    if let Some(inline) = data.data.as_ref().filter(|d| !d.is_empty()) {
        return Err(UnixFsError::InlineData(inline.len()));
    }
    let filesize = data.filesize.ok_or(UnixFsError::MissingFilesize)?;
    if data.blocksizes.len() != node.links.len() {
        return Err(UnixFsError::BlocksizeCount {
            links: node.links.len(),
            blocksizes: data.blocksizes.len(),
        });
    }
    let sum = data
        .blocksizes
        .iter()
        .try_fold(0u64, |acc, &s| acc.checked_add(s));
    if sum != Some(filesize) {
        return Err(UnixFsError::FilesizeMismatch { filesize, sum });
    }
    let links = node
        .links
        .into_iter()
        .zip(data.blocksizes)
        .map(|(l, size)| FileLink {
            cid: l.cid,
            size,
            tsize: l.tsize.unwrap_or(0),
        })
        .collect();
    Ok(FileNode { links, filesize })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::block::{DAG_PB_CODEC, RAW_CODEC, cid_for};

    fn leaf(i: u8, size: u64) -> FileLink {
        FileLink {
            cid: cid_for(RAW_CODEC, &[i]),
            size,
            tsize: size,
        }
    }

    #[test]
    fn links_precede_data_and_names_are_present_but_empty() {
        let bytes = encode_file_node(&[leaf(1, 10)]);
        // Field 2 (Links) first, length-delimited.
        assert_eq!(bytes[0], 0x12);
        let link_len = bytes[1] as usize;
        let link = &bytes[2..2 + link_len];
        // Hash (0x0a, 36 bytes of CIDv1 raw sha2-256), Name present and empty, Tsize 10.
        assert_eq!(link[0], 0x0a);
        assert_eq!(link[1], 36);
        assert_eq!(&link[38..], &[0x12, 0x00, 0x18, 10]);
        // Then Data: Type File, filesize 10, one unpacked blocksize 10.
        assert_eq!(
            &bytes[2 + link_len..],
            &[0x0a, 6, 0x08, 2, 0x18, 10, 0x20, 10]
        );
    }

    #[test]
    fn round_trip() {
        let links = vec![leaf(1, 262_144), leaf(2, 262_144), leaf(3, 5)];
        let bytes = Bytes::from(encode_file_node(&links));
        let node = decode_file_node(&bytes).unwrap();
        assert_eq!(node.links, links);
        assert_eq!(node.filesize, 2 * 262_144 + 5);
        let pb = PbNode::decode(&bytes).unwrap();
        assert_eq!(pb.encode(), bytes.to_vec());
        assert!(pb.links.iter().all(|l| l.name.as_deref() == Some("")));
    }

    #[test]
    fn data_before_links_is_accepted() {
        let bytes = Bytes::from(encode_file_node(&[leaf(1, 3), leaf(2, 4)]));
        let pb = PbNode::decode(&bytes).unwrap();
        let mut reordered = Vec::new();
        encoding::bytes::encode(PB_NODE_DATA, pb.data.as_ref().unwrap(), &mut reordered);
        let canonical_links = &bytes[..bytes.len() - reordered.len()];
        reordered.extend_from_slice(canonical_links);
        let node = decode_file_node(&Bytes::from(reordered)).unwrap();
        assert_eq!(node.filesize, 7);
    }

    #[test]
    fn too_many_links_is_refused_before_allocating() {
        let link = PbLink {
            cid: cid_for(RAW_CODEC, b"x"),
            name: None,
            tsize: None,
        };
        let node = PbNode {
            links: vec![link; MAX_DECODE_LINKS + 1],
            data: None,
        };
        let err = PbNode::decode(&Bytes::from(node.encode())).unwrap_err();
        assert_eq!(
            err,
            UnixFsError::TooManyLinks {
                count: MAX_DECODE_LINKS + 1,
                max: MAX_DECODE_LINKS
            }
        );
    }

    #[test]
    fn too_many_blocksizes_is_refused() {
        let data = UnixFsData {
            data_type: DataType::File as i32,
            blocksizes: vec![1; MAX_DECODE_LINKS + 1],
            ..Default::default()
        };
        let err = UnixFsData::parse(&Bytes::from(data.encode_to_vec())).unwrap_err();
        assert!(matches!(err, UnixFsError::TooManyLinks { .. }));
    }

    #[test]
    fn packed_blocksizes_are_counted_value_by_value() {
        let mut packed = Vec::new();
        encoding::encode_key(1, WireType::Varint, &mut packed);
        encoding::encode_varint(DataType::File as u64, &mut packed);
        let run = |n: usize| {
            let mut out = packed.clone();
            encoding::uint64::encode_packed(UNIXFS_BLOCKSIZES, &vec![300u64; n], &mut out);
            Bytes::from(out)
        };
        let ok = UnixFsData::parse(&run(MAX_DECODE_LINKS)).unwrap();
        assert_eq!(ok.blocksizes.len(), MAX_DECODE_LINKS);
        assert!(matches!(
            UnixFsData::parse(&run(MAX_DECODE_LINKS + 1)),
            Err(UnixFsError::TooManyLinks { .. })
        ));
    }

    #[test]
    fn bad_inputs_give_typed_errors() {
        let file = |blocksizes: Vec<u64>, filesize: Option<u64>, data_type: DataType| {
            let data = UnixFsData {
                data_type: data_type as i32,
                filesize,
                blocksizes,
                ..Default::default()
            };
            PbNode {
                links: vec![PbLink {
                    cid: cid_for(RAW_CODEC, b"a"),
                    name: Some(String::new()),
                    tsize: Some(1),
                }],
                data: Some(Bytes::from(data.encode_to_vec())),
            }
            .encode()
        };
        let dec = |b: Vec<u8>| decode_file_node(&Bytes::from(b)).unwrap_err();
        assert_eq!(
            dec(file(vec![1, 2], Some(3), DataType::File)),
            UnixFsError::BlocksizeCount {
                links: 1,
                blocksizes: 2
            }
        );
        assert_eq!(
            dec(file(vec![1], Some(2), DataType::File)),
            UnixFsError::FilesizeMismatch {
                filesize: 2,
                sum: Some(1)
            }
        );
        assert_eq!(
            dec(file(vec![1], None, DataType::File)),
            UnixFsError::MissingFilesize
        );
        assert_eq!(
            dec(file(vec![1], Some(1), DataType::Directory)),
            UnixFsError::NotAFile(1)
        );
        // No Data at all.
        let no_data = PbNode::default().encode();
        assert_eq!(dec(no_data), UnixFsError::MissingData);
        // Unknown PBNode field 3.
        assert_eq!(dec(vec![0x18, 0x01]), UnixFsError::UnknownField(3));
        // Truncated length.
        assert!(matches!(
            dec(vec![0x12, 0x05, 0x0a]),
            UnixFsError::Protobuf(_)
        ));
        // Link whose hash is garbage, or a CID followed by junk.
        let garbage = PbLinkProto {
            hash: Some(Bytes::from_static(&[0xff, 0xff, 0xff])),
            name: None,
            tsize: None,
        };
        let mut b = Vec::new();
        encoding::message::encode(PB_NODE_LINKS, &garbage, &mut b);
        assert!(matches!(dec(b), UnixFsError::BadCid { index: 0, .. }));
        let mut trailing = cid_for(DAG_PB_CODEC, b"n").to_bytes();
        trailing.push(0);
        let junk = PbLinkProto {
            hash: Some(Bytes::from(trailing)),
            name: None,
            tsize: None,
        };
        let mut b = Vec::new();
        encoding::message::encode(PB_NODE_LINKS, &junk, &mut b);
        assert!(matches!(dec(b), UnixFsError::BadCid { index: 0, .. }));
        // Missing hash.
        let mut b = Vec::new();
        encoding::message::encode(PB_NODE_LINKS, &PbLinkProto::default(), &mut b);
        assert_eq!(dec(b), UnixFsError::MissingHash(0));
        // Inline data.
        let inline = UnixFsData {
            data_type: DataType::File as i32,
            data: Some(Bytes::from_static(b"hi")),
            filesize: Some(2),
            ..Default::default()
        };
        let node = PbNode {
            links: vec![],
            data: Some(Bytes::from(inline.encode_to_vec())),
        };
        assert_eq!(dec(node.encode()), UnixFsError::InlineData(2));
    }
}
