//! A dead-letter filter from a query string or form body — the one parser behind the list, the
//! groups, the replay preview and the CLI's flags, so a link or a form carries a filter without
//! loss. Repeated `ids` keys (checkbox selections) and comma-separated ids both work; every bad
//! value is a 400 naming its field.

use crate::error::AdminError;
use chrono::{DateTime, NaiveDate, Utc};
use tributary_store::admin::{DeadLetterFilter, DeadLetterStatus, MAX_SELECTED_IDS};

/// Default page size.
pub const DEFAULT_LIMIT: i64 = 50;
/// Largest page size.
pub const MAX_LIMIT: i64 = 200;

/// A parsed query: the filter, plus paging.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilterQuery {
    /// Which letters.
    pub filter: DeadLetterFilter,
    /// Keyset cursor: only letters with a smaller id (the next page, newest first).
    pub after: Option<i64>,
    /// Page size, 1 to [`MAX_LIMIT`].
    pub limit: i64,
}

impl FilterQuery {
    /// Parses `status, connector, tenant, source, class, signature, q, since, until,
    /// min_attempts, max_attempts, ids, after, limit`. Empty values mean "any" (that is what
    /// an untouched form field sends); other keys (`csrf`, `reason`, ...) are left to the caller.
    pub fn parse(query: &str) -> Result<Self, AdminError> {
        let mut parsed = FilterQuery {
            limit: DEFAULT_LIMIT,
            ..Default::default()
        };
        let filter = &mut parsed.filter;
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            match key.as_ref() {
                "status" => {
                    filter.status = Some(match value {
                        "any" => continue,
                        other => DeadLetterStatus::parse(other).ok_or_else(|| {
                            bad("status", "must be pending, replayed, discarded or any")
                        })?,
                    })
                }
                "connector" => filter.connector = Some(value.to_owned()),
                "tenant" => filter.tenant = Some(value.to_owned()),
                "source" => filter.source = Some(value.to_owned()),
                "class" => filter.class = Some(value.to_owned()),
                "signature" => filter.signature = Some(value.to_owned()),
                "q" => filter.search = Some(value.to_owned()),
                "since" => filter.since = Some(time("since", value)?),
                "until" => filter.until = Some(time("until", value)?),
                "min_attempts" => filter.min_attempts = Some(number("min_attempts", value)?),
                "max_attempts" => filter.max_attempts = Some(number("max_attempts", value)?),
                "ids" => {
                    let ids = filter.ids.get_or_insert_with(Vec::new);
                    for id in value.split(',').map(str::trim).filter(|id| !id.is_empty()) {
                        ids.push(
                            id.parse()
                                .map_err(|_| bad("ids", "must be letter ids (whole numbers)"))?,
                        );
                        if ids.len() > MAX_SELECTED_IDS {
                            return Err(bad(
                                "ids",
                                &format!("select at most {MAX_SELECTED_IDS} letters"),
                            ));
                        }
                    }
                }
                "after" => parsed.after = Some(number("after", value)?),
                "limit" => {
                    let limit: i64 = number("limit", value)?;
                    if !(1..=MAX_LIMIT).contains(&limit) {
                        return Err(bad("limit", &format!("must be 1 to {MAX_LIMIT}")));
                    }
                    parsed.limit = limit;
                }
                _ => {}
            }
        }
        parsed.filter.validate()?;
        Ok(parsed)
    }

    /// The filter as a query string (without paging), for links and hidden form fields.
    pub fn filter_query_string(filter: &DeadLetterFilter) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        if let Some(status) = filter.status {
            out.append_pair("status", status.as_str());
        }
        let text = [
            ("connector", &filter.connector),
            ("tenant", &filter.tenant),
            ("source", &filter.source),
            ("class", &filter.class),
            ("signature", &filter.signature),
            ("q", &filter.search),
        ];
        for (key, value) in text {
            if let Some(value) = value {
                out.append_pair(key, value);
            }
        }
        for (key, value) in [("since", filter.since), ("until", filter.until)] {
            if let Some(value) = value {
                out.append_pair(key, &value.to_rfc3339());
            }
        }
        for (key, value) in [
            ("min_attempts", filter.min_attempts),
            ("max_attempts", filter.max_attempts),
        ] {
            if let Some(value) = value {
                out.append_pair(key, &value.to_string());
            }
        }
        if let Some(ids) = &filter.ids {
            let joined: Vec<String> = ids.iter().map(i64::to_string).collect();
            out.append_pair("ids", &joined.join(","));
        }
        out.finish()
    }
}

fn bad(field: &str, message: &str) -> AdminError {
    AdminError::BadRequest(format!("{field}: {message}"))
}

fn number<T: std::str::FromStr>(field: &str, value: &str) -> Result<T, AdminError> {
    value
        .parse()
        .map_err(|_| bad(field, "must be a whole number"))
}

/// RFC 3339 (`2026-12-05T10:00:00Z`) or a plain date (`2026-12-05`, midnight UTC).
fn time(field: &str, value: &str) -> Result<DateTime<Utc>, AdminError> {
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(at.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Ok(date
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc());
    }
    Err(bad(
        field,
        "must be a date (2026-12-05) or an RFC 3339 time (2026-12-05T10:00:00Z)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_field_and_round_trips() {
        let parsed = FilterQuery::parse(
            "status=pending&connector=demo&tenant=acme&source=shop&class=auth&signature=abc\
             &q=timeout+refused&since=2026-12-01&until=2026-12-05T10%3A00%3A00Z&min_attempts=1\
             &max_attempts=5&ids=3&ids=4,5&after=99&limit=20&csrf=x&reason=y",
        )
        .unwrap();
        assert_eq!(parsed.after, Some(99));
        assert_eq!(parsed.limit, 20);
        assert_eq!(parsed.filter.ids, Some(vec![3, 4, 5]));
        assert_eq!(parsed.filter.search.as_deref(), Some("timeout refused"));
        let again = FilterQuery::parse(&FilterQuery::filter_query_string(&parsed.filter)).unwrap();
        assert_eq!(again.filter, parsed.filter);
    }

    #[test]
    fn empty_values_mean_any_and_bad_values_name_their_field() {
        let parsed = FilterQuery::parse("status=&connector=&q=").unwrap();
        assert!(parsed.filter.is_empty());
        let error = FilterQuery::parse("limit=100000").unwrap_err().to_string();
        assert!(error.starts_with("limit:"), "{error}");
        let error = FilterQuery::parse("since=yesterday")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("since:"), "{error}");
        let error = FilterQuery::parse("status=gone").unwrap_err().to_string();
        assert!(error.starts_with("status:"), "{error}");
    }
}
