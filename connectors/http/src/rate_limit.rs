//! Rate-limit headers into a [`RateLimitHint`]: the runtime tightens its fleet-wide budget
//! with these before the source has to say 429.
//!
//! Read, in order of preference (the first format that gives a field wins for that field):
//! 1. IETF `RateLimit` as one field: draft-07's `limit=100, remaining=50, reset=5`, or the later
//!    `"default";r=50;t=5` with the limit from `RateLimit-Policy: "default";q=100;w=60`.
//! 2. IETF `RateLimit-Limit` / `RateLimit-Remaining` / `RateLimit-Reset` (delta seconds; a
//!    limit may carry a policy, `100, 100;w=60`: the first number counts).
//! 3. `X-RateLimit-Limit` / `-Remaining` / `-Reset` (also spelled `X-Rate-Limit-*`), whose
//!    reset is seconds-until on some APIs and an epoch timestamp on others (GitHub): a value
//!    above [`EPOCH_SECONDS_THRESHOLD`] is read as epoch seconds, above
//!    [`EPOCH_MILLIS_THRESHOLD`] as epoch milliseconds; `X-RateLimit-Reset-After` is seconds.
//! 4. Shopify's `X-Shopify-Shop-Api-Call-Limit: 39/40` (used/limit of a leaky bucket; no reset).

use crate::retry_after::{parse_delay_seconds, until, MAX_RETRY_AFTER};
use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use std::time::Duration;
use tributary_connector::RateLimitHint;

/// A reset value above this is an epoch timestamp in seconds, not a delay: 10^9 seconds is
/// 2001-09-09, and no API asks a client to wait 31 years.
pub const EPOCH_SECONDS_THRESHOLD: u64 = 1_000_000_000;
/// A reset value above this is an epoch timestamp in milliseconds (10^12 ms is 2001-09-09).
pub const EPOCH_MILLIS_THRESHOLD: u64 = 1_000_000_000_000;

/// Everything the response said about its rate limit, or `None` when it said nothing.
pub fn rate_limit_hint(headers: &HeaderMap, now: DateTime<Utc>) -> Option<RateLimitHint> {
    let formats = [
        ietf_combined(headers),
        ietf_separate(headers),
        x_rate_limit(headers, now),
        shopify_call_limit(headers),
    ];
    let mut hint = RateLimitHint::default();
    for found in formats {
        hint.limit = hint.limit.or(found.limit);
        hint.remaining = hint.remaining.or(found.remaining);
        hint.reset_after = hint.reset_after.or(found.reset_after);
    }
    (hint != RateLimitHint::default()).then_some(hint)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

/// The leading unsigned integer of a value such as `100`, `100, 100;w=60` or `-3` (as 0).
fn leading_number(value: &str) -> Option<u64> {
    let value = value.trim();
    if let Some(negative) = value.strip_prefix('-') {
        return negative
            .starts_with(|c: char| c.is_ascii_digit())
            .then_some(0);
    }
    let end = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let digits = &value[..end];
    if digits.is_empty() {
        return None;
    }
    // Saturate absurdly long numbers instead of dropping them.
    Some(digits.parse().unwrap_or(u64::MAX))
}

/// The part of a value before any `,` or `;` (a policy or a second list member).
fn first_item(value: &str) -> &str {
    let value = value.trim();
    let end = value.find([',', ';']).unwrap_or(value.len());
    value[..end].trim()
}

fn seconds(value: &str) -> Option<Duration> {
    parse_delay_seconds(first_item(value))
}

fn ietf_combined(headers: &HeaderMap) -> RateLimitHint {
    let mut hint = RateLimitHint::default();
    let Some(value) = header(headers, "ratelimit") else {
        return hint;
    };
    for item in value.split(',') {
        let mut parts = item.split(';').map(str::trim);
        let Some(first) = parts.next() else { continue };
        match first.split_once('=') {
            // draft-07: a dictionary of limit / remaining / reset.
            Some((key, number)) => match key.trim().to_ascii_lowercase().as_str() {
                "limit" => hint.limit = hint.limit.or(leading_number(number)),
                "remaining" => hint.remaining = hint.remaining.or(leading_number(number)),
                "reset" => hint.reset_after = hint.reset_after.or(seconds(number)),
                _ => {}
            },
            // draft-08 and later: `"policy";r=remaining;t=reset`; the first item counts.
            None if hint.remaining.is_none() && hint.reset_after.is_none() => {
                for param in parts {
                    match param.split_once('=') {
                        Some(("r", number)) => hint.remaining = leading_number(number),
                        Some(("t", number)) => hint.reset_after = seconds(number),
                        _ => {}
                    }
                }
                hint.limit = policy_quota(headers);
            }
            None => {}
        }
    }
    hint
}

/// `RateLimit-Policy: "default";q=100;w=60` gives the quota `q` of the first policy.
fn policy_quota(headers: &HeaderMap) -> Option<u64> {
    let first = header(headers, "ratelimit-policy")?.split(',').next()?;
    first
        .split(';')
        .filter_map(|param| param.trim().split_once('='))
        .find(|(name, _)| *name == "q")
        .and_then(|(_, number)| leading_number(number))
}

fn ietf_separate(headers: &HeaderMap) -> RateLimitHint {
    RateLimitHint {
        limit: header(headers, "ratelimit-limit").and_then(leading_number),
        remaining: header(headers, "ratelimit-remaining").and_then(leading_number),
        reset_after: header(headers, "ratelimit-reset").and_then(seconds),
    }
}

fn x_rate_limit(headers: &HeaderMap, now: DateTime<Utc>) -> RateLimitHint {
    let either = |suffix: &str| {
        header(headers, &format!("x-ratelimit-{suffix}"))
            .or_else(|| header(headers, &format!("x-rate-limit-{suffix}")))
    };
    let reset_after = either("reset-after")
        .and_then(seconds)
        .or_else(|| either("reset").and_then(|value| reset_value(value, now)));
    RateLimitHint {
        limit: either("limit").and_then(leading_number),
        remaining: either("remaining").and_then(leading_number),
        reset_after,
    }
}

/// An `X-RateLimit-Reset`: seconds until the reset, or the reset's epoch seconds or millis.
pub fn reset_value(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = first_item(value);
    let Ok(number) = value.parse::<u64>() else {
        // Fractions ("1.5") and negatives: always a delay.
        return parse_delay_seconds(value);
    };
    if number > EPOCH_MILLIS_THRESHOLD {
        let at = DateTime::from_timestamp_millis(i64::try_from(number).ok()?)?;
        return Some(until(at, now));
    }
    if number > EPOCH_SECONDS_THRESHOLD {
        let at = DateTime::from_timestamp(i64::try_from(number).ok()?, 0)?;
        return Some(until(at, now));
    }
    Some(Duration::from_secs(number).min(MAX_RETRY_AFTER))
}

fn shopify_call_limit(headers: &HeaderMap) -> RateLimitHint {
    let Some((used, limit)) =
        header(headers, "x-shopify-shop-api-call-limit").and_then(|value| value.split_once('/'))
    else {
        return RateLimitHint::default();
    };
    let (Some(used), Some(limit)) = (leading_number(used), leading_number(limit)) else {
        return RateLimitHint::default();
    };
    RateLimitHint {
        limit: Some(limit),
        remaining: Some(limit.saturating_sub(used)),
        reset_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn hint(pairs: &[(&str, &str)]) -> Option<RateLimitHint> {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        rate_limit_hint(&headers, now())
    }

    fn expect(
        limit: Option<u64>,
        remaining: Option<u64>,
        reset_secs: Option<u64>,
    ) -> Option<RateLimitHint> {
        Some(RateLimitHint {
            limit,
            remaining,
            reset_after: reset_secs.map(Duration::from_secs),
        })
    }

    #[test]
    fn every_header_format() {
        type Headers = Vec<(&'static str, &'static str)>;
        let cases: Vec<(Headers, Option<RateLimitHint>)> = vec![
            (vec![], None),
            (vec![("x-ratelimit-limit", "garbage")], None),
            // Reset as seconds-until.
            (
                vec![
                    ("X-RateLimit-Limit", "6000"),
                    ("X-RateLimit-Remaining", "5999"),
                    ("X-RateLimit-Reset", "60"),
                ],
                expect(Some(6000), Some(5999), Some(60)),
            ),
            // Reset as epoch seconds (GitHub), 90 s after "now".
            (
                vec![
                    ("x-ratelimit-limit", "5000"),
                    ("x-ratelimit-remaining", "4999"),
                    ("x-ratelimit-reset", "1700000090"),
                ],
                expect(Some(5000), Some(4999), Some(90)),
            ),
            // Epoch seconds in the past: reset now.
            (
                vec![("x-ratelimit-reset", "1699999000")],
                expect(None, None, Some(0)),
            ),
            // Epoch milliseconds.
            (
                vec![("x-ratelimit-reset", "1700000030000")],
                expect(None, None, Some(30)),
            ),
            // Twitter spelling; reset-after wins over reset.
            (
                vec![
                    ("x-rate-limit-limit", "900"),
                    ("x-rate-limit-remaining", "0"),
                    ("x-ratelimit-reset-after", "12"),
                    ("x-rate-limit-reset", "1700000500"),
                ],
                expect(Some(900), Some(0), Some(12)),
            ),
            // A negative remaining counts as none left.
            (
                vec![("x-ratelimit-remaining", "-1")],
                expect(None, Some(0), None),
            ),
            // IETF separate fields, limit with a policy.
            (
                vec![
                    ("RateLimit-Limit", "100, 100;w=60"),
                    ("RateLimit-Remaining", "42"),
                    ("RateLimit-Reset", "17"),
                ],
                expect(Some(100), Some(42), Some(17)),
            ),
            // IETF draft-07 dictionary.
            (
                vec![("RateLimit", "limit=100, remaining=50, reset=5")],
                expect(Some(100), Some(50), Some(5)),
            ),
            // IETF draft-08+ with a policy.
            (
                vec![
                    ("RateLimit", "\"default\";r=50;t=30"),
                    ("RateLimit-Policy", "\"default\";q=100;w=60"),
                ],
                expect(Some(100), Some(50), Some(30)),
            ),
            // Shopify leaky bucket.
            (
                vec![("X-Shopify-Shop-Api-Call-Limit", "39/40")],
                expect(Some(40), Some(1), None),
            ),
            (vec![("X-Shopify-Shop-Api-Call-Limit", "39")], None),
            // IETF wins over X- for the fields it gives; X- fills the rest.
            (
                vec![
                    ("RateLimit-Remaining", "3"),
                    ("X-RateLimit-Remaining", "9"),
                    ("X-RateLimit-Limit", "10"),
                ],
                expect(Some(10), Some(3), None),
            ),
            // Absurd resets are capped at a day.
            (
                vec![("ratelimit-reset", "999999")],
                expect(None, None, Some(86_400)),
            ),
        ];
        for (pairs, expected) in cases {
            assert_eq!(hint(&pairs), expected, "{pairs:?}");
        }
    }

    #[test]
    fn reset_values_are_told_apart() {
        assert_eq!(reset_value("0", now()), Some(Duration::ZERO));
        assert_eq!(reset_value("1.5", now()), Some(Duration::from_millis(1500)));
        assert_eq!(
            reset_value(&EPOCH_SECONDS_THRESHOLD.to_string(), now()),
            Some(MAX_RETRY_AFTER),
            "at the threshold it is still a (capped) delay"
        );
        assert_eq!(reset_value("never", now()), None);
    }
}
