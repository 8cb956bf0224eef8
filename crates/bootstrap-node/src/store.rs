//! Kademlia record store that remembers which peer announced which provider record.
//!
//! A browser is reachable only through the bootstrap node it is connected to, so its provider
//! records are worthless, worse, misleading, the moment its last connection closes: whoever looks
//! the CID up would dial a peer that cannot be reached. libp2p's `MemoryStore` cannot remove the
//! records of one peer without a full scan, so this store indexes them by provider and the node
//! calls [`ProviderStore::remove_peer`] on the last `ConnectionClosed` of a peer.
//!
//! Records are also counted by where they were announced from (IP address, IPv6 /64), so that
//! many peer ids from one host cannot fill the store, and a full key refuses newcomers rather
//! than evicting live records (see [`StoreConfig`]).
//!
//! Mesh uses provider records only; value records (`PUT_VALUE`) are refused so that nobody can
//! park arbitrary bytes on a bootstrap node.

use std::{
    borrow::Cow,
    collections::{HashMap, HashSet, hash_map::Entry},
    net::IpAddr,
    num::NonZeroUsize,
    time::Instant,
};

use libp2p::{
    Multiaddr, PeerId,
    kad::{
        ProviderRecord, Record, RecordKey,
        store::{Error as StoreError, RecordStore},
    },
};

use crate::source::{Ipv6Net64, net64_of};

/// Most addresses kept per provider record: enough for a browser's relayed and direct
/// addresses, and a bound on what one announcement can make us store and hand out.
pub const MAX_ADDRESSES_PER_RECORD: usize = 8;
/// Most bytes of addresses kept per provider record. Addresses are self-asserted: whoever
/// announces may claim anything, so what we repeat to every asker is bounded by size as well as
/// by count. A browser's relayed address is about 110 bytes.
pub const MAX_ADDRESS_BYTES_PER_RECORD: usize = 1024;

/// Limits of a [`ProviderStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreConfig {
    /// Provider records kept per key. A full key refuses further providers until one of its
    /// records expires or its provider disconnects: a newcomer never evicts a live record, or
    /// a flood of fresh identities could push every honest provider of a key out.
    pub max_providers_per_key: usize,
    /// Provider records kept in total; further announcements are refused until some expire or
    /// their providers disconnect.
    pub max_records: usize,
    /// Provider records one peer may hold, so that a single client cannot fill the store.
    pub max_records_per_peer: usize,
    /// Provider records announced from one IP address (many peer ids are free to make, one
    /// address is not). Sized for a NAT full of honest tabs.
    pub max_records_per_ip: usize,
    /// Provider records announced from one IPv6 /64 (one host can use every address in it).
    pub max_records_per_net64: usize,
    /// Bytes of addresses in the records announced from one IP address.
    pub max_address_bytes_per_ip: usize,
    /// Bytes of addresses in the records announced from one IPv6 /64.
    pub max_address_bytes_per_net64: usize,
}

/// Default of [`StoreConfig::max_providers_per_key`] (and of its flag).
pub(crate) const DEFAULT_MAX_PROVIDERS_PER_KEY: NonZeroUsize = nonzero(20);
/// Default of [`StoreConfig::max_records`].
pub(crate) const DEFAULT_MAX_RECORDS: NonZeroUsize = nonzero(1_000_000);
/// Default of [`StoreConfig::max_records_per_peer`].
pub(crate) const DEFAULT_MAX_RECORDS_PER_PEER: NonZeroUsize = nonzero(10_000);
/// Default of [`StoreConfig::max_records_per_ip`].
pub(crate) const DEFAULT_MAX_RECORDS_PER_IP: NonZeroUsize = nonzero(100_000);
/// Default of [`StoreConfig::max_records_per_net64`].
pub(crate) const DEFAULT_MAX_RECORDS_PER_NET64: NonZeroUsize = nonzero(100_000);
/// Default of [`StoreConfig::max_address_bytes_per_ip`].
pub(crate) const DEFAULT_MAX_ADDRESS_BYTES_PER_IP: NonZeroUsize = nonzero(16 * 1024 * 1024);
/// Default of [`StoreConfig::max_address_bytes_per_net64`].
pub(crate) const DEFAULT_MAX_ADDRESS_BYTES_PER_NET64: NonZeroUsize = nonzero(16 * 1024 * 1024);

const fn nonzero(n: usize) -> NonZeroUsize {
    match NonZeroUsize::new(n) {
        Some(n) => n,
        None => panic!("a store limit default is zero"),
    }
}

/// The flags' defaults, so tests and embedders get what the binary runs with.
impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            max_providers_per_key: DEFAULT_MAX_PROVIDERS_PER_KEY.get(),
            max_records: DEFAULT_MAX_RECORDS.get(),
            max_records_per_peer: DEFAULT_MAX_RECORDS_PER_PEER.get(),
            max_records_per_ip: DEFAULT_MAX_RECORDS_PER_IP.get(),
            max_records_per_net64: DEFAULT_MAX_RECORDS_PER_NET64.get(),
            max_address_bytes_per_ip: DEFAULT_MAX_ADDRESS_BYTES_PER_IP.get(),
            max_address_bytes_per_net64: DEFAULT_MAX_ADDRESS_BYTES_PER_NET64.get(),
        }
    }
}

/// Why a provider record was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderRefusal {
    /// The store holds `max_records`.
    #[error("the store is full")]
    StoreFull,
    /// The key has `max_providers_per_key` live providers.
    #[error("the key has as many live providers as it may")]
    KeyFull,
    /// The provider holds `max_records_per_peer`.
    #[error("the provider holds as many records as one peer may")]
    PeerRecords,
    /// The provider's IP address holds `max_records_per_ip`.
    #[error("the provider's IP address holds as many records as it may")]
    IpRecords,
    /// The provider's IP address holds `max_address_bytes_per_ip`.
    #[error("the provider's IP address holds as many address bytes as it may")]
    IpAddressBytes,
    /// The provider's IPv6 /64 holds `max_records_per_net64`.
    #[error("the provider's IPv6 /64 holds as many records as it may")]
    Net64Records,
    /// The provider's IPv6 /64 holds `max_address_bytes_per_net64`.
    #[error("the provider's IPv6 /64 holds as many address bytes as it may")]
    Net64AddressBytes,
}

impl ProviderRefusal {
    /// Every reason, for metrics that list each from the start.
    pub const ALL: [Self; 7] = [
        Self::StoreFull,
        Self::KeyFull,
        Self::PeerRecords,
        Self::IpRecords,
        Self::IpAddressBytes,
        Self::Net64Records,
        Self::Net64AddressBytes,
    ];

    /// A short snake-case name (the metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StoreFull => "store_full",
            Self::KeyFull => "key_full",
            Self::PeerRecords => "peer_records",
            Self::IpRecords => "ip_records",
            Self::IpAddressBytes => "ip_address_bytes",
            Self::Net64Records => "net64_records",
            Self::Net64AddressBytes => "net64_address_bytes",
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

/// A provider record and the IP address it was announced from.
#[derive(Debug)]
struct Stored {
    record: ProviderRecord,
    source: Option<IpAddr>,
}

impl Stored {
    fn address_bytes(&self) -> usize {
        address_bytes(&self.record.addresses)
    }
}

fn address_bytes(addresses: &[Multiaddr]) -> usize {
    addresses.iter().map(Multiaddr::len).sum()
}

/// What the records of one source hold.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    records: usize,
    address_bytes: usize,
}

/// What each source (IP address, IPv6 /64) holds in the store.
#[derive(Debug, Default)]
struct SourceUsage {
    by_ip: HashMap<IpAddr, Usage>,
    by_net64: HashMap<Ipv6Net64, Usage>,
}

impl SourceUsage {
    /// Whether one more record of `bytes` address bytes from `source` fits `config`.
    fn check(
        &self,
        source: Option<IpAddr>,
        bytes: usize,
        config: &StoreConfig,
    ) -> Result<(), ProviderRefusal> {
        let Some(ip) = source else { return Ok(()) };
        let ip_usage = self.by_ip.get(&ip).copied().unwrap_or_default();
        if ip_usage.records >= config.max_records_per_ip {
            return Err(ProviderRefusal::IpRecords);
        }
        if ip_usage.address_bytes + bytes > config.max_address_bytes_per_ip {
            return Err(ProviderRefusal::IpAddressBytes);
        }
        if let Some(net) = net64_of(ip) {
            let net_usage = self.by_net64.get(&net).copied().unwrap_or_default();
            if net_usage.records >= config.max_records_per_net64 {
                return Err(ProviderRefusal::Net64Records);
            }
            if net_usage.address_bytes + bytes > config.max_address_bytes_per_net64 {
                return Err(ProviderRefusal::Net64AddressBytes);
            }
        }
        Ok(())
    }

    fn add(&mut self, stored: &Stored) {
        let Some(ip) = stored.source else { return };
        let bytes = stored.address_bytes();
        let add = |usage: &mut Usage| {
            usage.records += 1;
            usage.address_bytes += bytes;
        };
        add(self.by_ip.entry(ip).or_default());
        if let Some(net) = net64_of(ip) {
            add(self.by_net64.entry(net).or_default());
        }
    }

    fn remove(&mut self, stored: &Stored) {
        let Some(ip) = stored.source else { return };
        let bytes = stored.address_bytes();
        fn sub<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Usage>, key: K, bytes: usize) {
            if let Entry::Occupied(mut usage) = map.entry(key) {
                let u = usage.get_mut();
                u.records = u.records.saturating_sub(1);
                u.address_bytes = u.address_bytes.saturating_sub(bytes);
                if u.records == 0 {
                    usage.remove();
                }
            }
        }
        sub(&mut self.by_ip, ip, bytes);
        if let Some(net) = net64_of(ip) {
            sub(&mut self.by_net64, net, bytes);
        }
    }
}

/// Keeps at most [`MAX_ADDRESSES_PER_RECORD`] addresses and [`MAX_ADDRESS_BYTES_PER_RECORD`]
/// bytes of them, in the order given (a client lists its best address first).
fn cap_addresses(addresses: &mut Vec<Multiaddr>) {
    addresses.truncate(MAX_ADDRESSES_PER_RECORD);
    let mut budget = MAX_ADDRESS_BYTES_PER_RECORD;
    addresses.retain(|a| {
        let fits = a.len() <= budget;
        if fits {
            budget -= a.len();
        }
        fits
    });
}

/// A [`RecordStore`] for provider records, indexed by key, by provider and by source.
#[derive(Debug)]
pub struct ProviderStore {
    local_id: PeerId,
    config: StoreConfig,
    by_key: HashMap<RecordKey, Vec<Stored>>,
    by_peer: HashMap<PeerId, HashSet<RecordKey>>,
    usage: SourceUsage,
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
            usage: SourceUsage::default(),
            records: 0,
        }
    }

    /// Stores `record`, announced from `source` (the provider's IP address, if known), or says
    /// which limit refuses it. A re-announcement by the same provider replaces its record
    /// (fresh expiry and addresses) if the new one fits the source's quotas.
    pub fn insert(
        &mut self,
        mut record: ProviderRecord,
        source: Option<IpAddr>,
    ) -> Result<(), ProviderRefusal> {
        cap_addresses(&mut record.addresses);
        let bytes = address_bytes(&record.addresses);
        let provider = record.provider;
        if let Some(existing) = self
            .by_key
            .get_mut(&record.key)
            .and_then(|records| records.iter_mut().find(|s| s.record.provider == provider))
        {
            self.usage.remove(existing);
            if let Err(refusal) = self.usage.check(source, bytes, &self.config) {
                self.usage.add(existing);
                return Err(refusal);
            }
            *existing = Stored { record, source };
            self.usage.add(existing);
            return Ok(());
        }
        if self.records >= self.config.max_records {
            return Err(ProviderRefusal::StoreFull);
        }
        if self.peer_record_count(&provider) >= self.config.max_records_per_peer {
            return Err(ProviderRefusal::PeerRecords);
        }
        self.usage.check(source, bytes, &self.config)?;
        let key = record.key.clone();
        if self
            .by_key
            .get(&key)
            .is_some_and(|records| records.len() >= self.config.max_providers_per_key)
        {
            // Only records that are dead anyway make room.
            self.remove_expired_of(&key, Instant::now());
            if self
                .by_key
                .get(&key)
                .is_some_and(|records| records.len() >= self.config.max_providers_per_key)
            {
                return Err(ProviderRefusal::KeyFull);
            }
        }
        let stored = Stored { record, source };
        self.usage.add(&stored);
        self.by_key.entry(key.clone()).or_default().push(stored);
        self.by_peer.entry(provider).or_default().insert(key);
        self.records += 1;
        Ok(())
    }

    /// Removes every record provided by `peer`; returns how many.
    pub fn remove_peer(&mut self, peer: &PeerId) -> usize {
        let Some(keys) = self.by_peer.remove(peer) else {
            return 0;
        };
        let mut removed = 0;
        for key in keys {
            removed += self.remove_where(&key, |s| &s.record.provider == peer);
        }
        removed
    }

    /// Removes every record that expired before `now`; returns how many.
    pub fn remove_expired(&mut self, now: Instant) -> usize {
        // One pass over the map in place: a sweep of a million keys copies none of them.
        let (usage, by_peer) = (&mut self.usage, &mut self.by_peer);
        let mut removed = 0;
        self.by_key.retain(|key, stored| {
            removed += drop_where(stored, key, usage, by_peer, |s| s.record.is_expired(now));
            !stored.is_empty()
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

    fn remove_expired_of(&mut self, key: &RecordKey, now: Instant) -> usize {
        self.remove_where(key, |s| s.record.is_expired(now))
    }

    /// Removes the records of `key` that `doomed` picks, keeping every index in step.
    fn remove_where(&mut self, key: &RecordKey, doomed: impl Fn(&Stored) -> bool) -> usize {
        let Entry::Occupied(mut entry) = self.by_key.entry(key.clone()) else {
            return 0;
        };
        let removed = drop_where(
            entry.get_mut(),
            key,
            &mut self.usage,
            &mut self.by_peer,
            doomed,
        );
        if entry.get().is_empty() {
            entry.remove();
        }
        self.records -= removed;
        removed
    }

    fn peer_record_count(&self, peer: &PeerId) -> usize {
        self.by_peer.get(peer).map_or(0, HashSet::len)
    }
}

/// Drops the records of `key` in `stored` that `doomed` picks, releasing their source quota and
/// their providers' index entries; returns how many went.
fn drop_where(
    stored: &mut Vec<Stored>,
    key: &RecordKey,
    usage: &mut SourceUsage,
    by_peer: &mut HashMap<PeerId, HashSet<RecordKey>>,
    doomed: impl Fn(&Stored) -> bool,
) -> usize {
    let before = stored.len();
    stored.retain(|s| {
        if !doomed(s) {
            return true;
        }
        usage.remove(s);
        forget_key(by_peer, &s.record.provider, key);
        false
    });
    before - stored.len()
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

    /// Kademlia's own path, used for records the node itself provides; records from the network
    /// arrive through [`ProviderStore::insert`] with their source.
    fn add_provider(&mut self, record: ProviderRecord) -> Result<(), StoreError> {
        self.insert(record, None)
            .map_err(|_| StoreError::MaxProvidedKeys)
    }

    fn providers(&self, key: &RecordKey) -> Vec<ProviderRecord> {
        let now = Instant::now();
        self.by_key.get(key).map_or_else(Vec::new, |records| {
            records
                .iter()
                .filter(|s| !s.record.is_expired(now))
                .map(|s| s.record.clone())
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
            .filter(|s| s.record.provider == self.local_id)
            .map(|s| Cow::Borrowed(&s.record))
            .collect::<Vec<_>>()
            .into_iter()
    }

    fn remove_provider(&mut self, key: &RecordKey, provider: &PeerId) {
        self.remove_where(key, |s| &s.record.provider == provider);
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

    fn with_addresses(mut record: ProviderRecord, addresses: &[Multiaddr]) -> ProviderRecord {
        record.addresses = addresses.to_vec();
        record
    }

    /// An address of exactly `len` bytes (`len` ≥ 7, not 133).
    fn address_of_len(len: usize) -> Multiaddr {
        // /dns/<name>/tcp/1: code, name length (one varint byte below 128, else two), name,
        // then 3 bytes of /tcp/1.
        let name = "a".repeat(if len - 5 < 128 { len - 5 } else { len - 6 });
        let addr: Multiaddr = format!("/dns/{name}/tcp/1").parse().unwrap();
        assert_eq!(addr.len(), len);
        addr
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    fn store(config: StoreConfig) -> ProviderStore {
        ProviderStore::new(PeerId::random(), config)
    }

    fn providers_of(s: &ProviderStore, key: u8) -> HashSet<PeerId> {
        s.providers(&RecordKey::new(&[key]))
            .into_iter()
            .map(|r| r.provider)
            .collect()
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
        assert_eq!(providers_of(&s, 0), HashSet::from([b]));
        assert_eq!(s.remove_peer(&a), 0);
    }

    #[test]
    fn caps_per_peer_and_total() {
        let config = StoreConfig {
            max_records: 5,
            max_records_per_peer: 3,
            ..StoreConfig::default()
        };
        let mut s = store(config);
        let a = PeerId::random();
        for key in 0..3 {
            s.insert(record(key, a, 60), None).unwrap();
        }
        assert_eq!(
            s.insert(record(3, a, 60), None),
            Err(ProviderRefusal::PeerRecords)
        );
        let b = PeerId::random();
        s.insert(record(7, b, 60), None).unwrap();
        s.insert(record(8, b, 60), None).unwrap();
        assert_eq!(
            s.insert(record(9, b, 60), None),
            Err(ProviderRefusal::StoreFull)
        );
    }

    #[test]
    fn a_new_record_never_evicts_a_live_one() {
        let config = StoreConfig {
            max_providers_per_key: 2,
            ..StoreConfig::default()
        };
        let mut s = store(config);
        let (honest_a, honest_b) = (PeerId::random(), PeerId::random());
        s.insert(record(0, honest_a, 10), ip("192.0.2.1")).unwrap();
        s.insert(record(0, honest_b, 90), ip("192.0.2.2")).unwrap();
        // A flood of fresh identities, with later expiries than the honest records.
        for _ in 0..10 {
            assert_eq!(
                s.insert(record(0, PeerId::random(), 3600), ip("198.51.100.7")),
                Err(ProviderRefusal::KeyFull)
            );
        }
        assert_eq!(providers_of(&s, 0), HashSet::from([honest_a, honest_b]));
        // The providers themselves may still refresh their records.
        s.insert(record(0, honest_a, 600), ip("192.0.2.1")).unwrap();
        assert_eq!(s.stats().records, 2);
    }

    #[test]
    fn expired_records_make_room_in_a_full_key() {
        let config = StoreConfig {
            max_providers_per_key: 2,
            ..StoreConfig::default()
        };
        let mut s = store(config);
        let (gone, live, new) = (PeerId::random(), PeerId::random(), PeerId::random());
        s.insert(record(0, gone, 0), ip("192.0.2.1")).unwrap();
        s.insert(record(0, live, 600), ip("192.0.2.2")).unwrap();
        s.insert(record(0, new, 600), ip("192.0.2.3")).unwrap();
        assert_eq!(providers_of(&s, 0), HashSet::from([live, new]));
        assert_eq!(s.stats().records, 2);
        assert_eq!(s.stats().peers, 2);
    }

    #[test]
    fn records_are_capped_per_ip_across_peer_ids() {
        let config = StoreConfig {
            max_records_per_ip: 3,
            ..StoreConfig::default()
        };
        let mut s = store(config);
        let first = PeerId::random();
        s.insert(record(0, first, 60), ip("203.0.113.5")).unwrap();
        for key in 1..3 {
            s.insert(record(key, PeerId::random(), 60), ip("203.0.113.5"))
                .unwrap();
        }
        // A new peer id does not make a new quota.
        assert_eq!(
            s.insert(record(3, PeerId::random(), 60), ip("203.0.113.5")),
            Err(ProviderRefusal::IpRecords)
        );
        // Another address has its own quota.
        s.insert(record(3, PeerId::random(), 60), ip("203.0.113.6"))
            .unwrap();
        // Records leaving with their provider free the quota.
        assert_eq!(s.remove_peer(&first), 1);
        s.insert(record(4, PeerId::random(), 60), ip("203.0.113.5"))
            .unwrap();
    }

    #[test]
    fn ipv6_quotas_count_the_whole_64() {
        let config = StoreConfig {
            max_records_per_ip: 10,
            max_records_per_net64: 2,
            ..StoreConfig::default()
        };
        let mut s = store(config);
        s.insert(record(0, PeerId::random(), 60), ip("2001:db8:0:1::1"))
            .unwrap();
        s.insert(record(1, PeerId::random(), 60), ip("2001:db8:0:1::2"))
            .unwrap();
        // Every address of the /64 counts together...
        assert_eq!(
            s.insert(record(2, PeerId::random(), 60), ip("2001:db8:0:1:abcd::3")),
            Err(ProviderRefusal::Net64Records)
        );
        // ...and the next /64 is another source.
        s.insert(record(2, PeerId::random(), 60), ip("2001:db8:0:2::1"))
            .unwrap();
    }

    #[test]
    fn address_bytes_are_capped_per_ip_and_per_64() {
        let config = StoreConfig {
            max_address_bytes_per_ip: 250,
            max_address_bytes_per_net64: 300,
            ..StoreConfig::default()
        };
        let mut s = store(config);
        let hundred = [address_of_len(100)];
        for key in 0..2 {
            s.insert(
                with_addresses(record(key, PeerId::random(), 60), &hundred),
                ip("192.0.2.9"),
            )
            .unwrap();
        }
        assert_eq!(
            s.insert(
                with_addresses(record(2, PeerId::random(), 60), &hundred),
                ip("192.0.2.9")
            ),
            Err(ProviderRefusal::IpAddressBytes)
        );
        // A record without addresses still fits.
        s.insert(record(2, PeerId::random(), 60), ip("192.0.2.9"))
            .unwrap();

        for (key, host) in [(3, "2001:db8::1"), (4, "2001:db8::2"), (5, "2001:db8::3")] {
            s.insert(
                with_addresses(record(key, PeerId::random(), 60), &hundred),
                ip(host),
            )
            .unwrap();
        }
        assert_eq!(
            s.insert(
                with_addresses(record(6, PeerId::random(), 60), &hundred),
                ip("2001:db8::4")
            ),
            Err(ProviderRefusal::Net64AddressBytes)
        );
    }

    #[test]
    fn a_refreshed_record_beyond_its_quota_keeps_the_old_one() {
        let config = StoreConfig {
            max_address_bytes_per_ip: 250,
            ..StoreConfig::default()
        };
        let mut s = store(config);
        let a = PeerId::random();
        let small = [address_of_len(100)];
        s.insert(with_addresses(record(0, a, 60), &small), ip("192.0.2.9"))
            .unwrap();
        s.insert(
            with_addresses(record(1, PeerId::random(), 60), &small),
            ip("192.0.2.9"),
        )
        .unwrap();
        // Replacing 100 bytes with 200 would make 300 > 250.
        let big = [address_of_len(100), address_of_len(100)];
        assert_eq!(
            s.insert(with_addresses(record(0, a, 60), &big), ip("192.0.2.9")),
            Err(ProviderRefusal::IpAddressBytes)
        );
        let kept = s.providers(&RecordKey::new(&[0]));
        assert_eq!(kept[0].addresses.len(), 1);
        // Same size is fine, and nothing was counted twice.
        s.insert(with_addresses(record(0, a, 600), &small), ip("192.0.2.9"))
            .unwrap();
        assert_eq!(s.stats().records, 2);
    }

    #[test]
    fn self_asserted_addresses_are_capped_by_count_and_bytes() {
        let mut s = store(StoreConfig::default());
        let many: Vec<Multiaddr> = (0..20)
            .map(|i| format!("/ip4/10.0.0.{i}/tcp/1").parse().unwrap())
            .collect();
        let a = PeerId::random();
        s.insert(with_addresses(record(0, a, 60), &many), ip("192.0.2.1"))
            .unwrap();
        let kept = &s.providers(&RecordKey::new(&[0]))[0].addresses;
        assert_eq!(kept[..], many[..MAX_ADDRESSES_PER_RECORD]);

        // Three 400-byte addresses: only two fit in the byte budget; the small one after them
        // still does.
        let long = address_of_len(400);
        let short: Multiaddr = "/ip4/10.0.0.1/tcp/1".parse().unwrap();
        let mixed = [long.clone(), long.clone(), long.clone(), short.clone()];
        let b = PeerId::random();
        s.insert(with_addresses(record(1, b, 60), &mixed), ip("192.0.2.1"))
            .unwrap();
        let kept = &s.providers(&RecordKey::new(&[1]))[0].addresses;
        assert_eq!(kept, &vec![long.clone(), long, short]);
        assert!(address_bytes(kept) <= MAX_ADDRESS_BYTES_PER_RECORD);
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
    fn sweeping_releases_the_source_quota() {
        let config = StoreConfig {
            max_records_per_ip: 1,
            ..StoreConfig::default()
        };
        let mut s = store(config);
        s.insert(record(0, PeerId::random(), 0), ip("192.0.2.1"))
            .unwrap();
        assert_eq!(
            s.insert(record(1, PeerId::random(), 60), ip("192.0.2.1")),
            Err(ProviderRefusal::IpRecords)
        );
        assert_eq!(s.remove_expired(Instant::now() + Duration::from_secs(1)), 1);
        s.insert(record(1, PeerId::random(), 60), ip("192.0.2.1"))
            .unwrap();
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
