//! The printed multiaddrs survive a restart with the same data directory.
#![allow(clippy::unwrap_used)]

mod common;

use std::{fs, os::unix::fs::PermissionsExt};

use common::BootNode;
use libp2p::multiaddr::Protocol;

fn certhash(node: &BootNode) -> String {
    node.addr("webrtc-direct")
        .iter()
        .find_map(|p| match p {
            Protocol::Certhash(hash) => Some(format!("{hash:?}")),
            _ => None,
        })
        .expect("webrtc-direct address carries a certhash")
}

#[test]
fn restart_keeps_peer_id_and_certhash() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    let first = BootNode::start(&data, &[]);
    let (peer, hash) = (first.peer_id(), certhash(&first));
    assert!(first.terminate().0.success());

    let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("identity.key")), 0o600);
    assert_eq!(mode(&data.join("webrtc-cert.pem")), 0o600);

    let second = BootNode::start(&data, &[]);
    assert_eq!(second.peer_id(), peer);
    assert_eq!(certhash(&second), hash);
    for addr in &second.addrs {
        assert_eq!(addr.iter().last(), Some(Protocol::P2p(peer)), "{addr}");
    }

    // A fresh directory is a different node.
    let other = tempfile::tempdir().unwrap();
    let third = BootNode::start(other.path(), &[]);
    assert_ne!(third.peer_id(), peer);
    assert_ne!(certhash(&third), hash);
}
