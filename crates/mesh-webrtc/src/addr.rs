//! Multiaddr helpers for browser-to-browser WebRTC (`/webrtc`).
//!
//! A listener B holding a relay reservation advertises
//! `<relay>/p2p/<R>/p2p-circuit/webrtc/p2p/<B>`; a dialer turns that into the relayed address
//! `<relay>/p2p/<R>/p2p-circuit/p2p/<B>` (where signaling runs) and the peer id `B`.

use libp2p::{Multiaddr, PeerId, multiaddr::Protocol};

/// A dialable `/webrtc` address, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebRtcDialAddr {
    /// The remote peer (the final `/p2p`).
    pub peer: PeerId,
    /// The relayed address to signal over, `<circuit>/p2p/<peer>`; `None` for a bare
    /// `/webrtc/p2p/<peer>`, which only reuses a connection that is already open.
    pub circuit: Option<Multiaddr>,
}

/// Parses `[<circuit>]/webrtc/p2p/<peer>`.
///
/// Returns `None` for anything else, so the next transport in an `or_transport` chain gets the
/// address. The prefix, when present, must contain `/p2p-circuit`: a direct `/webrtc` dial has no
/// signaling channel.
pub fn parse_dial_addr(addr: &Multiaddr) -> Option<WebRtcDialAddr> {
    let mut protocols: Vec<Protocol<'_>> = addr.iter().collect();
    let peer = match protocols.pop()? {
        Protocol::P2p(peer) => peer,
        _ => return None,
    };
    if protocols.pop()? != Protocol::WebRTC {
        return None;
    }
    if protocols.is_empty() {
        return Some(WebRtcDialAddr {
            peer,
            circuit: None,
        });
    }
    if !protocols.contains(&Protocol::P2pCircuit) || protocols.contains(&Protocol::WebRTC) {
        return None;
    }
    let mut circuit: Multiaddr = protocols.into_iter().collect();
    circuit.push(Protocol::P2p(peer));
    Some(WebRtcDialAddr {
        peer,
        circuit: Some(circuit),
    })
}

/// Whether `addr` is an address this transport listens on: `/webrtc`, optionally behind a
/// circuit prefix (`<relay>/p2p-circuit/webrtc`).
pub fn is_listen_addr(addr: &Multiaddr) -> bool {
    let protocols: Vec<Protocol<'_>> = addr.iter().collect();
    match protocols.split_last() {
        Some((Protocol::WebRTC, [])) => true,
        Some((Protocol::WebRTC, rest)) => {
            rest.last() == Some(&Protocol::P2pCircuit) && !rest.contains(&Protocol::WebRTC)
        }
        _ => false,
    }
}

/// The `/webrtc` address to advertise for a relay client's listen address
/// `<relay>/p2p/<R>/p2p-circuit[/p2p/<self>]`: `<relay>/p2p/<R>/p2p-circuit/webrtc`.
///
/// Returns `None` for addresses that are not circuit listen addresses (including our own
/// `/webrtc` ones, which the swarm reports back too).
pub fn webrtc_addr_for_circuit(addr: &Multiaddr) -> Option<Multiaddr> {
    let mut protocols: Vec<Protocol<'_>> = addr.iter().collect();
    if matches!(protocols.last(), Some(Protocol::P2p(_))) {
        protocols.pop();
    }
    if protocols.last() != Some(&Protocol::P2pCircuit) || protocols.contains(&Protocol::WebRTC) {
        return None;
    }
    let mut out: Multiaddr = protocols.into_iter().collect();
    out.push(Protocol::WebRTC);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELAY: &str =
        "/ip4/127.0.0.1/tcp/4002/ws/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";
    const B: &str = "12D3KooWMtPPgkuJoYaJZL1dNPUhMrSeM4ENzd5PwWyiNaXcGHrR";

    fn ma(s: &str) -> Multiaddr {
        s.parse().expect("test address parses")
    }

    #[test]
    fn dial_addr_splits_circuit_and_peer() {
        let parsed =
            parse_dial_addr(&ma(&format!("{RELAY}/p2p-circuit/webrtc/p2p/{B}"))).expect("parses");
        assert_eq!(parsed.peer, B.parse::<PeerId>().expect("peer id"));
        assert_eq!(
            parsed.circuit,
            Some(ma(&format!("{RELAY}/p2p-circuit/p2p/{B}")))
        );
    }

    #[test]
    fn bare_webrtc_dial_has_no_circuit() {
        let parsed = parse_dial_addr(&ma(&format!("/webrtc/p2p/{B}"))).expect("parses");
        assert_eq!(parsed.circuit, None);
    }

    #[test]
    fn other_addresses_are_not_ours() {
        for a in [
            format!("{RELAY}/p2p-circuit/p2p/{B}"),
            format!("{RELAY}/p2p-circuit/webrtc"),
            format!("/ip4/127.0.0.1/udp/1/webrtc-direct/p2p/{B}"),
            format!("/ip4/127.0.0.1/tcp/1/webrtc/p2p/{B}"),
            format!("{RELAY}/p2p-circuit/webrtc/webrtc/p2p/{B}"),
        ] {
            assert_eq!(parse_dial_addr(&ma(&a)), None, "{a}");
        }
    }

    #[test]
    fn listen_addrs() {
        assert!(is_listen_addr(&ma("/webrtc")));
        assert!(is_listen_addr(&ma(&format!("{RELAY}/p2p-circuit/webrtc"))));
        assert!(!is_listen_addr(&ma(&format!("{RELAY}/p2p-circuit"))));
        assert!(!is_listen_addr(&ma("/ip4/127.0.0.1/tcp/1/webrtc")));
    }

    #[test]
    fn advertised_addr_inserts_webrtc_after_circuit() {
        let want = ma(&format!("{RELAY}/p2p-circuit/webrtc"));
        assert_eq!(
            webrtc_addr_for_circuit(&ma(&format!("{RELAY}/p2p-circuit"))),
            Some(want.clone())
        );
        assert_eq!(
            webrtc_addr_for_circuit(&ma(&format!("{RELAY}/p2p-circuit/p2p/{B}"))),
            Some(want.clone())
        );
        assert_eq!(webrtc_addr_for_circuit(&want), None);
        assert_eq!(webrtc_addr_for_circuit(&ma(RELAY)), None);
    }
}
