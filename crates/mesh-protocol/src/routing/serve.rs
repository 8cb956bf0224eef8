//! Answering delegated routing requests from a Kademlia record store.
//!
//! [`held_providers`] is the lookup every routing server answers the same way: the bootstrap
//! node from its provider store (`bootstrap-node/src/routing.rs`, which stores records under
//! its own limits), and a mesh node in Kademlia server mode (a reachable seeder, the
//! test network's bootstrap node) from its `MemoryStore`.

use std::time::Duration;

use libp2p::kad::store::{MemoryStore, RecordStore};
use libp2p::kad::{self, ProviderRecord, RecordKey};
use libp2p::{Multiaddr, PeerId};
use web_time::Instant;

use super::wire::{MAX_PROVIDERS, Provider, Request, Response};

/// The live providers of `key` that `store` holds, other than `asker`, at most
/// [`MAX_PROVIDERS`], with the addresses their records carry.
pub fn held_providers(
    store: &mut impl RecordStore,
    key: &[u8],
    asker: PeerId,
    now: Instant,
) -> Vec<Provider> {
    store
        .providers(&RecordKey::new(&key))
        .into_iter()
        .filter(|r| r.provider != asker && !r.is_expired(now))
        .take(MAX_PROVIDERS)
        .map(|r| Provider {
            peer: r.provider,
            addrs: r.addresses,
        })
        .collect()
}

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
            let mut providers = held_providers(kad.store_mut(), &key, peer, now);
            // This node's own records carry no addresses: Kademlia fills in its current ones.
            for p in providers.iter_mut().filter(|p| p.peer == local) {
                if p.addrs.is_empty() {
                    p.addrs = local_addrs.to_vec();
                }
            }
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
