//! `Range` request headers (RFC 9110 §14.2), parsed against a representation's length.
//!
//! Pure and total: any header string gives an answer, never a panic. Policy:
//!
//! * Only the `bytes` unit is understood; any other unit, or a header that does not parse,
//!   is ignored (RFC 9110 says an invalid `Range` field may be ignored): the full
//!   representation is sent.
//! * One satisfiable range gets a `206` with that range. Several satisfiable ranges are
//!   answered with the whole file (`200`), which RFC 9110 allows; browsers and mesh nodes
//!   only ever ask for one range, and a `multipart/byteranges` body would be one more format
//!   every client of this test server must parse.
//! * No satisfiable range at all gets a `416`.

/// Most range specs read from one header; more is abuse, and the header is then ignored.
pub const MAX_RANGE_SPECS: usize = 64;

/// A byte range, both ends inclusive, within a representation (`start <= end < len`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte offset.
    pub start: u64,
    /// Last byte offset (inclusive).
    pub end: u64,
}

impl ByteRange {
    /// Number of bytes in the range (never zero).
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Always false: a satisfiable range holds at least one byte. (For clippy's `len` rule.)
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The `Content-Range` value for this range of a `total`-byte representation.
    pub fn content_range(&self, total: u64) -> String {
        format!("bytes {}-{}/{total}", self.start, self.end)
    }
}

/// What to send for a request, given its `Range` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// The whole representation (`200`): no header, an ignored one, or several ranges.
    Full,
    /// One range (`206` with `Content-Range`).
    Partial(ByteRange),
    /// Nothing satisfiable (`416` with `Content-Range: bytes */len`).
    Unsatisfiable,
}

/// One range spec, before it meets the length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    /// `first-last` or `first-` (`last` = `None`).
    FromTo(u64, Option<u64>),
    /// `-n`: the last n bytes.
    Suffix(u64),
}

/// Interprets `header` (the `Range` field value) for a representation of `len` bytes.
pub fn parse_range(header: &str, len: u64) -> RangeRequest {
    let Some(specs) = parse_specs(header) else {
        return RangeRequest::Full;
    };
    let mut satisfiable = specs.into_iter().filter_map(|spec| resolve(spec, len));
    match (satisfiable.next(), satisfiable.next()) {
        (None, _) => RangeRequest::Unsatisfiable,
        (Some(range), None) => RangeRequest::Partial(range),
        (Some(_), Some(_)) => RangeRequest::Full,
    }
}

/// The specs of a `bytes=` header, or `None` if the header is to be ignored.
fn parse_specs(header: &str) -> Option<Vec<Spec>> {
    let (unit, set) = header.split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut specs = Vec::new();
    for item in set.split(',') {
        let item = item.trim_matches([' ', '\t']);
        // RFC 9110's `#` list syntax allows empty elements ("a, , b").
        if item.is_empty() {
            continue;
        }
        if specs.len() == MAX_RANGE_SPECS {
            return None;
        }
        specs.push(parse_spec(item)?);
    }
    if specs.is_empty() {
        return None;
    }
    Some(specs)
}

/// One `first-last`, `first-` or `-suffix`.
fn parse_spec(item: &str) -> Option<Spec> {
    let (first, last) = item.split_once('-')?;
    if first.is_empty() {
        return Some(Spec::Suffix(digits(last)?));
    }
    let first = digits(first)?;
    if last.is_empty() {
        return Some(Spec::FromTo(first, None));
    }
    let last = digits(last)?;
    // "A range-spec whose last position is less than its first position is invalid."
    if last < first {
        return None;
    }
    Some(Spec::FromTo(first, Some(last)))
}

/// A non-empty run of ASCII digits; values past `u64::MAX` saturate (a position that large
/// is beyond any file, which is how it is then treated).
fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.bytes().fold(0u64, |acc, b| {
        acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

/// The part of a `len`-byte representation `spec` selects, if any.
fn resolve(spec: Spec, len: u64) -> Option<ByteRange> {
    let last_byte = len.checked_sub(1)?;
    match spec {
        Spec::FromTo(first, _) if first > last_byte => None,
        Spec::FromTo(first, last) => Some(ByteRange {
            start: first,
            end: last.map_or(last_byte, |last| last.min(last_byte)),
        }),
        Spec::Suffix(0) => None,
        Spec::Suffix(n) => Some(ByteRange {
            start: len.saturating_sub(n),
            end: last_byte,
        }),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn partial(start: u64, end: u64) -> RangeRequest {
        RangeRequest::Partial(ByteRange { start, end })
    }

    #[test]
    fn the_three_forms() {
        assert_eq!(parse_range("bytes=0-99", 1000), partial(0, 99));
        assert_eq!(parse_range("bytes=500-", 1000), partial(500, 999));
        assert_eq!(parse_range("bytes=-100", 1000), partial(900, 999));
        assert_eq!(parse_range("bytes=999-999", 1000), partial(999, 999));
    }

    #[test]
    fn ends_are_clipped_to_the_length() {
        assert_eq!(parse_range("bytes=10-5000", 1000), partial(10, 999));
        assert_eq!(parse_range("bytes=-5000", 1000), partial(0, 999));
        assert_eq!(
            parse_range("bytes=0-99999999999999999999999", 10),
            partial(0, 9)
        );
    }

    #[test]
    fn unsatisfiable() {
        assert_eq!(
            parse_range("bytes=1000-", 1000),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(
            parse_range("bytes=1000-2000", 1000),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(parse_range("bytes=-0", 1000), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range("bytes=-5", 0), RangeRequest::Unsatisfiable);
        assert_eq!(
            parse_range("bytes=99999999999999999999999-", 10),
            RangeRequest::Unsatisfiable
        );
    }

    #[test]
    fn malformed_headers_are_ignored() {
        for header in [
            "",
            "bytes",
            "bytes=",
            "bytes=,",
            "items=0-1",
            "bytes=a-b",
            "bytes=5-1",
            "bytes=1",
            "bytes=--1",
            "bytes=+1-2",
            "bytes=0x1-2",
            "bytes=0-1-2",
            "bytes=1 -2",
            "bytes=0-1,x",
        ] {
            assert_eq!(parse_range(header, 1000), RangeRequest::Full, "{header:?}");
        }
    }

    #[test]
    fn whitespace_case_and_empty_elements() {
        assert_eq!(parse_range("Bytes=0-1", 10), partial(0, 1));
        assert_eq!(parse_range(" bytes = 0-1 ", 10), partial(0, 1));
        assert_eq!(parse_range("bytes=, 0-1 ,", 10), partial(0, 1));
    }

    #[test]
    fn several_ranges_get_the_whole_file_unless_only_one_is_satisfiable() {
        assert_eq!(parse_range("bytes=0-1,5-6", 10), RangeRequest::Full);
        assert_eq!(parse_range("bytes=0-1, 50-60", 10), partial(0, 1));
        assert_eq!(
            parse_range("bytes=50-60, 70-", 10),
            RangeRequest::Unsatisfiable
        );
    }

    #[test]
    fn too_many_specs_are_ignored() {
        let header = format!("bytes={}", vec!["50-60"; MAX_RANGE_SPECS + 1].join(","));
        assert_eq!(parse_range(&header, 10), RangeRequest::Full);
        let header = format!("bytes={}", vec!["50-60"; MAX_RANGE_SPECS].join(","));
        assert_eq!(parse_range(&header, 10), RangeRequest::Unsatisfiable);
    }

    #[test]
    fn content_range_values() {
        let range = ByteRange { start: 0, end: 99 };
        assert_eq!(range.content_range(1000), "bytes 0-99/1000");
        assert_eq!(range.len(), 100);
    }

    proptest! {
        #[test]
        fn any_header_gives_an_answer_within_bounds(header in ".{0,40}", len in 0u64..5000) {
            if let RangeRequest::Partial(r) = parse_range(&header, len) {
                prop_assert!(r.start <= r.end && r.end < len);
            }
        }

        #[test]
        fn first_last_selects_exactly_those_bytes(len in 0u64..10_000, a in 0u64..12_000, b in 0u64..12_000) {
            let (first, last) = (a.min(b), a.max(b));
            let got = parse_range(&format!("bytes={first}-{last}"), len);
            if first < len {
                prop_assert_eq!(got, partial(first, last.min(len - 1)));
            } else {
                prop_assert_eq!(got, RangeRequest::Unsatisfiable);
            }
        }

        #[test]
        fn suffix_selects_the_last_bytes(len in 0u64..10_000, n in 0u64..12_000) {
            let got = parse_range(&format!("bytes=-{n}"), len);
            if n == 0 || len == 0 {
                prop_assert_eq!(got, RangeRequest::Unsatisfiable);
            } else {
                let RangeRequest::Partial(r) = got else {
                    return Err(TestCaseError::fail(format!("{got:?}")));
                };
                prop_assert_eq!(r.end, len - 1);
                prop_assert_eq!(r.len(), n.min(len));
            }
        }

        #[test]
        fn open_ended_runs_to_the_end(len in 0u64..10_000, first in 0u64..12_000) {
            let got = parse_range(&format!("bytes={first}-"), len);
            if first < len {
                prop_assert_eq!(got, partial(first, len - 1));
            } else {
                prop_assert_eq!(got, RangeRequest::Unsatisfiable);
            }
        }
    }
}
