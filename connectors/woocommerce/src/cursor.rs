//! Where a pull stands inside a window, as the connector's opaque [`Cursor`], and how the next
//! position follows from a page.
//!
//! # Why not just page numbers
//!
//! `page=N` is an offset. Inside a *closed* window with `orderby=modified&order=asc`, records
//! modified during the run move past the window's end and drop out of the listing. When one
//! that was **already served** drops out, every later record shifts one place to the front,
//! and the first record of the next page would be skipped. So orders and products are listed
//! by keyset on the modification second instead: each page asks for `modified >= after`
//! (`after` = the modification second of the last record served), starting again at page 1,
//! and drops the records at second `after` that were already served (`seen`). Records that
//! leave the listing then are all before the position asked for, and cannot shift it. Only
//! when one whole page shares one second (a bulk edit) does the cursor step to `page + 1`
//! within that second, stepping back a page when the page does not start with a served record
//! (records before it left, shifting unread ones back onto a served page).
//!
//! Customers cannot be filtered or ordered by modification time; they are listed by id
//! (`orderby=id`), which modifications do not reorder, with plain page numbers, and the window
//! is applied to each record.
//!
//! # Format
//!
//! A [`PagePosition`] is the connector's typed cursor; the typed layer stores it as
//! `t1:<json>`, for example
//! `t1:{"stream":"orders","from":1717000000,"to":1717200000,"after":1717103456,"page":1,"seen":[4711,4712]}`,
//! all times unix seconds. `from` and `after` may be `null` (open); `to` is always set: an
//! open window is closed at the second the first page was requested, so that records modified
//! during the run wait for the next window instead of moving under the pages. `seen` lists the
//! ids already served at second `after` (empty when none). Text that is not such a cursor is
//! refused by the typed layer, and a cursor for another stream or window, or out of range, by
//! [`PagePosition::resume`]; both as [`ConnectorError::CursorInvalid`] (the runtime restarts
//! the window), never applied.

use crate::WooStream;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tributary_connector::{ConnectorError, Window};

/// Most ids kept in `seen`. Only records sharing the last served second are kept, normally one
/// or two; a bulk edit can share a second across thousands, and beyond this the cursor relies
/// on page numbers within the second alone (WooCommerce's order of equal seconds is stable in
/// practice). 500 ids keep the cursor under 4 KiB.
pub(crate) const MAX_SEEN: usize = 500;
/// Highest page number accepted: 10 million records at 100 a page. A cursor beyond it is
/// garbage, and a listing beyond it a loop.
pub(crate) const MAX_PAGE: u32 = 100_000;

/// The cursor: the next request's position. See the module docs. (Public only because it is
/// the connector's `TypedConnector::Cursor`; the module is private.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagePosition {
    /// The stream the cursor belongs to.
    pub stream: WooStream,
    /// The window's inclusive start, in whole seconds (rounded up), if any.
    pub from: Option<i64>,
    /// The window's exclusive end, in whole seconds (rounded up); closed at the first page.
    pub to: i64,
    /// Keyset streams: the inclusive lower bound of the listing (`modified >= after`).
    pub after: Option<i64>,
    /// The 1-based page of the listing to request.
    pub page: u32,
    /// Ids already served whose modification second is `after`.
    pub seen: Vec<u64>,
}

/// One listed record, as far as pagination cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Listed {
    /// The record's `id`.
    pub id: u64,
    /// Its modification second (for customers without one, its creation second).
    pub modified: Option<i64>,
}

/// `ceil` of a timestamp to whole seconds: WooCommerce times are whole seconds, so
/// `t >= 10.5` holds exactly when `t >= 11`, and `t < 10.5` exactly when `t < 11`.
pub(crate) fn ceil_seconds(at: DateTime<Utc>) -> i64 {
    let seconds = at.timestamp();
    if at.timestamp_subsec_nanos() > 0 {
        seconds + 1
    } else {
        seconds
    }
}

fn invalid(message: impl Into<String>) -> ConnectorError {
    ConnectorError::CursorInvalid {
        message: message.into(),
    }
}

impl PagePosition {
    /// The first page of `window`; an open end is closed at `now` (whole seconds, rounded down:
    /// the current second is still being written to).
    pub(crate) fn start(stream: WooStream, window: &Window, now: DateTime<Utc>) -> Self {
        let from = window.from.map(ceil_seconds);
        Self {
            stream,
            from,
            to: window.to.map(ceil_seconds).unwrap_or(now.timestamp()),
            after: if stream.filters_by_modified() {
                from
            } else {
                None
            },
            page: 1,
            seen: Vec::new(),
        }
    }

    /// Whether a listed record belongs to this page's answer: inside the window, and for keyset
    /// streams not served before.
    pub(crate) fn keeps(&self, record: Listed) -> bool {
        let Some(modified) = record.modified else {
            // No timestamp at all: only a window open at the start can claim it.
            return self.from.is_none();
        };
        if self.from.is_some_and(|from| modified < from) || modified >= self.to {
            return false;
        }
        match self.after {
            Some(after) if self.stream.filters_by_modified() => {
                modified > after || (modified == after && !self.seen.contains(&record.id))
            }
            _ => true,
        }
    }

    /// The position after a page that listed `listed` (every record the API returned, kept or
    /// not, in order), or `None` when the listing is exhausted: a short or empty page, or the
    /// last page by `X-WP-TotalPages`.
    pub(crate) fn next(
        &self,
        listed: &[Listed],
        per_page: u32,
        total_pages: Option<u32>,
    ) -> Result<Option<Self>, ConnectorError> {
        let Some(last) = listed.last() else {
            return Ok(None);
        };
        if listed.len() < per_page as usize || total_pages.is_some_and(|total| self.page >= total) {
            return Ok(None);
        }
        if self.page >= MAX_PAGE {
            return Err(ConnectorError::Permanent {
                status: None,
                message: format!(
                    "{}: pagination loop: more than {MAX_PAGE} pages in one listing",
                    self.stream
                ),
            });
        }
        let mut next = self.clone();
        let last_second = match last.modified {
            Some(second) if self.stream.filters_by_modified() => second,
            _ => {
                next.page += 1;
                return Ok(Some(next));
            }
        };
        let at = |second: i64| {
            listed
                .iter()
                .filter(move |record| record.modified == Some(second))
                .map(|record| record.id)
        };
        if self.after.is_some_and(|after| last_second <= after) {
            // The whole page shares the second `after` (a bulk edit): step through it by page.
            // Served records form a prefix of that second's listing, so if this page does not
            // start with one, records that left the listing shifted unread ones onto the pages
            // before it: step back a page (`seen` filters what was served) instead of forward.
            let complete = self.seen.len() < MAX_SEEN;
            let shifted = self.page > 1
                && complete
                && listed
                    .first()
                    .is_some_and(|first| !self.seen.contains(&first.id));
            next.page = if shifted {
                self.page - 1
            } else {
                self.page + 1
            };
            for id in at(last_second) {
                if next.seen.len() < MAX_SEEN && !next.seen.contains(&id) {
                    next.seen.push(id);
                }
            }
        } else {
            next.after = Some(last_second);
            next.page = 1;
            next.seen = at(last_second).take(MAX_SEEN).collect();
        }
        Ok(Some(next))
    }

    /// Accepts a cursor read back for `stream` and `window` only if this connector could have
    /// written it for them; anything else is cursor-invalid.
    pub(crate) fn resume(self, stream: WooStream, window: &Window) -> Result<Self, ConnectorError> {
        if self.stream != stream {
            return Err(invalid(format!(
                "cursor of the `{}` stream, not `{stream}`",
                self.stream
            )));
        }
        if self.from != window.from.map(ceil_seconds)
            || window.to.is_some_and(|end| ceil_seconds(end) != self.to)
        {
            return Err(invalid("cursor of another window"));
        }
        if !(1..=MAX_PAGE).contains(&self.page) {
            return Err(invalid("page number out of range"));
        }
        if self.seen.len() > MAX_SEEN {
            return Err(invalid("too many ids"));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(seconds, 0).unwrap()
    }

    fn listed(pairs: &[(u64, i64)]) -> Vec<Listed> {
        pairs
            .iter()
            .map(|&(id, modified)| Listed {
                id,
                modified: Some(modified),
            })
            .collect()
    }

    #[test]
    fn cursors_round_trip_and_refuse_other_streams_windows_and_garbage() {
        let window = Window {
            from: Some(at(100)),
            to: None,
        };
        let position = PagePosition {
            stream: WooStream::Orders,
            from: Some(100),
            to: 900,
            after: Some(150),
            page: 2,
            seen: vec![7, 8],
        };
        let text = serde_json::to_string(&position).unwrap();
        assert_eq!(
            text,
            r#"{"stream":"orders","from":100,"to":900,"after":150,"page":2,"seen":[7,8]}"#
        );
        let read = |text: &str| serde_json::from_str::<PagePosition>(text);
        assert_eq!(
            read(&text)
                .unwrap()
                .resume(WooStream::Orders, &window)
                .unwrap(),
            position
        );
        let closed = Window {
            from: Some(at(100)),
            to: Some(at(900)),
        };
        assert!(position.clone().resume(WooStream::Orders, &closed).is_ok());
        let with = |change: fn(&mut PagePosition)| {
            let mut changed = position.clone();
            change(&mut changed);
            changed
        };
        let refusals = [
            (position.clone(), WooStream::Products, window),
            (
                position.clone(),
                WooStream::Orders,
                Window {
                    from: Some(at(101)),
                    to: None,
                },
            ),
            (
                position.clone(),
                WooStream::Orders,
                Window {
                    from: Some(at(100)),
                    to: Some(at(901)),
                },
            ),
            (with(|p| p.page = 0), WooStream::Orders, window),
            (with(|p| p.page = MAX_PAGE + 1), WooStream::Orders, window),
            (
                with(|p| p.seen = (0..=MAX_SEEN as u64).collect()),
                WooStream::Orders,
                window,
            ),
        ];
        for (position, stream, window) in refusals {
            let error = position.clone().resume(stream, &window).unwrap_err();
            assert!(
                matches!(error, ConnectorError::CursorInvalid { .. }),
                "{position:?}: {error}"
            );
        }
        // Garbage does not even read as a cursor (the typed layer makes that cursor-invalid).
        for garbage in [
            r#"{"stream":"orders","from":100,"to":null,"after":150,"page":1,"seen":[]}"#,
            r#"{"stream":"orders","from":100,"to":900,"after":"x","page":1,"seen":[]}"#,
            r#"{"stream":"orders","from":100,"to":900,"after":150,"page":1,"seen":["a"]}"#,
            r#"{"stream":"coupons","from":100,"to":900,"after":150,"page":1,"seen":[]}"#,
            r#"{"stream":"orders","from":100,"to":900,"after":150,"page":1,"seen":[],"v":2}"#,
            "v1/orders/100..900/150/2/7,8",
            "3",
        ] {
            assert!(read(garbage).is_err(), "{garbage}");
        }
    }

    #[test]
    fn an_open_window_is_closed_at_the_start_and_fractions_round_up() {
        let now = Utc.timestamp_opt(1_000, 600_000_000).unwrap();
        let window = Window {
            from: Some(Utc.timestamp_opt(10, 1).unwrap()),
            to: None,
        };
        let start = PagePosition::start(WooStream::Orders, &window, now);
        assert_eq!(
            (start.from, start.to, start.after),
            (Some(11), 1_000, Some(11))
        );
        let customers = PagePosition::start(WooStream::Customers, &window, now);
        assert_eq!(customers.after, None);
    }

    #[test]
    fn keyset_pages_restart_at_the_last_second_and_drop_what_was_served() {
        let start = PagePosition::start(WooStream::Orders, &Window::default(), at(1_000));
        let page = listed(&[(1, 10), (2, 11), (3, 12), (4, 12)]);
        let next = start.next(&page, 4, Some(9)).unwrap().unwrap();
        assert_eq!(
            (next.after, next.page, next.seen.clone()),
            (Some(12), 1, vec![3, 4])
        );
        assert!(!next.keeps(page[2]) && !next.keeps(page[3]));
        assert!(next.keeps(Listed {
            id: 5,
            modified: Some(12)
        }));
        assert!(
            !next.keeps(Listed {
                id: 6,
                modified: Some(1_000)
            }),
            "end is exclusive"
        );

        // A whole page in one second steps by page number and remembers the ids.
        let tied = listed(&[(3, 12), (4, 12), (5, 12), (6, 12)]);
        let stepped = next.next(&tied, 4, None).unwrap().unwrap();
        assert_eq!((stepped.after, stepped.page), (Some(12), 2));
        assert_eq!(stepped.seen, vec![3, 4, 5, 6]);

        // A page inside the second that does not start with a served record means records
        // before it left: step back instead of skipping the unread ones shifted forward.
        let shifted = listed(&[(9, 12), (10, 12), (11, 12), (12, 12)]);
        let back = stepped.next(&shifted, 4, None).unwrap().unwrap();
        assert_eq!(back.page, 1);
        let forward = stepped.next(&listed(&[(6, 12), (7, 12), (8, 12), (9, 12)]), 4, None);
        assert_eq!(forward.unwrap().unwrap().page, 3);

        // Short pages, empty pages and the last page end the listing.
        assert_eq!(next.next(&page[..3], 4, None).unwrap(), None);
        assert_eq!(next.next(&[], 4, None).unwrap(), None);
        assert_eq!(start.next(&page, 4, Some(1)).unwrap(), None);
    }

    #[test]
    fn id_ordered_streams_count_pages_and_filter_the_window() {
        let window = Window {
            from: Some(at(10)),
            to: Some(at(20)),
        };
        let start = PagePosition::start(WooStream::Customers, &window, at(1_000));
        let page = listed(&[(1, 5), (2, 10), (3, 19), (4, 20)]);
        let kept: Vec<u64> = page
            .iter()
            .filter(|r| start.keeps(**r))
            .map(|r| r.id)
            .collect();
        assert_eq!(kept, vec![2, 3]);
        let next = start.next(&page, 4, None).unwrap().unwrap();
        assert_eq!((next.page, next.after), (2, None));
        assert!(!start.keeps(Listed {
            id: 9,
            modified: None
        }));
    }
}
