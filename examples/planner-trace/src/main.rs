//! A worked example of the driving contract of [`mesh_core::fetch::Planner`].
//!
//! It fetches a 1.5 MiB asset in virtual time from two peers — one honest but slow, one that
//! corrupts every block — with an origin as the fallback, and prints every action the planner
//! asks for and every event with its reason. A driver for a real network does the same: feed
//! inputs with the current time, drain the outputs (actions and events, in order), arm one timer.
//!
//! `cargo run -p planner-trace`

use std::collections::BTreeMap;

use bytes::Bytes;
use mesh_core::fetch::{Action, Config, Deliver, Event, OriginFetch, Output, Planner};
use mesh_core::store::MemoryStore;
use mesh_core::time::Instant;

const HONEST: u32 = 1;
const LIAR: u32 = 2;
/// The honest peer moves 256 KiB per 300 ms (~0.9 MB/s); the origin is estimated at 4 MB/s.
const HONEST_MS_PER_BLOCK: u64 = 300;

fn main() {
    let data: Vec<u8> = (0..1_500_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let dag = mesh_core::dag::build_dag(&data);
    let blocks: BTreeMap<_, _> = dag
        .blocks
        .iter()
        .map(|b| (*b.cid(), b.data().clone()))
        .collect();
    let root = dag.root.cid;
    println!(
        "asset {root}: {} bytes, {} blocks\n",
        data.len(),
        blocks.len()
    );

    let mut planner: Planner<u32, MemoryStore> =
        Planner::new(Config::new(), MemoryStore::new(16 << 20));
    // Inputs waiting for their time: (ms, input).
    let mut queue: BTreeMap<(u64, u64), Input> = BTreeMap::new();
    let mut seq = 0;
    let mut push = |queue: &mut BTreeMap<(u64, u64), Input>, at: u64, input: Input| {
        seq += 1;
        queue.insert((at, seq), input);
    };

    planner.handle_peer_connected(Instant::ZERO, HONEST);
    planner.handle_peer_connected(Instant::ZERO, LIAR);
    planner.start(Instant::ZERO, root, true);
    let mut delivered = 0usize;
    let mut honest_free_at = 0;
    let mut now_ms = 0;
    for _ in 0..10_000 {
        // 2. Every output in order: carry out each action, explain each event.
        while let Some(output) = planner.poll_output() {
            let action = match output {
                Output::Action(action) => action,
                Output::Event(event) => {
                    if let Some(line) = explain(&event) {
                        println!("{now_ms:>6} ms  {line}");
                    }
                    if let Event::Completed { summary, .. } = &event {
                        println!(
                            "\ndone: {delivered} bytes, {} from peers, {} from the origin, first byte after {:?}, total {:?} ({})",
                            summary.bytes_peer,
                            summary.bytes_origin,
                            summary.ttfb.unwrap_or_default(),
                            summary.elapsed,
                            summary.source_label()
                        );
                        return;
                    }
                    continue;
                }
            };
            match &action {
                Action::Deliver(Deliver {
                    offset, data: d, ..
                }) => {
                    assert_eq!(&data[*offset as usize..*offset as usize + d.len()], &d[..]);
                    delivered += d.len();
                    println!(
                        "{now_ms:>6} ms  deliver {} verified bytes at offset {offset}",
                        d.len()
                    );
                    continue;
                }
                other => println!("{now_ms:>6} ms  -> {}", describe(other)),
            }
            match action {
                Action::SendWantHave { peer, cids, .. } => {
                    for cid in cids {
                        push(&mut queue, now_ms + 5, Input::Have(peer, cid));
                    }
                }
                Action::SendWantBlock { peer, cids, .. } => {
                    for cid in cids {
                        let mut bytes = blocks[&cid].clone();
                        let at = if peer == HONEST {
                            honest_free_at = honest_free_at.max(now_ms) + HONEST_MS_PER_BLOCK;
                            honest_free_at
                        } else {
                            let mut v = bytes.to_vec();
                            v[0] ^= 1;
                            bytes = Bytes::from(v);
                            now_ms + 10
                        };
                        push(&mut queue, at, Input::Block(peer, cid, bytes));
                    }
                }
                Action::OriginFetch(OriginFetch { request, range, .. }) => {
                    let range = range.unwrap_or(0..data.len() as u64);
                    let body =
                        Bytes::copy_from_slice(&data[range.start as usize..range.end as usize]);
                    let at = now_ms + 80 + body.len() as u64 / 4_000;
                    push(&mut queue, at, Input::Origin(request, body));
                }
                _ => {}
            }
        }
        // 3. The next input: whichever comes first, a queued one or the planner's timer.
        let next_input = queue.keys().next().map(|k| k.0);
        let timer = planner.poll_timeout().map(|t| t.as_micros() / 1000);
        match (next_input, timer) {
            (Some(i), t) if t.is_none_or(|t| i <= t) => {
                let Some(((at, _), input)) = queue.pop_first() else {
                    break;
                };
                now_ms = at;
                let now = Instant::from_millis(at);
                match input {
                    Input::Have(peer, cid) => planner.handle_have(now, peer, cid),
                    Input::Block(peer, cid, bytes) => planner.handle_block(now, peer, cid, bytes),
                    Input::Origin(request, body) => {
                        planner.handle_origin_data(now, request, body);
                        planner.handle_origin_done(now, request);
                    }
                }
            }
            (_, Some(t)) => {
                now_ms = t;
                planner.handle_timeout(Instant::from_millis(t));
            }
            _ => break,
        }
    }
    eprintln!("the fetch did not finish");
    std::process::exit(1);
}

enum Input {
    Have(u32, mesh_core::Cid),
    Block(u32, mesh_core::Cid, Bytes),
    Origin(mesh_core::fetch::OriginRequestId, Bytes),
}

fn describe(action: &Action<u32>) -> String {
    match action {
        Action::FindProviders { .. } => "find providers in the DHT".into(),
        Action::SendWantHave { peer, .. } => format!("want-have to peer {peer}"),
        Action::SendWantBlock { peer, cids, .. } => {
            format!("want-block x{} to peer {peer}", cids.len())
        }
        Action::SendCancel { peer, cids } => format!("cancel x{} to peer {peer}", cids.len()),
        Action::OriginFetch(OriginFetch { range, .. }) => match range {
            Some(r) => format!("origin GET Range: bytes={}-{}", r.start, r.end - 1),
            None => "origin GET (whole asset)".into(),
        },
        Action::CancelOrigin(_) => "cancel origin request".into(),
        Action::Announce { .. } => "announce: this node now provides the asset".into(),
        other => format!("{other:?}"),
    }
}

fn explain(event: &Event<u32>) -> Option<String> {
    Some(match event {
        Event::Fallback { reason, .. } => format!("origin brought in: {reason:?}"),
        Event::Reassigned {
            peer, cids, reason, ..
        } => {
            format!("{} blocks taken from peer {peer}: {reason:?}", cids.len())
        }
        Event::PeerPenalized {
            peer,
            penalty,
            score,
        } => {
            let why = match penalty {
                mesh_core::fetch::Penalty::Corrupt(e) => format!("bad block ({e})"),
                other => format!("{other:?}"),
            };
            format!("peer {peer} penalised, score {score}: {why}")
        }
        Event::PeerIgnored { peer } => format!("peer {peer} ignored from now on"),
        Event::BlockAccepted { from, bytes, .. } => {
            format!("accepted {bytes} verified bytes from {from:?}")
        }
        _ => return None,
    })
}
