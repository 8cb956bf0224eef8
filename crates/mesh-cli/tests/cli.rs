//! End-to-end tests of the `mesh` binary: real processes, real files, CIDs checked against
//! `mesh-core` itself.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use mesh_core::dag::{build_dag, cid_of};
use mesh_core::manifest::Manifest;

/// What kubo prints for `ipfs add --cid-version 1` of an empty file.
const EMPTY_FILE_CID: &str = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";

/// Runs `mesh` with `args`, stdin closed, stderr not a terminal.
fn mesh(args: &[&str]) -> Output {
    mesh_with_stdin(args, b"")
}

fn mesh_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mesh"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(out: &Output) -> &str {
    std::str::from_utf8(&out.stdout).unwrap()
}

fn stderr(out: &Output) -> &str {
    std::str::from_utf8(&out.stderr).unwrap()
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Deterministic incompressible bytes (xorshift64), so leaves are all distinct.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Asserts a failed run: `code`, nothing on stdout, exactly one `mesh: error: ` line on stderr;
/// returns that line.
fn single_error_line(out: &Output, code: i32) -> String {
    assert_eq!(out.status.code(), Some(code), "stderr: {}", stderr(out));
    assert_eq!(stdout(out), "");
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "one line expected: {err:?}");
    assert!(err.starts_with("mesh: error: "), "{err:?}");
    err.trim_end().to_owned()
}

// ---- mesh cid ----

#[test]
fn cid_of_a_small_file_matches_the_core() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hello.txt");
    fs::write(&path, b"hello mesh\n").unwrap();
    let out = mesh(&["cid", arg(&path)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{}\n", cid_of(b"hello mesh\n")));
    assert_eq!(stderr(&out), "");
}

#[test]
fn cid_of_a_multi_block_file_matches_the_core() {
    // Over 256 KiB (several leaves) and over the 1 MiB read size (several reads), not aligned.
    let data = noise(2 * (1 << 20) + 300_001, 7);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    fs::write(&path, &data).unwrap();
    let out = mesh(&["cid", arg(&path)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{}\n", cid_of(&data)));
}

#[test]
fn cid_of_the_empty_file_is_kubos() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty");
    fs::write(&path, b"").unwrap();
    let out = mesh(&["cid", arg(&path)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{EMPTY_FILE_CID}\n"));
}

#[test]
fn cid_of_several_files_names_each() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.txt");
    let b = dir.path().join("b.txt");
    fs::write(&a, b"a").unwrap();
    fs::write(&b, b"b").unwrap();
    let out = mesh(&["cid", arg(&a), arg(&b)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = format!(
        "{}  {}\n{}  {}\n",
        cid_of(b"a"),
        arg(&a),
        cid_of(b"b"),
        arg(&b)
    );
    assert_eq!(stdout(&out), expected);
}

#[test]
fn cid_dash_reads_stdin() {
    let data = noise(300_000, 11);
    let out = mesh_with_stdin(&["cid", "-"], &data);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{}\n", cid_of(&data)));
}

#[test]
fn cid_long_counts_distinct_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let noisy = dir.path().join("noise.bin");
    let zeros = dir.path().join("zeros.bin");
    let noise_data = noise(5 * 262_144 + 1, 3);
    let zero_data = vec![0u8; 4 * 262_144];
    fs::write(&noisy, &noise_data).unwrap();
    fs::write(&zeros, &zero_data).unwrap();
    let out = mesh(&["cid", "--long", arg(&noisy), arg(&zeros)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let distinct = |data: &[u8]| {
        let dag = build_dag(data);
        dag.blocks
            .iter()
            .map(|b| *b.cid())
            .collect::<HashSet<_>>()
            .len()
    };
    // Six distinct leaves and a root; four identical leaves (one block) and a root.
    assert_eq!(distinct(&noise_data), 7);
    assert_eq!(distinct(&zero_data), 2);
    let expected = format!(
        "{}  {}  7  {}\n{}  {}  2  {}\n",
        cid_of(&noise_data),
        noise_data.len(),
        arg(&noisy),
        cid_of(&zero_data),
        zero_data.len(),
        arg(&zeros),
    );
    assert_eq!(stdout(&out), expected);
}

#[test]
fn cid_of_a_missing_file_is_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.png");
    let out = mesh(&["cid", arg(&path)]);
    let line = single_error_line(&out, 2);
    assert_eq!(
        line,
        format!(
            "mesh: error: cannot read {}: No such file or directory",
            arg(&path)
        )
    );
}

// ---- mesh manifest ----

/// A small site: nested directories, hidden files, assorted types.
fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let files: &[(&str, &[u8])] = &[
        ("index.html", b"<!doctype html><title>t</title>"),
        ("css/site.css", b"body { margin: 0 }"),
        ("js/app.js", b"console.log('mesh');"),
        (
            "img/icons/dot.svg",
            b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        ),
        ("data/blob.unknownext", b"\x00\x01\x02"),
        (".hidden.txt", b"secret"),
        (".git/HEAD", b"ref: refs/heads/main"),
        ("img/.cache/x.svg", b"<svg/>"),
    ];
    for (path, data) in files {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, data).unwrap();
    }
    fs::write(root.join("img/photo.png"), noise(400_000, 5)).unwrap();
    dir
}

fn expected_assets(root: &Path) -> Vec<(String, String, u64, String)> {
    let rows = [
        ("/css/site.css", "css/site.css", "text/css"),
        (
            "/data/blob.unknownext",
            "data/blob.unknownext",
            "application/octet-stream",
        ),
        ("/img/icons/dot.svg", "img/icons/dot.svg", "image/svg+xml"),
        ("/img/photo.png", "img/photo.png", "image/png"),
        ("/index.html", "index.html", "text/html"),
        ("/js/app.js", "js/app.js", "text/javascript"),
    ];
    rows.iter()
        .map(|(site, file, ty)| {
            let data = fs::read(root.join(file)).unwrap();
            (
                (*site).to_owned(),
                cid_of(&data).to_string(),
                data.len() as u64,
                (*ty).to_owned(),
            )
        })
        .collect()
}

fn assets(manifest: &Manifest) -> Vec<(String, String, u64, String)> {
    manifest
        .assets
        .iter()
        .map(|(path, e)| {
            (
                path.clone(),
                e.cid.to_string(),
                e.size,
                e.content_type.clone(),
            )
        })
        .collect()
}

#[test]
fn manifest_lists_a_site_to_stdout() {
    let site = site();
    let out = mesh(&["manifest", arg(site.path())]);
    assert!(out.status.success(), "{}", stderr(&out));
    let manifest = Manifest::from_json(stdout(&out)).unwrap();
    assert_eq!(manifest.version, 1);
    assert_eq!(assets(&manifest), expected_assets(site.path()));
    // The JSON uses the documented field names.
    let json: serde_json::Value = serde_json::from_str(stdout(&out)).unwrap();
    assert_eq!(json["assets"]["/index.html"]["type"], "text/html");
    // Not a terminal: no progress bar, just the summary line.
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err:?}");
    let total: u64 = expected_assets(site.path()).iter().map(|a| a.2).sum();
    let summary = format!("mesh: manifest of 6 files, 390.7 KiB ({total} bytes), in ");
    assert!(err.starts_with(&summary), "{err:?}");
}

#[test]
fn manifest_output_file_parses_and_is_left_out() {
    let site = site();
    let out_path = site.path().join("mesh-manifest.json");
    for _ in 0..2 {
        // The second run finds the first run's file in the site and must skip it.
        let out = mesh(&["manifest", arg(site.path()), "-o", arg(&out_path)]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out), "");
        let json = fs::read_to_string(&out_path).unwrap();
        let manifest = Manifest::from_json(&json).unwrap();
        assert_eq!(assets(&manifest), expected_assets(site.path()));
        assert!(json.ends_with("}\n"));
    }
    // No temporary files left behind.
    let mut names: Vec<_> = fs::read_dir(site.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ".git",
            ".hidden.txt",
            "css",
            "data",
            "img",
            "index.html",
            "js",
            "mesh-manifest.json"
        ]
    );
}

#[test]
fn manifest_is_deterministic() {
    let site = site();
    let first = mesh(&["manifest", "-q", arg(site.path())]);
    let second = mesh(&["manifest", "--quiet", arg(site.path())]);
    assert!(first.status.success());
    assert_eq!(first.stdout, second.stdout);
    assert_eq!(stderr(&first), "");
}

#[test]
fn manifest_of_a_missing_directory_is_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("www");
    let out = mesh(&["manifest", arg(&missing)]);
    let line = single_error_line(&out, 2);
    assert_eq!(
        line,
        format!(
            "mesh: error: cannot read {}: No such file or directory",
            arg(&missing)
        )
    );
}

#[test]
fn manifest_into_a_missing_directory_is_one_error_line() {
    let site = site();
    let out_path = site.path().join("no/such/dir/m.json");
    let out = mesh(&["manifest", "-q", arg(site.path()), "-o", arg(&out_path)]);
    let line = single_error_line(&out, 2);
    assert!(
        line.starts_with(&format!("mesh: error: cannot write {}: ", arg(&out_path))),
        "{line}"
    );
}

// ---- mesh verify ----

#[test]
fn verify_accepts_matching_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    let data = noise(700_000, 9);
    fs::write(&path, &data).unwrap();
    let cid = cid_of(&data).to_string();
    let out = mesh(&["verify", arg(&path), &cid]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("ok {cid}\n"));
    assert_eq!(stderr(&out), "");
}

#[test]
fn verify_mismatch_exits_1_naming_both_cids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.txt");
    fs::write(&path, b"actual").unwrap();
    let claimed = cid_of(b"claimed").to_string();
    let actual = cid_of(b"actual").to_string();
    let out = mesh(&["verify", arg(&path), &claimed]);
    let line = single_error_line(&out, 1);
    assert!(line.contains(&claimed) && line.contains(&actual), "{line}");
    assert!(line.contains(arg(&path)), "{line}");
}

#[test]
fn verify_reads_stdin() {
    let out = mesh_with_stdin(&["verify", "-", EMPTY_FILE_CID], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("ok {EMPTY_FILE_CID}\n"));
    let out = mesh_with_stdin(&["verify", "-", EMPTY_FILE_CID], b"x");
    single_error_line(&out, 1);
}

#[test]
fn verify_rejects_an_invalid_cid_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.txt");
    fs::write(&path, b"a").unwrap();
    let out = mesh(&["verify", arg(&path), "bafy-not-a-cid"]);
    let line = single_error_line(&out, 2);
    assert!(
        line.starts_with("mesh: error: invalid CID \"bafy-not-a-cid\": "),
        "{line}"
    );
    // Checked before the file is read: a missing file still reports the CID.
    let out = mesh(&["verify", "/no/such/file", "bafy-not-a-cid"]);
    let line = single_error_line(&out, 2);
    assert!(line.contains("invalid CID"), "{line}");
}

#[test]
fn verify_rejects_cidv0_with_exit_2() {
    let out = mesh(&[
        "verify",
        "-",
        "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
    ]);
    let line = single_error_line(&out, 2);
    assert!(line.contains("unsupported CID"), "{line}");
}

#[test]
fn verify_of_a_missing_file_is_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.png");
    let out = mesh(&["verify", arg(&path), EMPTY_FILE_CID]);
    let line = single_error_line(&out, 2);
    assert_eq!(
        line,
        format!(
            "mesh: error: cannot read {}: No such file or directory",
            arg(&path)
        )
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = mesh(&["verify", "only-one-arg"]);
    assert_eq!(out.status.code(), Some(2));
    let out = mesh(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    let out = mesh(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("Exit status:"));
}
