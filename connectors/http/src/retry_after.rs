//! `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP date, turned into a delay
//! relative to a given "now" so that tests control the clock.

use chrono::{DateTime, NaiveDateTime, Utc};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::time::Duration;

/// The longest delay a `Retry-After` (or a rate-limit reset) may ask for; longer values are
/// capped to it. A day covers daily quotas; anything longer is a bug on the other side, and a
/// job snoozed for a year is a job lost.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Parses one `Retry-After` value relative to `now`.
///
/// Accepts delay-seconds (`120`; a fraction such as `1.5` and a negative number are tolerated,
/// the latter as zero) and the three HTTP date formats every recipient must accept:
/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`)
/// and asctime (`Sun Nov  6 08:49:37 1994`). A date in the past gives zero; anything above
/// [`MAX_RETRY_AFTER`] is capped. Returns `None` when the value is none of these.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if let Some(seconds) = parse_delay_seconds(value) {
        return Some(seconds);
    }
    let at = parse_http_date(value)?;
    Some(until(at, now))
}

/// The `Retry-After` of a response, relative to `now`. See [`parse_retry_after`].
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, now)
}

/// The delay from `now` until `at`: zero when `at` is past, capped at [`MAX_RETRY_AFTER`].
pub(crate) fn until(at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (at - now)
        .to_std()
        .unwrap_or(Duration::ZERO)
        .min(MAX_RETRY_AFTER)
}

/// Seconds as a (possibly fractional or negative) decimal number, capped.
pub(crate) fn parse_delay_seconds(value: &str) -> Option<Duration> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    let looks_numeric = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|b| *b == b'.').count() <= 1
        && digits.bytes().any(|b| b.is_ascii_digit());
    if !looks_numeric {
        return None;
    }
    if value.starts_with('-') {
        return Some(Duration::ZERO);
    }
    if let Ok(whole) = digits.parse::<u64>() {
        return Some(Duration::from_secs(whole).min(MAX_RETRY_AFTER));
    }
    let seconds: f64 = digits.parse().ok()?;
    if !seconds.is_finite() {
        return None;
    }
    Some(Duration::from_secs_f64(
        seconds.min(MAX_RETRY_AFTER.as_secs_f64()),
    ))
}

/// An HTTP date in any of the three formats RFC 9110 §5.6.7 requires recipients to accept.
pub fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    // IMF-fixdate is a subset of RFC 2822, which chrono parses (and checks the weekday of).
    if let Ok(at) = DateTime::parse_from_rfc2822(value) {
        return Some(at.with_timezone(&Utc));
    }
    // RFC 850: two-digit years, read by chrono as 1969-2068.
    if let Ok(at) = NaiveDateTime::parse_from_str(value, "%A, %d-%b-%y %H:%M:%S GMT") {
        return Some(at.and_utc());
    }
    // asctime: the day is space-padded ("Nov  6"); collapse runs of spaces first.
    let collapsed = value.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Ok(at) = NaiveDateTime::parse_from_str(&collapsed, "%a %b %e %H:%M:%S %Y") {
        return Some(at.and_utc());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("1994-11-06T08:49:30Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn every_accepted_form_and_its_delay() {
        let secs = |s: u64| Some(Duration::from_secs(s));
        let cases: [(&str, Option<Duration>); 18] = [
            ("120", secs(120)),
            ("  7 ", secs(7)),
            ("0", secs(0)),
            ("1.5", Some(Duration::from_millis(1500))),
            ("-5", secs(0)),
            ("-0.5", secs(0)),
            ("99999999999999999999999", secs(86_400)),
            ("100000", secs(86_400)),
            ("Sun, 06 Nov 1994 08:49:37 GMT", secs(7)),
            ("Sun, 06 Nov 1994 08:49:37 +0000", secs(7)),
            ("Sunday, 06-Nov-94 08:49:37 GMT", secs(7)),
            ("Sun Nov  6 08:49:37 1994", secs(7)),
            ("Sun, 06 Nov 1994 08:00:00 GMT", secs(0)),
            ("Mon, 06 Nov 1995 08:49:30 GMT", secs(86_400)),
            ("soon", None),
            ("", None),
            ("1.2.3", None),
            ("12abc", None),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_retry_after(value, now()), expected, "{value:?}");
        }
    }

    #[test]
    fn a_date_with_the_wrong_weekday_is_refused() {
        // 6 Nov 1994 was a Sunday.
        assert_eq!(
            parse_retry_after("Mon, 06 Nov 1994 08:49:37 GMT", now()),
            None
        );
    }

    #[test]
    fn reads_the_header_and_ignores_its_absence_or_garbage() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers, now()), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("30"));
        assert_eq!(retry_after(&headers, now()), Some(Duration::from_secs(30)));
        headers.insert(RETRY_AFTER, HeaderValue::from_bytes(b"\xff\xfe").unwrap());
        assert_eq!(retry_after(&headers, now()), None);
    }
}
