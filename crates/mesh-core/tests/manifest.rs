//! Site manifests: JSON round trip, path rules, version check, URL-path lookups.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use cid::Cid;
use mesh_core::block::{RAW_CODEC, cid_for};
use mesh_core::manifest::{
    MANIFEST_VERSION, MAX_MANIFEST_BYTES, MAX_PATH_BYTES, Manifest, ManifestEntry, ManifestError,
    site_path, validate_site_path,
};
use proptest::prelude::*;

fn entry(content: &[u8], content_type: &str) -> ManifestEntry {
    ManifestEntry {
        cid: cid_for(RAW_CODEC, content),
        size: content.len() as u64,
        content_type: content_type.to_owned(),
    }
}

fn reason_of(err: ManifestError) -> &'static str {
    match err {
        ManifestError::InvalidPath { reason, .. } => reason,
        other => panic!("expected InvalidPath, got {other:?}"),
    }
}

#[test]
fn new_manifest_is_empty_version_1() {
    let manifest = Manifest::new();
    assert_eq!(manifest.version, MANIFEST_VERSION);
    assert_eq!(MANIFEST_VERSION, 1);
    assert!(manifest.is_empty());
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&manifest.to_json()).unwrap(),
        serde_json::json!({"version": 1, "assets": {}})
    );
}

#[test]
fn json_round_trip() {
    let mut manifest = Manifest::new();
    manifest
        .insert("/img/banner.jpg", entry(b"banner", "image/jpeg"))
        .unwrap();
    manifest
        .insert("/fonts/Été Sans.woff2", entry(b"font", "font/woff2"))
        .unwrap();
    manifest.insert("/empty", entry(b"", "")).unwrap();
    let json = manifest.to_json();
    assert_eq!(Manifest::from_json(&json).unwrap(), manifest);
    assert_eq!(manifest.len(), 3);
}

#[test]
fn reads_the_documented_format() {
    let cid = cid_for(RAW_CODEC, b"banner");
    let json = format!(
        r#"{{"version":1,"assets":{{"/img/banner.jpg":{{"cid":"{cid}","size":123,"type":"image/jpeg"}}}}}}"#
    );
    let manifest = Manifest::from_json(&json).unwrap();
    assert_eq!(
        manifest.get("/img/banner.jpg"),
        Some(&ManifestEntry {
            cid,
            size: 123,
            content_type: "image/jpeg".into()
        })
    );
    // CIDs are written as their base32 string, as people and browsers read them.
    assert!(manifest.to_json().contains(&format!("\"cid\": \"{cid}\"")));
    assert!(cid.to_string().starts_with("bafk"));
    assert!(manifest.to_json().contains("\"type\": \"image/jpeg\""));
}

#[test]
fn unknown_fields_are_ignored() {
    let cid = cid_for(RAW_CODEC, b"x");
    let json = format!(
        r#"{{"version":1,"generator":"mesh 9","assets":{{"/x":{{"cid":"{cid}","size":1,"type":"text/plain","etag":"abc"}}}}}}"#
    );
    assert_eq!(Manifest::from_json(&json).unwrap().len(), 1);
}

#[test]
fn rejects_other_versions_whatever_their_shape() {
    for json in [
        r#"{"version":2,"assets":{}}"#,
        r#"{"version":2,"assets":[{"path":"/a"}]}"#,
        r#"{"version":0,"assets":{}}"#,
    ] {
        let err = Manifest::from_json(json).unwrap_err();
        assert!(
            matches!(err, ManifestError::UnsupportedVersion(v) if v != 1),
            "{json}: {err:?}"
        );
    }
    let err = Manifest::from_json(r#"{"version":2,"assets":{}}"#).unwrap_err();
    assert_eq!(err.to_string(), "unsupported manifest version 2");
    let err = Manifest::from_json(r#"{"assets":{}}"#).unwrap_err();
    assert!(err.to_string().contains("missing field `version`"), "{err}");
}

#[test]
fn invalid_cid_is_named_in_the_error() {
    let json =
        r#"{"version":1,"assets":{"/a.png":{"cid":"bafyNOTACID","size":1,"type":"image/png"}}}"#;
    let err = Manifest::from_json(json).unwrap_err();
    assert!(matches!(err, ManifestError::Json(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("invalid manifest JSON: invalid CID \"bafyNOTACID\""),
        "{msg}"
    );
    assert!(msg.contains("line 1"), "says where: {msg}");
}

#[test]
fn malformed_json_is_a_json_error() {
    for json in [
        "",
        "{",
        "[]",
        r#"{"version":1}"#,
        r#"{"version":-1,"assets":{}}"#,
    ] {
        assert!(
            matches!(Manifest::from_json(json), Err(ManifestError::Json(_))),
            "{json:?}"
        );
    }
}

#[test]
fn from_json_validates_paths_and_types() {
    let cid = cid_for(RAW_CODEC, b"x");
    let doc = |path: &str, ty: &str| {
        serde_json::json!({"version": 1, "assets": {path: {"cid": cid.to_string(), "size": 1, "type": ty}}})
            .to_string()
    };
    let err = Manifest::from_json(&doc("/a/../etc/passwd", "text/plain")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid site path \"/a/../etc/passwd\": has a '.' or '..' segment"
    );
    assert!(matches!(
        Manifest::from_json(&doc("relative.png", "image/png")),
        Err(ManifestError::InvalidPath { .. })
    ));
    let err = Manifest::from_json(&doc("/a.html", "text/html\r\nSet-Cookie: x=1")).unwrap_err();
    assert!(
        matches!(&err, ManifestError::InvalidContentType { path, .. } if path == "/a.html"),
        "{err:?}"
    );
}

#[test]
fn refuses_oversized_json_before_parsing() {
    let json = " ".repeat(MAX_MANIFEST_BYTES + 1);
    assert!(matches!(
        Manifest::from_json(&json),
        Err(ManifestError::TooLarge { size, max }) if size == MAX_MANIFEST_BYTES + 1 && max == MAX_MANIFEST_BYTES
    ));
}

#[test]
fn path_rules() {
    let good = [
        "/a",
        "/img/banner.jpg",
        "/a b.jpg",
        "/100%.png",
        "/été/ü.png",
        "/.well-known/security.txt",
        "/a..b/...",
        "/emoji/🦀.svg",
    ];
    for path in good {
        validate_site_path(path).unwrap();
    }
    let bad = [
        ("", "must start with '/'"),
        ("img/a.jpg", "must start with '/'"),
        ("/", "has an empty segment ('//' or a trailing '/')"),
        ("/docs/", "has an empty segment ('//' or a trailing '/')"),
        ("/a//b", "has an empty segment ('//' or a trailing '/')"),
        ("/./a", "has a '.' or '..' segment"),
        ("/a/.", "has a '.' or '..' segment"),
        ("/a/../b", "has a '.' or '..' segment"),
        ("/..", "has a '.' or '..' segment"),
        ("/a\\b", "contains a backslash"),
        ("/a\\..\\b", "contains a backslash"),
        ("/a?b=1", "contains '?': a site path has no query"),
        ("/a#top", "contains '#': a site path has no fragment"),
        ("/a\nb", "contains a control character"),
        ("/a\u{0}b", "contains a control character"),
        ("/a\u{7f}", "contains a control character"),
        ("/a\u{85}", "contains a control character"),
    ];
    for (path, reason) in bad {
        assert_eq!(
            reason_of(validate_site_path(path).unwrap_err()),
            reason,
            "{path:?}"
        );
    }
    let long = format!("/{}", "a".repeat(MAX_PATH_BYTES));
    assert_eq!(
        reason_of(validate_site_path(&long).unwrap_err()),
        "longer than 4096 bytes"
    );
    validate_site_path(&long[..MAX_PATH_BYTES]).unwrap();
}

#[test]
fn insert_validates_and_replaces() {
    let mut manifest = Manifest::new();
    assert!(matches!(
        manifest.insert("/a//b", entry(b"x", "text/plain")),
        Err(ManifestError::InvalidPath { .. })
    ));
    assert!(matches!(
        manifest.insert("/a", entry(b"x", "text/plain\n")),
        Err(ManifestError::InvalidContentType { .. })
    ));
    assert!(matches!(
        manifest.insert("/a", entry(b"x", &"x".repeat(256))),
        Err(ManifestError::InvalidContentType { .. })
    ));
    assert!(manifest.is_empty(), "refused inserts change nothing");
    manifest.insert("/a", entry(b"one", "text/plain")).unwrap();
    manifest.insert("/a", entry(b"two", "text/plain")).unwrap();
    assert_eq!(manifest.len(), 1);
    assert_eq!(manifest.get("/a").unwrap().cid, cid_for(RAW_CODEC, b"two"));
}

#[test]
fn validate_catches_hand_built_manifests() {
    let mut manifest = Manifest::new();
    manifest
        .assets
        .insert("no-slash".into(), entry(b"x", "text/plain"));
    assert!(matches!(
        manifest.validate(),
        Err(ManifestError::InvalidPath { .. })
    ));
    let defaulted = Manifest::default();
    assert!(matches!(
        defaulted.validate(),
        Err(ManifestError::UnsupportedVersion(0))
    ));
    Manifest::new().validate().unwrap();
}

#[test]
fn find_cid_returns_the_first_path() {
    let mut manifest = Manifest::new();
    let logo = entry(b"logo", "image/png");
    manifest.insert("/z/logo.png", logo.clone()).unwrap();
    manifest.insert("/b/logo.png", logo.clone()).unwrap();
    manifest
        .insert("/a.css", entry(b"css", "text/css"))
        .unwrap();
    manifest.insert("/c/logo.png", logo.clone()).unwrap();
    assert_eq!(manifest.find_cid(&logo.cid), Some(("/b/logo.png", &logo)));
    let absent: Cid = cid_for(RAW_CODEC, b"absent");
    assert_eq!(manifest.find_cid(&absent), None);
}

#[test]
fn lookup_by_browser_pathname() {
    let mut manifest = Manifest::new();
    let photo = entry(b"photo", "image/jpeg");
    let percent = entry(b"percent", "image/png");
    manifest.insert("/img/a b é.jpg", photo.clone()).unwrap();
    manifest.insert("/100%.png", percent.clone()).unwrap();
    manifest.insert("/a/b", entry(b"ab", "text/plain")).unwrap();
    // What `new URL("/img/a b é.jpg", location.href).pathname` gives.
    assert_eq!(
        manifest.get_url_path("/img/a%20b%20%C3%A9.jpg"),
        Some(&photo)
    );
    assert_eq!(manifest.get_url_path("/img/a b é.jpg"), Some(&photo));
    assert_eq!(
        manifest.get("/img/a%20b%20%C3%A9.jpg"),
        None,
        "get takes decoded paths"
    );
    // Browsers leave a lone `%` alone; an explicit `%25` means the same file.
    assert_eq!(manifest.get_url_path("/100%.png"), Some(&percent));
    assert_eq!(manifest.get_url_path("/100%25.png"), Some(&percent));
    // `%2F` is not a separator: `/a%2Fb` is a different URL from `/a/b`.
    assert!(manifest.get_url_path("/a/b").is_some());
    assert_eq!(manifest.get_url_path("/a%2Fb"), None);
    assert_eq!(manifest.get_url_path("/img/%FF.jpg"), None);
}

#[test]
fn site_path_from_relative_file_paths() {
    let cases = [
        ("img/a b.jpg", "/img/a b.jpg"),
        ("index.html", "/index.html"),
        ("./css/site.css", "/css/site.css"),
        ("a/./b", "/a/b"),
        ("a//b/", "/a/b"),
        ("été/🦀.svg", "/été/🦀.svg"),
        (".well-known/x", "/.well-known/x"),
    ];
    for (relative, expected) in cases {
        assert_eq!(site_path(Path::new(relative)).unwrap(), expected);
    }
    let refused = [
        ("", "names no file"),
        (".", "names no file"),
        ("../secret", "has a '..' component"),
        ("a/../../b", "has a '..' component"),
        ("a?b.png", "contains '?': a site path has no query"),
        ("a#b.png", "contains '#': a site path has no fragment"),
        ("a\tb", "contains a control character"),
    ];
    for (relative, reason) in refused {
        assert_eq!(
            reason_of(site_path(Path::new(relative)).unwrap_err()),
            reason,
            "{relative:?}"
        );
    }
    let too_long = "a/".repeat(MAX_PATH_BYTES);
    assert_eq!(
        reason_of(site_path(Path::new(&too_long)).unwrap_err()),
        "longer than 4096 bytes"
    );
}

#[cfg(unix)]
#[test]
fn site_path_unix_specifics() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    assert_eq!(
        reason_of(site_path(Path::new("/etc/passwd")).unwrap_err()),
        "must be relative to the site root"
    );
    // On Unix a backslash is part of a file name; in a URL it would be a separator.
    assert_eq!(
        reason_of(site_path(Path::new("a\\b.png")).unwrap_err()),
        "contains a backslash"
    );
    let latin1 = Path::new(OsStr::from_bytes(b"caf\xe9.png"));
    let err = site_path(latin1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid site path \"caf\u{fffd}.png\": is not valid UTF-8"
    );
}

#[cfg(windows)]
#[test]
fn site_path_windows_separators() {
    assert_eq!(
        site_path(Path::new(r"img\a b.jpg")).unwrap(),
        "/img/a b.jpg"
    );
    assert!(site_path(Path::new(r"C:\site\a.jpg")).is_err());
}

/// Percent-encodes like a browser's URL parser does for a path: the path percent-encode set
/// of the URL standard (controls, space, `"#<>?^\`{}`; `^` only in recent revisions, so some
/// browsers send it raw, which decodes the same) and every non-ASCII byte.
fn browser_encode(path: &str) -> String {
    let mut out = String::new();
    for &byte in path.as_bytes() {
        if byte <= b' ' || byte >= 0x7f || b"\"#<>?^`{}".contains(&byte) {
            out.push_str(&format!("%{byte:02X}"));
        } else {
            out.push(char::from(byte));
        }
    }
    out
}

/// A file name: no separators, no `%` (a literal `%` followed by hex digits would be read as
/// an escape by every server too), none of the refused characters, not `.` or `..`.
fn file_name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ._~!$&'()*+,;=:@\"<>^`{}éü漢🦀-]{1,12}"
        .prop_filter("not a dot segment", |name| name != "." && name != "..")
}

proptest! {
    #[test]
    fn site_paths_round_trip_through_json_and_urls(
        names in proptest::collection::vec(file_name(), 1..5),
        content in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let relative: std::path::PathBuf = names.iter().collect();
        let path = site_path(&relative).unwrap();
        prop_assert_eq!(&path, &format!("/{}", names.join("/")));
        let mut manifest = Manifest::new();
        let asset = entry(&content, "application/octet-stream");
        manifest.insert(&path, asset.clone()).unwrap();
        prop_assert_eq!(manifest.get_url_path(&browser_encode(&path)), Some(&asset));
        prop_assert_eq!(Manifest::from_json(&manifest.to_json()).unwrap(), manifest);
    }
}
