//! Blocks hashed by the shell (`EngineConfig::shell_digest_min_bytes`, as the browser node
//! does with WebCrypto): large blocks from peers wait for the shell's digest and are verified
//! against it; small ones are hashed by the engine; a wrong digest is a corrupt block.

use bytes::Bytes;
use mesh_core::Sha256Digest;
use mesh_core::fetch::Config as PlannerConfig;
use mesh_engine::{DigestId, EngineConfig, Output};
use mesh_protocol::KadMode;
use mesh_testkit::{MemNet, NodeId, data};

const MIN: usize = 16 * 1024;

/// A bootstrap node, a seeder of `content` and a fetcher whose engine hands blocks of at
/// least [`MIN`] bytes out to be hashed.
fn swarm(content: &[u8]) -> (MemNet, NodeId, cid::Cid) {
    let mut net = MemNet::new();
    let (_, boot_addr) = net.spawn_bootstrap();
    let joined = EngineConfig::default().with_bootstrap(vec![boot_addr]);
    let seeder = net.spawn(KadMode::Client, PlannerConfig::new(), joined.clone());
    net.join(seeder);
    let cid = net.seed(seeder, content);
    let fetcher = net.spawn(
        KadMode::Client,
        PlannerConfig::new(),
        joined.with_shell_digest_min_bytes(Some(MIN)),
    );
    net.join(fetcher);
    (net, fetcher, cid)
}

/// Takes the digests node `id` asked for since the last call.
fn take_digest_requests(net: &mut MemNet, id: NodeId) -> Vec<(DigestId, Bytes)> {
    let node = net.node(id);
    let mut asked = Vec::new();
    node.outputs.retain(|o| match o {
        Output::Digest { id, data } => {
            asked.push((*id, data.clone()));
            false
        }
        _ => true,
    });
    asked
}

/// Answers every digest request of node `id` with `digest_of(bytes)` until none is left;
/// returns how many there were and the bytes each was for.
fn answer_digests(
    net: &mut MemNet,
    id: NodeId,
    mut digest_of: impl FnMut(&Bytes) -> Sha256Digest,
) -> Vec<Bytes> {
    let mut all = Vec::new();
    loop {
        let asked = take_digest_requests(net, id);
        if asked.is_empty() {
            return all;
        }
        let now = net.now;
        for (digest_id, bytes) in asked {
            let digest = digest_of(&bytes);
            net.node(id).engine.handle_digest(now, digest_id, digest);
            all.push(bytes);
        }
        net.run();
    }
}

#[test]
fn large_blocks_wait_for_the_shells_digest() {
    mesh_testkit::init_tracing();
    // Three 256 KiB leaves and a root node of a few hundred bytes.
    let content = data(700_000, 21);
    let (mut net, fetcher, cid) = swarm(&content);
    let fetch = net.fetch(fetcher, cid, None);
    assert!(
        net.delivered(fetcher, fetch).is_empty(),
        "nothing is delivered before its digest"
    );
    let hashed = answer_digests(&mut net, fetcher, |b| Sha256Digest::of(b));
    // The leaves went to the shell; the small root was hashed by the engine.
    assert_eq!(hashed.len(), 3, "one digest per leaf");
    assert!(hashed.iter().all(|b| b.len() >= MIN));
    assert_eq!(net.node(fetcher).engine.stats().shell_digests, 3);
    assert_eq!(net.delivered(fetcher, fetch), content);
    let report = net.completed(fetcher, fetch).expect("completed");
    assert_eq!(report.sources.label(), "peer");
    assert_eq!(net.node(fetcher).engine.digests_waiting(), 0);
}

#[test]
fn small_blocks_are_hashed_by_the_engine() {
    let content = data(MIN - 1, 22);
    let (mut net, fetcher, cid) = swarm(&content);
    let fetch = net.fetch(fetcher, cid, None);
    assert!(take_digest_requests(&mut net, fetcher).is_empty());
    assert_eq!(net.delivered(fetcher, fetch), content);
    assert!(net.completed(fetcher, fetch).is_some());
    assert_eq!(net.node(fetcher).engine.stats().shell_digests, 0);
}

#[test]
fn a_wrong_digest_is_a_corrupt_block_and_nothing_is_delivered() {
    // One raw block of 100 KiB: the asset is that block.
    let content = data(100 * 1024, 23);
    let (mut net, fetcher, cid) = swarm(&content);
    let fetch = net.fetch(fetcher, cid, None);
    let hashed = answer_digests(&mut net, fetcher, |_| Sha256Digest::of(b"other bytes"));
    assert_eq!(hashed.len(), 1);
    assert_eq!(hashed[0], content, "the seeder sent the right bytes");
    assert!(
        net.delivered(fetcher, fetch).is_empty(),
        "bytes whose digest does not match are never delivered"
    );
    assert!(net.completed(fetcher, fetch).is_none());
    assert_eq!(net.node(fetcher).engine.stats().corrupt_blocks_received, 1);
    assert_eq!(net.node(fetcher).engine.digests_waiting(), 0);
}
