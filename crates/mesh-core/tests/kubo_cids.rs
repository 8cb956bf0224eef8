//! Our CIDs must be the ones kubo prints for `ipfs add --cid-version 1`.
//!
//! The vectors in tests/vectors/kubo_cids.json were computed by an independent implementation
//! (the JavaScript UnixFS importer configured like kubo, see tests/kubo-vectors/gen.mjs at the
//! repository root) over content both sides generate the same way.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use mesh_core::dag::{DagBuilder, build_dag, cid_of};

#[derive(serde::Deserialize)]
struct Vector {
    name: String,
    size: usize,
    pattern: String,
    cid: String,
}

fn vectors() -> Vec<Vector> {
    serde_json::from_str(include_str!("vectors/kubo_cids.json")).unwrap()
}

#[test]
fn empty_file_is_kubos_well_known_cid() {
    let cid = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
    assert_eq!(cid_of(b"").to_string(), cid);
    assert_eq!(build_dag(b"").root.cid.to_string(), cid);
}

#[test]
fn vectors_cover_every_boundary() {
    let sizes: Vec<usize> = vectors().iter().map(|v| v.size).collect();
    let chunk = 262_144;
    for size in [
        0,
        1,
        chunk - 1,
        chunk,
        chunk + 1,
        2 * chunk,
        174 * chunk,
        174 * chunk + 1,
        175 * chunk + 12345,
    ] {
        assert!(sizes.contains(&size), "no vector of {size} bytes");
    }
    assert!(vectors().iter().any(|v| v.pattern == "zeros"));
}

#[test]
fn cids_match_the_independent_importer() {
    for v in vectors() {
        let data = common::content(v.size, &v.pattern);
        assert_eq!(
            cid_of(&data).to_string(),
            v.cid,
            "cid_of, vector {}",
            v.name
        );
        let dag = build_dag(&data);
        assert_eq!(
            dag.root.cid.to_string(),
            v.cid,
            "build_dag, vector {}",
            v.name
        );
        assert_eq!(dag.root.size, v.size as u64);
        assert_eq!(dag.blocks.last().map(|b| *b.cid()), Some(dag.root.cid));
        // Streaming in uneven pieces gives the same root.
        let mut builder = DagBuilder::new();
        let mut blocks = 0usize;
        for piece in data.chunks(100_003) {
            builder.push(piece, &mut |_| blocks += 1);
        }
        let root = builder.finish(&mut |_| blocks += 1);
        assert_eq!(root.cid.to_string(), v.cid, "streaming, vector {}", v.name);
        assert!(blocks >= dag.blocks.len());
    }
}

/// Reruns the JavaScript importer and compares with the committed JSON. Needs node and
/// `npm ci` in tests/kubo-vectors, hence ignored by default:
/// `cargo test -p mesh-core --test kubo_cids -- --ignored`.
#[test]
#[ignore = "needs node and `npm ci` in tests/kubo-vectors"]
fn committed_vectors_match_a_live_run_of_the_js_importer() {
    // Read at run time: a test binary reused from another clone must not look in that clone.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or(env!("CARGO_MANIFEST_DIR").into());
    let dir = Path::new(&manifest).join("../../tests/kubo-vectors");
    let out = Command::new("node")
        .arg("gen.mjs")
        .arg("--check")
        .current_dir(&dir)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "gen.mjs --check failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
