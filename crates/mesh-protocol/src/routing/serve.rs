//! A Kademlia server answering delegated routing requests from its own record store.
//!
//! The bootstrap node answers from its provider store with its own limits
//! (`bootstrap-node/src/routing.rs`); this is the same service on a mesh node in Kademlia
//! server mode (a reachable seeder, the test network's bootstrap node), within the limits of
//! its `MemoryStore`.

use std::time::Duration;

use libp2p::kad::store::{MemoryStore, RecordStore};
use libp2p::kad::{self, ProviderRecord, RecordKey};
use libp2p::{Multiaddr, PeerId};
use web_time::Instant;

use super::wire::{MAX_PROVIDERS, Provider, Request, Response};

/// The answer to `peer`'s `request`. This node's own records carry its current external
/// addresses (`local_addrs`), as Kademlia's answers do.
pub(super) fn answer(
    kad: &mut kad::Behaviour<MemoryStore>,
    local: PeerId,
    local_addrs: &[Multiaddr],
    peer: PeerId,
    request: Request,
    ttl: Option<Duration>,
) -> Response {
    let now = Instant::now();
    match request {
        Request::FindProviders { key } | Request::FindHeldProviders { key } => {
            let key = RecordKey::new(&key);
            let store = kad.store_mut();
            let providers = store
                .providers(&key)
                .into_iter()
                .filter(|r| !r.is_expired(now) && r.provider != peer)
                .take(MAX_PROVIDERS)
                .map(|r| Provider {
                    addrs: if r.provider == local && r.addresses.is_empty() {
                        local_addrs.to_vec()
                    } else {
                        r.addresses
                    },
                    peer: r.provider,
                })
                .collect();
            Response::Providers(providers)
        }
        Request::Provide { key, addrs } => {
            let record = ProviderRecord {
                key: RecordKey::new(&key),
                provider: peer,
                expires: ttl.map(|ttl| now + ttl),
                addresses: addrs,
            };
            match kad.store_mut().add_provider(record) {
                Ok(()) => Response::Provided,
                Err(e) => Response::Refused(e.to_string()),
            }
        }
        Request::Withdraw { key } => {
            kad.store_mut()
                .remove_provider(&RecordKey::new(&key), &peer);
            Response::Withdrawn
        }
    }
}
