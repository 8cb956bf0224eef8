//! Configuration errors: one line on stderr, a non-zero exit, nothing half-started.
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    fs,
    net::{TcpListener, UdpSocket},
};

use common::run_to_exit;

/// Runs the binary with `args` and returns its single stderr line, asserting a failed exit.
fn single_error_line(args: &[&str]) -> String {
    let (status, stdout, stderr) = run_to_exit(args);
    assert!(!status.success(), "{args:?} should fail; stderr: {stderr}");
    assert!(
        stdout.is_empty(),
        "nothing printed on stdout, got {stdout:?}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one stderr line, got:\n{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    assert!(lines[0].starts_with("bootstrap-node: error: "), "{stderr}");
    lines[0].to_owned()
}

fn data_dir_arg(dir: &tempfile::TempDir) -> String {
    dir.path().join("data").display().to_string()
}

#[test]
fn bad_multiaddr_is_one_line() {
    let line = single_error_line(&["--listen", "/ip4/127.0.0.1/tcp/notaport"]);
    assert!(line.contains("--listen"), "{line}");
    assert!(line.contains("/ip4/127.0.0.1/tcp/notaport"), "{line}");

    let line = single_error_line(&["--peer", "/ip4/127.0.0.1/tcp/4001"]);
    assert!(line.contains("/p2p/<peer id>"), "{line}");

    let line = single_error_line(&["--namespace", "Shop"]);
    assert!(line.contains("namespace"), "{line}");
}

/// Starting with `--listen addr` on a taken port fails with one line naming the address.
fn assert_listen_in_use(addr: &str) {
    let dir = tempfile::tempdir().unwrap();
    let line = single_error_line(&[
        "--data-dir",
        &data_dir_arg(&dir),
        "--http-listen",
        "127.0.0.1:0",
        "--listen",
        addr,
    ]);
    assert!(line.contains(&format!("cannot listen on {addr}")), "{line}");
    assert!(line.contains("in use"), "{line}");
}

#[test]
fn tcp_port_in_use_is_one_line() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    assert_listen_in_use(&format!("/ip4/127.0.0.1/tcp/{port}"));
}

#[test]
fn udp_port_in_use_is_one_line() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    assert_listen_in_use(&format!("/ip4/127.0.0.1/udp/{port}/webrtc-direct"));
}

#[test]
fn http_port_in_use_is_one_line() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let http = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let line = single_error_line(&[
        "--data-dir",
        &data_dir_arg(&dir),
        "--http-listen",
        &http,
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
    ]);
    assert!(
        line.contains(&format!("cannot listen for HTTP on {http}")),
        "{line}"
    );
}

#[test]
fn corrupt_key_files_are_one_line_and_kept() {
    for (file, content) in [
        ("identity.key", &b"\x08\x01\x12\x03abc"[..]),
        (
            "webrtc-cert.pem",
            &b"-----BEGIN PRIVATE KEY-----\ngarbage\n"[..],
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        fs::create_dir(&data).unwrap();
        fs::write(data.join(file), content).unwrap();
        let line = single_error_line(&[
            "--data-dir",
            &data.display().to_string(),
            "--http-listen",
            "127.0.0.1:0",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
        ]);
        assert!(line.contains(file) && line.contains("corrupt"), "{line}");
        assert_eq!(
            fs::read(data.join(file)).unwrap(),
            content,
            "never overwritten"
        );
    }
}

#[test]
fn unusable_data_dir_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    fs::write(&file, b"x").unwrap();
    let line = single_error_line(&[
        "--data-dir",
        &file.join("data").display().to_string(),
        "--http-listen",
        "127.0.0.1:0",
    ]);
    assert!(line.contains("cannot create data directory"), "{line}");
}

#[test]
fn unsupported_listen_address_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let line = single_error_line(&[
        "--data-dir",
        &data_dir_arg(&dir),
        "--http-listen",
        "127.0.0.1:0",
        "--listen",
        "/ip4/127.0.0.1/udp/0/quic-v1",
    ]);
    assert!(line.contains("not supported"), "{line}");
}

#[test]
fn inconsistent_or_zero_limits_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let line = single_error_line(&[
        "--data-dir",
        &data_dir_arg(&dir),
        "--http-listen",
        "127.0.0.1:0",
        "--metrics-access",
        "token",
    ]);
    assert!(line.contains("--metrics-token"), "{line}");

    let line = single_error_line(&["--relay-reservation-refill-per-ip", "0s"]);
    assert!(
        line.contains("--relay-reservation-refill-per-ip") && line.contains("longer than zero"),
        "{line}"
    );
    let line = single_error_line(&["--max-connections-per-ip", "0"]);
    assert!(line.contains("--max-connections-per-ip"), "{line}");
}
