//! Cancelling a fetch withdraws its origin request and ends it; late origin bytes are ignored.

use std::time::Duration;

use mesh_core::fetch::Config as PlannerConfig;
use mesh_engine::{EngineConfig, Output};
use mesh_protocol::KadMode;
use mesh_testkit::{MemNet, data};

#[test]
fn cancel_withdraws_the_origin_request() {
    let mut net = MemNet::new();
    // No bootstrap node: nobody to ask but the origin.
    let node = net.spawn(
        KadMode::Client,
        PlannerConfig::new().with_fallback_after(Duration::from_millis(200)),
        EngineConfig::default(),
    );
    let content = data(10_000, 9);
    let cid = mesh_core::dag::cid_of(&content);
    let fetch = net.fetch(node, cid, Some("http://origin.test/c"));
    net.advance(Duration::from_millis(200));
    let request = net
        .node(node)
        .outputs
        .iter()
        .find_map(|o| match o {
            Output::OriginFetch(o) if o.fetch == fetch => Some(o.request),
            _ => None,
        })
        .expect("an origin request");
    net.node(node).take_outputs();

    let now = net.now;
    net.node(node).engine.cancel_fetch(now, fetch);
    net.run();
    let outputs = net.node(node).take_outputs();
    assert!(
        outputs
            .iter()
            .any(|o| matches!(o, Output::CancelOrigin(c) if c.request == request)),
        "{outputs:?}"
    );
    assert!(
        outputs
            .iter()
            .any(|o| matches!(o, Output::Cancelled { fetch: f } if *f == fetch))
    );
    assert_eq!(net.node(node).engine.origin_request_fetch(request), None);
    assert_eq!(net.node(node).engine.fetch_sources(fetch), None);

    // Bytes of the withdrawn request still on their way change nothing.
    let now = net.now;
    let engine = &mut net.node(node).engine;
    engine.handle_origin_data(now, request, content.clone());
    engine.handle_origin_done(now, request);
    net.run();
    assert!(
        net.node(node)
            .outputs
            .iter()
            .all(|o| !matches!(o, Output::Deliver { .. } | Output::Completed { .. }))
    );
}
