//! DHT announcements of what this node provides, held for the node's idle time.
//!
//! Every root the node provides is announced with a Kademlia `start_providing` query (a
//! closest-peers walk, then ADD_PROVIDER to each of them). A returning visitor restores tens
//! of assets at once, and announces them all again when its bootstrap node connects; started
//! together, those ~80 queries went to the bootstrap node ahead of the provider lookup the
//! page needed next, and a returning visitor's first peer connection came ~75 ms later than
//! without them (docs/BENCHMARKS-WEBRTC.md, "SHA-256 by WebCrypto", returning visitors).
//!
//! Pacing them (at most four at a time, one while a lookup ran) won back only half of that:
//! whatever announcement traffic overlapped the page's fetch — its lookup, the dial through
//! the bootstrap node's relay, the first blocks — delayed it. So the announcements of what
//! the node held already (a restored cache, re-announcements after a reconnect) wait for the
//! node's idle time: while a fetch, a provider lookup or a dial runs, none starts until the
//! oldest has waited [`ANNOUNCE_HOLD`], and then one at a time ([`ANNOUNCING_WHEN_BUSY`]), so
//! a page that keeps fetching cannot hold them back for good. Assets just fetched and the
//! site's rendezvous key are announced promptly, busy or not: they are what other tabs of a
//! flash crowd look for, and they come one by one. At most [`ANNOUNCING`] queries run at once.
//! They all go out: peers find this node's assets by them. Connected peers learn of a newly
//! provided asset at once all the same (have-summaries, `summary.rs`).
//! [`Engine::add`](crate::Engine::add) queues its root promptly too, and its caller hears the
//! outcome ([`Output::Announced`]): a seeder adding hundreds of assets runs at most
//! [`ANNOUNCING`] queries at once.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use cid::Cid;
use mesh_core::time::Instant as CoreInstant;
use mesh_protocol::{Extra, LookupId};

use crate::{AnnounceError, Engine, Output};

/// Announcements running at once.
pub const ANNOUNCING: usize = 4;

/// Held announcements running at once while the node is busy (a fetch, a provider lookup or
/// a dial runs) and the oldest held one has waited [`ANNOUNCE_HOLD`].
pub const ANNOUNCING_WHEN_BUSY: usize = 1;

/// How long held announcements wait for the node's idle time before they go one at a time
/// anyway.
pub const ANNOUNCE_HOLD: Duration = Duration::from_secs(1);

/// When a root's announcement may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum When {
    /// As soon as fewer than [`ANNOUNCING`] run: an asset just fetched, the site key.
    Promptly,
    /// In the node's idle time: what it held already (restored, re-announced).
    Idle,
}

/// The queues of roots to announce and the announcements running.
#[derive(Debug, Default)]
pub(crate) struct Announcements {
    /// Roots to announce promptly, in order.
    prompt: VecDeque<Cid>,
    /// Roots to announce in idle time, in order, with when each was queued.
    held: VecDeque<(Cid, CoreInstant)>,
    /// The roots in either queue, so that a root waits once.
    queued: BTreeSet<Cid>,
    running: HashMap<LookupId, Cid>,
    /// Roots whose next announcement's outcome the shell awaits ([`Engine::add`]).
    reported: BTreeSet<Cid>,
}

impl Announcements {
    /// Queues `root` last of its kind; a root held already and now wanted promptly moves.
    pub(crate) fn push(&mut self, root: Cid, when: When, now: CoreInstant) {
        let fresh = self.queued.insert(root);
        match when {
            When::Promptly => {
                if !fresh {
                    if self.prompt.contains(&root) {
                        return;
                    }
                    self.held.retain(|(c, _)| *c != root);
                }
                self.prompt.push_back(root);
            }
            When::Idle if fresh => self.held.push_back((root, now)),
            When::Idle => {}
        }
    }

    /// The end of `root`'s next announcement is to be reported ([`Announcements::reported`]).
    pub(crate) fn report_outcome(&mut self, root: Cid) {
        self.reported.insert(root);
    }

    /// Whether the shell awaits the outcome of `root`'s announcement; it hears it once.
    pub(crate) fn reported(&mut self, root: &Cid) -> bool {
        self.reported.remove(root)
    }

    /// The next root to announce now, if one waits and the limits allow another query.
    pub(crate) fn next(&mut self, now: CoreInstant, busy: bool) -> Option<Cid> {
        if self.running.len() >= ANNOUNCING {
            return None;
        }
        let root = match self.prompt.pop_front() {
            Some(root) => root,
            None => {
                let &(root, queued_at) = self.held.front()?;
                let limit = if !busy {
                    ANNOUNCING
                } else if now >= queued_at + ANNOUNCE_HOLD {
                    ANNOUNCING_WHEN_BUSY
                } else {
                    0
                };
                if self.running.len() >= limit {
                    return None;
                }
                self.held.pop_front();
                root
            }
        };
        self.queued.remove(&root);
        Some(root)
    }

    /// When the oldest held root's hold ends, if nothing runs (a running query's end wakes
    /// the node anyway) and nothing prompt waits.
    pub(crate) fn hold_ends(&self) -> Option<CoreInstant> {
        if !self.running.is_empty() || !self.prompt.is_empty() {
            return None;
        }
        let (_, queued_at) = self.held.front()?;
        Some(*queued_at + ANNOUNCE_HOLD)
    }

    /// The query `query` announcing `root` started.
    pub(crate) fn started(&mut self, query: LookupId, root: Cid) {
        self.running.insert(query, root);
    }

    /// The query `query` ended: the root it announced, if it was one of these announcements.
    pub(crate) fn ended(&mut self, query: LookupId) -> Option<Cid> {
        self.running.remove(&query)
    }

    pub(crate) fn waiting(&self) -> usize {
        self.prompt.len() + self.held.len()
    }

    pub(crate) fn running(&self) -> usize {
        self.running.len()
    }
}

impl<X: Extra> Engine<X> {
    /// Announces `root` to the DHT once its queue reaches it.
    pub(crate) fn announce(&mut self, root: Cid, when: When) {
        self.announcements.push(root, when, self.last_now);
    }

    /// Whether a fetch, a provider lookup or a dial runs: held announcements wait.
    fn busy(&self) -> bool {
        !self.fetches.is_empty()
            || !self.provider_queries.is_empty()
            || !self.warm.lookups.is_empty()
            || !self.dialling.is_empty()
            || !self.warm.dialing.is_empty()
    }

    /// `root`'s announcement ended: reported as [`Output::Announced`] if the shell awaits it.
    pub(crate) fn announced(&mut self, root: Cid, result: Result<(), AnnounceError>) {
        if self.announcements.reported(&root) {
            tracing::info!(%root, ?result, "announced");
            self.outputs
                .push_back(Output::Announced { cid: root, result });
        }
    }

    /// When the engine must wake to start a held announcement (while it is busy).
    pub(crate) fn announce_timeout(&self) -> Option<CoreInstant> {
        self.announcements
            .hold_ends()
            .filter(|t| *t > self.last_now && self.busy())
    }

    /// Starts the queued announcements the limits allow: called whenever the shell has taken
    /// every output, after a query ended, a fetch ended, a timer fired or a root was queued.
    pub(crate) fn announce_due(&mut self) {
        let (now, busy) = (self.last_now, self.busy());
        while let Some(root) = self.announcements.next(now, busy) {
            if !self.provided.contains(&root) {
                // Withdrawn while it waited; an add awaiting it must still hear the end.
                self.announced(
                    root,
                    Err(AnnounceError::Refused(
                        "no longer provided when its turn came".into(),
                    )),
                );
                continue;
            }
            match self.swarm.behaviour_mut().routing.start_providing(&root) {
                Ok(query) => self.announcements.started(query, root),
                Err(e) => {
                    tracing::warn!(%root, error = %e, "cannot announce");
                    self.announced(root, Err(AnnounceError::Refused(e.to_string())));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_core::dag::build_dag;

    fn roots(n: u8) -> Vec<Cid> {
        (0..n).map(|i| build_dag(&[i; 10]).root.cid).collect()
    }

    /// Lookup ids come only from a routing behaviour: start real lookups (with no server,
    /// they end at once).
    fn query_ids(n: usize) -> Vec<LookupId> {
        let key = libp2p::identity::Keypair::generate_ed25519();
        let config = mesh_protocol::Config::new("test".parse().expect("a valid namespace"))
            .with_routing(mesh_protocol::RoutingMode::Delegated);
        let mut routing =
            mesh_protocol::routing::Behaviour::new(key.public().to_peer_id(), &config);
        (0..n)
            .map(|i| routing.get_providers(&build_dag(&[i as u8; 3]).root.cid))
            .collect()
    }

    fn at(ms: u64) -> CoreInstant {
        CoreInstant::from_micros(ms * 1000)
    }

    #[test]
    fn held_ones_run_idle_up_to_the_limit_busy_none_until_the_hold_ends_then_one() {
        let roots = roots(8);
        let ids = query_ids(8);
        let mut queue = Announcements::default();
        for root in &roots {
            queue.push(*root, When::Idle, at(0));
        }
        queue.push(roots[0], When::Idle, at(5));
        assert_eq!(queue.waiting(), 8, "a root waits once");

        // Busy: none before the hold ends.
        assert_eq!(queue.next(at(999), true), None);
        assert_eq!(queue.hold_ends(), Some(at(1000)));

        // Idle: in order, up to the limit.
        let mut started = Vec::new();
        while let Some(root) = queue.next(at(10), false) {
            queue.started(ids[started.len()], root);
            started.push(root);
        }
        assert_eq!(started, roots[..ANNOUNCING].to_vec());
        assert_eq!(queue.hold_ends(), None, "running ones wake the node");

        // Busy after the hold: none starts until all but one ended.
        for (id, root) in ids[..ANNOUNCING - 1].iter().zip(&roots) {
            assert_eq!(queue.ended(*id), Some(*root));
            assert_eq!(queue.next(at(2000), true), None);
        }
        assert_eq!(
            queue.ended(ids[ANNOUNCING - 1]),
            Some(roots[ANNOUNCING - 1])
        );
        assert_eq!(queue.next(at(2000), true), Some(roots[ANNOUNCING]));
        queue.started(ids[ANNOUNCING], roots[ANNOUNCING]);
        assert_eq!(queue.next(at(2000), true), None);
        assert_eq!(queue.ended(ids[0]), None, "ended once");

        // Idle again: the rest.
        let rest: Vec<Cid> = std::iter::from_fn(|| queue.next(at(2000), false)).collect();
        assert_eq!(rest, roots[ANNOUNCING + 1..ANNOUNCING + 4].to_vec());
    }

    #[test]
    fn prompt_ones_go_first_busy_or_not_up_to_the_limit() {
        let roots = roots(7);
        let ids = query_ids(4);
        let mut queue = Announcements::default();
        queue.push(roots[0], When::Idle, at(0));
        queue.push(roots[1], When::Idle, at(0));
        queue.push(roots[2], When::Promptly, at(0));
        // Held, then wanted promptly: it moves.
        queue.push(roots[1], When::Promptly, at(0));
        queue.push(roots[2], When::Idle, at(0));
        for root in &roots[3..7] {
            queue.push(*root, When::Promptly, at(0));
        }
        assert_eq!(queue.waiting(), 7);
        assert_eq!(queue.hold_ends(), None, "prompt ones wait for no timer");

        let mut started = Vec::new();
        while let Some(root) = queue.next(at(0), true) {
            queue.started(ids[started.len()], root);
            started.push(root);
        }
        assert_eq!(started, vec![roots[2], roots[1], roots[3], roots[4]]);
        assert!(queue.ended(ids[0]).is_some());
        assert_eq!(queue.next(at(0), true), Some(roots[5]));
        assert!(queue.ended(ids[1]).is_some());
        assert_eq!(queue.next(at(0), true), Some(roots[6]));
        assert!(queue.ended(ids[2]).is_some());
        assert_eq!(
            queue.next(at(0), true),
            None,
            "the held one waits while busy"
        );
        assert_eq!(queue.next(at(0), false), Some(roots[0]));
    }

    #[test]
    fn a_reported_root_goes_promptly_and_is_reported_once() {
        let roots = roots(2);
        let mut queue = Announcements::default();
        queue.push(roots[0], When::Idle, at(0));
        for root in &roots {
            queue.report_outcome(*root);
            queue.push(*root, When::Promptly, at(0));
        }
        assert_eq!(queue.waiting(), 2, "the held one moved");
        assert_eq!(
            queue.next(at(0), true),
            Some(roots[0]),
            "prompt, busy or not"
        );
        assert!(queue.reported(&roots[0]));
        assert!(!queue.reported(&roots[0]), "once");
        assert!(queue.reported(&roots[1]));
    }
}
