//! Paginators: from (the cursor a page was requested with, what the page said) to the next
//! [`Cursor`], for the four pagination styles HTTP APIs use, with loop detection.
//!
//! * [`PageNumberPaginator`]: `page` / `per_page` (WooCommerce, WordPress); stops on a short
//!   or empty page, or on the last page by `X-WP-TotalPages`.
//! * [`OffsetPaginator`]: `offset` / `limit`; stops on a short or empty page or at the total.
//! * [`TokenPaginator`]: an opaque `next_cursor` in the body with `has_more`.
//! * [`StartingAfterPaginator`]: `starting_after` = the last id seen, with `has_more` (Stripe).
//! * [`LinkPaginator`]: the RFC 8288 `Link: <…>; rel="next"` header (GitHub, Shopify REST).
//!
//! Cursors are small versioned strings, `h1.{style}.{guard}.{position}`, opaque to everyone but
//! this module. A cursor of another style or version is [`ConnectorError::CursorInvalid`], so
//! the runtime restarts the window instead of misreading it. The guard is a 32-bit fingerprint
//! that makes loops visible: for token, id and link styles it is the position the cursor came
//! from, so both "the next token is the current one" and a two-step cycle (A → B → A) are
//! caught; for page and offset styles it is the last id of the page read, so an API that
//! ignores the page parameter and serves the same page forever is caught. A loop is
//! [`ConnectorError::Permanent`] with "pagination loop detected".

use crate::link::next_link;
use reqwest::header::HeaderMap;
use reqwest::Url;
use tributary_connector::{ConnectorError, Cursor};

/// The layout version of the cursors written here. Bump it when the layout changes: cursors
/// of the old version then restart their window instead of being misread.
const CURSOR_VERSION: &str = "h1";

/// What a page said about itself, for [`PageNumberPaginator`] and [`OffsetPaginator`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageFacts<'a> {
    /// Records on the page just read.
    pub records: usize,
    /// The id of the page's last record: if the next page ends with the same id, the API is
    /// serving the same page again.
    pub last_id: Option<&'a str>,
    /// Total pages, when the API says (`X-WP-TotalPages`, `X-Total-Pages`).
    pub total_pages: Option<u64>,
    /// Total records, when the API says (`X-WP-Total`, `X-Total-Count`, `X-Total`).
    pub total_records: Option<u64>,
}

impl<'a> PageFacts<'a> {
    /// A page of `records` records whose last one has id `last_id`.
    pub fn new(records: usize, last_id: Option<&'a str>) -> Self {
        Self {
            records,
            last_id,
            total_pages: None,
            total_records: None,
        }
    }

    /// Fills the totals from `X-WP-TotalPages` / `X-Total-Pages` and `X-WP-Total` /
    /// `X-Total-Count` / `X-Total`, where present.
    pub fn with_totals_from(mut self, headers: &HeaderMap) -> Self {
        let number = |names: &[&str]| {
            names.iter().find_map(|name| {
                headers
                    .get(*name)?
                    .to_str()
                    .ok()?
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
        };
        self.total_pages = self
            .total_pages
            .or(number(&["x-wp-totalpages", "x-total-pages"]));
        self.total_records =
            self.total_records
                .or(number(&["x-wp-total", "x-total-count", "x-total"]));
        self
    }
}

/// The pagination styles, as named in cursors and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Page,
    Offset,
    Token,
    After,
    Link,
}

impl Style {
    fn tag(self) -> &'static str {
        match self {
            Style::Page => "page",
            Style::Offset => "offset",
            Style::Token => "token",
            Style::After => "after",
            Style::Link => "link",
        }
    }
}

/// A cursor taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Position {
    guard: Option<u32>,
    value: String,
}

/// FNV-1a, folded to 32 bits: a stable fingerprint for loop guards (not security).
fn fingerprint(text: &str) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash ^ (hash >> 32)) as u32
}

fn encode(style: Style, guard: Option<u32>, value: &str) -> Cursor {
    let guard = guard.map_or_else(|| "-".to_owned(), |guard| format!("{guard:08x}"));
    Cursor::new(format!("{CURSOR_VERSION}.{}.{guard}.{value}", style.tag()))
}

fn decode(cursor: &Cursor, style: Style) -> Result<Position, ConnectorError> {
    let invalid = |why: &str| ConnectorError::CursorInvalid {
        message: format!(
            "cursor {:?} is not a {} cursor of this connector: {why}",
            shorten(cursor.as_str()),
            style.tag()
        ),
    };
    let mut parts = cursor.as_str().splitn(4, '.');
    let (Some(version), Some(tag), Some(guard), Some(value)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("unknown layout"));
    };
    if version != CURSOR_VERSION {
        return Err(invalid("unknown version"));
    }
    if tag != style.tag() {
        return Err(invalid("written for another pagination style"));
    }
    let guard = match guard {
        "-" => None,
        hex if hex.len() == 8 => {
            Some(u32::from_str_radix(hex, 16).map_err(|_| invalid("bad guard"))?)
        }
        _ => return Err(invalid("bad guard")),
    };
    if value.is_empty() {
        return Err(invalid("empty position"));
    }
    Ok(Position {
        guard,
        value: value.to_owned(),
    })
}

/// A cursor's text for messages: long tokens are cut, they say nothing more past 80 bytes.
fn shorten(text: &str) -> String {
    const MAX: usize = 80;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn loop_detected(detail: String) -> ConnectorError {
    ConnectorError::Permanent {
        status: None,
        message: format!("pagination loop detected: {detail}"),
    }
}

fn decode_number(cursor: &Cursor, style: Style) -> Result<(u64, Option<u32>), ConnectorError> {
    let position = decode(cursor, style)?;
    let number = position
        .value
        .parse::<u64>()
        .map_err(|_| ConnectorError::CursorInvalid {
            message: format!(
                "cursor {:?} does not hold a {} number",
                shorten(cursor.as_str()),
                style.tag()
            ),
        })?;
    Ok((number, position.guard))
}

/// The same page again: its last id is the one the previous page ended with.
fn check_same_page(
    guard: Option<u32>,
    facts: &PageFacts<'_>,
    what: String,
) -> Result<(), ConnectorError> {
    if let (Some(guard), Some(last_id)) = (guard, facts.last_id) {
        if facts.records > 0 && fingerprint(last_id) == guard {
            return Err(loop_detected(format!(
                "{what} ended with record {last_id:?} again, like the page before it: the API seems to ignore the paging parameter"
            )));
        }
    }
    Ok(())
}

/// `page` / `per_page` pagination.
///
/// The page size asked for must not exceed the API's maximum: an API that caps `per_page=250`
/// to 100 sends "short" pages, and without a total-pages header the paginator would stop after
/// the first one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageNumberPaginator {
    page_param: String,
    per_page_param: String,
    per_page: u64,
    first_page: u64,
}

impl PageNumberPaginator {
    /// Pages of `per_page` records, numbered from 1, as `page` and `per_page` parameters.
    pub fn new(per_page: u64) -> Self {
        Self {
            page_param: "page".to_owned(),
            per_page_param: "per_page".to_owned(),
            per_page: per_page.max(1),
            first_page: 1,
        }
    }

    /// Uses other parameter names, such as `p` and `limit`.
    pub fn with_params(mut self, page: &str, per_page: &str) -> Self {
        self.page_param = page.to_owned();
        self.per_page_param = per_page.to_owned();
        self
    }

    /// Numbers pages from `first_page` (0 for zero-based APIs) instead of 1.
    pub fn starting_at(mut self, first_page: u64) -> Self {
        self.first_page = first_page;
        self
    }

    /// The page to request for `cursor` (`None`: the first page).
    pub fn page(&self, cursor: Option<&Cursor>) -> Result<u64, ConnectorError> {
        match cursor {
            None => Ok(self.first_page),
            Some(cursor) => Ok(decode_number(cursor, Style::Page)?.0),
        }
    }

    /// The query parameters for `cursor`: `[(page, n), (per_page, size)]`.
    pub fn query(&self, cursor: Option<&Cursor>) -> Result<Vec<(String, String)>, ConnectorError> {
        Ok(vec![
            (self.page_param.clone(), self.page(cursor)?.to_string()),
            (self.per_page_param.clone(), self.per_page.to_string()),
        ])
    }

    /// The cursor after the page requested with `cursor`, or `None` when it was the last.
    pub fn next(
        &self,
        cursor: Option<&Cursor>,
        facts: &PageFacts<'_>,
    ) -> Result<Option<Cursor>, ConnectorError> {
        let (page, guard) = match cursor {
            None => (self.first_page, None),
            Some(cursor) => decode_number(cursor, Style::Page)?,
        };
        if facts.records == 0 {
            return Ok(None);
        }
        check_same_page(guard, facts, format!("page {page}"))?;
        let pages_read = page.saturating_sub(self.first_page) + 1;
        let last_by_pages = facts.total_pages.is_some_and(|total| pages_read >= total);
        let last_by_records = facts
            .total_records
            .is_some_and(|total| pages_read.saturating_mul(self.per_page) >= total);
        let short = (facts.records as u64) < self.per_page;
        if last_by_pages || last_by_records || short {
            return Ok(None);
        }
        let next = page
            .checked_add(1)
            .ok_or_else(|| loop_detected(format!("page {page} cannot be followed by another")))?;
        Ok(Some(encode(
            Style::Page,
            facts.last_id.map(fingerprint),
            &next.to_string(),
        )))
    }
}

/// `offset` / `limit` pagination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetPaginator {
    offset_param: String,
    limit_param: String,
    limit: u64,
}

impl OffsetPaginator {
    /// Pages of `limit` records, as `offset` and `limit` parameters.
    pub fn new(limit: u64) -> Self {
        Self {
            offset_param: "offset".to_owned(),
            limit_param: "limit".to_owned(),
            limit: limit.max(1),
        }
    }

    /// Uses other parameter names, such as `skip` and `take`.
    pub fn with_params(mut self, offset: &str, limit: &str) -> Self {
        self.offset_param = offset.to_owned();
        self.limit_param = limit.to_owned();
        self
    }

    /// The offset to request for `cursor` (`None`: 0).
    pub fn offset(&self, cursor: Option<&Cursor>) -> Result<u64, ConnectorError> {
        match cursor {
            None => Ok(0),
            Some(cursor) => Ok(decode_number(cursor, Style::Offset)?.0),
        }
    }

    /// The query parameters for `cursor`: `[(offset, n), (limit, size)]`.
    pub fn query(&self, cursor: Option<&Cursor>) -> Result<Vec<(String, String)>, ConnectorError> {
        Ok(vec![
            (self.offset_param.clone(), self.offset(cursor)?.to_string()),
            (self.limit_param.clone(), self.limit.to_string()),
        ])
    }

    /// The cursor after the page requested with `cursor`, or `None` when it was the last.
    pub fn next(
        &self,
        cursor: Option<&Cursor>,
        facts: &PageFacts<'_>,
    ) -> Result<Option<Cursor>, ConnectorError> {
        let (offset, guard) = match cursor {
            None => (0, None),
            Some(cursor) => decode_number(cursor, Style::Offset)?,
        };
        if facts.records == 0 {
            return Ok(None);
        }
        check_same_page(guard, facts, format!("the page at offset {offset}"))?;
        let next = offset.saturating_add(facts.records as u64);
        let at_total = facts.total_records.is_some_and(|total| next >= total);
        if at_total || (facts.records as u64) < self.limit {
            return Ok(None);
        }
        Ok(Some(encode(
            Style::Offset,
            facts.last_id.map(fingerprint),
            &next.to_string(),
        )))
    }
}

/// The guard of a token, id or link cursor is where it came from; refuse a next position that
/// is the current one, or the one before it.
fn check_advances(
    current: Option<&Position>,
    next: &str,
    what: &str,
) -> Result<Option<u32>, ConnectorError> {
    let Some(current) = current else {
        return Ok(None);
    };
    if current.value == next {
        return Err(loop_detected(format!(
            "the next {what} {:?} is the one just requested",
            shorten(next)
        )));
    }
    if current.guard == Some(fingerprint(next)) {
        return Err(loop_detected(format!(
            "the next {what} {:?} is the one requested before the current one",
            shorten(next)
        )));
    }
    Ok(Some(fingerprint(&current.value)))
}

/// An opaque token in the body (`next_cursor`, `next_page_token`, …), usually with `has_more`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPaginator {
    param: String,
}

impl TokenPaginator {
    /// Sends the token as query parameter `param` (such as `cursor` or `page_token`).
    pub fn new(param: &str) -> Self {
        Self {
            param: param.to_owned(),
        }
    }

    /// The source's token to send for `cursor` (`None`: the first page).
    pub fn token(&self, cursor: Option<&Cursor>) -> Result<Option<String>, ConnectorError> {
        cursor
            .map(|cursor| decode(cursor, Style::Token).map(|position| position.value))
            .transpose()
    }

    /// The query parameters for `cursor`: `[(param, token)]`, or none for the first page.
    pub fn query(&self, cursor: Option<&Cursor>) -> Result<Vec<(String, String)>, ConnectorError> {
        Ok(self
            .token(cursor)?
            .map(|token| vec![(self.param.clone(), token)])
            .unwrap_or_default())
    }

    /// The cursor after the page requested with `cursor`, from the page's `next_token` and
    /// `has_more` (`None` when the API has no such flag). `has_more: false` ends the window
    /// whatever the token; `has_more: true` without a token is malformed.
    pub fn next(
        &self,
        cursor: Option<&Cursor>,
        next_token: Option<&str>,
        has_more: Option<bool>,
    ) -> Result<Option<Cursor>, ConnectorError> {
        let current = cursor
            .map(|cursor| decode(cursor, Style::Token))
            .transpose()?;
        if has_more == Some(false) {
            return Ok(None);
        }
        let Some(token) = next_token.filter(|token| !token.is_empty()) else {
            if has_more == Some(true) {
                return Err(ConnectorError::Malformed {
                    message: "the page says it has more, but gives no next cursor".to_owned(),
                });
            }
            return Ok(None);
        };
        let guard = check_advances(current.as_ref(), token, "cursor")?;
        Ok(Some(encode(Style::Token, guard, token)))
    }
}

/// `starting_after` = the id of the last record seen, with `has_more` (Stripe's list API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartingAfterPaginator {
    param: String,
}

impl StartingAfterPaginator {
    /// Sends the last id as query parameter `param` (Stripe: `starting_after`).
    pub fn new(param: &str) -> Self {
        Self {
            param: param.to_owned(),
        }
    }

    /// The id to continue after, for `cursor` (`None`: from the start).
    pub fn after(&self, cursor: Option<&Cursor>) -> Result<Option<String>, ConnectorError> {
        cursor
            .map(|cursor| decode(cursor, Style::After).map(|position| position.value))
            .transpose()
    }

    /// The query parameters for `cursor`: `[(param, id)]`, or none for the first page.
    pub fn query(&self, cursor: Option<&Cursor>) -> Result<Vec<(String, String)>, ConnectorError> {
        Ok(self
            .after(cursor)?
            .map(|id| vec![(self.param.clone(), id)])
            .unwrap_or_default())
    }

    /// The cursor after the page requested with `cursor`: `None` unless `has_more`; the
    /// page's `last_id` otherwise (a page that has more but no records is malformed).
    pub fn next(
        &self,
        cursor: Option<&Cursor>,
        last_id: Option<&str>,
        has_more: bool,
    ) -> Result<Option<Cursor>, ConnectorError> {
        let current = cursor
            .map(|cursor| decode(cursor, Style::After))
            .transpose()?;
        if !has_more {
            return Ok(None);
        }
        let Some(last_id) = last_id.filter(|id| !id.is_empty()) else {
            return Err(ConnectorError::Malformed {
                message: "the page says it has more, but has no last record to continue after"
                    .to_owned(),
            });
        };
        let guard = check_advances(current.as_ref(), last_id, "starting id")?;
        Ok(Some(encode(Style::After, guard, last_id)))
    }
}

/// RFC 8288 `Link: <…>; rel="next"` pagination. Cursors hold the next link's path and query
/// only, resolved against the first page's URL: a next link to another origin is refused (it
/// would receive our credentials), and no host or user info is ever stored in a checkpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkPaginator;

impl LinkPaginator {
    /// A Link-header paginator.
    pub fn new() -> Self {
        Self
    }

    /// The URL to request for `cursor`: `first` for `None`, else the cursor's path and query
    /// on `first`'s origin.
    pub fn url(&self, cursor: Option<&Cursor>, first: &Url) -> Result<Url, ConnectorError> {
        let Some(cursor) = cursor else {
            return Ok(first.clone());
        };
        let position = decode(cursor, Style::Link)?;
        if !position.value.starts_with('/') {
            return Err(ConnectorError::CursorInvalid {
                message: "a link cursor must hold an absolute path".to_owned(),
            });
        }
        first
            .join(&position.value)
            .map_err(|error| ConnectorError::CursorInvalid {
                message: format!("a link cursor does not resolve to a URL: {error}"),
            })
    }

    /// The cursor after the page fetched from `requested` (the URL [`LinkPaginator::url`]
    /// gave), from its `Link` headers; `None` without a `rel="next"` link.
    pub fn next(
        &self,
        cursor: Option<&Cursor>,
        requested: &Url,
        headers: &HeaderMap,
    ) -> Result<Option<Cursor>, ConnectorError> {
        let current = cursor
            .map(|cursor| decode(cursor, Style::Link))
            .transpose()?;
        let Some(target) = next_link(headers) else {
            return Ok(None);
        };
        let next = requested
            .join(&target)
            .map_err(|error| ConnectorError::Malformed {
                message: format!("the next link {:?} is not a URL: {error}", shorten(&target)),
            })?;
        if next.origin() != requested.origin() {
            return Err(ConnectorError::Permanent {
                status: None,
                message: format!(
                    "refusing to follow a next link to another origin ({}, not {})",
                    next.origin().ascii_serialization(),
                    requested.origin().ascii_serialization()
                ),
            });
        }
        let mut relative = next.path().to_owned();
        if let Some(query) = next.query() {
            relative.push('?');
            relative.push_str(query);
        }
        if next == *requested {
            return Err(loop_detected(format!(
                "the next link {:?} is the page just requested",
                shorten(&relative)
            )));
        }
        let guard = check_advances(current.as_ref(), &relative, "link")?;
        Ok(Some(encode(Style::Link, guard, &relative)))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue, LINK};
    use tributary_connector::ErrorClass;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn is_loop(result: Result<Option<Cursor>, ConnectorError>) -> bool {
        match result {
            Err(error) => {
                error.class() == ErrorClass::Permanent
                    && error.to_string().contains("pagination loop detected")
            }
            Ok(_) => false,
        }
    }

    #[test]
    fn cursors_are_small_versioned_and_refuse_other_styles() {
        let cursor = encode(Style::Token, Some(0xdead_beef), "abc.def");
        assert_eq!(cursor.as_str(), "h1.token.deadbeef.abc.def");
        assert_eq!(
            decode(&cursor, Style::Token).unwrap(),
            Position {
                guard: Some(0xdead_beef),
                value: "abc.def".to_owned()
            }
        );
        let bad = [
            "garbage",
            "h0.token.-.abc",
            "h1.page.-.3",
            "h1.token.xyz.abc",
            "h1.token.-.",
            "c1_0123456789abcdef01234567",
        ];
        for text in bad {
            let error = decode(&Cursor::new(text), Style::Token).unwrap_err();
            assert_eq!(error.class(), ErrorClass::CursorInvalid, "{text}");
        }
        let error = PageNumberPaginator::new(10)
            .page(Some(&Cursor::new("h1.page.-.three")))
            .unwrap_err();
        assert_eq!(error.class(), ErrorClass::CursorInvalid);
    }

    /// A tiny deterministic generator for property-style tests (no extra dependency).
    pub(crate) struct Xorshift(pub(crate) u64);

    impl Xorshift {
        pub(crate) fn below(&mut self, bound: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % bound as u64) as usize
        }

        pub(crate) fn string(&mut self, alphabet: &[&str], max_len: usize) -> String {
            let len = 1 + self.below(max_len);
            (0..len)
                .map(|_| alphabet[self.below(alphabet.len())])
                .collect()
        }
    }

    #[test]
    fn any_token_or_id_round_trips_through_a_cursor() {
        let alphabet = [
            "a", "Z", "0", "9", ".", "-", "_", "=", "/", "+", "%", " ", "é", "🦀", "h1", ".token.",
        ];
        let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
        let tokens = TokenPaginator::new("cursor");
        let ids = StartingAfterPaginator::new("starting_after");
        let mut previous: Option<Cursor> = None;
        for _ in 0..2_000 {
            let token = rng.string(&alphabet, 40);
            let cursor = tokens
                .next(None, Some(&token), Some(true))
                .unwrap()
                .unwrap();
            assert_eq!(
                tokens.token(Some(&cursor)).unwrap().as_deref(),
                Some(token.as_str())
            );
            let cursor = ids.next(None, Some(&token), true).unwrap().unwrap();
            assert_eq!(
                ids.after(Some(&cursor)).unwrap().as_deref(),
                Some(token.as_str())
            );
            // Chained: a fresh token always advances, unless it repeats the current one.
            if let Some(previous) = &previous {
                let current = tokens.token(Some(previous)).unwrap().unwrap();
                let next = tokens.next(Some(previous), Some(&token), Some(true));
                assert_eq!(next.is_err(), current == token, "{current:?} -> {token:?}");
            }
            previous = tokens.next(None, Some(&token), None).unwrap();
        }
    }

    #[test]
    fn page_numbers_stop_on_short_or_empty_pages_or_the_total() {
        let paginator = PageNumberPaginator::new(100);
        assert_eq!(
            paginator.query(None).unwrap(),
            [
                ("page".to_owned(), "1".to_owned()),
                ("per_page".to_owned(), "100".to_owned())
            ]
        );
        let full = PageFacts::new(100, Some("a100"));
        let second = paginator.next(None, &full).unwrap().unwrap();
        assert_eq!(paginator.page(Some(&second)).unwrap(), 2);
        let third = paginator
            .next(Some(&second), &PageFacts::new(100, Some("a200")))
            .unwrap()
            .unwrap();
        assert_eq!(paginator.page(Some(&third)).unwrap(), 3);

        let stops = [
            PageFacts::new(99, Some("a299")),
            PageFacts::new(0, None),
            PageFacts::new(100, Some("a300")).with_totals_from(&headers(&[
                ("X-WP-Total", "1000"),
                ("X-WP-TotalPages", "3"),
            ])),
            PageFacts::new(100, Some("a300"))
                .with_totals_from(&headers(&[("X-Total-Count", "300")])),
        ];
        for facts in stops {
            assert_eq!(
                paginator.next(Some(&third), &facts).unwrap(),
                None,
                "{facts:?}"
            );
        }
        let more = PageFacts::new(100, Some("a300"))
            .with_totals_from(&headers(&[("X-WP-TotalPages", "4")]));
        assert!(paginator.next(Some(&third), &more).unwrap().is_some());

        let zero_based = PageNumberPaginator::new(10)
            .with_params("p", "size")
            .starting_at(0);
        assert_eq!(
            zero_based.query(None).unwrap(),
            [
                ("p".to_owned(), "0".to_owned()),
                ("size".to_owned(), "10".to_owned())
            ]
        );
        let only =
            PageFacts::new(10, Some("x")).with_totals_from(&headers(&[("x-total-pages", "1")]));
        assert_eq!(zero_based.next(None, &only).unwrap(), None);
    }

    #[test]
    fn an_api_ignoring_the_page_parameter_is_a_loop() {
        let paginator = PageNumberPaginator::new(2);
        let second = paginator
            .next(None, &PageFacts::new(2, Some("b")))
            .unwrap()
            .unwrap();
        assert!(is_loop(
            paginator.next(Some(&second), &PageFacts::new(2, Some("b")))
        ));
        let offsets = OffsetPaginator::new(2);
        let next = offsets
            .next(None, &PageFacts::new(2, Some("b")))
            .unwrap()
            .unwrap();
        assert!(is_loop(
            offsets.next(Some(&next), &PageFacts::new(2, Some("b")))
        ));
    }

    #[test]
    fn offsets_advance_by_the_records_read() {
        let paginator = OffsetPaginator::new(50).with_params("skip", "take");
        assert_eq!(
            paginator.query(None).unwrap(),
            [
                ("skip".to_owned(), "0".to_owned()),
                ("take".to_owned(), "50".to_owned())
            ]
        );
        let next = paginator
            .next(None, &PageFacts::new(50, Some("r50")))
            .unwrap()
            .unwrap();
        assert_eq!(paginator.offset(Some(&next)).unwrap(), 50);
        assert_eq!(
            paginator
                .next(Some(&next), &PageFacts::new(49, Some("r99")))
                .unwrap(),
            None
        );
        let at_total = PageFacts {
            total_records: Some(100),
            ..PageFacts::new(50, Some("r100"))
        };
        assert_eq!(paginator.next(Some(&next), &at_total).unwrap(), None);
        assert_eq!(
            paginator
                .next(Some(&next), &PageFacts::new(0, None))
                .unwrap(),
            None
        );
    }

    #[test]
    fn tokens_follow_has_more_and_refuse_repeats_and_two_step_cycles() {
        let paginator = TokenPaginator::new("cursor");
        assert!(paginator.query(None).unwrap().is_empty());
        let a = paginator
            .next(None, Some("A"), Some(true))
            .unwrap()
            .unwrap();
        assert_eq!(
            paginator.query(Some(&a)).unwrap(),
            [("cursor".to_owned(), "A".to_owned())]
        );
        let b = paginator.next(Some(&a), Some("B"), None).unwrap().unwrap();
        assert!(is_loop(paginator.next(Some(&b), Some("B"), Some(true))));
        assert!(is_loop(paginator.next(Some(&b), Some("A"), Some(true))));
        let c = paginator
            .next(Some(&b), Some("C"), Some(true))
            .unwrap()
            .unwrap();
        assert_eq!(paginator.token(Some(&c)).unwrap().as_deref(), Some("C"));

        assert_eq!(
            paginator.next(Some(&c), Some("C"), Some(false)).unwrap(),
            None
        );
        assert_eq!(paginator.next(Some(&c), None, None).unwrap(), None);
        assert_eq!(paginator.next(Some(&c), Some(""), None).unwrap(), None);
        let error = paginator.next(Some(&c), None, Some(true)).unwrap_err();
        assert_eq!(error.class(), ErrorClass::Malformed);
    }

    #[test]
    fn starting_after_uses_the_last_id() {
        let paginator = StartingAfterPaginator::new("starting_after");
        assert!(paginator.query(None).unwrap().is_empty());
        let first = paginator.next(None, Some("ch_3"), true).unwrap().unwrap();
        assert_eq!(
            paginator.query(Some(&first)).unwrap(),
            [("starting_after".to_owned(), "ch_3".to_owned())]
        );
        assert_eq!(
            paginator.next(Some(&first), Some("ch_6"), false).unwrap(),
            None
        );
        assert!(is_loop(paginator.next(Some(&first), Some("ch_3"), true)));
        let error = paginator.next(Some(&first), None, true).unwrap_err();
        assert_eq!(error.class(), ErrorClass::Malformed);
        let error = paginator
            .after(Some(
                &TokenPaginator::new("c")
                    .next(None, Some("x"), None)
                    .unwrap()
                    .unwrap(),
            ))
            .unwrap_err();
        assert_eq!(
            error.class(),
            ErrorClass::CursorInvalid,
            "a token cursor is not an id cursor"
        );
    }

    #[test]
    fn links_stay_on_the_origin_and_do_not_loop() {
        let paginator = LinkPaginator::new();
        let first = Url::parse("https://shop.example.com/admin/orders.json?limit=50").unwrap();
        assert_eq!(paginator.url(None, &first).unwrap(), first);

        let page_2 = headers(&[(
            "link",
            r#"<https://shop.example.com/admin/orders.json?limit=50&page_info=p2>; rel="next""#,
        )]);
        let cursor = paginator.next(None, &first, &page_2).unwrap().unwrap();
        assert!(!cursor.as_str().contains("shop.example.com"), "{cursor:?}");
        let second = paginator.url(Some(&cursor), &first).unwrap();
        assert_eq!(
            second.as_str(),
            "https://shop.example.com/admin/orders.json?limit=50&page_info=p2"
        );

        // Relative links resolve against the requested URL.
        let relative = headers(&[("link", r#"</admin/orders.json?page_info=p3>; rel="next""#)]);
        let third = paginator
            .next(Some(&cursor), &second, &relative)
            .unwrap()
            .unwrap();
        assert_eq!(
            paginator.url(Some(&third), &first).unwrap().as_str(),
            "https://shop.example.com/admin/orders.json?page_info=p3"
        );

        assert!(is_loop(paginator.next(Some(&cursor), &second, &page_2)));
        let back = headers(&[(
            "link",
            r#"<https://shop.example.com/admin/orders.json?limit=50&page_info=p2>; rel="next""#,
        )]);
        let third_url = paginator.url(Some(&third), &first).unwrap();
        assert!(is_loop(paginator.next(Some(&third), &third_url, &back)));

        let elsewhere = headers(&[("link", r#"<https://evil.example/steal>; rel="next""#)]);
        let error = paginator.next(None, &first, &elsewhere).unwrap_err();
        assert_eq!(error.class(), ErrorClass::Permanent);
        assert!(error.to_string().contains("another origin"), "{error}");

        let last = headers(&[(LINK.as_str(), r#"<https://shop.example.com/x>; rel="prev""#)]);
        assert_eq!(paginator.next(None, &first, &last).unwrap(), None);
    }
}
