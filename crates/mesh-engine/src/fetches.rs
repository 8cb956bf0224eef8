//! The running fetches: what the engine knows about each beyond the planner — its origin URL,
//! the sources its verified blocks came from so far, the bytes each peer contributed — and
//! which fetch each origin request belongs to.

use mesh_core::small::SmallMap;

use cid::Cid;
use libp2p::PeerId;
use mesh_core::fetch::{FetchId, FetchSummary, OriginRequestId};
use mesh_core::stats::Source;

/// Where a fetch's verified bytes came from, as pages see it (`x-mesh-source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sources {
    peer: bool,
    origin: bool,
    cache: bool,
}

impl Sources {
    /// Adds a source.
    pub fn add(&mut self, source: Source) {
        match source {
            Source::Peer => self.peer = true,
            Source::Origin => self.origin = true,
            _ => self.cache = true,
        }
    }

    /// `peer` or `origin` when only that one contributed, `cache` when neither did (also
    /// before any byte), `mixed` otherwise: mesh-core's
    /// [`FetchSummary::source_label`], the one definition of the labels.
    pub fn label(self) -> &'static str {
        FetchSummary {
            bytes_peer: self.peer.into(),
            bytes_origin: self.origin.into(),
            bytes_cache: self.cache.into(),
            ..FetchSummary::default()
        }
        .source_label()
    }
}

/// One running fetch.
#[derive(Debug)]
pub(crate) struct FetchEntry {
    /// The URL origin requests of this fetch go to.
    pub(crate) origin: Option<String>,
    pub(crate) sources: Sources,
    /// Verified bytes per peer.
    pub(crate) peers: SmallMap<PeerId, u64>,
}

/// The registry.
#[derive(Debug, Default)]
pub(crate) struct Fetches {
    fetches: SmallMap<FetchId, FetchEntry>,
    /// Origin requests under way -> their fetch.
    origin_requests: SmallMap<OriginRequestId, FetchId>,
}

impl Fetches {
    pub(crate) fn start(&mut self, id: FetchId, origin: Option<String>) {
        self.fetches.insert(
            id,
            FetchEntry {
                origin,
                sources: Sources::default(),
                peers: SmallMap::new(),
            },
        );
    }

    /// Whether no fetch runs.
    pub(crate) fn is_empty(&self) -> bool {
        self.fetches.is_empty()
    }

    pub(crate) fn get(&self, id: FetchId) -> Option<&FetchEntry> {
        self.fetches.get(&id)
    }

    /// A verified block of `id` was accepted from `source` (`peer` when from a peer).
    pub(crate) fn accepted(
        &mut self,
        id: FetchId,
        source: Source,
        peer: Option<PeerId>,
        bytes: u64,
    ) {
        if let Some(f) = self.fetches.get_mut(&id) {
            f.sources.add(source);
            if let Some(peer) = peer {
                *f.peers.entry(peer).or_insert(0) += bytes;
            }
        }
    }

    /// The fetch ended (completed, failed, cancelled); its origin requests are forgotten.
    pub(crate) fn finish(&mut self, id: FetchId) -> Option<FetchEntry> {
        self.origin_requests.retain(|_, f| *f != id);
        self.fetches.remove(&id)
    }

    /// An origin request of `fetch` started.
    pub(crate) fn origin_started(&mut self, request: OriginRequestId, fetch: FetchId) {
        self.origin_requests.insert(request, fetch);
    }

    /// An origin request ended or was cancelled.
    pub(crate) fn origin_ended(&mut self, request: OriginRequestId) {
        self.origin_requests.remove(&request);
    }

    pub(crate) fn fetch_of_origin(&self, request: OriginRequestId) -> Option<FetchId> {
        self.origin_requests.get(&request).copied()
    }
}

/// `base` (ending in `/`) joined with `cid`: the one place an origin URL is built from a
/// CID (`originBase` of the browser node, `--origin` of the native node).
pub fn origin_url(base: &str, cid: &Cid) -> String {
    if base.ends_with('/') {
        format!("{base}{cid}")
    } else {
        format!("{base}/{cid}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        let mut s = Sources::default();
        assert_eq!(s.label(), "cache");
        s.add(Source::Peer);
        assert_eq!(s.label(), "peer");
        s.add(Source::Origin);
        assert_eq!(s.label(), "mixed");
        let mut o = Sources::default();
        o.add(Source::Origin);
        assert_eq!(o.label(), "origin");
        o.add(Source::Cache);
        assert_eq!(o.label(), "mixed");
    }

    #[test]
    fn urls() {
        let cid: Cid = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
            .parse()
            .expect("test cid");
        assert_eq!(
            origin_url("http://o/cid/", &cid),
            format!("http://o/cid/{cid}")
        );
        assert_eq!(
            origin_url("http://o/cid", &cid),
            format!("http://o/cid/{cid}")
        );
    }
}
