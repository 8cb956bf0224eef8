//! A provider serving corrupted blocks: every block is verified, the liar is penalised, the
//! bytes come from the honest provider, and nothing wrong is ever delivered.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use mesh_node::FetchChunk;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_blocks_are_detected_penalised_and_refetched_elsewhere() {
    init_tracing();
    let servers = dht(3).await;
    let original = data(3 << 19, 11);

    let liar =
        start(config(&[servers[0].addrs[0].clone()]).with_serve_corrupt_blocks_for_testing(true))
            .await;
    let root = within("liar seeds", liar.handle.add_bytes(original.clone()))
        .await
        .unwrap();
    let honest = start(config(&[servers[1].addrs[0].clone()])).await;
    let honest_root = within("honest seeds", honest.handle.add_bytes(original.clone()))
        .await
        .unwrap();
    assert_eq!(honest_root, root);

    let fetcher = start(config(&[servers[2].addrs[0].clone()])).await;
    // The liar is the only provider the fetcher is connected to when the fetch starts: it is
    // asked first; the honest one is found through the DHT.
    within(
        "connect to the liar",
        fetcher.handle.connect(liar.addrs[0].clone()),
    )
    .await
    .unwrap();
    let mut stream = fetcher.handle.fetch_stream(root, None).await.unwrap();
    let mut next_offset = 0u64;
    let report = loop {
        match within("fetch progress", stream.next()).await {
            Some(FetchChunk::Data { offset, data }) => {
                assert_eq!(offset, next_offset, "deliveries are in order, without gaps");
                let range = offset as usize..offset as usize + data.len();
                assert_eq!(
                    data,
                    original.slice(range),
                    "delivered bytes differ at {offset}"
                );
                next_offset += data.len() as u64;
            }
            Some(FetchChunk::Done(report)) => break report,
            other => panic!("fetch did not complete: {other:?}"),
        }
    };
    assert_eq!(next_offset, original.len() as u64);
    assert!(
        !report.peers.contains_key(&liar.handle.peer_id()),
        "bytes accepted from the liar"
    );
    assert_eq!(
        report.peers.get(&honest.handle.peer_id()).copied(),
        Some(report.summary.bytes_peer)
    );

    let stats = fetcher.handle.stats().await.unwrap();
    assert!(
        stats.corrupt_blocks_received >= 1,
        "the corrupt blocks went unnoticed"
    );
    let liar_served = liar.handle.stats().await.unwrap().serve.blocks_served;
    // Blocks arriving after the liar was ignored, or after the block came from elsewhere, are
    // dropped without counting.
    assert!(stats.corrupt_blocks_received <= liar_served);
    if stats.corrupt_blocks_received >= 2 {
        // Two bad blocks exceed the planner's ignore threshold whatever the history.
        assert!(stats.ignored_peers.contains(&liar.handle.peer_id()));
    }

    stop([fetcher, honest, liar]).await;
    stop(servers).await;
}
