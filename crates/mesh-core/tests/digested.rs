//! Blocks handed to the planner with their SHA-256 computed by the shell
//! (`Planner::handle_digested_block`, `Sha256Digest`): the same decisions as hashing here, and
//! a digest that does not match the CID is a corrupt block like any other.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use bytes::Bytes;
use mesh_core::block::{CHUNK_SIZE, MAX_BLOCK_SIZE, verify_block, verify_digest};
use mesh_core::dag::{Dag, DagBuilder, LeafCutter, build_dag, cid_of};
use mesh_core::fetch::{
    Action, Config, Deliver, Event, FetchError, OriginFetch, OriginRequestId, Output, Penalty,
    Planner,
};
use mesh_core::store::MemoryStore;
use mesh_core::time::Instant;
use mesh_core::{Cid, Sha256Digest, VerifyError};

mod common;

use common::block_data;

type Peer = u32;

fn ms(v: u64) -> Instant {
    Instant::from_millis(v)
}

fn planner() -> Planner<Peer, MemoryStore> {
    Planner::new(Config::new(), MemoryStore::new(64 << 20))
}

fn drain(p: &mut Planner<Peer, MemoryStore>) -> Vec<Output<Peer>> {
    std::iter::from_fn(|| p.poll_output()).collect()
}

fn want_blocks(out: &[Output<Peer>]) -> Vec<(Peer, Vec<Cid>)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Action(Action::SendWantBlock { peer, cids, .. }) => Some((*peer, cids.clone())),
            _ => None,
        })
        .collect()
}

fn delivered(out: &[Output<Peer>]) -> Vec<u8> {
    out.iter()
        .filter_map(|o| match o {
            Output::Action(Action::Deliver(Deliver { data, .. })) => Some(data.to_vec()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// How a test hands a block to the planner.
#[derive(Clone, Copy)]
enum Hand {
    Bytes,
    Digested,
}

fn give(
    p: &mut Planner<Peer, MemoryStore>,
    hand: Hand,
    now: Instant,
    peer: Peer,
    cid: Cid,
    data: Bytes,
) {
    match hand {
        Hand::Bytes => p.handle_block(now, peer, cid, data),
        Hand::Digested => {
            let digest = Sha256Digest::of(&data);
            p.handle_digested_block(now, peer, cid, data, digest);
        }
    }
}

/// A fetch of `dag` from peer 1, then peer 2, with one tampered leaf from peer 1 and a late
/// copy of a leaf: everything the planner said, in order, as text.
fn run(dag: &Dag, hand: Hand) -> Vec<String> {
    let root = dag.root.cid;
    let mut p = planner();
    let mut log = Vec::new();
    let mut step = |p: &mut Planner<Peer, MemoryStore>| {
        log.extend(drain(p).iter().map(|o| format!("{o:?}")));
    };
    p.handle_peer_connected(ms(0), 1);
    p.handle_peer_connected(ms(0), 2);
    p.start(ms(0), root, true);
    p.handle_have(ms(1), 1, root);
    p.handle_have(ms(1), 2, root);
    step(&mut p);
    give(&mut p, hand, ms(2), 1, root, block_data(dag, &root));
    step(&mut p);
    let leaves: Vec<Cid> = dag
        .blocks
        .iter()
        .map(|b| *b.cid())
        .filter(|c| *c != root)
        .collect();
    let mut evil = block_data(dag, &leaves[0]).to_vec();
    evil[9] ^= 0x40;
    give(&mut p, hand, ms(3), 1, leaves[0], Bytes::from(evil));
    step(&mut p);
    for (i, cid) in leaves.iter().enumerate() {
        give(
            &mut p,
            hand,
            ms(4 + i as u64),
            2,
            *cid,
            block_data(dag, cid),
        );
        step(&mut p);
    }
    // A late copy: nobody wants it any more.
    give(
        &mut p,
        hand,
        ms(20),
        1,
        leaves[1],
        block_data(dag, &leaves[1]),
    );
    step(&mut p);
    log
}

#[test]
fn digested_blocks_take_the_same_decisions_as_hashed_ones() {
    let data = common::xorshift_bytes(4 * CHUNK_SIZE + 77, 41);
    let dag = build_dag(&data);
    let hashed = run(&dag, Hand::Bytes);
    let digested = run(&dag, Hand::Digested);
    assert!(
        hashed.iter().any(|l| l.contains("Corrupt")),
        "the tampered leaf was refused"
    );
    assert!(hashed.iter().any(|l| l.contains("Completed")));
    assert_eq!(hashed, digested);
}

#[test]
fn a_digest_that_does_not_match_the_cid_is_a_corrupt_block() {
    let data = common::xorshift_bytes(2 * CHUNK_SIZE, 42);
    let dag = build_dag(&data);
    let root = dag.root.cid;
    let mut p = planner();
    p.handle_peer_connected(ms(0), 1);
    p.handle_peer_connected(ms(0), 2);
    p.start(ms(0), root, true);
    p.handle_have(ms(1), 1, root);
    p.handle_have(ms(1), 2, root);
    drain(&mut p);
    let root_data = block_data(&dag, &root);
    let digest = Sha256Digest::of(&root_data);
    p.handle_digested_block(ms(2), 1, root, root_data, digest);
    let leaves: Vec<Cid> = want_blocks(&drain(&mut p))
        .into_iter()
        .flat_map(|(_, c)| c)
        .collect();
    assert_eq!(leaves.len(), 2);

    // The right bytes with a digest of other bytes: the digest decides, and it is wrong.
    let right = block_data(&dag, &leaves[0]);
    let wrong = Sha256Digest::of(b"other bytes");
    p.handle_digested_block(ms(3), 1, leaves[0], right.clone(), wrong);
    let out = drain(&mut p);
    assert!(
        delivered(&out).is_empty(),
        "nothing is released on a wrong digest"
    );
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Event(Event::PeerPenalized {
            peer: 1,
            penalty: Penalty::Corrupt(_),
            ..
        })
    )));

    // The right digest of the right bytes, from the other holder: delivered.
    let mut all = Vec::new();
    for cid in &leaves {
        let data = block_data(&dag, cid);
        let digest = Sha256Digest::of(&data);
        p.handle_digested_block(ms(4), 2, *cid, data, digest);
        all.extend(drain(&mut p));
    }
    assert_eq!(delivered(&all), data);
}

#[test]
fn verify_digest_checks_what_verify_block_checks() {
    let data = b"a block".as_slice();
    let cid = cid_of(data);
    let digest = Sha256Digest::of(data);
    assert_eq!(verify_block(&cid, data), Ok(()));
    assert_eq!(verify_digest(&cid, data.len(), &digest), Ok(()));

    let other = b"another block".as_slice();
    assert_eq!(
        verify_digest(&cid, other.len(), &Sha256Digest::of(other)),
        verify_block(&cid, other),
    );
    assert!(matches!(
        verify_digest(&cid, other.len(), &Sha256Digest::of(other)),
        Err(VerifyError::HashMismatch { actual, .. }) if actual == cid_of(other)
    ));
    // The size cap comes before the digest: a digest cannot vouch for an oversize block.
    assert!(matches!(
        verify_digest(&cid, MAX_BLOCK_SIZE + 1, &digest),
        Err(VerifyError::TooLarge { size, .. }) if size == MAX_BLOCK_SIZE + 1
    ));
    // A digest computed elsewhere is the same value.
    assert_eq!(Sha256Digest::from_computed(*digest.as_bytes()), digest);
}

/// How a test hands an origin body to the planner: in pieces of `size` bytes, each with its
/// digest or not. Pieces of `CHUNK_SIZE` from a leaf on are leaves; others (70 000 bytes) are
/// not, and their digests cannot be used.
#[derive(Clone, Copy, Debug)]
struct Body {
    size: usize,
    digests: bool,
}

const SIZES: [usize; 2] = [CHUNK_SIZE, 70_000];

fn feed_origin(
    p: &mut Planner<Peer, MemoryStore>,
    request: OriginRequestId,
    body: &[u8],
    how: Body,
) {
    for piece in body.chunks(how.size) {
        let piece = Bytes::copy_from_slice(piece);
        if how.digests {
            let digest = Sha256Digest::of(&piece);
            p.handle_origin_leaf(ms(300), request, piece, digest);
        } else {
            p.handle_origin_data(ms(300), request, piece);
        }
    }
    p.handle_origin_done(ms(301), request);
}

/// Everything the planner said, as text, checked equal without printing megabytes.
fn assert_same(a: &[Output<Peer>], b: &[Output<Peer>], what: &str) {
    let a: Vec<String> = a.iter().map(|o| format!("{o:?}")).collect();
    let b: Vec<String> = b.iter().map(|o| format!("{o:?}")).collect();
    let first = a.iter().zip(&b).position(|(x, y)| x != y);
    assert!(
        a.len() == b.len() && first.is_none(),
        "{what}: {} against {} outputs, first difference at {first:?}",
        a.len(),
        b.len()
    );
}

/// A fetch of `data` with no peer: its whole body from the origin, handed over `how`.
fn from_origin_alone(data: &[u8], how: Body) -> Vec<Output<Peer>> {
    let dag = build_dag(data);
    let mut p = planner();
    p.start(ms(0), dag.root.cid, true);
    p.handle_providers(ms(10), dag.root.cid, vec![], true);
    let request = drain(&mut p)
        .iter()
        .find_map(|o| match o {
            Output::Action(Action::OriginFetch(OriginFetch {
                request,
                range: None,
                ..
            })) => Some(*request),
            _ => None,
        })
        .expect("a whole-file origin request");
    feed_origin(&mut p, request, data, how);
    drain(&mut p)
}

#[test]
fn origin_leaves_with_digests_are_verified_by_them() {
    for len in [1000, CHUNK_SIZE, 3 * CHUNK_SIZE + 5] {
        let data = common::xorshift_bytes(len, 43);
        for size in SIZES {
            let plain = from_origin_alone(
                &data,
                Body {
                    size,
                    digests: false,
                },
            );
            assert_eq!(delivered(&plain), data, "{len} bytes in {size}-byte pieces");
            let digested = from_origin_alone(
                &data,
                Body {
                    size,
                    digests: true,
                },
            );
            assert_same(
                &plain,
                &digested,
                &format!("{len} bytes in {size}-byte pieces"),
            );
        }
    }
}

#[test]
fn an_origin_leaf_with_a_wrong_digest_fails_the_fetch_and_delivers_nothing() {
    for len in [1000, 3 * CHUNK_SIZE + 5] {
        let data = common::xorshift_bytes(len, 44);
        let dag = build_dag(&data);
        let mut p = planner();
        let fetch = p.start(ms(0), dag.root.cid, true);
        p.handle_providers(ms(10), dag.root.cid, vec![], true);
        let request = drain(&mut p)
            .iter()
            .find_map(|o| match o {
                Output::Action(Action::OriginFetch(OriginFetch { request, .. })) => Some(*request),
                _ => None,
            })
            .expect("an origin request");
        // The right bytes; the last leaf's digest is of other bytes.
        let pieces: Vec<&[u8]> = data.chunks(CHUNK_SIZE).collect();
        let mut out = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            let digest = if i + 1 == pieces.len() {
                Sha256Digest::of(b"other bytes")
            } else {
                Sha256Digest::of(piece)
            };
            p.handle_origin_leaf(ms(300), request, Bytes::copy_from_slice(piece), digest);
            out.extend(drain(&mut p));
        }
        p.handle_origin_done(ms(301), request);
        out.extend(drain(&mut p));
        assert!(delivered(&out).is_empty(), "{len} bytes: nothing delivered");
        let failed = out.iter().any(|o| {
            matches!(o, Output::Event(Event::Failed { fetch: f, error: FetchError::Origin { .. } }) if *f == fetch)
        });
        assert!(failed, "{len} bytes: the fetch did not fail");
    }
}

#[test]
fn origin_ranges_take_leaves_with_digests() {
    // The root from a peer, then the peer stalls: the rest comes as an origin range.
    let data = common::xorshift_bytes(4 * CHUNK_SIZE + 9, 45);
    let dag = build_dag(&data);
    let root = dag.root.cid;
    let run = |how: Body, wrong_digest: bool| {
        let mut p = planner();
        p.handle_peer_connected(ms(0), 1);
        p.start(ms(0), root, true);
        p.handle_have(ms(1), 1, root);
        drain(&mut p);
        p.handle_block(ms(2), 1, root, block_data(&dag, &root));
        drain(&mut p);
        let deadline = p.poll_timeout().expect("a stall timer");
        p.handle_timeout(deadline);
        let (request, range) = drain(&mut p)
            .iter()
            .find_map(|o| match o {
                Output::Action(Action::OriginFetch(OriginFetch { request, range, .. })) => {
                    Some((*request, range.clone().expect("a range")))
                }
                _ => None,
            })
            .expect("an origin range");
        assert_eq!(
            range.start % CHUNK_SIZE as u64,
            0,
            "a range starts at a leaf"
        );
        let body = &data[range.start as usize..range.end as usize];
        if wrong_digest {
            let piece = Bytes::copy_from_slice(&body[..CHUNK_SIZE]);
            p.handle_origin_leaf(ms(900), request, piece, Sha256Digest::of(b"other bytes"));
        } else {
            feed_origin(&mut p, request, body, how);
        }
        drain(&mut p)
    };
    for size in SIZES {
        let plain = run(
            Body {
                size,
                digests: false,
            },
            false,
        );
        assert_eq!(delivered(&plain), data, "{size}-byte pieces");
        let digested = run(
            Body {
                size,
                digests: true,
            },
            false,
        );
        assert_same(&plain, &digested, &format!("{size}-byte pieces"));
    }
    let out = run(
        Body {
            size: CHUNK_SIZE,
            digests: true,
        },
        true,
    );
    assert!(delivered(&out).is_empty());
    let rejected = out
        .iter()
        .any(|o| matches!(o, Output::Event(Event::OriginRejected { .. })));
    assert!(
        rejected,
        "a leaf with a wrong digest did not reject the body"
    );
}

#[test]
fn the_leaf_cutter_cuts_where_the_dag_builder_does() {
    for len in [
        0,
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        3 * CHUNK_SIZE + 5,
    ] {
        let data = common::xorshift_bytes(len, 46);
        let chunks: Vec<Bytes> = data
            .chunks(CHUNK_SIZE)
            .map(Bytes::copy_from_slice)
            .collect();
        for piece in [1000, 70_000, CHUNK_SIZE, 5 * CHUNK_SIZE] {
            let mut cutter = LeafCutter::default();
            let mut leaves = Vec::new();
            for p in data.chunks(piece) {
                cutter.push(Bytes::copy_from_slice(p), &mut |l| leaves.push(l));
            }
            leaves.extend(cutter.finish());
            assert_eq!(leaves, chunks, "{len} bytes in {piece}-byte pieces");
            // Handed to the builder with their digests, they make the file's DAG.
            let mut builder = DagBuilder::new();
            for leaf in leaves {
                let digest = Sha256Digest::of(&leaf);
                builder.push_digested(leaf, digest, &mut |_| {});
            }
            assert_eq!(
                builder.finish(&mut |_| {}).cid,
                build_dag(&data).root.cid,
                "{len}"
            );
        }
    }
}
