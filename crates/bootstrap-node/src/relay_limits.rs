//! The relay's limits, every one from the command line.
//!
//! libp2p-relay's defaults suit a public relay for a few native peers: among them, per IP
//! address, 60 reservations and 60 circuits at once and then one a minute. Behind a NAT (an
//! office, a campus, carrier-grade NAT: the users mesh exists for) every tab shares one address,
//! so the 61st tab would be turned away. Here each rate limit is sized for a crowd behind one
//! address and can be changed, and IPv6 sources are also limited per /64, which one host can
//! fill with addresses of its own choosing.
//!
//! A rate limit is a token bucket: `burst` requests at once, then one more per `refill`.

use std::{num::NonZeroU32, time::Duration};

use libp2p::{Multiaddr, PeerId, relay};

use crate::{
    config::Config,
    source::{ip_of, net64_of},
};

/// The relay configuration for `config`.
pub(crate) fn relay_config(config: &Config) -> relay::Config {
    let mut relay = relay::Config {
        max_reservations: config.relay_max_reservations.get(),
        max_reservations_per_peer: config.relay_max_reservations_per_peer.get(),
        reservation_duration: config.relay_reservation_duration,
        reservation_rate_limiters: Vec::new(),
        max_circuits: config.relay_max_circuits.get(),
        max_circuits_per_peer: config.relay_max_circuits_per_peer.get(),
        max_circuit_duration: config.relay_max_circuit_duration,
        max_circuit_bytes: config.relay_max_circuit_bytes.get(),
        circuit_src_rate_limiters: Vec::new(),
    }
    .reservation_rate_per_peer(
        config.relay_reservation_burst_per_peer,
        config.relay_reservation_refill_per_peer,
    )
    .reservation_rate_per_ip(
        config.relay_reservation_burst_per_ip,
        config.relay_reservation_refill_per_ip,
    )
    .circuit_src_per_peer(
        config.relay_circuit_burst_per_peer,
        config.relay_circuit_refill_per_peer,
    )
    .circuit_src_per_ip(
        config.relay_circuit_burst_per_ip,
        config.relay_circuit_refill_per_ip,
    );
    relay.reservation_rate_limiters.push(per_net64(
        config.relay_reservation_burst_per_ipv6_64,
        config.relay_reservation_refill_per_ipv6_64,
    ));
    relay.circuit_src_rate_limiters.push(per_net64(
        config.relay_circuit_burst_per_ipv6_64,
        config.relay_circuit_refill_per_ipv6_64,
    ));
    relay
}

/// A token bucket per IPv6 /64; IPv4 sources pass (their per-IP limit applies).
///
/// libp2p's per-IP bucket does the counting, fed with the first address of the /64, so every
/// address in it draws from one bucket.
fn per_net64(burst: NonZeroU32, refill: Duration) -> Box<dyn relay::RateLimiter> {
    let mut per_ip = relay::Config {
        reservation_rate_limiters: Vec::new(),
        ..relay::Config::default()
    }
    .reservation_rate_per_ip(burst, refill)
    .reservation_rate_limiters
    .pop()
    .expect("the limiter was just pushed");
    Box::new(
        move |peer: PeerId, addr: &Multiaddr, now| match ip_of(addr).and_then(net64_of) {
            Some(net) => per_ip.try_next(peer, &Multiaddr::from(net.first_address()), now),
            None => true,
        },
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use clap::Parser;
    use std::time::Instant;

    use super::*;

    fn addr(text: &str) -> Multiaddr {
        text.parse().unwrap()
    }

    /// How many of `n` requests from fresh peers at `from` the limiters allow at one instant.
    fn allowed(limiters: &mut [Box<dyn relay::RateLimiter>], from: &Multiaddr, n: usize) -> usize {
        let now = Instant::now();
        (0..n)
            .filter(|_| {
                let peer = PeerId::random();
                limiters.iter_mut().all(|l| l.try_next(peer, from, now))
            })
            .count()
    }

    #[test]
    fn five_hundred_tabs_behind_one_address_reserve_and_dial() {
        let nat = addr("/ip4/127.0.0.1/tcp/40000");
        // libp2p's defaults turn away the 61st.
        let mut stock = relay::Config::default();
        assert_eq!(allowed(&mut stock.reservation_rate_limiters, &nat, 500), 60);
        assert_eq!(allowed(&mut stock.circuit_src_rate_limiters, &nat, 500), 60);

        let mut ours = relay_config(&Config::parse_from(["bootstrap-node"]));
        assert_eq!(allowed(&mut ours.reservation_rate_limiters, &nat, 500), 500);
        assert_eq!(allowed(&mut ours.circuit_src_rate_limiters, &nat, 500), 500);
    }

    #[test]
    fn every_rate_limit_follows_its_flags() {
        let mut relay = relay_config(&Config::parse_from([
            "bootstrap-node",
            "--relay-reservation-burst-per-ip",
            "3",
            "--relay-circuit-burst-per-ip",
            "5",
            "--relay-reservation-burst-per-ipv6-64",
            "2",
        ]));
        let v4 = addr("/ip4/192.0.2.1/tcp/1");
        assert_eq!(allowed(&mut relay.reservation_rate_limiters, &v4, 10), 3);
        assert_eq!(allowed(&mut relay.circuit_src_rate_limiters, &v4, 10), 5);
        // Two requests per /64, whichever addresses in it they come from.
        let now = Instant::now();
        let mut from = |text: &str| {
            let a = addr(text);
            let peer = PeerId::random();
            relay
                .reservation_rate_limiters
                .iter_mut()
                .all(|l| l.try_next(peer, &a, now))
        };
        assert!(from("/ip6/2001:db8:0:1::1/tcp/1"));
        assert!(from("/ip6/2001:db8:0:1::2/tcp/1"));
        assert!(!from("/ip6/2001:db8:0:1:ffff::3/tcp/1"));
        assert!(from("/ip6/2001:db8:0:2::1/tcp/1"));
    }

    #[test]
    fn buckets_refill() {
        let mut limiter = per_net64(NonZeroU32::new(1).unwrap(), Duration::from_secs(1));
        let a = addr("/ip6/2001:db8::1/udp/1/webrtc-direct");
        let start = Instant::now();
        assert!(limiter.try_next(PeerId::random(), &a, start));
        assert!(!limiter.try_next(PeerId::random(), &a, start));
        assert!(limiter.try_next(PeerId::random(), &a, start + Duration::from_secs(1)));
        // IPv4 is left to the per-IP limiter.
        let v4 = addr("/ip4/192.0.2.1/tcp/1");
        assert!(limiter.try_next(PeerId::random(), &v4, start));
        assert!(limiter.try_next(PeerId::random(), &v4, start));
    }
}
