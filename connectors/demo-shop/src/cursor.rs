//! Opaque page cursors: where the next page starts, sealed so that garbage, truncated or
//! foreign cursors (another tenant's, another stream's) are refused instead of misread.
//!
//! A cursor is `c1_` + 16 hex digits (the record index, masked) + 8 hex digits (a check value).
//! Clients must treat it as opaque; only this module knows the layout.

use crate::data::{combine, Stream};

const PREFIX: &str = "c1_";

fn mask(tenant_key: u64, stream: Stream) -> u64 {
    combine(tenant_key ^ stream.salt(), 0x6375_7273_6f72)
}

fn check(tenant_key: u64, stream: Stream, index: u64) -> u32 {
    (combine(mask(tenant_key, stream), index) >> 32) as u32
}

/// The cursor that resumes at record `index`.
pub(crate) fn encode(tenant_key: u64, stream: Stream, index: u64) -> String {
    format!(
        "{PREFIX}{:016x}{:08x}",
        index ^ mask(tenant_key, stream),
        check(tenant_key, stream, index)
    )
}

/// The record index a cursor resumes at, or `None` when the cursor is not one of ours.
pub(crate) fn decode(tenant_key: u64, stream: Stream, cursor: &str) -> Option<u64> {
    let body = cursor.strip_prefix(PREFIX)?;
    if body.len() != 24 || !body.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let masked = u64::from_str_radix(&body[..16], 16).ok()?;
    let claimed = u32::from_str_radix(&body[16..], 16).ok()?;
    let index = masked ^ mask(tenant_key, stream);
    (check(tenant_key, stream, index) == claimed).then_some(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_tampering() {
        let cursor = encode(7, Stream::Orders, 1234);
        assert_eq!(decode(7, Stream::Orders, &cursor), Some(1234));
        assert_eq!(decode(8, Stream::Orders, &cursor), None, "another tenant");
        assert_eq!(decode(7, Stream::Products, &cursor), None, "another stream");
        assert_eq!(decode(7, Stream::Orders, "garbage"), None);
        assert_eq!(decode(7, Stream::Orders, &cursor[..cursor.len() - 1]), None);
        let mut tampered = cursor.into_bytes();
        tampered[5] = if tampered[5] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            decode(7, Stream::Orders, std::str::from_utf8(&tampered).unwrap()),
            None
        );
    }
}
