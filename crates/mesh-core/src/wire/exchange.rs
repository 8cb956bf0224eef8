//! Requests and responses of the block exchange: [`Message`]s narrowed to what a requester
//! may write (one frame per request) and what its peer may answer (one frame per answer).

use std::fmt;

use super::{Message, MessageKind, RequestId, WireError};
use bytes::Bytes;
use cid::Cid;

/// Most CIDs one want-have may ask about. A want-have is answered in one frame, and a node only
/// ever asks about asset roots, so a small number keeps requests tiny.
pub const MAX_WANT_HAVE_CIDS: usize = 64;

/// Most CIDs one announcement ([`BlockRequest::Announce`], [`BlockRequest::Withdraw`]) or
/// cancel may name. A have-summary of more roots travels as several announcements; the usual
/// CIDv1 sha2-256 CID takes 36 bytes, so a full announcement is about 4.7 KiB on the wire.
pub const MAX_NOTICE_CIDS: usize = 128;

/// Largest request frame body, in bytes: [`MAX_NOTICE_CIDS`] CIDs of the longest form (about
/// 90 bytes each with their framing) fit. A peer announcing a longer request is cut off after
/// its length prefix.
pub const MAX_REQUEST_SIZE: usize = 12 * 1024;

/// A request: one frame on a fresh stream.
///
/// A want-block names exactly one CID because its answer, one frame, carries at most one block.
/// Several blocks are fetched with several concurrent requests, each on its own stream (what
/// keeps a 16 KiB-window WebRTC stream from throttling the whole transfer).
///
/// Notices ([`BlockRequest::Announce`], [`BlockRequest::Withdraw`], [`BlockRequest::Cancel`])
/// are acknowledged with an empty [`BlockResponse::Have`]; on the wire they are the
/// [`Message::Have`], [`Message::DontHave`] and [`Message::Cancel`] kinds sent as requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockRequest {
    /// "Which of these do you have?"; answered with [`BlockResponse::Have`] or
    /// [`BlockResponse::DontHave`].
    WantHave {
        /// The requester's id, echoed in the answer.
        id: RequestId,
        /// 1 to [`MAX_WANT_HAVE_CIDS`] CIDs.
        cids: Vec<Cid>,
    },
    /// "Send me this block"; answered with [`BlockResponse::Block`] or
    /// [`BlockResponse::DontHave`].
    WantBlock {
        /// The requester's id, echoed in the answer.
        id: RequestId,
        /// The block wanted.
        cid: Cid,
    },
    /// "I hold these asset roots and serve them": a have-summary when a connection starts,
    /// then each root the sender comes to hold. The receiver may ask for them directly
    /// (want-block), without a want-have or a DHT lookup. A claim, not a proof: a holder that
    /// then answers don't-have only costs the requester that round trip.
    Announce {
        /// The sender's id (acknowledged, otherwise unused).
        id: RequestId,
        /// 1 to [`MAX_NOTICE_CIDS`] roots.
        roots: Vec<Cid>,
    },
    /// "I no longer hold these roots" (evicted from the sender's cache).
    Withdraw {
        /// The sender's id.
        id: RequestId,
        /// 1 to [`MAX_NOTICE_CIDS`] roots.
        roots: Vec<Cid>,
    },
    /// "I no longer want these blocks" (another source delivered them): the server drops
    /// want-blocks for them that it has not started sending.
    Cancel {
        /// The sender's id.
        id: RequestId,
        /// 1 to [`MAX_NOTICE_CIDS`] blocks.
        cids: Vec<Cid>,
    },
}

/// A response: one frame, then the stream ends.
///
/// To a want-have, [`BlockResponse::Have`] lists the CIDs held, and every CID of the request it
/// does not list is not held; [`BlockResponse::DontHave`] says none is.
#[derive(Clone, PartialEq, Eq)]
pub enum BlockResponse {
    /// "I have these."
    Have {
        /// The request answered.
        id: RequestId,
        /// The CIDs held.
        cids: Vec<Cid>,
    },
    /// "I do not have these" (or will not send them now: see the serving policy).
    DontHave {
        /// The request answered.
        id: RequestId,
        /// The CIDs refused.
        cids: Vec<Cid>,
    },
    /// One block. **Unverified**: see [`Message::Block`].
    Block {
        /// The request answered.
        id: RequestId,
        /// The CID claimed.
        cid: Cid,
        /// The untrusted bytes.
        data: Bytes,
    },
}

/// A frame that is valid wire format but not valid block exchange, or not a frame at all.
///
/// The codec reports it as an [`std::io::Error`] of kind
/// [`InvalidData`](std::io::ErrorKind::InvalidData) whose inner error
/// ([`get_ref`](std::io::Error::get_ref)) is this type; for [`ProtocolError::Wire`] its
/// [`source`](std::error::Error::source) is the [`WireError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The frame itself is malformed or over the size limit.
    #[error("malformed block-exchange frame: {0}")]
    Wire(#[source] WireError),
    /// A message of a kind that does not belong here (a response where a request is due, a
    /// cancel, which this protocol expresses by dropping the stream).
    #[error("unexpected {kind} message where a {expected} is due")]
    UnexpectedKind {
        /// What arrived.
        kind: MessageKind,
        /// "request" or "response".
        expected: &'static str,
    },
    /// A want-block without exactly one CID.
    #[error("want-block names {count} CIDs instead of exactly one")]
    WantBlockCidCount {
        /// CIDs named.
        count: usize,
    },
    /// A want-have naming no CID or more than [`MAX_WANT_HAVE_CIDS`].
    #[error("want-have names {count} CIDs; 1 to {MAX_WANT_HAVE_CIDS} are allowed")]
    WantHaveCidCount {
        /// CIDs named.
        count: usize,
    },
    /// An announcement, withdrawal or cancel naming no CID or more than [`MAX_NOTICE_CIDS`].
    #[error("{kind} request names {count} CIDs; 1 to {MAX_NOTICE_CIDS} are allowed")]
    NoticeCidCount {
        /// The notice's wire kind.
        kind: MessageKind,
        /// CIDs named.
        count: usize,
    },
}

impl BlockRequest {
    /// The requester's id.
    pub fn id(&self) -> RequestId {
        match self {
            Self::WantHave { id, .. }
            | Self::WantBlock { id, .. }
            | Self::Announce { id, .. }
            | Self::Withdraw { id, .. }
            | Self::Cancel { id, .. } => *id,
        }
    }

    /// The same request under another id. A session numbers the requests on its stream itself,
    /// so that answers match whatever ids the caller picked.
    pub fn with_id(mut self, new: RequestId) -> Self {
        match &mut self {
            Self::WantHave { id, .. }
            | Self::WantBlock { id, .. }
            | Self::Announce { id, .. }
            | Self::Withdraw { id, .. }
            | Self::Cancel { id, .. } => *id = new,
        }
        self
    }

    /// Whether it is a notice (announcement, withdrawal, cancel) rather than a question.
    pub fn is_notice(&self) -> bool {
        matches!(
            self,
            Self::Announce { .. } | Self::Withdraw { .. } | Self::Cancel { .. }
        )
    }

    /// The CIDs asked about (for a notice, the CIDs it names).
    pub fn cids(&self) -> &[Cid] {
        match self {
            Self::WantHave { cids, .. } | Self::Cancel { cids, .. } => cids,
            Self::Announce { roots, .. } | Self::Withdraw { roots, .. } => roots,
            Self::WantBlock { cid, .. } => std::slice::from_ref(cid),
        }
    }

    /// The wire message.
    pub fn to_message(&self) -> Message {
        match self {
            Self::WantHave { id, cids } => Message::WantHave {
                id: *id,
                cids: cids.clone(),
            },
            Self::WantBlock { id, cid } => Message::WantBlock {
                id: *id,
                cids: vec![*cid],
            },
            Self::Announce { id, roots } => Message::Have {
                id: *id,
                cids: roots.clone(),
            },
            Self::Withdraw { id, roots } => Message::DontHave {
                id: *id,
                cids: roots.clone(),
            },
            Self::Cancel { id, cids } => Message::Cancel {
                id: *id,
                cids: cids.clone(),
            },
        }
    }

    /// Narrows a received message to a request.
    pub fn from_message(message: Message) -> Result<Self, ProtocolError> {
        let kind = message.kind();
        match message {
            Message::WantHave { id, cids } => {
                if cids.is_empty() || cids.len() > MAX_WANT_HAVE_CIDS {
                    return Err(ProtocolError::WantHaveCidCount { count: cids.len() });
                }
                Ok(Self::WantHave { id, cids })
            }
            Message::WantBlock { id, cids } => match cids.as_slice() {
                [cid] => Ok(Self::WantBlock { id, cid: *cid }),
                _ => Err(ProtocolError::WantBlockCidCount { count: cids.len() }),
            },
            Message::Have { id, cids } => {
                check_notice(kind, &cids)?;
                Ok(Self::Announce { id, roots: cids })
            }
            Message::DontHave { id, cids } => {
                check_notice(kind, &cids)?;
                Ok(Self::Withdraw { id, roots: cids })
            }
            Message::Cancel { id, cids } => {
                check_notice(kind, &cids)?;
                Ok(Self::Cancel { id, cids })
            }
            _ => Err(ProtocolError::UnexpectedKind {
                kind,
                expected: "request",
            }),
        }
    }
}

fn check_notice(kind: MessageKind, cids: &[Cid]) -> Result<(), ProtocolError> {
    if cids.is_empty() || cids.len() > MAX_NOTICE_CIDS {
        return Err(ProtocolError::NoticeCidCount {
            kind,
            count: cids.len(),
        });
    }
    Ok(())
}

impl BlockResponse {
    /// The acknowledgement of a notice: an empty [`BlockResponse::Have`].
    pub fn ack(id: RequestId) -> Self {
        Self::Have {
            id,
            cids: Vec::new(),
        }
    }

    /// The id of the request answered.
    pub fn id(&self) -> RequestId {
        match self {
            Self::Have { id, .. } | Self::DontHave { id, .. } | Self::Block { id, .. } => *id,
        }
    }

    /// The same answer to another request id: a session answers under the id the request
    /// carried on the wire, whatever id the answer was built with.
    pub fn with_id(mut self, new: RequestId) -> Self {
        match &mut self {
            Self::Have { id, .. } | Self::DontHave { id, .. } | Self::Block { id, .. } => *id = new,
        }
        self
    }

    /// The wire message.
    pub fn to_message(&self) -> Message {
        match self {
            Self::Have { id, cids } => Message::Have {
                id: *id,
                cids: cids.clone(),
            },
            Self::DontHave { id, cids } => Message::DontHave {
                id: *id,
                cids: cids.clone(),
            },
            Self::Block { id, cid, data } => Message::Block {
                id: *id,
                cid: *cid,
                data: data.clone(),
            },
        }
    }

    /// Narrows a received message to a response.
    pub fn from_message(message: Message) -> Result<Self, ProtocolError> {
        let kind = message.kind();
        match message {
            Message::Have { id, cids } => Ok(Self::Have { id, cids }),
            Message::DontHave { id, cids } => Ok(Self::DontHave { id, cids }),
            Message::Block { id, cid, data } => Ok(Self::Block { id, cid, data }),
            _ => Err(ProtocolError::UnexpectedKind {
                kind,
                expected: "response",
            }),
        }
    }
}

/// Like [`Message`]'s: block data shows as its length.
impl fmt::Debug for BlockResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_message(), f)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::block::{RAW_CODEC, cid_for};

    fn cid(n: u8) -> Cid {
        cid_for(RAW_CODEC, &[n])
    }

    #[test]
    fn with_id_changes_only_the_id() {
        let request = BlockRequest::Cancel {
            id: RequestId(1),
            cids: vec![cid(1)],
        };
        let renumbered = request.clone().with_id(RequestId(9));
        assert_eq!(renumbered.id(), RequestId(9));
        assert_eq!(renumbered.cids(), request.cids());
        let answer = BlockResponse::DontHave {
            id: RequestId(1),
            cids: vec![cid(2)],
        };
        assert_eq!(
            answer.with_id(RequestId(9)),
            BlockResponse::DontHave {
                id: RequestId(9),
                cids: vec![cid(2)],
            }
        );
    }

    #[test]
    fn requests_round_trip_and_are_narrowed() {
        let id = RequestId(7);
        for req in [
            BlockRequest::WantHave {
                id,
                cids: vec![cid(1), cid(2)],
            },
            BlockRequest::WantBlock { id, cid: cid(3) },
        ] {
            assert_eq!(BlockRequest::from_message(req.to_message()), Ok(req));
        }
        assert_eq!(
            BlockRequest::from_message(Message::WantBlock {
                id,
                cids: vec![cid(1), cid(2)]
            }),
            Err(ProtocolError::WantBlockCidCount { count: 2 })
        );
        assert_eq!(
            BlockRequest::from_message(Message::WantHave { id, cids: vec![] }),
            Err(ProtocolError::WantHaveCidCount { count: 0 })
        );
        let many = (0..=MAX_WANT_HAVE_CIDS as u8).map(cid).collect();
        assert_eq!(
            BlockRequest::from_message(Message::WantHave { id, cids: many }),
            Err(ProtocolError::WantHaveCidCount {
                count: MAX_WANT_HAVE_CIDS + 1
            })
        );
        assert!(matches!(
            BlockRequest::from_message(Message::Block {
                id,
                cid: cid(1),
                data: Bytes::new()
            }),
            Err(ProtocolError::UnexpectedKind {
                kind: MessageKind::Block,
                ..
            })
        ));
    }

    #[test]
    fn notices_round_trip_and_are_bounded() {
        let id = RequestId(3);
        let most: Vec<Cid> = (0..MAX_NOTICE_CIDS as u32)
            .map(|n| cid_for(RAW_CODEC, &n.to_be_bytes()))
            .collect();
        for req in [
            BlockRequest::Announce {
                id,
                roots: most.clone(),
            },
            BlockRequest::Withdraw {
                id,
                roots: vec![cid(1)],
            },
            BlockRequest::Cancel {
                id,
                cids: vec![cid(2)],
            },
        ] {
            assert_eq!(BlockRequest::from_message(req.to_message()), Ok(req));
        }
        // The largest announcement fits a request frame.
        let frame = BlockRequest::Announce { id, roots: most }.to_message();
        assert!(crate::wire::encoded_len(&frame) <= MAX_REQUEST_SIZE);
        let too_many: Vec<Cid> = (0..=MAX_NOTICE_CIDS as u32)
            .map(|n| cid_for(RAW_CODEC, &n.to_be_bytes()))
            .collect();
        for (kind, message) in [
            (MessageKind::Have, Message::Have { id, cids: vec![] }),
            (
                MessageKind::DontHave,
                Message::DontHave {
                    id,
                    cids: too_many.clone(),
                },
            ),
            (
                MessageKind::Cancel,
                Message::Cancel {
                    id,
                    cids: too_many.clone(),
                },
            ),
        ] {
            let count = message.cids().len();
            assert_eq!(
                BlockRequest::from_message(message),
                Err(ProtocolError::NoticeCidCount { kind, count })
            );
        }
        assert_eq!(
            BlockResponse::from_message(BlockResponse::ack(id).to_message()),
            Ok(BlockResponse::Have { id, cids: vec![] })
        );
    }

    #[test]
    fn responses_round_trip_and_are_narrowed() {
        let id = RequestId(9);
        for resp in [
            BlockResponse::Have {
                id,
                cids: vec![cid(1)],
            },
            BlockResponse::DontHave {
                id,
                cids: vec![cid(2)],
            },
            BlockResponse::Block {
                id,
                cid: cid(3),
                data: Bytes::from_static(b"x"),
            },
        ] {
            assert_eq!(resp.id(), id);
            assert_eq!(BlockResponse::from_message(resp.to_message()), Ok(resp));
        }
        assert!(matches!(
            BlockResponse::from_message(Message::Cancel { id, cids: vec![] }),
            Err(ProtocolError::UnexpectedKind {
                kind: MessageKind::Cancel,
                expected: "response"
            })
        ));
    }
}
