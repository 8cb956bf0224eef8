//! What goes in and out of the planner: ids, actions, events and their reasons.

use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;
use cid::Cid;

use crate::block::VerifyError;
use crate::layout::LayoutError;
use crate::stats::Source;
use crate::store::StoreError;
use crate::time::Instant;
use crate::wire::RequestId;

/// Identifies one [`Planner::start`](super::Planner::start) call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FetchId(pub u64);

/// Identifies one origin HTTP request the planner asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OriginRequestId(pub u64);

/// Something the driver must do, from [`Planner::poll_output`](super::Planner::poll_output).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action<P> {
    /// Look up providers of `cid` in the DHT; answer with
    /// [`Planner::handle_providers`](super::Planner::handle_providers).
    FindProviders {
        /// The asset root.
        cid: Cid,
    },
    /// Open a connection to a provider; report it with
    /// [`Planner::handle_peer_connected`](super::Planner::handle_peer_connected).
    Connect {
        /// The provider.
        peer: P,
    },
    /// Send a want-have.
    SendWantHave {
        /// To whom.
        peer: P,
        /// Wire request id.
        id: RequestId,
        /// Blocks asked about.
        cids: Vec<Cid>,
    },
    /// Send a want-block.
    SendWantBlock {
        /// To whom.
        peer: P,
        /// Wire request id.
        id: RequestId,
        /// Blocks wanted.
        cids: Vec<Cid>,
    },
    /// Tell a peer we no longer want these blocks.
    SendCancel {
        /// To whom.
        peer: P,
        /// Blocks no longer wanted.
        cids: Vec<Cid>,
    },
    /// Start an HTTP request to the origin; feed the body with
    /// [`Planner::handle_origin_data`](super::Planner::handle_origin_data).
    OriginFetch(OriginFetch),
    /// Abort an origin request; its further data is ignored anyway.
    CancelOrigin(CancelOrigin),
    /// Hand verified bytes to the page. Deliveries of one fetch come in file order, each
    /// starting where the last ended.
    Deliver(Deliver),
    /// The asset is complete and fully stored: announce this node as a provider.
    Announce {
        /// The asset root.
        cid: Cid,
    },
}

/// An HTTP request to the origin for the asset of a fetch ([`Action::OriginFetch`]). Its own
/// type so that a node engine can hand it to its shell as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginFetch {
    /// Which fetch (the driver knows its URL).
    pub fetch: FetchId,
    /// This request.
    pub request: OriginRequestId,
    /// Byte range of the asset (an HTTP `Range: bytes=start-(end-1)`), or `None` for the whole
    /// asset.
    pub range: Option<Range<u64>>,
}

/// Aborting an origin request ([`Action::CancelOrigin`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CancelOrigin {
    /// The request.
    pub request: OriginRequestId,
}

/// Verified bytes for the page ([`Action::Deliver`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deliver {
    /// Which fetch.
    pub fetch: FetchId,
    /// Offset of `data` in the asset.
    pub offset: u64,
    /// Verified bytes.
    pub data: Bytes,
}

/// One output of the planner, from [`Planner::poll_output`](super::Planner::poll_output):
/// something to do or something that happened, in the order the planner decided them.
///
/// One stream rather than an action queue and an event queue, so a driver never has to
/// reconstruct which came first: the [`Event::BlockAccepted`] of a block precedes the
/// [`Action::Deliver`] it made possible, and a fetch's [`Event::Completed`] follows its last
/// `Deliver` and its [`Action::Announce`].
// Events are larger than actions (a completion carries its summary). The queue is drained
// after every input, so its width costs little; boxing would cost an allocation per event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output<P> {
    /// Carry this out.
    Action(Action<P>),
    /// Take note of this.
    Event(Event<P>),
}

impl<P> From<Action<P>> for Output<P> {
    fn from(action: Action<P>) -> Self {
        Self::Action(action)
    }
}

impl<P> From<Event<P>> for Output<P> {
    fn from(event: Event<P>) -> Self {
        Self::Event(event)
    }
}

/// A source of a block, with the peer named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockSource<P> {
    /// A peer.
    Peer(P),
    /// The origin.
    Origin,
    /// The local store.
    Cache,
}

impl<P> BlockSource<P> {
    /// The kind of source, for stats.
    pub fn source(&self) -> Source {
        match self {
            BlockSource::Peer(_) => Source::Peer,
            BlockSource::Origin => Source::Origin,
            BlockSource::Cache => Source::Cache,
        }
    }
}

/// Why the origin was brought in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FallbackReason<P> {
    /// No peer delivered a verified byte within [`Config::fallback_after`](super::Config).
    Deadline,
    /// Discovery finished and nobody has the asset: no need to wait for the deadline.
    NoProviders,
    /// The peers that had the asset went away or were ignored.
    PeersLost,
    /// A peer stopped delivering.
    Stalled(P),
    /// A peer was projected to finish later than the origin would.
    Slow(P),
    /// A peer delivered no leaf within the deadline after it was asked for leaves.
    Withheld(P),
}

/// Why blocks were taken from a peer and asked of someone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReassignReason {
    /// It delivered nothing for [`Config::stall_timeout`](super::Config).
    Stalled,
    /// It was projected to finish later than the origin.
    Slow,
    /// It disconnected.
    Disconnected,
    /// It is ignored after sending bad data.
    Ignored,
    /// It said it does not have them.
    DontHave,
    /// It delivered no leaf within the deadline after it was asked for leaves.
    Withheld,
}

/// Why a peer's score dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Penalty {
    /// A block failed verification.
    Corrupt(LayoutError),
    /// It stalled.
    Stalled,
    /// It delivered no leaf within the deadline after it was asked for leaves.
    Withheld,
}

/// What was wrong with an origin response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OriginError {
    /// A leaf cut from a range body does not match its CID.
    #[error("origin range bytes failed verification: {0}")]
    Verify(#[source] VerifyError),
    /// Bytes that match a CID of the DAG but do not fit it (a malformed DAG behind the CID).
    #[error("origin bytes do not fit the DAG: {0}")]
    Layout(#[source] LayoutError),
    /// A leaf rebuilt from the whole body differs from the one the DAG names at that offset.
    #[error("origin bytes at offset {offset} hash to {actual}, the DAG names {expected}")]
    LeafMismatch {
        /// Offset of the leaf.
        offset: u64,
        /// The CID the DAG names.
        expected: Cid,
        /// The CID of the origin's bytes.
        actual: Cid,
    },
    /// The whole body rebuilds to another CID.
    #[error("origin body is {actual}, not {expected}")]
    RootMismatch {
        /// The requested root.
        expected: Cid,
        /// What the body hashes to.
        actual: Cid,
    },
    /// More bytes than the request covers.
    #[error("origin sent more bytes than requested")]
    Overlong,
    /// The body ended before the requested bytes.
    #[error("origin body ended early")]
    Truncated,
    /// The body exceeds the planner's asset size limit.
    #[error("origin body exceeds the {max}-byte asset limit")]
    TooLarge {
        /// The limit.
        max: u64,
    },
    /// The driver reported a failure (HTTP status, network error).
    #[error("origin request failed: {0}")]
    Transport(String),
}

/// Why a fetch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The root CID cannot be fetched (unsupported codec or hash).
    #[error("cannot fetch {cid}: {source}")]
    Unsupported {
        /// The root.
        cid: Cid,
        /// Why.
        #[source]
        source: LayoutError,
    },
    /// The origin failed or lied, and no peer can provide the asset.
    #[error("origin cannot provide {cid}: {source}")]
    Origin {
        /// The root.
        cid: Cid,
        /// What went wrong.
        #[source]
        source: OriginError,
    },
    /// There is no origin for this fetch and no peer can provide it.
    #[error("no source left for {cid}")]
    NoSource {
        /// The root.
        cid: Cid,
    },
}

/// Per-fetch totals reported on completion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchSummary {
    /// Asset size.
    pub size: u64,
    /// Verified bytes taken from peers (leaves and nodes).
    pub bytes_peer: u64,
    /// Verified bytes taken from the origin.
    pub bytes_origin: u64,
    /// Bytes taken from the local store.
    pub bytes_cache: u64,
    /// Time from start to the first verified byte.
    pub ttfb: Option<Duration>,
    /// Time from start to completion.
    pub elapsed: Duration,
    /// Whether the origin was brought in.
    pub fell_back: bool,
}

impl FetchSummary {
    /// The source label a driver shows (`x-mesh-source`): the single source, or `Mixed`.
    pub fn source_label(&self) -> &'static str {
        match (
            self.bytes_peer > 0,
            self.bytes_origin > 0,
            self.bytes_cache > 0,
        ) {
            (true, false, false) => "peer",
            (false, true, false) => "origin",
            (false, false, true) | (false, false, false) => "cache",
            _ => "mixed",
        }
    }
}

/// Something that happened, with its reason: what stats, logs and tests read to learn why
/// bytes came from where they came. Read from
/// [`Planner::poll_output`](super::Planner::poll_output).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<P> {
    /// A verified block was accepted for a fetch.
    BlockAccepted {
        /// The fetch.
        fetch: FetchId,
        /// The block.
        cid: Cid,
        /// Who delivered it first.
        from: BlockSource<P>,
        /// Its size.
        bytes: u64,
    },
    /// A verified block arrived after another source had already delivered it.
    BlockDuplicate {
        /// The block.
        cid: Cid,
        /// The late source.
        from: BlockSource<P>,
    },
    /// The origin was brought in.
    Fallback {
        /// The fetch.
        fetch: FetchId,
        /// Why.
        reason: FallbackReason<P>,
    },
    /// Blocks were taken from a peer.
    Reassigned {
        /// The fetch.
        fetch: FetchId,
        /// The peer that lost them.
        peer: P,
        /// The blocks.
        cids: Vec<Cid>,
        /// Why.
        reason: ReassignReason,
    },
    /// A peer lost score.
    PeerPenalized {
        /// The peer.
        peer: P,
        /// Why.
        penalty: Penalty,
        /// Its score now.
        score: i32,
    },
    /// A peer withheld or stalled blocks: until `until` it is asked for nothing the origin
    /// can provide, on any fetch.
    PeerDemoted {
        /// The peer.
        peer: P,
        /// When the demotion ends.
        until: Instant,
    },
    /// A peer reached the ignore threshold: nothing more is asked of or taken from it.
    PeerIgnored {
        /// The peer.
        peer: P,
    },
    /// An origin request failed or its bytes failed verification; the origin is not used again
    /// for this fetch.
    OriginRejected {
        /// The fetch.
        fetch: FetchId,
        /// What failed.
        error: OriginError,
    },
    /// A whole-file origin request was cancelled because peers delivered the DAG's nodes: the
    /// origin continues with leaf ranges for what no peer is delivering.
    OriginNarrowed {
        /// The fetch.
        fetch: FetchId,
        /// The cancelled whole-file request.
        request: OriginRequestId,
        /// Blocks its body had brought in that could be verified only now, and were kept.
        salvaged: usize,
    },
    /// A verified block could not be cached; the fetch continues but will not be announced.
    StoreFailed {
        /// The block.
        cid: Cid,
        /// Why.
        error: StoreError,
    },
    /// Every byte was delivered.
    Completed {
        /// The fetch.
        fetch: FetchId,
        /// The root.
        cid: Cid,
        /// Totals.
        summary: FetchSummary,
    },
    /// The fetch cannot complete; everything it held was released.
    Failed {
        /// The fetch.
        fetch: FetchId,
        /// Why.
        error: FetchError,
    },
    /// The fetch was cancelled; everything it held was released.
    Cancelled {
        /// The fetch.
        fetch: FetchId,
    },
}
