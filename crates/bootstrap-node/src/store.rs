//! Kademlia record store that remembers which peer announced which provider record.
//!
//! A browser is reachable only through the bootstrap node it is connected to, so its provider
//! records are worthless, worse, misleading, the moment its last connection closes: whoever looks
//! the CID up would dial a peer that cannot be reached. libp2p's `MemoryStore` cannot remove the
//! records of one peer without a full scan, so this store indexes them by provider and the node
//! calls [`ProviderStore::remove_peer`] on the last `ConnectionClosed` of a peer.
//!
//! Mesh uses provider records only; value records (`PUT_VALUE`) are refused so that nobody can
//! park arbitrary bytes on a bootstrap node.

use std::{
    borrow::Cow,
    collections::{HashMap, HashSet, hash_map::Entry},
    time::Instant,
};

use libp2p::{
    PeerId,
    kad::{
        ProviderRecord, Record, RecordKey,
        store::{Error as StoreError, RecordStore},
    },
};

/// Most addresses kept per provider record: enough for a browser's relayed and direct
/// addresses, and a bound on what one announcement can make us store.
pub(crate) const MAX_ADDRESSES_PER_RECORD: usize = 8;

/// Limits of a [`ProviderStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreConfig {
    /// Provider records kept per key. When a key is full the record that expires first is
    /// replaced: fresh announcements come from tabs that are more likely still open.
    pub max_providers_per_key: usize,
    /// Provider records kept in total; further announcements are refused until some expire or
    /// their providers disconnect.
    pub max_records: usize,
    /// Provider records one peer may hold, so that a single client cannot fill the store.
    pub max_records_per_peer: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            max_providers_per_key: 20,
            max_records: 1_000_000,
            max_records_per_peer: 10_000,
        }
    }
}

/// Counts of what the store holds, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Provider records.
    pub records: usize,
    /// Distinct keys with at least one provider.
    pub keys: usize,
    /// Distinct peers providing at least one key.
    pub peers: usize,
}

/// A [`RecordStore`] for provider records, indexed by key and by provider.
#[derive(Debug)]
pub struct ProviderStore {
    local_id: PeerId,
    config: StoreConfig,
    by_key: HashMap<RecordKey, Vec<ProviderRecord>>,
    by_peer: HashMap<PeerId, HashSet<RecordKey>>,
    records: usize,
}

impl ProviderStore {
    /// An empty store for the node `local_id`.
    pub fn new(local_id: PeerId, config: StoreConfig) -> Self {
        Self {
            local_id,
            config,
            by_key: HashMap::new(),
            by_peer: HashMap::new(),
            records: 0,
        }
    }

    /// Removes every record provided by `peer`; returns how many.
    pub fn remove_peer(&mut self, peer: &PeerId) -> usize {
        let Some(keys) = self.by_peer.remove(peer) else {
            return 0;
        };
        let mut removed = 0;
        for key in keys {
            if let Entry::Occupied(mut entry) = self.by_key.entry(key) {
                let before = entry.get().len();
                entry.get_mut().retain(|r| &r.provider != peer);
                removed += before - entry.get().len();
                if entry.get().is_empty() {
                    entry.remove();
                }
            }
        }
        self.records -= removed;
        removed
    }

    /// Removes every record that expired before `now`; returns how many.
    pub fn remove_expired(&mut self, now: Instant) -> usize {
        let mut removed = 0;
        let by_peer = &mut self.by_peer;
        self.by_key.retain(|key, records| {
            records.retain(|r| {
                if !r.is_expired(now) {
                    return true;
                }
                forget_key(by_peer, &r.provider, key);
                removed += 1;
                false
            });
            !records.is_empty()
        });
        self.records -= removed;
        removed
    }

    /// What the store holds now.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            records: self.records,
            keys: self.by_key.len(),
            peers: self.by_peer.len(),
        }
    }

    fn peer_record_count(&self, peer: &PeerId) -> usize {
        self.by_peer.get(peer).map_or(0, HashSet::len)
    }
}

/// Drops `key` from the keys `peer` provides.
fn forget_key(by_peer: &mut HashMap<PeerId, HashSet<RecordKey>>, peer: &PeerId, key: &RecordKey) {
    if let Entry::Occupied(mut keys) = by_peer.entry(*peer) {
        keys.get_mut().remove(key);
        if keys.get().is_empty() {
            keys.remove();
        }
    }
}

impl RecordStore for ProviderStore {
    type RecordsIter<'a> = std::iter::Empty<Cow<'a, Record>>;
    type ProvidedIter<'a> = std::vec::IntoIter<Cow<'a, ProviderRecord>>;

    fn get(&self, _key: &RecordKey) -> Option<Cow<'_, Record>> {
        None
    }

    fn put(&mut self, _record: Record) -> Result<(), StoreError> {
        Err(StoreError::MaxRecords)
    }

    fn remove(&mut self, _key: &RecordKey) {}

    fn records(&self) -> Self::RecordsIter<'_> {
        std::iter::empty()
    }

    fn add_provider(&mut self, mut record: ProviderRecord) -> Result<(), StoreError> {
        record.addresses.truncate(MAX_ADDRESSES_PER_RECORD);
        let provider = record.provider;
        if let Some(existing) = self
            .by_key
            .get_mut(&record.key)
            .and_then(|records| records.iter_mut().find(|r| r.provider == provider))
        {
            // A re-announcement refreshes expiry and addresses.
            *existing = record;
            return Ok(());
        }
        if self.peer_record_count(&provider) >= self.config.max_records_per_peer
            || self.records >= self.config.max_records
        {
            return Err(StoreError::MaxProvidedKeys);
        }
        let key = record.key.clone();
        let records = self.by_key.entry(key.clone()).or_default();
        if records.len() >= self.config.max_providers_per_key {
            // Replace the record that expires first (records without expiry last).
            let Some((index, _)) = records
                .iter()
                .enumerate()
                .min_by_key(|(_, r)| (r.expires.is_none(), r.expires))
            else {
                return Err(StoreError::MaxProvidedKeys);
            };
            let evicted = records.swap_remove(index);
            forget_key(&mut self.by_peer, &evicted.provider, &key);
            self.records -= 1;
        }
        records.push(record);
        self.by_peer.entry(provider).or_default().insert(key);
        self.records += 1;
        Ok(())
    }

    fn providers(&self, key: &RecordKey) -> Vec<ProviderRecord> {
        let now = Instant::now();
        self.by_key.get(key).map_or_else(Vec::new, |records| {
            records
                .iter()
                .filter(|r| !r.is_expired(now))
                .cloned()
                .collect()
        })
    }

    fn provided(&self) -> Self::ProvidedIter<'_> {
        self.by_peer
            .get(&self.local_id)
            .into_iter()
            .flatten()
            .filter_map(|key| self.by_key.get(key))
            .flatten()
            .filter(|r| r.provider == self.local_id)
            .map(Cow::Borrowed)
            .collect::<Vec<_>>()
            .into_iter()
    }

    fn remove_provider(&mut self, key: &RecordKey, provider: &PeerId) {
        if let Entry::Occupied(mut entry) = self.by_key.entry(key.clone()) {
            let before = entry.get().len();
            entry.get_mut().retain(|r| &r.provider != provider);
            self.records -= before - entry.get().len();
            if entry.get().is_empty() {
                entry.remove();
            }
        }
        forget_key(&mut self.by_peer, provider, key);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use super::*;

    fn record(key: u8, provider: PeerId, expires_in: u64) -> ProviderRecord {
        ProviderRecord {
            key: RecordKey::new(&[key]),
            provider,
            expires: Some(Instant::now() + Duration::from_secs(expires_in)),
            addresses: Vec::new(),
        }
    }

    fn store(config: StoreConfig) -> ProviderStore {
        ProviderStore::new(PeerId::random(), config)
    }

    #[test]
    fn remove_peer_drops_exactly_its_records() {
        let mut s = store(StoreConfig::default());
        let (a, b) = (PeerId::random(), PeerId::random());
        for key in 0..3 {
            s.add_provider(record(key, a, 60)).unwrap();
        }
        s.add_provider(record(0, b, 60)).unwrap();
        // A re-announcement is not a second record.
        s.add_provider(record(0, a, 120)).unwrap();
        assert_eq!(
            s.stats(),
            StoreStats {
                records: 4,
                keys: 3,
                peers: 2
            }
        );

        assert_eq!(s.remove_peer(&a), 3);
        assert_eq!(
            s.stats(),
            StoreStats {
                records: 1,
                keys: 1,
                peers: 1
            }
        );
        let left = s.providers(&RecordKey::new(&[0]));
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].provider, b);
        assert_eq!(s.remove_peer(&a), 0);
    }

    #[test]
    fn caps_per_peer_total_and_key() {
        let config = StoreConfig {
            max_providers_per_key: 2,
            max_records: 5,
            max_records_per_peer: 3,
        };
        let mut s = store(config);
        let a = PeerId::random();
        for key in 0..3 {
            s.add_provider(record(key, a, 60)).unwrap();
        }
        assert!(s.add_provider(record(3, a, 60)).is_err());

        // A full key replaces the record that expires first.
        let (b, c) = (PeerId::random(), PeerId::random());
        s.add_provider(record(0, b, 10)).unwrap();
        s.add_provider(record(0, c, 90)).unwrap();
        let providers: HashSet<_> = s
            .providers(&RecordKey::new(&[0]))
            .into_iter()
            .map(|r| r.provider)
            .collect();
        assert_eq!(providers, HashSet::from([a, c]));
        assert_eq!(s.stats().records, 4);
        assert_eq!(s.remove_peer(&b), 0);

        s.add_provider(record(7, b, 60)).unwrap();
        assert!(s.add_provider(record(8, b, 60)).is_err(), "total cap");
    }

    #[test]
    fn expired_records_are_hidden_and_swept() {
        let mut s = store(StoreConfig::default());
        let a = PeerId::random();
        s.add_provider(record(0, a, 0)).unwrap();
        s.add_provider(record(1, a, 600)).unwrap();
        let later = Instant::now() + Duration::from_secs(1);
        assert_eq!(s.remove_expired(later), 1);
        assert_eq!(
            s.stats(),
            StoreStats {
                records: 1,
                keys: 1,
                peers: 1
            }
        );
        assert!(s.providers(&RecordKey::new(&[0])).is_empty());
    }

    #[test]
    fn refuses_value_records() {
        let mut s = store(StoreConfig::default());
        let record = Record::new(RecordKey::new(&[1]), vec![1, 2, 3]);
        assert!(s.put(record).is_err());
        assert!(s.get(&RecordKey::new(&[1])).is_none());
    }

    #[test]
    fn provided_lists_only_local_records() {
        let local = PeerId::random();
        let mut s = ProviderStore::new(local, StoreConfig::default());
        s.add_provider(record(0, local, 60)).unwrap();
        s.add_provider(record(0, PeerId::random(), 60)).unwrap();
        let provided: Vec<_> = s.provided().collect();
        assert_eq!(provided.len(), 1);
        assert_eq!(provided[0].provider, local);
    }
}
