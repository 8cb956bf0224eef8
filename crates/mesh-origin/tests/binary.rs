//! The real `mesh-origin` binary: the `listening` line, serving, signals, and one-line errors
//! with exit status 2 for bad configurations.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{client, site};

const BIN: &str = env!("CARGO_BIN_EXE_mesh-origin");

/// Starts the binary and reads its `listening URL` line.
fn spawn(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .trim()
        .to_owned();
    (child, url)
}

/// Runs the binary to completion (for configurations it must refuse at once).
fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// Sends `signal` to the child (by its own pid) and waits for it.
fn signal_and_wait(child: &mut Child, signal: &str) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Bounded: a server that ignores the signal fails the test instead of hanging it.
    for _ in 0..200 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    panic!("mesh-origin did not exit within 10 s of SIG{signal}");
}

fn assert_one_line_error(output: &Output, needle: &str) {
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(stderr.starts_with("mesh-origin: error: "), "{stderr:?}");
    assert!(stderr.contains(needle), "{stderr:?} lacks {needle:?}");
    assert!(
        output.stdout.is_empty(),
        "nothing on stdout for a failed start"
    );
}

#[tokio::test]
async fn serves_then_exits_cleanly_on_sigterm_and_sigint() {
    let dir = site();
    let root = dir.path().to_str().unwrap();
    for signal in ["TERM", "INT"] {
        let (mut child, url) = spawn(&[
            "--root",
            root,
            "--listen",
            "127.0.0.1:0",
            "--latency-ms",
            "30",
        ]);
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        let health = client()
            .get(format!("{url}/_origin/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.text().await.unwrap(), "ok\n");
        let started = std::time::Instant::now();
        let page = client().get(format!("{url}/")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(started.elapsed() >= Duration::from_millis(30));
        let status = signal_and_wait(&mut child, signal);
        assert!(status.success(), "SIG{signal}: {status:?}");
    }
}

#[tokio::test]
async fn starts_down_with_a_mount_when_asked() {
    let dir = site();
    let pkg = tempfile::tempdir().unwrap();
    common::write(pkg.path(), "x.js", b"1");
    let mount = format!("/pkg={}", pkg.path().display());
    let (mut child, url) = spawn(&[
        "--root",
        dir.path().to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--mount",
        &mount,
        "--down",
    ]);
    let get = |path: &'static str| client().get(format!("{url}{path}")).send();
    assert_eq!(get("/pkg/x.js").await.unwrap().status(), 503);
    client()
        .post(format!("{url}/_origin/up"))
        .send()
        .await
        .unwrap();
    let js = get("/pkg/x.js").await.unwrap();
    assert_eq!(js.status(), 200);
    assert_eq!(js.headers()["content-type"], "text/javascript");
    assert!(signal_and_wait(&mut child, "TERM").success());
}

#[test]
fn bad_configurations_are_one_line_and_exit_2() {
    let dir = site();
    let root = dir.path().to_str().unwrap();
    let missing = dir.path().join("missing");
    let output = run(&[
        "--root",
        missing.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_one_line_error(&output, "No such file or directory");

    let file_root = dir.path().join("index.html");
    let output = run(&[
        "--root",
        file_root.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_one_line_error(&output, "is not a directory");

    for (mount, needle) in [
        ("pkg", "expected PREFIX=DIR"),
        ("pkg=dir", "absolute URL path"),
        ("/_origin=dir", "control API"),
    ] {
        let output = run(&["--root", root, "--listen", "127.0.0.1:0", "--mount", mount]);
        assert_one_line_error(&output, needle);
    }
    let output = run(&[
        "--root",
        root,
        "--listen",
        "127.0.0.1:0",
        "--mount",
        &format!("/pkg={}", missing.display()),
    ]);
    assert_one_line_error(&output, "missing");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = run(&["--root", root, "--listen", &addr]);
    assert_one_line_error(&output, "Address already in use");

    let bad_manifest = dir.path().join("bad.json");
    std::fs::write(&bad_manifest, r#"{"version":1,"assets":{"no-slash":{}}}"#).unwrap();
    let output = run(&[
        "--root",
        root,
        "--listen",
        "127.0.0.1:0",
        "--manifest",
        bad_manifest.to_str().unwrap(),
    ]);
    assert_one_line_error(&output, "invalid manifest");
    drop(taken);
}
