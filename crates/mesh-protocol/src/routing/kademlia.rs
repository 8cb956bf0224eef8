//! Kademlia's side of routing (feature `kad`): its role, and its query results as routing
//! events.

use libp2p::PeerId;
use libp2p::kad::{self, GetProvidersOk, QueryResult, QueryStats};

use super::{Event, LookupId, ProvideError};

/// Kademlia's role. Nodes that cannot be dialled are clients; bootstrap nodes and reachable
/// seeders are servers (they answer DHT queries, hold provider records and serve delegated
/// routing requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KadMode {
    /// Queries the DHT, never answers: not added to others' routing tables.
    Client,
    /// Answers queries and stores records.
    Server,
}

impl From<KadMode> for kad::Mode {
    fn from(mode: KadMode) -> Self {
        match mode {
            KadMode::Client => kad::Mode::Client,
            KadMode::Server => kad::Mode::Server,
        }
    }
}

/// The routing event for a step of Kademlia query `id`, if it is one (a lookup's providers, an
/// announcement's end); `last` is whether the query ended with it.
pub(super) fn event(
    local: PeerId,
    id: LookupId,
    result: QueryResult,
    last: bool,
    stats: QueryStats,
) -> Option<Event> {
    match result {
        QueryResult::GetProviders(result) => {
            let providers = match result {
                Ok(GetProvidersOk::FoundProviders { providers, .. }) => {
                    providers.into_iter().filter(|p| *p != local).collect()
                }
                Ok(GetProvidersOk::FinishedWithNoAdditionalRecord { .. }) => Vec::new(),
                Err(e) => {
                    tracing::debug!(error = %e, "provider lookup ended");
                    Vec::new()
                }
            };
            Some(Event::Providers {
                id,
                providers,
                last,
                requests: if last { stats.num_requests() } else { 0 },
            })
        }
        QueryResult::StartProviding(_) if !last => None,
        QueryResult::StartProviding(result) => Some(Event::Provided {
            id,
            // The record is kept and republished; the next announcement may reach more.
            result: result
                .map(|_| ())
                .map_err(|e| ProvideError::Incomplete(e.to_string())),
        }),
        other => {
            tracing::trace!(?other, "kad query");
            None
        }
    }
}
