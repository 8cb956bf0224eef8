//! The delegated routing client: lookups and announcements as one request to each connected
//! routing server, and what it takes for the records it leaves to be dialable.
//!
//! A record is only as good as the addresses in it. A browser has none until its relay
//! reservation is accepted, a few round trips after its bootstrap node connects, and its set
//! changes as reservations come and go (and, for a moment, holds the bare circuit address the
//! relay client confirms before the node takes it back). So announcements wait for the node's
//! first address, and when the set changes, every key still provided is announced again with
//! the new set: what a server hands out is what the node has now.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use mesh_core::small::{SmallMap, SmallSet};

use libp2p::PeerId;
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::swarm::{ExternalAddresses, FromSwarm};

use super::book::AddressBook;
use super::wire::{Request, Response, RoutingCodec};
use super::{Event, LookupId, ProvideError};

type Rr = request_response::Behaviour<RoutingCodec>;

#[derive(Debug)]
enum Kind {
    Find,
    Provide {
        accepted: bool,
        refusal: Option<String>,
        failure: Option<String>,
    },
}

impl Kind {
    fn provide() -> Self {
        Self::Provide {
            accepted: false,
            refusal: None,
            failure: None,
        }
    }
}

/// A lookup or announcement waiting for its servers' answers.
#[derive(Debug)]
struct Lookup {
    kind: Kind,
    pending: u32,
    asked: u32,
}

/// The delegated client's state; the request-response behaviour it sends with is passed in.
#[derive(Debug)]
pub(super) struct Delegate {
    local: PeerId,
    lookups: SmallMap<LookupId, Lookup>,
    /// Requests sent, and the lookup each answers (none for withdrawals and re-announcements).
    requests: HashMap<OutboundRequestId, Option<LookupId>>,
    /// Connected routing servers.
    servers: SmallSet<PeerId>,
    /// Connected peers: only those can become servers (a request to another would dial it).
    connected: HashSet<PeerId>,
    pub(super) book: AddressBook,
    external: ExternalAddresses,
    /// Announcements waiting for this node's first address.
    held: Vec<(LookupId, Vec<u8>)>,
    /// Keys this node provides, each with the generation of the address set its last
    /// announcement carried, to announce again when the set changes.
    provided: BTreeMap<Vec<u8>, u64>,
    /// Counts changes of the address set.
    generation: u64,
    /// The generation the last look at the set saw.
    looked_at: u64,
    events: VecDeque<Event>,
}

impl Delegate {
    pub(super) fn new(local: PeerId) -> Self {
        Self {
            local,
            lookups: SmallMap::new(),
            requests: HashMap::new(),
            servers: SmallSet::new(),
            connected: HashSet::new(),
            book: AddressBook::default(),
            external: ExternalAddresses::default(),
            held: Vec::new(),
            provided: BTreeMap::new(),
            generation: 0,
            looked_at: 0,
            events: VecDeque::new(),
        }
    }

    #[cfg(feature = "kad")]
    pub(super) fn addresses(&self) -> &[libp2p::Multiaddr] {
        self.external.as_slice()
    }

    pub(super) fn pop_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub(super) fn servers(&self) -> usize {
        self.servers.len()
    }

    /// `peer` routes for this node, if it is connected.
    pub(super) fn add_server(&mut self, peer: PeerId) {
        if self.connected.contains(&peer) {
            self.servers.insert(peer);
        }
    }

    pub(super) fn get_providers(&mut self, rr: &mut Rr, id: LookupId, key: Vec<u8>) {
        self.ask_servers(rr, id, Kind::Find, Request::FindProviders { key });
    }

    /// Ends lookup `id` early; its last event comes next.
    pub(super) fn finish(&mut self, id: LookupId) {
        if let Some(lookup) = self.lookups.remove(&id) {
            self.ended(id, lookup);
        }
    }

    pub(super) fn start_providing(&mut self, rr: &mut Rr, id: LookupId, key: Vec<u8>) {
        if self.external.as_slice().is_empty() && !self.servers.is_empty() {
            self.provided.insert(key.clone(), self.generation);
            self.lookups.insert(
                id,
                Lookup {
                    kind: Kind::provide(),
                    pending: 0,
                    asked: 0,
                },
            );
            self.held.push((id, key));
        } else {
            self.provide(rr, id, key);
        }
    }

    /// Sends announcement `id` of `key` to every connected server, with this node's addresses.
    fn provide(&mut self, rr: &mut Rr, id: LookupId, key: Vec<u8>) {
        self.provided.insert(key.clone(), self.generation);
        let addrs = self.external.as_slice().to_vec();
        self.ask_servers(rr, id, Kind::provide(), Request::Provide { key, addrs });
    }

    pub(super) fn stop_providing(&mut self, rr: &mut Rr, key: Vec<u8>) {
        self.provided.remove(&key);
        for server in &self.servers {
            let sent = rr.send_request(server, Request::Withdraw { key: key.clone() });
            self.requests.insert(sent, None);
        }
    }

    /// Forgets every server and address, and ends every lookup.
    pub(super) fn forget_all(&mut self) {
        self.servers.clear();
        self.book.clear();
        self.held.clear();
        for (id, lookup) in std::mem::take(&mut self.lookups) {
            self.ended(id, lookup);
        }
    }

    pub(super) fn on_swarm_event(&mut self, event: &FromSwarm) {
        if self.external.on_swarm_event(event) {
            self.generation += 1;
        }
        match event {
            FromSwarm::ConnectionEstablished(e) => {
                self.connected.insert(e.peer_id);
            }
            FromSwarm::ConnectionClosed(closed) if closed.remaining_established == 0 => {
                self.connected.remove(&closed.peer_id);
                self.servers.remove(&closed.peer_id);
            }
            _ => {}
        }
    }

    /// After the address set changed (looked at when the behaviour is polled, so that a
    /// change the node takes back at once costs nothing more): the announcements that waited
    /// go out, and every key whose last announcement carried an older set is announced again.
    pub(super) fn readvertise(&mut self, rr: &mut Rr) {
        if self.looked_at == self.generation || self.external.as_slice().is_empty() {
            return;
        }
        self.looked_at = self.generation;
        for (id, key) in std::mem::take(&mut self.held) {
            if self.lookups.remove(&id).is_some() {
                self.provide(rr, id, key);
            }
        }
        let addrs = self.external.as_slice().to_vec();
        for (key, sent_with) in &mut self.provided {
            if *sent_with == self.generation {
                continue;
            }
            *sent_with = self.generation;
            for server in &self.servers {
                let request = Request::Provide {
                    key: key.clone(),
                    addrs: addrs.clone(),
                };
                let id = rr.send_request(server, request);
                self.requests.insert(id, None);
            }
        }
    }

    /// Sends `request` to every connected server, or ends the lookup at once if none is.
    fn ask_servers(&mut self, rr: &mut Rr, id: LookupId, kind: Kind, request: Request) {
        let mut lookup = Lookup {
            kind,
            pending: 0,
            asked: 0,
        };
        for server in &self.servers {
            let sent = rr.send_request(server, request.clone());
            self.requests.insert(sent, Some(id));
            lookup.pending += 1;
        }
        lookup.asked = lookup.pending;
        if lookup.pending == 0 {
            self.ended(id, lookup);
        } else {
            self.lookups.insert(id, lookup);
        }
    }

    /// A lookup is over: its last event.
    fn ended(&mut self, id: LookupId, lookup: Lookup) {
        let event = match lookup.kind {
            Kind::Find => Event::Providers {
                id,
                providers: Vec::new(),
                last: true,
                requests: lookup.asked,
            },
            Kind::Provide {
                accepted,
                refusal,
                failure,
            } => {
                let result = match (accepted, refusal, failure) {
                    (true, _, _) => Ok(()),
                    (false, Some(reason), _) => Err(ProvideError::Refused(reason)),
                    (false, None, _) if lookup.asked == 0 => Err(ProvideError::NoServer),
                    (false, None, failure) => Err(ProvideError::Incomplete(
                        failure.unwrap_or_else(|| "ended early".to_owned()),
                    )),
                };
                Event::Provided { id, result }
            }
        };
        self.events.push_back(event);
    }

    /// A server's answer (or the failure to get one) to request `request`.
    pub(super) fn answered(
        &mut self,
        request: OutboundRequestId,
        answer: Result<Response, String>,
    ) {
        let Some(Some(id)) = self.requests.remove(&request) else {
            return;
        };
        let Some(lookup) = self.lookups.get_mut(&id) else {
            // Finished early or forgotten.
            return;
        };
        lookup.pending -= 1;
        let last = lookup.pending == 0;
        let asked = lookup.asked;
        match (&mut lookup.kind, answer) {
            (Kind::Find, Ok(Response::Providers(providers))) => {
                let mut peers = Vec::with_capacity(providers.len());
                for provider in providers {
                    if provider.peer != self.local {
                        peers.push(provider.peer);
                        self.book.insert(provider.peer, provider.addrs);
                    }
                }
                if last {
                    self.lookups.remove(&id);
                }
                self.events.push_back(Event::Providers {
                    id,
                    providers: peers,
                    last,
                    requests: if last { asked } else { 0 },
                });
                return;
            }
            (Kind::Find, other) => {
                tracing::debug!(?other, "a routing server did not name providers");
            }
            (Kind::Provide { accepted, .. }, Ok(Response::Provided)) => *accepted = true,
            (Kind::Provide { refusal, .. }, Ok(Response::Refused(reason))) => {
                *refusal = Some(reason);
            }
            (Kind::Provide { failure, .. }, other) => {
                *failure = Some(match other {
                    Err(e) => e,
                    Ok(unexpected) => format!("unexpected answer {unexpected:?}"),
                });
            }
        }
        if last && let Some(lookup) = self.lookups.remove(&id) {
            self.ended(id, lookup);
        }
    }
}
