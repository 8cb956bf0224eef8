//! `Range` header parsing of the mesh origin (`mesh_origin::range::parse_range`): any header
//! a client sends, against any file length.
//!
//! Properties: never a panic; a partial answer lies within the file and is never empty; an
//! empty file is never partially served; a header that is not `bytes=` is ignored; and a
//! well-formed single range, written by the fuzzer's numbers, resolves exactly as RFC 9110
//! says (first-last clipped to the file, first-, suffix).

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mesh_origin::range::{ByteRange, RangeRequest, parse_range};

#[derive(Debug, Arbitrary)]
struct Input {
    header: String,
    len: u64,
    /// A well-formed single range: `first`, `last` (`None` for `first-`), or a suffix.
    first: u64,
    last: Option<u64>,
    suffix: bool,
}

fuzz_target!(|input: Input| {
    let len = input.len;
    let answer = parse_range(&input.header, len);
    check_bounds(answer, len);
    let is_bytes = input
        .header
        .split_once('=')
        .is_some_and(|(unit, _)| unit.trim().eq_ignore_ascii_case("bytes"));
    if !is_bytes {
        assert_eq!(answer, RangeRequest::Full);
    }

    let (header, expected) = well_formed(&input);
    assert_eq!(
        parse_range(&header, len),
        expected,
        "{header} of {len} bytes"
    );
    // Optional whitespace around the spec and empty list elements change nothing.
    let padded = header.replacen('=', "= ,\t", 1) + " ,";
    assert_eq!(
        parse_range(&padded, len),
        expected,
        "{padded} of {len} bytes"
    );
});

fn check_bounds(answer: RangeRequest, len: u64) {
    if let RangeRequest::Partial(range) = answer {
        assert!(
            range.start <= range.end && range.end < len,
            "{range:?} of {len}"
        );
        assert_eq!(range.len(), range.end - range.start + 1);
        assert_eq!(
            range.content_range(len),
            format!("bytes {}-{}/{len}", range.start, range.end)
        );
    }
}

/// A header for the input's single range, and what RFC 9110 makes of it.
fn well_formed(input: &Input) -> (String, RangeRequest) {
    let len = input.len;
    let partial = |start, end| RangeRequest::Partial(ByteRange { start, end });
    if input.suffix {
        let n = input.first;
        let expected = if n == 0 || len == 0 {
            RangeRequest::Unsatisfiable
        } else {
            partial(len.saturating_sub(n), len - 1)
        };
        return (format!("bytes=-{n}"), expected);
    }
    let first = input.first;
    match input.last {
        Some(last) if last < first => {
            // Invalid: the header is ignored.
            (format!("bytes={first}-{last}"), RangeRequest::Full)
        }
        Some(last) => {
            let expected = if first >= len {
                RangeRequest::Unsatisfiable
            } else {
                partial(first, last.min(len - 1))
            };
            (format!("BYTES={first}-{last}"), expected)
        }
        None => {
            let expected = if first >= len {
                RangeRequest::Unsatisfiable
            } else {
                partial(first, len - 1)
            };
            (format!("bytes={first}-"), expected)
        }
    }
}
