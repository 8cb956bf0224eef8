//! The media type of a published file, from its name.
//!
//! One function, so the type a manifest records and the `Content-Type` the origin sends are
//! the same string: the browser node answers a page with the manifest's type, and a page must
//! not see a different type depending on whether the bytes came from a peer or the origin.

/// Media type of files whose extension says nothing.
pub const FALLBACK_TYPE: &str = "application/octet-stream";

/// Extensions whose type we pin rather than take from `mime_guess`'s table: browsers insist
/// on `application/wasm` for `WebAssembly.instantiateStreaming` and on a JavaScript type for
/// module scripts, and `mime_guess` says `application/javascript` (obsolete per RFC 9239) for
/// `.mjs`.
const PINNED: [(&str, &str); 3] = [
    ("js", "text/javascript"),
    ("mjs", "text/javascript"),
    ("wasm", "application/wasm"),
];

/// The media type of the file at `path` (a site path or a file name): by extension, ASCII
/// case-insensitively, [`FALLBACK_TYPE`] when unknown. Always header-safe (printable ASCII).
pub fn content_type_of(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    if let Some((_, ext)) = name.rsplit_once('.') {
        for (pinned, content_type) in PINNED {
            if ext.eq_ignore_ascii_case(pinned) {
                return content_type;
            }
        }
    }
    mime_guess::from_path(name)
        .first_raw()
        .unwrap_or(FALLBACK_TYPE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_browsers_are_strict_about() {
        assert_eq!(content_type_of("/pkg/mesh_bg.wasm"), "application/wasm");
        assert_eq!(content_type_of("/pkg/mesh.js"), "text/javascript");
        assert_eq!(content_type_of("/app.mjs"), "text/javascript");
        assert_eq!(content_type_of("/APP.MJS"), "text/javascript");
    }

    #[test]
    fn others_come_from_the_table_or_fall_back() {
        assert_eq!(content_type_of("/index.html"), "text/html");
        assert_eq!(content_type_of("/img/logo.svg"), "image/svg+xml");
        assert_eq!(content_type_of("/style.css"), "text/css");
        assert_eq!(content_type_of("/data.unknownext"), FALLBACK_TYPE);
        assert_eq!(content_type_of("/Makefile"), FALLBACK_TYPE);
        // A dot in a directory name is not an extension.
        assert_eq!(content_type_of("/v1.2/README"), FALLBACK_TYPE);
    }
}
