//! `mesh seed` and `mesh get` as real processes over TCP on 127.0.0.1.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use mesh_core::dag::build_dag;

/// Longest wait for one step; a failure shows as a panic, never a hang.
const STEP: Duration = Duration::from_secs(60);

fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

/// A running `mesh seed` and the lines it printed before its addresses.
struct Seeder {
    child: Child,
    cids: Vec<String>,
    addrs: Vec<String>,
}

impl Seeder {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mesh"))
            .arg("seed")
            .args(args)
            .args([
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--namespace",
                "cli-test",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line.unwrap()).is_err() {
                    break;
                }
            }
        });
        let mut cids = Vec::new();
        let mut addrs = Vec::new();
        // The seeder prints every CID, then its addresses; the first address line and the
        // lines already buffered after it are all there is.
        while addrs.is_empty() {
            let line = rx
                .recv_timeout(STEP)
                .expect("mesh seed printed its addresses");
            match line.strip_prefix("listening ") {
                Some(addr) => addrs.push(addr.to_owned()),
                None => cids.push(line.split_whitespace().next().unwrap().to_owned()),
            }
        }
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if let Some(addr) = line.strip_prefix("listening ") {
                addrs.push(addr.to_owned());
            }
        }
        Self { child, cids, addrs }
    }

    /// SIGTERM, then the exit status must be success.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(self.child.wait().unwrap()));
        let status = rx.recv_timeout(STEP).expect("mesh seed exits on SIGTERM");
        assert!(status.success(), "mesh seed exited with {status}");
    }
}

fn get(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mesh"))
        .arg("get")
        .args(args)
        .args([
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--namespace",
            "cli-test",
        ])
        .args(["--timeout", "60"])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn seed_then_get_through_the_seeders_dht() {
    let dir = tempfile::tempdir().unwrap();
    let small = noise(1000, 1);
    let large = noise(700_000, 2);
    std::fs::create_dir(dir.path().join("site")).unwrap();
    std::fs::write(dir.path().join("site/small.txt"), &small).unwrap();
    std::fs::write(dir.path().join("large.bin"), &large).unwrap();
    let seeder = Seeder::start(&[
        dir.path().join("site").to_str().unwrap(),
        dir.path().join("large.bin").to_str().unwrap(),
        "--kad-server",
    ]);
    let expected: Vec<String> = [&small, &large]
        .iter()
        .map(|d| build_dag(d).root.cid.to_string())
        .collect();
    assert_eq!(seeder.cids, expected);

    let out = dir.path().join("fetched.bin");
    let output = get(&[
        &expected[1],
        "--bootstrap",
        &seeder.addrs[0],
        "-o",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "mesh get failed: {stderr}");
    assert_eq!(std::fs::read(&out).unwrap(), large);
    assert!(stderr.contains("source: peer"), "{stderr}");

    // To stdout, found directly with --peer and no DHT.
    let output = get(&[&expected[0], "--peer", &seeder.addrs[0]]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout, small);
    seeder.stop();
}

#[test]
fn get_of_an_unavailable_asset_fails_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never.bin");
    let cid = build_dag(b"nobody seeds this").root.cid.to_string();
    let output = get(&[&cid, "-o", out.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("no source left for {cid}")),
        "{stderr}"
    );
    assert!(!out.exists(), "a failed get left a file behind");
}

#[test]
fn bad_bootstrap_address_is_a_usage_error() {
    let output = get(&[
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
        "--bootstrap",
        "not-a-multiaddr",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--bootstrap"), "{stderr}");
    let output = get(&[
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
        "--bootstrap",
        "/ip4/127.0.0.1/tcp/1",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/p2p/<peer id>"), "{stderr}");
}
