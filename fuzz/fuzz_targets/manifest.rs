//! The site manifest (`mesh_core::manifest`) every node downloads from the origin, and the URL
//! path decoding that maps a page's paths onto it (also used by the origin for request paths).
//!
//! Properties: never a panic; a parsed manifest validates and survives `to_json` →
//! `from_json` unchanged; every path it holds is found again through its percent-encoded URL
//! form; a decoded URL path never contains a `/` that the URL had encoded.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mesh_core::manifest::{Manifest, decode_url_path};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(path) = decode_url_path(text) {
        assert_eq!(path.matches('/').count(), text.matches('/').count());
    }
    let Ok(manifest) = Manifest::from_json(text) else {
        return;
    };
    manifest.validate().expect("a parsed manifest is valid");
    let again = Manifest::from_json(&manifest.to_json()).expect("our JSON parses");
    assert_eq!(again, manifest);
    for (path, entry) in &manifest.assets {
        assert_eq!(manifest.get_url_path(&percent_encode(path)), Some(entry));
    }
});

/// Percent-encodes every byte outside unreserved ASCII and `/`, as a browser may.
fn percent_encode(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'/' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            b if b.is_ascii_alphanumeric() => char::from(b).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}
