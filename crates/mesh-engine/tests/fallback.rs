//! The origin comes in at the deadline when the only provider does not answer, and the
//! origin's bytes (which the test serves) are verified and delivered; the origin URL is the
//! engine's to build.

use std::time::Duration;

use mesh_core::dag::build_dag;
use mesh_core::fetch::{Config as PlannerConfig, FetchError};
use mesh_engine::{EngineConfig, OriginFetch, Output};
use mesh_protocol::KadMode;
use mesh_testkit::{MemNet, NodeId, data};

const DEADLINE: Duration = Duration::from_millis(200);

/// A DHT with one provider of `content` that stops answering (frozen), and a fetcher.
fn frozen_provider(content: &[u8], fetcher: EngineConfig) -> (MemNet, NodeId, cid::Cid) {
    let mut net = MemNet::new();
    let (_, boot_addr) = net.spawn_bootstrap();
    let seeder = net.spawn(
        KadMode::Client,
        PlannerConfig::new(),
        EngineConfig::default().with_bootstrap(vec![boot_addr.clone()]),
    );
    net.join(seeder);
    let cid = net.seed(seeder, content);
    net.freeze(seeder);
    let planner = PlannerConfig::new().with_fallback_after(DEADLINE);
    let f = net.spawn(
        KadMode::Client,
        planner,
        fetcher.with_bootstrap(vec![boot_addr]),
    );
    net.join(f);
    (net, f, cid)
}

fn origin_requests(net: &mut MemNet, id: NodeId) -> Vec<OriginFetch> {
    net.node(id)
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::OriginFetch(request) => Some(request.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn origin_at_the_deadline_when_the_provider_hangs() {
    let content = data(100_000, 3);
    let (mut net, fetcher, cid) = frozen_provider(&content, EngineConfig::default());
    let start = net.now;
    let fetch = net.fetch(fetcher, cid, Some("http://origin.test/a.bin"));
    assert_eq!(
        net.node(fetcher).engine.origin_url(fetch),
        Some("http://origin.test/a.bin")
    );

    net.advance_to(start + (DEADLINE - Duration::from_micros(1)));
    assert!(
        origin_requests(&mut net, fetcher).is_empty(),
        "not before the deadline"
    );
    net.advance_to(start + DEADLINE);
    let requests = origin_requests(&mut net, fetcher);
    let [
        OriginFetch {
            fetch: f,
            request,
            range,
        },
    ] = &requests[..]
    else {
        panic!("one origin request at the deadline, got {requests:?}");
    };
    assert_eq!(*f, fetch);
    assert_eq!(range, &None, "a single-block asset is asked for whole");
    assert_eq!(
        net.node(fetcher).engine.origin_request_fetch(*request),
        Some(fetch)
    );

    // The test is the origin: half the body, then the rest.
    let now = net.now;
    let engine = &mut net.node(fetcher).engine;
    engine.handle_origin_data(now, *request, content.slice(..40_000));
    engine.handle_origin_data(now, *request, content.slice(40_000..));
    engine.handle_origin_done(now, *request);
    net.run();
    let report = net
        .completed(fetcher, fetch)
        .expect("completed from the origin");
    assert_eq!(net.delivered(fetcher, fetch), content);
    assert_eq!(report.sources.label(), "origin");
    assert!(report.summary.fell_back);
    assert_eq!(
        net.node(fetcher).engine.origin_request_fetch(*request),
        None,
        "the request is forgotten once done"
    );
}

#[test]
fn origin_base_names_the_url_and_tampered_bytes_are_refused() {
    let mut net = MemNet::new();
    // No bootstrap node: the DHT has no answer, the origin is asked at once.
    let node = net.spawn(
        KadMode::Client,
        PlannerConfig::new().with_fallback_after(DEADLINE),
        EngineConfig::default().with_origin_base(Some("http://origin.test/cid".to_owned())),
    );
    let content = data(50_000, 4);
    let cid = build_dag(&content).root.cid;
    let fetch = net.fetch(node, cid, None);
    assert_eq!(
        net.node(node).engine.origin_url(fetch),
        Some(format!("http://origin.test/cid/{cid}").as_str())
    );
    net.advance(DEADLINE);
    let requests = origin_requests(&mut net, node);
    let [OriginFetch { request, .. }] = &requests[..] else {
        panic!("one origin request, got {requests:?}");
    };
    let mut tampered = content.to_vec();
    tampered[10] ^= 1;
    let now = net.now;
    let engine = &mut net.node(node).engine;
    engine.handle_origin_data(now, *request, tampered.into());
    engine.handle_origin_done(now, *request);
    net.run();
    assert!(net.delivered(node, fetch).is_empty(), "no unverified byte");
    assert!(net.completed(node, fetch).is_none());
    let outputs = &net.node(node).outputs;
    assert!(
        outputs.iter().any(|o| matches!(
            o,
            Output::Failed { fetch: f, error: FetchError::Origin { .. } } if *f == fetch
        )),
        "{outputs:#?}"
    );
}
