//! Windows and cursors in Stripe's terms: a [`Window`] becomes a `created` range, and the
//! connector's typed [`ListCursor`] records which list, which range and the last id served.
//!
//! The typed connector layer stores the cursor as versioned JSON (`t1:{"stream":"charges",
//! "after":"ch_3Mml…","gte":1717000000,"lt":null}`). The stream and range are there so a
//! cursor is never applied to another list or window (that would silently skip records): such
//! a cursor, or one that does not parse, is refused as [`ConnectorError::CursorInvalid`], and
//! the runtime restarts the window.
//!
//! [`ConnectorError::CursorInvalid`]: tributary_connector::ConnectorError::CursorInvalid

use crate::StripeStream;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use tributary_connector::Window;

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WireCursor", into = "WireCursor")]
pub struct ListCursor {
    pub(crate) stream: StripeStream,
    pub(crate) range: CreatedRange,
    pub(crate) last_id: String,
}

/// A [`ListCursor`] as stored: the stream by name, the range's ends, the last id.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireCursor {
    stream: String,
    after: String,
    gte: Option<i64>,
    lt: Option<i64>,
}

impl From<ListCursor> for WireCursor {
    fn from(cursor: ListCursor) -> Self {
        Self {
            stream: cursor.stream.as_str().to_owned(),
            after: cursor.last_id,
            gte: cursor.range.gte,
            lt: cursor.range.lt,
        }
    }
}

impl TryFrom<WireCursor> for ListCursor {
    type Error = String;

    /// Refuses an unknown stream or an id that is not a Stripe object id.
    fn try_from(wire: WireCursor) -> Result<Self, String> {
        let stream: StripeStream = wire
            .stream
            .parse()
            .map_err(|_| "unknown stream in the cursor".to_owned())?;
        if !is_object_id(&wire.after) {
            return Err("the cursor's last id is not a Stripe object id".to_owned());
        }
        Ok(Self {
            stream,
            range: CreatedRange {
                gte: wire.gte,
                lt: wire.lt,
            },
            last_id: wire.after,
        })
    }
}

/// Whether `id` looks like a Stripe object id (`ch_…`, `cus_…`): ASCII letters, digits, `_`.
pub(crate) fn is_object_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
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
            let encoded = serde_json::to_string(&cursor).unwrap();
            assert!(encoded.starts_with(r#"{"stream":"invoices","after":"in_1MtHb"#));
            assert_eq!(
                serde_json::from_str::<ListCursor>(&encoded).unwrap(),
                cursor
            );
        }
        assert_eq!(
            serde_json::to_string(&ListCursor {
                stream: StripeStream::Charges,
                range: CreatedRange {
                    gte: Some(10),
                    lt: None
                },
                last_id: "ch_1".into(),
            })
            .unwrap(),
            r#"{"stream":"charges","after":"ch_1","gte":10,"lt":null}"#
        );
    }

    #[test]
    fn foreign_or_damaged_cursors_are_refused_with_a_reason() {
        for (text, why) in [
            ("", "EOF"),
            ("\"ch_123\"", "invalid type"),
            (
                r#"{"stream":"refunds","after":"re_1","gte":null,"lt":null}"#,
                "unknown stream",
            ),
            (
                r#"{"stream":"charges","after":"","gte":null,"lt":null}"#,
                "last id",
            ),
            (
                r#"{"stream":"charges","after":"ch 1","gte":null,"lt":null}"#,
                "last id",
            ),
            (
                r#"{"stream":"charges","after":"ch_1","gte":"ten","lt":null}"#,
                "invalid type",
            ),
            (
                r#"{"stream":"charges","after":"ch_1","gte":null,"lt":null,"v":2}"#,
                "unknown field",
            ),
        ] {
            let error = serde_json::from_str::<ListCursor>(text)
                .unwrap_err()
                .to_string();
            assert!(error.contains(why), "{text:?}: {error}");
        }
    }
}
