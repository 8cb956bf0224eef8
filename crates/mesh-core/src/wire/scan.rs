//! A non-allocating pass over a protobuf body's top-level fields.
//!
//! It exists to bound memory: prost materialises every entry of a repeated field before we can
//! count them, so the CID count is checked here first. It also checks the top-level structure
//! the way prost does, so it never rejects a body prost would accept, except for groups, which
//! proto3 and this protocol never use (and which prost would skip without counting).

/// Longest protobuf varint.
const MAX_VARINT_LEN: usize = 10;

/// Counts the length-delimited occurrences of field `field` at the top level of `body`,
/// or says why `body` is not well-formed protobuf.
pub(super) fn count_len_fields(body: &[u8], field: u32) -> Result<usize, String> {
    let mut rest = body;
    let mut count = 0;
    // Every pass consumes at least the one-byte key, so the loop runs at most `body.len()`
    // times, which the framing caps at `MAX_MESSAGE_SIZE`.
    while !rest.is_empty() {
        let key = read_varint(&mut rest)?;
        let key = u32::try_from(key).map_err(|_| format!("invalid key value {key}"))?;
        let (number, wire_type) = (key >> 3, key & 0b111);
        if number == 0 {
            return Err("invalid field number 0".to_owned());
        }
        match wire_type {
            0 => {
                read_varint(&mut rest)?;
            }
            1 => skip(&mut rest, 8, number)?,
            2 => {
                let len = read_varint(&mut rest)?;
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                skip(&mut rest, len, number)?;
                if number == field {
                    count += 1;
                }
            }
            5 => skip(&mut rest, 4, number)?,
            other => {
                return Err(format!(
                    "field {number} has wire type {other}, which this protocol does not use"
                ));
            }
        }
    }
    Ok(count)
}

/// Reads one protobuf varint (non-minimal encodings allowed, as protobuf allows them).
fn read_varint(rest: &mut &[u8]) -> Result<u64, String> {
    let mut value = 0u64;
    for (i, &byte) in rest.iter().take(MAX_VARINT_LEN).enumerate() {
        let group = u64::from(byte & 0x7f);
        if i == MAX_VARINT_LEN - 1 && group > 1 {
            return Err("varint overflows 64 bits".to_owned());
        }
        value |= group << (7 * i);
        if byte & 0x80 == 0 {
            *rest = &rest[i + 1..];
            return Ok(value);
        }
    }
    if rest.len() >= MAX_VARINT_LEN {
        Err(format!("varint longer than {MAX_VARINT_LEN} bytes"))
    } else {
        Err("varint runs past the end of the frame".to_owned())
    }
}

fn skip(rest: &mut &[u8], len: usize, number: u32) -> Result<(), String> {
    match rest.get(len..) {
        Some(tail) => {
            *rest = tail;
            Ok(())
        }
        None => Err(format!(
            "field {number} needs {len} bytes but the frame has {} left",
            rest.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn counts_only_the_requested_length_delimited_field() {
        // field 1 varint, field 3 "ab", field 2 fixed64, field 3 "", field 4 fixed32, field 4 "x"
        let body = [
            0x08, 0x05, 0x1a, 0x02, b'a', b'b', 0x11, 1, 2, 3, 4, 5, 6, 7, 8, 0x1a, 0x00, 0x25, 1,
            2, 3, 4, 0x22, 0x01, b'x',
        ];
        assert_eq!(count_len_fields(&body, 3), Ok(2));
        assert_eq!(count_len_fields(&body, 4), Ok(1));
        assert_eq!(count_len_fields(&[], 3), Ok(0));
    }

    #[test]
    fn rejects_malformed_bodies() {
        for (body, reason) in [
            (
                &[0x1a, 0x05, 1][..],
                "field 3 needs 5 bytes but the frame has 1 left",
            ),
            (&[0x08][..], "varint runs past the end of the frame"),
            (&[0x08, 0x80][..], "varint runs past the end of the frame"),
            (&[0x00, 0x00][..], "invalid field number 0"),
            (
                &[0x0b][..],
                "field 1 has wire type 3, which this protocol does not use",
            ),
            (
                &[0x0e, 0x00][..],
                "field 1 has wire type 6, which this protocol does not use",
            ),
            (
                &[0x09, 1, 2, 3][..],
                "field 1 needs 8 bytes but the frame has 3 left",
            ),
            (&[0x80; 11][..], "varint longer than 10 bytes"),
            (
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02][..],
                "varint overflows 64 bits",
            ),
            (
                &[0x80, 0x80, 0x80, 0x80, 0x10][..],
                "invalid key value 4294967296",
            ),
        ] {
            assert_eq!(
                count_len_fields(body, 3),
                Err(reason.to_owned()),
                "{body:x?}"
            );
        }
    }

    #[test]
    fn accepts_non_minimal_varints_like_protobuf() {
        // field 3 with its length 1 padded to two bytes
        assert_eq!(count_len_fields(&[0x1a, 0x81, 0x00, b'z'], 3), Ok(1));
    }
}
