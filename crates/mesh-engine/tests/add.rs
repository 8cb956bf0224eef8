//! `Engine::add`, a seeder's content: stored, pinned and announced through the announcement
//! queue (`announce.rs`), a few queries at a time, and each add hears its outcome once.

use cid::Cid;
use mesh_core::dag::build_dag;
use mesh_core::fetch::Config as PlannerConfig;
use mesh_core::store::BlockStore;
use mesh_engine::{ANNOUNCING, EngineConfig, Output};
use mesh_protocol::KadMode;
use mesh_testkit::{MemNet, data};

fn announced(outputs: &[Output]) -> Vec<(Cid, bool)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Announced { cid, result } => Some((*cid, result.is_ok())),
            _ => None,
        })
        .collect()
}

#[test]
fn added_assets_are_announced_a_few_at_a_time_and_each_add_hears_once() {
    let mut net = MemNet::new();
    let (boot, boot_addr) = net.spawn_bootstrap();
    let config = EngineConfig::default().with_bootstrap(vec![boot_addr]);
    let node = net.spawn(KadMode::Client, PlannerConfig::new(), config);
    net.join(node);
    // The bootstrap node stops answering: every announcement started keeps running.
    net.freeze(boot);

    let mut roots: Vec<Cid> = (0..6)
        .map(|i| {
            // Odd seeds: `data` makes a seed odd, so 70 and 71 would be the same bytes.
            let dag = build_dag(&data(2_000, 71 + 2 * i));
            let root = dag.root.cid;
            net.node(node)
                .engine
                .add(root, dag.blocks)
                .expect("the store holds it");
            root
        })
        .collect();
    net.run();
    let status = net.node(node).engine.status();
    assert_eq!(
        (status.announcing, status.announcements_waiting),
        (ANNOUNCING, 6 - ANNOUNCING),
        "a few announcements run, the others wait"
    );
    assert_eq!(announced(&net.node(node).take_outputs()), vec![]);
    // Stored and pinned at once, announced or not.
    let store = net.node(node).engine.planner().store();
    assert!(roots.iter().all(|root| store.contains(root)));
    assert_eq!(store.pinned_bytes(), 6 * 2_000);

    net.thaw(boot);
    let mut outcomes = announced(&net.node(node).take_outputs());
    outcomes.sort();
    roots.sort();
    let expected: Vec<(Cid, bool)> = roots.iter().map(|r| (*r, true)).collect();
    assert_eq!(outcomes, expected, "every add hears its outcome, once");

    // Announced again later (a reconnect): nobody awaits it, nothing is reported.
    net.node(node).engine.reannounce_all();
    net.run();
    let status = net.node(node).engine.status();
    assert_eq!((status.announcing, status.announcements_waiting), (0, 0));
    assert_eq!(announced(&net.node(node).take_outputs()), vec![]);
}
