//! The messages of the block-exchange protocol, independent of their encoding.

use bytes::Bytes;
use cid::Cid;
use std::fmt;

/// Names one request so that answers and cancels can refer to it.
///
/// The requester picks ids; they only need to be unique among its own open requests to one
/// peer. Answers echo the id of the request they answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<u64> for RequestId {
    fn from(id: u64) -> Self {
        Self(id)
    }
}

/// One message of the block-exchange protocol.
///
/// Non-exhaustive so that later protocol versions can add kinds without breaking drivers;
/// match on the variants you handle and treat the rest as "not understood".
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// "Do you have these blocks?" Answered with [`Message::Have`] and/or [`Message::DontHave`].
    WantHave {
        /// The request.
        id: RequestId,
        /// The blocks asked about.
        cids: Vec<Cid>,
    },
    /// "Send me these blocks." Answered with [`Message::Block`] and/or [`Message::DontHave`].
    WantBlock {
        /// The request.
        id: RequestId,
        /// The blocks wanted.
        cids: Vec<Cid>,
    },
    /// "I have these blocks."
    Have {
        /// The request answered.
        id: RequestId,
        /// The blocks the sender holds.
        cids: Vec<Cid>,
    },
    /// "I do not have these blocks."
    DontHave {
        /// The request answered.
        id: RequestId,
        /// The blocks the sender lacks.
        cids: Vec<Cid>,
    },
    /// One block, as the sender claims it.
    ///
    /// **The bytes are unverified.** The codec only checks the size cap; nothing says that
    /// `data` hashes to `cid`. Receivers must turn it into a [`crate::Block`] with
    /// [`crate::Block::verify`] before using or storing it, and penalise the sender if that fails.
    Block {
        /// The request answered.
        id: RequestId,
        /// The CID the sender claims `data` has.
        cid: Cid,
        /// The untrusted bytes, at most [`crate::block::MAX_BLOCK_SIZE`].
        data: Bytes,
    },
    /// "No longer wanted": the requester lost interest (e.g. another source was faster).
    Cancel {
        /// The request cancelled.
        id: RequestId,
        /// The blocks no longer wanted; empty cancels the whole request.
        cids: Vec<Cid>,
    },
}

/// The kind of a [`Message`], without its contents: for logs, counters and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum MessageKind {
    /// [`Message::WantHave`].
    WantHave,
    /// [`Message::WantBlock`].
    WantBlock,
    /// [`Message::Have`].
    Have,
    /// [`Message::DontHave`].
    DontHave,
    /// [`Message::Block`].
    Block,
    /// [`Message::Cancel`].
    Cancel,
}

impl MessageKind {
    /// Every kind, in wire order (a slice, so that adding kinds changes no types).
    pub const ALL: &'static [MessageKind] = &[
        Self::WantHave,
        Self::WantBlock,
        Self::Have,
        Self::DontHave,
        Self::Block,
        Self::Cancel,
    ];

    /// The name used in logs and error messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::WantHave => "WantHave",
            Self::WantBlock => "WantBlock",
            Self::Have => "Have",
            Self::DontHave => "DontHave",
            Self::Block => "Block",
            Self::Cancel => "Cancel",
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Message {
    /// Which kind of message this is.
    pub fn kind(&self) -> MessageKind {
        match self {
            Self::WantHave { .. } => MessageKind::WantHave,
            Self::WantBlock { .. } => MessageKind::WantBlock,
            Self::Have { .. } => MessageKind::Have,
            Self::DontHave { .. } => MessageKind::DontHave,
            Self::Block { .. } => MessageKind::Block,
            Self::Cancel { .. } => MessageKind::Cancel,
        }
    }

    /// The request this message starts, answers or cancels.
    pub fn request_id(&self) -> RequestId {
        match self {
            Self::WantHave { id, .. }
            | Self::WantBlock { id, .. }
            | Self::Have { id, .. }
            | Self::DontHave { id, .. }
            | Self::Block { id, .. }
            | Self::Cancel { id, .. } => *id,
        }
    }

    /// The CIDs the message is about (for [`Message::Block`], its one CID).
    pub fn cids(&self) -> &[Cid] {
        match self {
            Self::WantHave { cids, .. }
            | Self::WantBlock { cids, .. }
            | Self::Have { cids, .. }
            | Self::DontHave { cids, .. }
            | Self::Cancel { cids, .. } => cids,
            Self::Block { cid, .. } => std::slice::from_ref(cid),
        }
    }
}

/// Shows CIDs as strings and block data as its length: a derived `Debug` would dump up to a
/// MiB of bytes into a log line.
impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct(self.kind().name());
        s.field("id", &self.request_id().0);
        match self {
            Self::Block { cid, data, .. } => s
                .field("cid", &format_args!("{cid}"))
                .field("len", &data.len()),
            _ => s.field("cids", &CidList(self.cids())),
        };
        s.finish()
    }
}

/// Debug-formats CIDs in their string form.
struct CidList<'a>(&'a [Cid]);

impl fmt::Debug for CidList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for cid in self.0 {
            list.entry(&format_args!("{cid}"));
        }
        list.finish()
    }
}
