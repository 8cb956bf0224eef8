//! Delegated routing (`/mesh/<ns>/routing/1.0.0`): browsers, which carry no Kademlia, find
//! providers and announce themselves through the bootstrap nodes they are connected to.
//!
//! Answers come from the same provider store, under the same limits, as Kademlia's
//! `ADD_PROVIDER` and `GET_PROVIDERS`: a record announced either way is found either way. A
//! browser's records live here only while it is connected (see `store.rs`). A lookup this
//! store cannot answer is passed on once to the other routing servers this node is connected
//! to (the bootstrap nodes it joined), which answer from their own stores ([`Forwards`]): a
//! browser given one bootstrap node of several finds providers connected to the others, as a
//! Kademlia walk would have found them, in one more round trip and no more.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use libp2p::kad::store::RecordStore;
use libp2p::kad::{ProviderRecord, RecordKey};
use libp2p::request_response::{OutboundRequestId, ResponseChannel};
use mesh_protocol::routing::serve::held_providers;
use mesh_protocol::routing::wire::{MAX_PROVIDERS, Provider, Request, Response};

use crate::store::{ProviderRefusal, ProviderStore};

/// How long a lookup passed on to other routing servers waits for them: the asker's own
/// request allows 10 s, and its fetch falls back to the origin long before.
pub(crate) const FORWARD_TIMEOUT: Duration = Duration::from_secs(2);

/// What a request was, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum RequestKind {
    Find,
    FindHeld,
    Provide,
    Withdraw,
}

impl RequestKind {
    pub(crate) const ALL: [Self; 4] = [Self::Find, Self::FindHeld, Self::Provide, Self::Withdraw];

    pub(crate) fn of(request: &Request) -> Self {
        match request {
            Request::FindProviders { .. } => Self::Find,
            Request::FindHeldProviders { .. } => Self::FindHeld,
            Request::Provide { .. } => Self::Provide,
            Request::Withdraw { .. } => Self::Withdraw,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Find => "find",
            Self::FindHeld => "find_held",
            Self::Provide => "provide",
            Self::Withdraw => "withdraw",
        }
    }
}

/// What answering changed in the store, and what is left to do, for the node.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Nothing stored or removed.
    Read,
    /// A client's lookup of this key found nobody here: other routing servers may know.
    Unanswered(Vec<u8>),
    /// The store changed.
    Changed,
    /// A record was refused.
    Refused(ProviderRefusal),
}

/// The answer to `peer`'s `request`; `peer` connects from `source` and its records live
/// `ttl` from `now` (or until it disconnects).
pub(crate) fn answer(
    store: &mut ProviderStore,
    peer: PeerId,
    source: Option<IpAddr>,
    request: Request,
    ttl: Duration,
    now: Instant,
) -> (Response, Outcome) {
    match request {
        Request::FindProviders { key } => {
            let providers = held_providers(store, &key, peer, now);
            let outcome = if providers.is_empty() {
                Outcome::Unanswered(key)
            } else {
                Outcome::Read
            };
            (Response::Providers(providers), outcome)
        }
        Request::FindHeldProviders { key } => {
            let providers = held_providers(store, &key, peer, now);
            (Response::Providers(providers), Outcome::Read)
        }
        Request::Provide { key, addrs } => {
            let record = ProviderRecord {
                key: RecordKey::new(&key),
                provider: peer,
                expires: Some(now + ttl),
                addresses: addrs,
            };
            match store.insert(record, source) {
                Ok(()) => (Response::Provided, Outcome::Changed),
                Err(refusal) => (
                    Response::Refused(refusal.to_string()),
                    Outcome::Refused(refusal),
                ),
            }
        }
        Request::Withdraw { key } => {
            store.remove_provider(&RecordKey::new(&key), &peer);
            (Response::Withdrawn, Outcome::Changed)
        }
    }
}

/// Lookups passed on to other routing servers, each waiting for their answers.
#[derive(Default)]
pub(crate) struct Forwards {
    waiting: HashMap<u64, Forward>,
    requests: HashMap<OutboundRequestId, u64>,
    next: u64,
}

struct Forward {
    channel: ResponseChannel<Response>,
    asker: PeerId,
    pending: usize,
    found: Vec<Provider>,
}

impl Forwards {
    /// `asker`'s lookup, to be answered on `channel`, went to other servers as `sent`.
    pub(crate) fn start(
        &mut self,
        asker: PeerId,
        channel: ResponseChannel<Response>,
        sent: Vec<OutboundRequestId>,
    ) {
        self.next += 1;
        for request in &sent {
            self.requests.insert(*request, self.next);
        }
        let forward = Forward {
            channel,
            asker,
            pending: sent.len(),
            found: Vec::new(),
        };
        self.waiting.insert(self.next, forward);
    }

    /// Another server answered `request` with `providers` (none if it failed): the merged
    /// answer and where it goes, once every server asked has answered.
    pub(crate) fn answered(
        &mut self,
        request: OutboundRequestId,
        providers: Vec<Provider>,
    ) -> Option<(ResponseChannel<Response>, Response)> {
        let id = self.requests.remove(&request)?;
        let forward = self.waiting.get_mut(&id)?;
        forward.pending -= 1;
        for provider in providers {
            let known = forward.found.iter().any(|p| p.peer == provider.peer);
            if !known && provider.peer != forward.asker && forward.found.len() < MAX_PROVIDERS {
                forward.found.push(provider);
            }
        }
        if forward.pending > 0 {
            return None;
        }
        let forward = self.waiting.remove(&id)?;
        Some((forward.channel, Response::Providers(forward.found)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::num::NonZeroUsize;

    use libp2p::Multiaddr;

    use super::*;
    use crate::store::StoreConfig;

    fn store(max_records_per_peer: usize) -> ProviderStore {
        let unlimited = usize::MAX;
        ProviderStore::new(
            PeerId::random(),
            StoreConfig {
                max_providers_per_key: NonZeroUsize::new(20).unwrap().get(),
                max_records: unlimited,
                max_records_per_peer,
                max_records_per_ip: unlimited,
                max_records_per_net64: unlimited,
                max_address_bytes_per_ip: unlimited,
                max_address_bytes_per_net64: unlimited,
            },
        )
    }

    const TTL: Duration = Duration::from_secs(60);

    #[test]
    fn provided_records_are_found_by_others_with_their_addresses_and_withdrawn() {
        let mut store = store(10);
        let (browser, asker) = (PeerId::random(), PeerId::random());
        let addr: Multiaddr = "/ip4/10.0.0.1/udp/1/webrtc-direct".parse().unwrap();
        let now = Instant::now();
        let key = vec![0x12, 0x20, 1];
        let provide = Request::Provide {
            key: key.clone(),
            addrs: vec![addr.clone()],
        };
        let ip = Some("10.0.0.1".parse().unwrap());
        let (response, outcome) = answer(&mut store, browser, ip, provide, TTL, now);
        assert_eq!((response, outcome), (Response::Provided, Outcome::Changed));

        let find = || Request::FindProviders { key: key.clone() };
        let (response, _) = answer(&mut store, asker, None, find(), TTL, now);
        assert_eq!(
            response,
            Response::Providers(vec![Provider {
                peer: browser,
                addrs: vec![addr]
            }])
        );
        let (response, _) = answer(&mut store, browser, None, find(), TTL, now);
        assert_eq!(response, Response::Providers(Vec::new()), "not itself");
        let later = now + TTL + Duration::from_secs(1);
        let (response, _) = answer(&mut store, asker, None, find(), TTL, later);
        assert_eq!(response, Response::Providers(Vec::new()), "expired");

        let withdraw = Request::Withdraw { key: key.clone() };
        let (response, _) = answer(&mut store, browser, None, withdraw, TTL, now);
        assert_eq!(response, Response::Withdrawn);
        let (response, outcome) = answer(&mut store, asker, None, find(), TTL, now);
        assert_eq!(response, Response::Providers(Vec::new()));
        assert_eq!(
            outcome,
            Outcome::Unanswered(key.clone()),
            "a client's: to pass on"
        );
        let held = Request::FindHeldProviders { key };
        let (response, outcome) = answer(&mut store, asker, None, held, TTL, now);
        assert_eq!(response, Response::Providers(Vec::new()));
        assert_eq!(
            outcome,
            Outcome::Read,
            "a passed-on lookup is never passed on again"
        );
    }

    #[test]
    fn the_store_limits_refuse_with_their_reason() {
        let mut store = store(1);
        let peer = PeerId::random();
        let now = Instant::now();
        for (key, expected) in [(1u8, None), (2, Some(ProviderRefusal::PeerRecords))] {
            let provide = Request::Provide {
                key: vec![key],
                addrs: Vec::new(),
            };
            let (response, outcome) = answer(&mut store, peer, None, provide, TTL, now);
            match expected {
                None => assert_eq!(response, Response::Provided),
                Some(refusal) => {
                    assert_eq!(response, Response::Refused(refusal.to_string()));
                    assert_eq!(outcome, Outcome::Refused(refusal));
                }
            }
        }
    }
}
