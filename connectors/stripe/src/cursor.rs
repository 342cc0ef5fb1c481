//! Windows and cursors in Stripe's terms: a [`Window`] becomes a `created` range, and the
//! connector's opaque [`Cursor`] records which list, which range and the last id served.
//!
//! Cursor format, version 1: `v1/<stream>/<last id>/<gte>..<lt>`, for example
//! `v1/charges/ch_3MmlLrLkdIwHu7ix0snN0B15/1717000000..1717200000`; an open end is empty
//! (`v1/customers/cus_NffrFeUfNV2Hib/..`). The stream and range are there so a cursor is
//! never applied to another list or window (that would silently skip records): such a cursor is
//! refused as [`ConnectorError::CursorInvalid`], and the runtime restarts the window. A future
//! format gets a new version prefix; an unknown prefix is refused the same way.
//!
//! [`ConnectorError::CursorInvalid`]: tributary_connector::ConnectorError::CursorInvalid

use crate::StripeStream;
use chrono::{DateTime, Utc};
use std::fmt;
use tributary_connector::{Cursor, Window};

/// The version prefix of the cursors this build writes and reads.
const VERSION: &str = "v1";
/// Longest object id accepted in a cursor. Stripe ids are under 64 bytes; 255 is generous and
/// keeps a garbage cursor from becoming a huge query string.
const MAX_ID_LEN: usize = 255;

/// A half-open range of Stripe `created` timestamps (unix seconds): `created[gte]` and
/// `created[lt]`. `None` ends are open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CreatedRange {
    /// Inclusive lower bound (`created[gte]`).
    pub gte: Option<i64>,
    /// Exclusive upper bound (`created[lt]`).
    pub lt: Option<i64>,
}

impl CreatedRange {
    /// Every object, whenever created.
    pub const ALL: CreatedRange = CreatedRange {
        gte: None,
        lt: None,
    };

    /// The range selecting exactly the objects whose `created` second lies in `window`.
    ///
    /// `created` is whole seconds, so both ends round *up*: `created >= 10.5` holds exactly
    /// when `created >= 11`, and `created < 10.5` exactly when `created < 11`.
    pub fn from_window(window: &Window) -> Self {
        Self {
            gte: window.from.map(ceil_unix_seconds),
            lt: window.to.map(ceil_unix_seconds),
        }
    }

    /// Whether an object created at `created` (unix seconds) is in the range.
    pub fn contains(&self, created: i64) -> bool {
        self.gte.is_none_or(|gte| created >= gte) && self.lt.is_none_or(|lt| created < lt)
    }
}

impl fmt::Display for CreatedRange {
    /// `gte..lt`, with an open end left empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(gte) = self.gte {
            write!(f, "{gte}")?;
        }
        f.write_str("..")?;
        if let Some(lt) = self.lt {
            write!(f, "{lt}")?;
        }
        Ok(())
    }
}

fn ceil_unix_seconds(at: DateTime<Utc>) -> i64 {
    let seconds = at.timestamp();
    if at.timestamp_subsec_nanos() > 0 {
        seconds + 1
    } else {
        seconds
    }
}

/// Where a list left off: continue with `starting_after=<last_id>` in the same list and range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListCursor {
    pub(crate) stream: StripeStream,
    pub(crate) range: CreatedRange,
    pub(crate) last_id: String,
}

/// Whether `id` looks like a Stripe object id (`ch_…`, `cus_…`): ASCII letters, digits, `_`.
pub(crate) fn is_object_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl ListCursor {
    /// The opaque cursor handed to the runtime.
    pub(crate) fn encode(&self) -> Cursor {
        Cursor::new(format!(
            "{VERSION}/{}/{}/{}",
            self.stream, self.last_id, self.range
        ))
    }

    /// Reads a cursor written by [`ListCursor::encode`]; the error says what is wrong with it.
    pub(crate) fn decode(cursor: &Cursor) -> Result<Self, String> {
        let text = cursor.as_str();
        let parts: Vec<&str> = text.split('/').collect();
        let [version, stream, last_id, range] = parts[..] else {
            return Err("not a stripe cursor (expected v1/<stream>/<last id>/<gte>..<lt>)".into());
        };
        if version != VERSION {
            return Err(format!(
                "cursor version `{}` is not supported (this build reads {VERSION})",
                version.chars().take(16).collect::<String>()
            ));
        }
        let stream: StripeStream = stream.parse().map_err(|_| "unknown stream in the cursor")?;
        if !is_object_id(last_id) {
            return Err("the cursor's last id is not a Stripe object id".into());
        }
        let (gte, lt) = range
            .split_once("..")
            .ok_or("the cursor's created range is not <gte>..<lt>")?;
        let bound = |text: &str| -> Result<Option<i64>, String> {
            if text.is_empty() {
                return Ok(None);
            }
            text.parse()
                .map(Some)
                .map_err(|_| "the cursor's created range is not whole seconds".to_owned())
        };
        Ok(Self {
            stream,
            range: CreatedRange {
                gte: bound(gte)?,
                lt: bound(lt)?,
            },
            last_id: last_id.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn windows_round_up_to_whole_seconds() {
        let window = Window {
            from: Some(at("2024-06-01T00:00:00Z")),
            to: Some(at("2024-06-02T00:00:00.250Z")),
        };
        let range = CreatedRange::from_window(&window);
        assert_eq!(
            range,
            CreatedRange {
                gte: Some(1_717_200_000),
                lt: Some(1_717_286_401),
            }
        );
        assert!(range.contains(1_717_200_000));
        assert!(range.contains(1_717_286_400));
        assert!(!range.contains(1_717_286_401));
        assert!(!range.contains(1_717_199_999));
        assert_eq!(
            CreatedRange::from_window(&Window::default()),
            CreatedRange::ALL
        );
        assert!(CreatedRange::ALL.contains(i64::MIN));
    }

    #[test]
    fn cursors_round_trip() {
        for range in [
            CreatedRange::ALL,
            CreatedRange {
                gte: Some(-5),
                lt: None,
            },
            CreatedRange {
                gte: None,
                lt: Some(1_717_200_000),
            },
            CreatedRange {
                gte: Some(1),
                lt: Some(2),
            },
        ] {
            let cursor = ListCursor {
                stream: StripeStream::Invoices,
                range,
                last_id: "in_1MtHbELkdIwHu7ixl4OzzPMv".into(),
            };
            let encoded = cursor.encode();
            assert!(encoded.as_str().starts_with("v1/invoices/in_1MtHb"));
            assert_eq!(ListCursor::decode(&encoded), Ok(cursor));
        }
        assert_eq!(
            ListCursor {
                stream: StripeStream::Charges,
                range: CreatedRange {
                    gte: Some(10),
                    lt: None
                },
                last_id: "ch_1".into(),
            }
            .encode()
            .as_str(),
            "v1/charges/ch_1/10.."
        );
    }

    #[test]
    fn foreign_or_damaged_cursors_are_refused_with_a_reason() {
        for (text, why) in [
            ("", "not a stripe cursor"),
            ("ch_123", "not a stripe cursor"),
            ("v2/charges/ch_1/..", "version `v2` is not supported"),
            ("v1/refunds/re_1/..", "unknown stream"),
            ("v1/charges//..", "last id"),
            ("v1/charges/ch 1/..", "last id"),
            ("v1/charges/ch_1/10", "not <gte>..<lt>"),
            ("v1/charges/ch_1/ten..", "whole seconds"),
            ("v1/charges/ch_1/../extra", "not a stripe cursor"),
        ] {
            let error = ListCursor::decode(&Cursor::new(text)).unwrap_err();
            assert!(error.contains(why), "{text:?}: {error}");
        }
    }
}
