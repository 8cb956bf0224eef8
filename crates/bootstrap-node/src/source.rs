//! Where a remote peer connects from: the keys every per-source quota counts by.
//!
//! Peer ids cost nothing to make, so limits that only count per peer or in total let one host
//! take everything. Per-source limits count by the remote IP address and, for IPv6, also by its
//! /64: one host (or one LAN) gets a whole /64 and can pick any address in it. Many honest users
//! may share one source (an office or carrier-grade NAT, an IPv6 LAN), so these limits are sized
//! for a crowd, not for one user.

use std::net::IpAddr;

use libp2p::{Multiaddr, multiaddr::Protocol};

/// The network prefix of an IPv6 /64 (its upper 64 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Ipv6Net64(u64);

impl Ipv6Net64 {
    /// The lowest address of the /64, which stands for all of it.
    pub(crate) fn first_address(self) -> std::net::IpAddr {
        std::net::IpAddr::V6(std::net::Ipv6Addr::from(u128::from(self.0) << 64))
    }
}

/// The remote IP address in `addr` (the first `/ip4` or `/ip6`), with IPv4-mapped IPv6
/// addresses as the IPv4 address they carry. `None` for addresses without one (memory, DNS).
pub(crate) fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(ip.to_canonical()),
        _ => None,
    })
}

/// The /64 that `ip` belongs to, for IPv6 addresses.
pub(crate) fn net64_of(ip: IpAddr) -> Option<Ipv6Net64> {
    match ip {
        IpAddr::V4(_) => None,
        IpAddr::V6(ip) => Some(Ipv6Net64((u128::from(ip) >> 64) as u64)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        ip_of(&text.parse().unwrap())
    }

    #[test]
    fn finds_the_remote_ip() {
        assert_eq!(ip("/ip4/10.0.0.1/tcp/1"), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(
            ip("/ip6/2001:db8::1/udp/1/webrtc-direct"),
            Some("2001:db8::1".parse().unwrap())
        );
        // A v4-mapped address is the IPv4 host, not a /64 of its own.
        assert_eq!(
            ip("/ip6/::ffff:10.0.0.1/tcp/1/ws"),
            Some("10.0.0.1".parse().unwrap())
        );
        assert_eq!(ip("/dns4/example.com/tcp/1"), None);
        assert_eq!(ip("/memory/1"), None);
    }

    #[test]
    fn groups_ipv6_by_64() {
        let net = |s: &str| net64_of(s.parse().unwrap());
        assert_eq!(net("2001:db8:1:2::1"), net("2001:db8:1:2:ffff::9"));
        assert_ne!(net("2001:db8:1:2::1"), net("2001:db8:1:3::1"));
        assert_eq!(net("10.0.0.1"), None);
    }
}
