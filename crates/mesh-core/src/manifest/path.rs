//! Site paths: the keys of a manifest (see [the manifest docs](super#site-paths)), made from
//! file paths, checked, and decoded from URL paths.

use std::path::{Component, Path};

use super::ManifestError;

/// Longest site path accepted, in bytes (the usual `PATH_MAX`). Longer ones are not real
/// assets, and the bound keeps every loop over a path short.
pub const MAX_PATH_BYTES: usize = 4096;

fn invalid(path: impl Into<String>, reason: &'static str) -> ManifestError {
    ManifestError::InvalidPath {
        path: path.into(),
        reason,
    }
}

/// Checks that `path` is a site path: it starts with `/`; its segments are non-empty (no `//`,
/// no trailing `/`: a path names a file, and mapping `/` or `/docs/` to an index file is the
/// caller's business) and are not `.` or `..`; it has no backslash (browsers read it as `/`),
/// no control character, no `?` or `#` (it is a path, not a URL with a query or fragment),
/// and at most [`MAX_PATH_BYTES`] bytes.
pub fn validate_site_path(path: &str) -> Result<(), ManifestError> {
    if path.len() > MAX_PATH_BYTES {
        return Err(invalid(path, "longer than 4096 bytes"));
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(invalid(path, "must start with '/'"));
    };
    for c in path.chars() {
        let reason = match c {
            '\\' => "contains a backslash",
            '?' => "contains '?': a site path has no query",
            '#' => "contains '#': a site path has no fragment",
            c if c.is_control() => "contains a control character",
            _ => continue,
        };
        return Err(invalid(path, reason));
    }
    for segment in rest.split('/') {
        match segment {
            "" => {
                return Err(invalid(
                    path,
                    "has an empty segment ('//' or a trailing '/')",
                ));
            }
            "." | ".." => return Err(invalid(path, "has a '.' or '..' segment")),
            _ => {}
        }
    }
    Ok(())
}

/// The site path of a file at `relative` under the site's root directory: `img/a b.jpg`
/// becomes `/img/a b.jpg`, whatever the platform's separator. Leading or inner `.` components
/// are dropped; the result is decoded (see the module docs) and passes
/// [`validate_site_path`]. Pure: reads no file system.
///
/// Refused: absolute paths, `..`, names that are not UTF-8, and whatever
/// [`validate_site_path`] refuses (e.g. a Unix file name with `?` or `\`).
pub fn site_path(relative: &Path) -> Result<String, ManifestError> {
    let shown = || relative.to_string_lossy().into_owned();
    if relative.as_os_str().len() > MAX_PATH_BYTES {
        return Err(invalid(shown(), "longer than 4096 bytes"));
    }
    let mut path = String::new();
    for component in relative.components() {
        match component {
            Component::Normal(name) => {
                let name = name
                    .to_str()
                    .ok_or_else(|| invalid(shown(), "is not valid UTF-8"))?;
                path.push('/');
                path.push_str(name);
            }
            Component::CurDir => {}
            Component::ParentDir => return Err(invalid(shown(), "has a '..' component")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(invalid(shown(), "must be relative to the site root"));
            }
        }
    }
    if path.is_empty() {
        return Err(invalid(shown(), "names no file"));
    }
    validate_site_path(&path)?;
    Ok(path)
}

/// Percent-decodes a URL path (such as `location.pathname`) into a site path, following the
/// URL standard: `%` not followed by two hex digits stays a literal `%`, as browsers leave it.
/// `None` if the result is not UTF-8, or if it would turn an encoded `%2F` into a `/`, which
/// would make `/a%2Fb` and `/a/b` the same asset when the URL says they are not.
///
/// Public so that a server (the origin) maps a request path to a file exactly as
/// [`Manifest::get_url_path`](super::Manifest::get_url_path) maps it to an asset.
pub fn decode_url_path(url_path: &str) -> Option<String> {
    // Three input bytes per decoded byte at most: anything longer cannot be a site path.
    if url_path.len() > 3 * MAX_PATH_BYTES {
        return None;
    }
    let bytes = url_path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let escaped = match (byte, bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&hi), Some(&lo)) => hex(hi).zip(hex(lo)).map(|(hi, lo)| hi << 4 | lo),
            _ => None,
        };
        match escaped {
            Some(b'/') => return None,
            Some(value) => {
                decoded.push(value);
                i += 3;
            }
            None => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(decoded).ok()
}

/// The value of an ASCII hex digit.
fn hex(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::decode_url_path;

    #[test]
    fn decodes_like_a_browser_would_encode() {
        assert_eq!(decode_url_path("/a%20b.jpg").unwrap(), "/a b.jpg");
        assert_eq!(decode_url_path("/%C3%A9t%c3%a9.png").unwrap(), "/été.png");
        assert_eq!(decode_url_path("/plain").unwrap(), "/plain");
        assert_eq!(decode_url_path("/100%25.png").unwrap(), "/100%.png");
    }

    #[test]
    fn malformed_escapes_stay_literal() {
        assert_eq!(decode_url_path("/100%.png").unwrap(), "/100%.png");
        assert_eq!(decode_url_path("/a%zz").unwrap(), "/a%zz");
        assert_eq!(decode_url_path("/a%4").unwrap(), "/a%4");
        assert_eq!(decode_url_path("/a%").unwrap(), "/a%");
    }

    #[test]
    fn refuses_encoded_slash_and_bad_utf8() {
        assert_eq!(decode_url_path("/a%2Fb"), None);
        assert_eq!(decode_url_path("/a%2fb"), None);
        assert_eq!(decode_url_path("/%FF.png"), None);
        assert_eq!(decode_url_path(&"/a".repeat(7000)), None);
    }
}
