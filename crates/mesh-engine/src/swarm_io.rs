//! Swarm events: connections, listeners, identify and provider routing.

use libp2p::core::ConnectedPoint;
use libp2p::identify;
use libp2p::swarm::SwarmEvent;
use mesh_core::time::Instant as CoreInstant;
use mesh_protocol::{Event, Extra, LookupId, ProvideError, routing};

use crate::connections::IDENTIFY_DEADLINE;
use crate::{AnnounceError, ConnectionKind, Engine, Output, PeerKind, is_loopback};

pub(crate) fn handle<X: Extra>(engine: &mut Engine<X>, now: CoreInstant, event: SwarmEvent<Event>) {
    match event {
        SwarmEvent::Behaviour(Event::Identify(e)) => engine.on_identify(now, e),
        SwarmEvent::Behaviour(Event::Routing(e)) => engine.on_routing(now, e),
        SwarmEvent::Behaviour(Event::Blocks(e)) => engine.on_blocks(now, e),
        SwarmEvent::Behaviour(_) => {}
        SwarmEvent::NewListenAddr {
            listener_id,
            address,
        } => {
            tracing::info!(%address, "listening");
            engine.bootstrap_listening(listener_id);
            // Without block exchange over relays, other nodes are to reach this one by
            // `/webrtc` (the circuit carries only the signaling): the plain circuit address
            // is not advertised.
            let signaling_only = !engine.config.exchange_over_relayed
                && ConnectionKind::of(&address) == ConnectionKind::Relayed;
            if signaling_only {
                // The relay client confirms its circuit address itself: take it back.
                engine.swarm.remove_external_address(&address);
            } else if engine.config.advertise_listen_addrs
                && (engine.config.advertise_loopback || !is_loopback(&address))
            {
                engine.swarm.add_external_address(address.clone());
            }
            engine.outputs.push_back(Output::Listening {
                listener: listener_id,
                address,
            });
        }
        SwarmEvent::ExternalAddrConfirmed { address }
            if !engine.config.exchange_over_relayed
                && ConnectionKind::of(&address) == ConnectionKind::Relayed =>
        {
            engine.swarm.remove_external_address(&address);
        }
        SwarmEvent::ExpiredListenAddr { address, .. } => {
            engine.swarm.remove_external_address(&address);
        }
        SwarmEvent::ListenerClosed {
            listener_id,
            addresses,
            reason,
        } => {
            let reason = match reason {
                Ok(()) => "closed".to_owned(),
                Err(e) => e.to_string(),
            };
            for address in &addresses {
                engine.swarm.remove_external_address(address);
            }
            tracing::warn!(addr = ?addresses.first(), %reason, "listener closed");
            engine.bootstrap_listener_closed(now, listener_id, &reason);
            engine.outputs.push_back(Output::ListenerFailed {
                listener: listener_id,
                address: addresses.first().cloned(),
                reason,
            });
        }
        SwarmEvent::ListenerError { listener_id, error } => {
            tracing::warn!(%error, "listener error");
            engine.bootstrap_listener_closed(now, listener_id, &error.to_string());
            engine.outputs.push_back(Output::ListenerFailed {
                listener: listener_id,
                address: None,
                reason: error.to_string(),
            });
        }
        SwarmEvent::ConnectionEstablished {
            peer_id,
            endpoint,
            connection_id,
            num_established,
            ..
        } => {
            let addr = endpoint.get_remote_address();
            if engine.bootstrap.revoked {
                // A dial under way when consent was withdrawn, or someone dialling in.
                tracing::debug!(peer = %peer_id, %addr, "consent withdrawn: closing");
                engine.swarm.close_connection(connection_id);
                return;
            }
            tracing::debug!(peer = %peer_id, %addr, "connected");
            let kind = ConnectionKind::of(addr);
            if kind == ConnectionKind::Direct {
                engine
                    .connections
                    .awaiting_identify(connection_id, now + IDENTIFY_DEADLINE);
            }
            for relayed in engine.connections.opened(peer_id, connection_id, kind) {
                tracing::debug!(peer = %peer_id, "direct connection up: closing the relayed one");
                engine.swarm.close_connection(relayed);
            }
            if let (Some(i), ConnectedPoint::Dialer { address, .. }) =
                (engine.bootstrap.index(&peer_id), &endpoint)
                && num_established.get() == 1
            {
                engine.bootstrap_connected(now, i, address.clone());
            }
            if kind == ConnectionKind::Relayed && !engine.config.exchange_over_relayed {
                // Still dialling, in effect: the direct connection is being set up.
                return;
            }
            engine.dialling.remove(&peer_id);
        }
        SwarmEvent::ConnectionClosed {
            connection_id,
            peer_id,
            num_established,
            ..
        } if num_established > 0 => {
            engine.connections.closed(&peer_id, connection_id);
            tracing::trace!(peer = %peer_id, "one of several connections closed");
        }
        SwarmEvent::ConnectionClosed {
            peer_id,
            connection_id,
            num_established: 0,
            ..
        } => {
            engine.connections.closed(&peer_id, connection_id);
            tracing::debug!(peer = %peer_id, "disconnected");
            engine.warm_settled(&peer_id);
            if let Some(i) = engine.bootstrap.index(&peer_id) {
                engine.bootstrap_lost(now, i);
            }
            engine.outputs.push_back(Output::PeerUnusable {
                peer: peer_id,
                reason: "connection closed".to_owned(),
            });
            engine
                .outputs
                .push_back(Output::Disconnected { peer: peer_id });
            engine.server.peer_gone(&peer_id);
            // Their streams closed with the connection.
            engine.kept.retain(|_, (peer, _, _)| *peer != peer_id);
            // Bootstrap nodes are reported as such, never as mesh peers (as on connect).
            if engine.mesh_peers.remove(&peer_id) && !engine.bootstrap.contains(&peer_id) {
                engine.outputs.push_back(Output::PeerChanged {
                    peer: peer_id,
                    kind: PeerKind::Mesh,
                    connected: false,
                });
            }
            // Also for a peer that never became a mesh peer: it may have announced roots
            // before (its identify raced ours); the planner forgets them.
            engine.planner.handle_peer_disconnected(now, peer_id);
            engine.cancelled.retain(|(peer, _), _| *peer != peer_id);
        }
        SwarmEvent::OutgoingConnectionError {
            peer_id: Some(peer),
            error,
            ..
        } => {
            tracing::debug!(%peer, %error, "dial failed");
            if !engine.swarm.is_connected(&peer) {
                engine.warm_settled(&peer);
                if let Some(i) = engine.bootstrap.index(&peer) {
                    tracing::warn!(%peer, %error, "cannot reach bootstrap node");
                    engine.bootstrap_lost(now, i);
                }
                engine.outputs.push_back(Output::PeerUnusable {
                    peer,
                    reason: error.to_string(),
                });
                engine.outputs.push_back(Output::DialFailed {
                    peer,
                    reason: error.to_string(),
                });
                if engine.dialling.remove(&peer) {
                    engine.planner.handle_peer_disconnected(now, peer);
                }
            }
        }
        _ => {}
    }
}

impl<X: Extra> Engine<X> {
    /// Ends a provider lookup once a routing server named providers. Kademlia would otherwise go on
    /// to ask the providers themselves for providers: they are browser nodes, DHT clients
    /// that refuse the request, and one not connected yet would be dialled for it (a /webrtc
    /// connection through the relay) before the planner's own dial. The DHT node that answers
    /// holds the whole provider set of the key (every provider announces to the closest nodes).
    fn finish_lookup(&mut self, id: LookupId) {
        self.swarm.behaviour_mut().routing.finish(id);
    }

    fn on_identify(&mut self, now: CoreInstant, event: identify::Event) {
        let identify::Event::Received {
            peer_id,
            info,
            connection_id,
        } = event
        else {
            return;
        };
        self.connections.identified(connection_id);
        if !self.config.exchange_over_relayed
            && self.connections.kind(&peer_id, connection_id) == Some(ConnectionKind::Relayed)
        {
            // The peer becomes a block-exchange peer when its direct connection identifies.
            return;
        }
        if info.protocol_version != self.identify_version {
            tracing::info!(peer = %peer_id, version = %info.protocol_version,
                "peer belongs to another mesh; disconnecting");
            self.outputs.push_back(Output::PeerUnusable {
                peer: peer_id,
                reason: format!(
                    "peer speaks {}, not {}",
                    info.protocol_version, self.identify_version
                ),
            });
            let _ = self.swarm.disconnect_peer_id(peer_id);
            return;
        }
        let routing = &mut self.swarm.behaviour_mut().routing;
        if routing.serves(&info.protocols) {
            routing.add_server(peer_id, info.listen_addrs);
        }
        if info.protocols.contains(&self.blocks_protocol) {
            self.warm_settled(&peer_id);
            if self.mesh_peers.insert(peer_id) {
                self.warm_progress();
                self.planner.handle_peer_connected(now, peer_id);
                self.send_summary(peer_id);
                if !self.bootstrap.contains(&peer_id) {
                    self.outputs.push_back(Output::PeerChanged {
                        peer: peer_id,
                        kind: PeerKind::Mesh,
                        connected: true,
                    });
                }
            }
            self.outputs.push_back(Output::PeerReady { peer: peer_id });
        } else {
            // A warm dial that reached a peer without the block exchange is over too.
            self.warm_settled(&peer_id);
            if self.dialling.remove(&peer_id) {
                // Dialled as a provider but cannot exchange blocks.
                self.planner.handle_peer_disconnected(now, peer_id);
            }
            self.outputs.push_back(Output::PeerUnusable {
                peer: peer_id,
                reason: "peer does not speak the block exchange".to_owned(),
            });
        }
    }

    fn on_routing(&mut self, now: CoreInstant, event: routing::Event) {
        match event {
            routing::Event::Providers {
                id,
                providers,
                last,
                requests,
            } => {
                self.stats.provider_lookup_requests += u64::from(requests);
                if self.warm.lookups.contains_key(&id) {
                    // Dials first: a lookup whose one answer is also its last (one routing
                    // server) must not end the first warm round before they start.
                    let found = !providers.is_empty();
                    self.warm_dial(providers);
                    if last {
                        self.warm.lookups.remove(&id);
                        self.warm_progress();
                    } else if found {
                        self.finish_lookup(id);
                    }
                    return;
                }
                let Some(&root) = self.provider_queries.get(&id) else {
                    return;
                };
                if !providers.is_empty() {
                    tracing::debug!(%root, ?providers, "providers found");
                }
                if last {
                    self.provider_queries.remove(&id);
                }
                let found = !providers.is_empty();
                // Dials happen inside this call, while routing still knows the providers'
                // addresses (Kademlia's running query, the delegate's address book).
                self.planner.handle_providers(now, root, providers, last);
                self.drain_planner();
                if found && !last {
                    self.finish_lookup(id);
                }
            }
            routing::Event::Provided { id, result } => {
                let Some(root) = self.announcements.ended(id) else {
                    return;
                };
                let result = result.map_err(|e| {
                    tracing::debug!(%root, error = %e, "announcement incomplete");
                    match e {
                        ProvideError::Refused(reason) => AnnounceError::Refused(reason),
                        other => AnnounceError::Incomplete(other.to_string()),
                    }
                });
                self.announced(root, result);
            }
        }
    }
}
