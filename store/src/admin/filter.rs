//! The dead-letter filter shared by listing, grouping, dry runs, replays and discards: one
//! WHERE clause, so "what the dry run counted" is exactly "what the replay takes".

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::types::ToSql;

/// Longest accepted full-text query, in characters.
pub const MAX_SEARCH_CHARS: usize = 200;
/// Most ids in one explicit selection.
pub const MAX_SELECTED_IDS: usize = 1000;
/// Longest accepted value of a plain text filter (connector, tenant, source, class, signature).
pub const MAX_FILTER_VALUE_CHARS: usize = 200;

/// Where a dead letter is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadLetterStatus {
    /// Waiting for a human.
    Pending,
    /// A replay job was created for it.
    Replayed,
    /// A human decided it needs nothing.
    Discarded,
}

impl DeadLetterStatus {
    /// The name stored in `dead_letters.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterStatus::Pending => "pending",
            DeadLetterStatus::Replayed => "replayed",
            DeadLetterStatus::Discarded => "discarded",
        }
    }

    /// Parses a stored or user-given status name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(DeadLetterStatus::Pending),
            "replayed" => Some(DeadLetterStatus::Replayed),
            "discarded" => Some(DeadLetterStatus::Discarded),
            _ => None,
        }
    }
}

/// Which dead letters. Every field narrows; an empty filter matches every letter. Stored as JSON
/// in audit rows and replay batches, so it says afterwards what an action applied to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterFilter {
    /// Only letters in this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeadLetterStatus>,
    /// Connector kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
    /// Tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Source instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Failure class (`permanent`, `auth`, `exhausted`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Error signature (the group key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Full-text query over the error text (web-search syntax: words, "phrases", -not, or).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
    /// Stored at or after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// Stored before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    /// At least this many attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_attempts: Option<i32>,
    /// At most this many attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<i32>,
    /// Exactly these letters (a selection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<i64>>,
}

/// A filter that cannot be run, with the field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FilterError {
    /// The offending field.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

/// The WHERE clause over `dead_letters d`, using parameters `$1` to `$12` in the order of
/// [`DeadLetterFilter::params`]. Each condition is "absent, or matches", which PostgreSQL folds
/// away when it plans the statement with the actual values.
pub(crate) const FILTER_SQL: &str = "($1::text IS NULL OR d.status = $1)
    AND ($2::text IS NULL OR d.connector = $2)
    AND ($3::text IS NULL OR d.tenant_id = $3)
    AND ($4::text IS NULL OR d.source = $4)
    AND ($5::text IS NULL OR d.class = $5)
    AND ($6::text IS NULL OR d.signature = $6)
    AND ($7::text IS NULL OR d.search @@ websearch_to_tsquery('simple', $7))
    AND ($8::timestamptz IS NULL OR d.created_at >= $8)
    AND ($9::timestamptz IS NULL OR d.created_at < $9)
    AND ($10::int IS NULL OR d.attempts >= $10)
    AND ($11::int IS NULL OR d.attempts <= $11)
    AND ($12::bigint[] IS NULL OR d.id = ANY($12))";

/// How many parameters [`FILTER_SQL`] uses; further parameters of a statement start after it.
pub(crate) const FILTER_PARAMS: usize = 12;

impl DeadLetterFilter {
    /// Checks the bounds (lengths, counts, ranges), naming the first bad field.
    pub fn validate(&self) -> Result<(), FilterError> {
        let text_fields = [
            ("connector", &self.connector),
            ("tenant", &self.tenant),
            ("source", &self.source),
            ("class", &self.class),
            ("signature", &self.signature),
        ];
        for (field, value) in text_fields {
            if let Some(value) = value {
                if value.is_empty() || value.chars().count() > MAX_FILTER_VALUE_CHARS {
                    return Err(FilterError {
                        field,
                        message: format!(
                            "must be 1 to {MAX_FILTER_VALUE_CHARS} characters (omit it to match any)"
                        ),
                    });
                }
            }
        }
        if let Some(search) = &self.search {
            if search.trim().is_empty() || search.chars().count() > MAX_SEARCH_CHARS {
                return Err(FilterError {
                    field: "search",
                    message: format!("must be 1 to {MAX_SEARCH_CHARS} characters"),
                });
            }
        }
        if let (Some(since), Some(until)) = (self.since, self.until) {
            if since >= until {
                return Err(FilterError {
                    field: "since",
                    message: "must be before until".into(),
                });
            }
        }
        for (field, value) in [
            ("min_attempts", self.min_attempts),
            ("max_attempts", self.max_attempts),
        ] {
            if value.is_some_and(|attempts| attempts < 0) {
                return Err(FilterError {
                    field,
                    message: "must not be negative".into(),
                });
            }
        }
        if let (Some(min), Some(max)) = (self.min_attempts, self.max_attempts) {
            if min > max {
                return Err(FilterError {
                    field: "min_attempts",
                    message: "must not exceed max_attempts".into(),
                });
            }
        }
        if let Some(ids) = &self.ids {
            if ids.is_empty() || ids.len() > MAX_SELECTED_IDS {
                return Err(FilterError {
                    field: "ids",
                    message: format!("select 1 to {MAX_SELECTED_IDS} letters"),
                });
            }
        }
        Ok(())
    }

    /// Whether nothing narrows the filter (an action on it would touch every letter).
    pub fn is_empty(&self) -> bool {
        *self == DeadLetterFilter::default()
    }

    /// The values for `$1..$12` of [`FILTER_SQL`].
    pub(crate) fn params(&self) -> FilterParams<'_> {
        FilterParams {
            status: self.status.map(DeadLetterStatus::as_str),
            filter: self,
        }
    }
}

/// Borrowed parameter values of a filter, ready to bind.
pub(crate) struct FilterParams<'a> {
    status: Option<&'static str>,
    filter: &'a DeadLetterFilter,
}

impl FilterParams<'_> {
    /// The parameters followed by `extra` (numbered from `$13`).
    pub(crate) fn with<'b>(
        &'b self,
        extra: &[&'b (dyn ToSql + Sync)],
    ) -> Vec<&'b (dyn ToSql + Sync)> {
        let filter = self.filter;
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![
            &self.status,
            &filter.connector,
            &filter.tenant,
            &filter.source,
            &filter.class,
            &filter.signature,
            &filter.search,
            &filter.since,
            &filter.until,
            &filter.min_attempts,
            &filter.max_attempts,
            &filter.ids,
        ];
        debug_assert_eq!(params.len(), FILTER_PARAMS);
        params.extend_from_slice(extra);
        params
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_name_the_field() {
        let filter = DeadLetterFilter {
            search: Some("x".repeat(MAX_SEARCH_CHARS + 1)),
            ..Default::default()
        };
        assert_eq!(filter.validate().unwrap_err().field, "search");
        let filter = DeadLetterFilter {
            min_attempts: Some(3),
            max_attempts: Some(1),
            ..Default::default()
        };
        assert_eq!(filter.validate().unwrap_err().field, "min_attempts");
        let filter = DeadLetterFilter {
            ids: Some(vec![]),
            ..Default::default()
        };
        assert_eq!(filter.validate().unwrap_err().field, "ids");
        assert!(DeadLetterFilter::default().validate().is_ok());
        assert!(DeadLetterFilter::default().is_empty());
    }

    #[test]
    fn serializes_only_what_narrows() {
        let filter = DeadLetterFilter {
            status: Some(DeadLetterStatus::Pending),
            class: Some("auth".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&filter).unwrap(),
            serde_json::json!({"status": "pending", "class": "auth"})
        );
    }
}
