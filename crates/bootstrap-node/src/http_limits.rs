//! Per-client request limits of the HTTP server.
//!
//! `/addrs` is fetched by every page that starts mesh, so its clients are the whole audience,
//! many of them behind one NAT: the limit is a token bucket per client sized for a crowd, and a
//! refused request learns when to come back (`Retry-After`). IPv6 clients count per /64, the
//! block one host can use. Sans-IO: the caller passes the time.

use std::{
    collections::HashMap,
    net::IpAddr,
    num::NonZeroU32,
    time::{Duration, Instant},
};

use crate::source::{Ipv6Net64, net64_of};

/// Clients tracked at once. Beyond that, new clients share one bucket until idle ones are
/// forgotten: memory stays bounded however many addresses a flood comes from.
pub(crate) const MAX_TRACKED_CLIENTS: usize = 65_536;
/// Least time between two sweeps of the full table, so that a flood of new addresses cannot
/// make every request scan it.
pub(crate) const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// HTTP connections one client may hold open at once, of `MAX_HTTP_CONNECTIONS`: a client that
/// opens connections and sends its headers slowly holds a slot for up to the header timeout,
/// and must not be able to hold them all.
pub(crate) const MAX_HTTP_CONNECTIONS_PER_CLIENT: usize = 16;

/// Who a request is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ClientKey {
    V4(IpAddr),
    Net64(Ipv6Net64),
    /// Every client that arrived while the table was full.
    Overflow,
}

impl ClientKey {
    fn of(ip: IpAddr) -> Self {
        net64_of(ip).map_or(Self::V4(ip), Self::Net64)
    }
}

/// Open connections per client (IPv6: per /64).
#[derive(Debug, Default)]
pub(crate) struct ConnectionSlots {
    open: HashMap<ClientKey, usize>,
}

impl ConnectionSlots {
    /// Takes a slot for a connection from `client`, if it holds fewer than
    /// [`MAX_HTTP_CONNECTIONS_PER_CLIENT`].
    pub(crate) fn try_open(&mut self, client: IpAddr) -> bool {
        let open = self.open.entry(ClientKey::of(client)).or_default();
        if *open >= MAX_HTTP_CONNECTIONS_PER_CLIENT {
            return false;
        }
        *open += 1;
        true
    }

    /// Gives back the slot of a closed connection from `client`.
    pub(crate) fn close(&mut self, client: IpAddr) {
        let key = ClientKey::of(client);
        if let Some(open) = self.open.get_mut(&key) {
            *open -= 1;
            if *open == 0 {
                self.open.remove(&key);
            }
        }
    }
}

/// A token bucket per client (the generic cell rate algorithm: one instant per client).
#[derive(Debug)]
pub(crate) struct RequestLimiter {
    /// Time to regain one request.
    refill: Duration,
    /// How far ahead of now a client's schedule may run: `(burst - 1) * refill`.
    tolerance: Duration,
    /// For each client, when its bucket will be full again.
    full_at: HashMap<ClientKey, Instant>,
    swept_at: Option<Instant>,
}

impl RequestLimiter {
    /// `burst` requests at once per client, then one per `refill`.
    pub(crate) fn new(burst: NonZeroU32, refill: Duration) -> Self {
        Self {
            refill,
            tolerance: refill.saturating_mul(burst.get() - 1),
            full_at: HashMap::new(),
            swept_at: None,
        }
    }

    /// Takes one request of `client` at `now`; `Err(wait)` if its bucket is empty, with how
    /// long until it holds a request again.
    pub(crate) fn check(&mut self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut key = ClientKey::of(client);
        if !self.full_at.contains_key(&key) && self.full_at.len() >= MAX_TRACKED_CLIENTS {
            self.forget_full(now);
            if self.full_at.len() >= MAX_TRACKED_CLIENTS {
                key = ClientKey::Overflow;
            }
        }
        let full_at = self.full_at.get(&key).copied().unwrap_or(now).max(now);
        let ahead = full_at - now;
        if ahead > self.tolerance {
            return Err(ahead - self.tolerance);
        }
        self.full_at.insert(key, full_at + self.refill);
        Ok(())
    }

    /// Forgets clients whose bucket is full again (they are as if never seen), at most once
    /// per [`SWEEP_INTERVAL`].
    fn forget_full(&mut self, now: Instant) {
        if self
            .swept_at
            .is_some_and(|swept| now.saturating_duration_since(swept) < SWEEP_INTERVAL)
        {
            return;
        }
        self.swept_at = Some(now);
        self.full_at.retain(|_, full_at| *full_at > now);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn limiter(burst: u32, refill_ms: u64) -> RequestLimiter {
        RequestLimiter::new(
            NonZeroU32::new(burst).unwrap(),
            Duration::from_millis(refill_ms),
        )
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_burst_then_one_per_refill() {
        let mut l = limiter(3, 100);
        let t = Instant::now();
        for _ in 0..3 {
            l.check(ip("192.0.2.1"), t).unwrap();
        }
        assert_eq!(l.check(ip("192.0.2.1"), t), Err(Duration::from_millis(100)));
        // Others have their own bucket.
        l.check(ip("192.0.2.2"), t).unwrap();
        // One request regained per refill, and the wait shrinks as time passes.
        assert_eq!(
            l.check(ip("192.0.2.1"), t + Duration::from_millis(40)),
            Err(Duration::from_millis(60))
        );
        l.check(ip("192.0.2.1"), t + Duration::from_millis(100))
            .unwrap();
        assert!(
            l.check(ip("192.0.2.1"), t + Duration::from_millis(100))
                .is_err()
        );
        // A long pause refills the whole burst, no more.
        let later = t + Duration::from_secs(60);
        for _ in 0..3 {
            l.check(ip("192.0.2.1"), later).unwrap();
        }
        assert!(l.check(ip("192.0.2.1"), later).is_err());
    }

    #[test]
    fn ipv6_clients_count_per_64() {
        let mut l = limiter(2, 1000);
        let t = Instant::now();
        l.check(ip("2001:db8:0:1::1"), t).unwrap();
        l.check(ip("2001:db8:0:1::2"), t).unwrap();
        assert!(l.check(ip("2001:db8:0:1:ffff::3"), t).is_err());
        l.check(ip("2001:db8:0:2::1"), t).unwrap();
    }

    #[test]
    fn connection_slots_per_client() {
        let mut slots = ConnectionSlots::default();
        for _ in 0..MAX_HTTP_CONNECTIONS_PER_CLIENT {
            assert!(slots.try_open(ip("192.0.2.1")));
        }
        assert!(!slots.try_open(ip("192.0.2.1")));
        assert!(slots.try_open(ip("192.0.2.2")));
        slots.close(ip("192.0.2.1"));
        assert!(slots.try_open(ip("192.0.2.1")));
        for i in 0..MAX_HTTP_CONNECTIONS_PER_CLIENT {
            assert!(slots.try_open(format!("2001:db8::{i}").parse().unwrap()));
        }
        assert!(!slots.try_open(ip("2001:db8::ffff")), "one /64, one client");
        for i in 0..MAX_HTTP_CONNECTIONS_PER_CLIENT {
            slots.close(format!("2001:db8::{i}").parse().unwrap());
        }
        slots.close(ip("192.0.2.2"));
        assert_eq!(slots.open.len(), 1);
    }

    #[test]
    fn a_flood_of_addresses_stays_bounded() {
        let mut l = limiter(1, 1000);
        let t = Instant::now();
        for i in 0..MAX_TRACKED_CLIENTS as u32 {
            l.check(IpAddr::from(i.to_be_bytes()), t).unwrap();
        }
        // The table is full of busy clients: newcomers share the overflow bucket.
        l.check(ip("198.51.100.1"), t).unwrap();
        assert!(l.check(ip("198.51.100.2"), t).is_err());
        assert!(l.full_at.len() <= MAX_TRACKED_CLIENTS + 1);
        // Once the busy clients are idle again, newcomers get their own buckets.
        let later = t + Duration::from_secs(2);
        l.check(ip("198.51.100.2"), later).unwrap();
        l.check(ip("198.51.100.3"), later).unwrap();
        assert!(l.full_at.len() < 10);
    }
}
