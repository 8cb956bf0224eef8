//! Warm peers: connections opened before the page asks, to providers of the site's assets.
//!
//! A new connection costs more than the fallback deadline (a `/webrtc` dial takes 0.2–1 s), so
//! assets come from peers mostly over connections that are already open. Once the first
//! bootstrap node is connected, and then every [`WARM_INTERVAL`] while fewer than the wanted
//! number are open, the engine looks up providers of the site and dials them: with a site
//! rendezvous key ([`EngineConfig::site`](crate::EngineConfig::site)) one lookup of that key,
//! which every node holding any of the site's assets provides; without one, a few of the
//! site's assets in turn.

use std::collections::{BTreeSet, HashMap};

use mesh_core::small::SmallSet;
use std::time::Duration;

use cid::Cid;
use libp2p::PeerId;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use mesh_core::time::Instant as CoreInstant;
use mesh_protocol::{Extra, LookupId};

use crate::Engine;
use crate::announce::When;

/// How often the warm connections are topped up when fewer than wanted are open.
pub const WARM_INTERVAL: Duration = Duration::from_secs(20);

/// Assets whose providers are looked up per top-up round.
pub const WARM_LOOKUPS: usize = 32;

/// The warm-peer state.
#[derive(Debug, Default)]
pub(crate) struct Warm {
    /// Connections wanted.
    target: usize,
    /// The site's assets, whose providers are dialled.
    assets: Vec<Cid>,
    /// The same, to test membership.
    asset_set: BTreeSet<Cid>,
    /// The site's rendezvous key, and whether this node provides it now.
    site: Option<Cid>,
    providing_site: bool,
    /// Where the next round starts in `assets`.
    cursor: usize,
    next: Option<CoreInstant>,
    /// Dials under way.
    pub(crate) dialing: SmallSet<PeerId>,
    /// Provider lookups under way.
    pub(crate) lookups: HashMap<LookupId, Cid>,
    /// Where the first round is ([`Engine::warming`]).
    phase: WarmPhase,
}

/// The first round of warm connections, which `NodeStatus::warming` reports.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum WarmPhase {
    /// Not started: the bootstrap node is not connected yet (or consent was withdrawn).
    #[default]
    Waiting,
    /// Its lookups or dials go on, and no mesh peer other than a bootstrap node is ready.
    FirstRound,
    /// A mesh peer is ready, or the round ended without one.
    Done,
}

impl Warm {
    pub(crate) fn new(target: usize, assets: Vec<Cid>, site: Option<Cid>) -> Self {
        Self {
            target,
            asset_set: assets.iter().copied().collect(),
            assets,
            site,
            ..Self::default()
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<CoreInstant> {
        self.next
    }

    /// Whether there are warm connections to open at all.
    fn enabled(&self) -> bool {
        self.target > 0 && !self.assets.is_empty()
    }

    /// No more rounds until [`Engine::warm_start`] (consent withdrawn); the first round
    /// after it is awaited afresh.
    pub(crate) fn stop(&mut self) {
        self.next = None;
        self.phase = WarmPhase::Waiting;
    }
}

impl<X: Extra> Engine<X> {
    /// Starts the rounds (when the first bootstrap node is connected).
    pub(crate) fn warm_start(&mut self, now: CoreInstant) {
        if self.warm.next.is_none() && self.warm.enabled() {
            self.warm.next = Some(now);
        }
    }

    /// Peers (other than bootstrap nodes) reachable without a relay, plus dials under way.
    fn warm_count(&self) -> usize {
        let bootstrap = &self.bootstrap;
        self.connections.unrelayed_peers(|p| !bootstrap.contains(p)) + self.warm.dialing.len()
    }

    /// A round, if due: looks up providers of the next few assets when fewer warm
    /// connections than wanted are open.
    pub(crate) fn warm_timeout(&mut self, now: CoreInstant) {
        if self.warm.next.is_none_or(|t| t > now) {
            return;
        }
        self.warm.next = Some(now + WARM_INTERVAL);
        if self.warm.phase == WarmPhase::Waiting {
            self.warm.phase = WarmPhase::FirstRound;
        }
        if self.warm_count() >= self.warm.target {
            self.warm_progress();
            return;
        }
        if let Some(site) = self.warm.site {
            let query = self.swarm.behaviour_mut().routing.get_providers(&site);
            self.warm.lookups.insert(query, site);
            return;
        }
        let n = self.warm.assets.len();
        for _ in 0..WARM_LOOKUPS.min(n) {
            let cid = self.warm.assets[self.warm.cursor % n];
            self.warm.cursor = self.warm.cursor.wrapping_add(1);
            let query = self.swarm.behaviour_mut().routing.get_providers(&cid);
            self.warm.lookups.insert(query, cid);
        }
    }

    /// Providers found by a warm lookup: dial them while fewer than wanted are open.
    pub(crate) fn warm_dial(&mut self, peers: Vec<PeerId>) {
        for peer in peers {
            if self.warm_count() >= self.warm.target {
                return;
            }
            if self.connections.has_unrelayed(&peer)
                || self.warm.dialing.contains(&peer)
                || self.bootstrap.contains(&peer)
            {
                continue;
            }
            let opts = DialOpts::peer_id(peer)
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            if self.swarm.dial(opts).is_ok() {
                tracing::debug!(%peer, "opening a warm connection");
                self.warm.dialing.insert(peer);
                self.stats.warm_dials += 1;
            }
        }
    }

    /// The cache changed: provide the site's rendezvous key while it holds any of the
    /// site's assets, and stop when it holds none.
    pub(crate) fn site_update(&mut self) {
        let Some(site) = self.warm.site.filter(|_| self.config.serve) else {
            return;
        };
        let holds = self.cache.roots().any(|r| self.warm.asset_set.contains(r));
        if holds == self.warm.providing_site {
            return;
        }
        self.warm.providing_site = holds;
        if holds {
            // Promptly, busy or not: other tabs find warm peers by it.
            self.provided.insert(site);
            self.announce(site, When::Promptly);
        } else {
            self.provided.remove(&site);
            self.swarm.behaviour_mut().routing.stop_providing(&site);
        }
    }

    /// A warm dial ended (the peer is ready, unusable, or the dial failed).
    pub(crate) fn warm_settled(&mut self, peer: &PeerId) {
        self.warm.dialing.remove(peer);
        self.warm_progress();
    }

    /// Ends the first round once a mesh peer (not a bootstrap node) is ready, or its lookups
    /// and dials are over: called where those change (a lookup ends, a dial settles, a mesh
    /// peer identifies).
    pub(crate) fn warm_progress(&mut self) {
        if self.warm.phase != WarmPhase::FirstRound {
            return;
        }
        let settled = self.warm.lookups.is_empty() && self.warm.dialing.is_empty();
        let peer_ready = self.mesh_peers.iter().any(|p| !self.bootstrap.contains(p));
        if settled || peer_ready {
            self.warm.phase = WarmPhase::Done;
        }
    }

    /// Whether the first warm connections are still to come: the bootstrap node is not
    /// connected yet, or the first round is under way with no mesh peer ready yet (its lookups
    /// or dials go on). A page with assets that can wait for peers (below the fold, a later
    /// view) waits for this to end ([`NodeStatus::warming`](crate::NodeStatus::warming)). One
    /// ready peer ends it: a dead provider's dial would otherwise hold it for the dial timeout.
    pub(crate) fn warming(&self) -> bool {
        self.warm.enabled() && self.warm.phase != WarmPhase::Done
    }
}
