//! Consent and serving. A page may withdraw its consent to peer connections at any time
//! ([`Engine::leave`]) and give it again ([`Engine::join`]); and it may stop serving other
//! nodes for a while ([`Engine::pause_serving`]: a hidden tab, Save-Data, a metered
//! connection) or for good ([`EngineConfig::serve`] off: nothing announced, no relay
//! reservation, nothing served), while still fetching from peers.
//!
//! What withdrawing consent must guarantee: no connection stays open or is let in, no redial,
//! no reservation, no record of this node is republished, and the routing table is forgotten
//! (it would let Kademlia dial peers again). What this node provides is remembered, so joining
//! again re-announces it (the bootstrap node dropped the records with the connection).

use mesh_core::time::Instant as CoreInstant;
use mesh_protocol::Extra;

use crate::{Engine, EngineConfig};

impl<X: Extra> Engine<X> {
    /// Withdraws consent: closes every connection and listener, stops redialling, serving
    /// and announcing. [`Engine::join`] undoes it.
    pub fn leave(&mut self, now: CoreInstant) {
        self.tick(now);
        tracing::info!("consent withdrawn: leaving the mesh");
        for listener in self.bootstrap.stop() {
            self.swarm.remove_listener(listener);
        }
        self.warm.stop();
        let routing = &mut self.swarm.behaviour_mut().routing;
        for cid in &self.provided {
            routing.stop_providing(cid);
        }
        routing.forget_all();
        let peers: Vec<_> = self.swarm.connected_peers().copied().collect();
        for peer in peers {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    /// Whether consent was withdrawn (and not given again).
    pub fn left(&self) -> bool {
        self.bootstrap.revoked
    }

    /// Stops (`true`) or resumes serving other nodes; requests are answered "don't have"
    /// meanwhile. Has no effect while [`EngineConfig::serve`] is off.
    pub fn pause_serving(&mut self, paused: bool) {
        self.server.set_paused(paused || !self.config.serve);
    }

    /// Whether other nodes are served now.
    pub fn serving(&self) -> bool {
        !self.server.paused()
    }
}

impl EngineConfig {
    /// Sets [`EngineConfig::serve`].
    pub fn with_serve(mut self, on: bool) -> Self {
        self.serve = on;
        self
    }
}
