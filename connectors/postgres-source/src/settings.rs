//! The connector's settings, their JSON Schema, and the identifier rules they follow.

use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// Settings, as JSON:
///
/// ```json
/// {
///   "url": "postgres://reader:…@db.internal:5432/shop?sslmode=require",
///   "streams": {
///     "orders": {"table": "public.orders", "primary_key": "id", "updated_at": "updated_at"}
///   },
///   "page_size": 1000,
///   "statement_timeout_ms": 30000,
///   "tenant_column": "account_id"
/// }
/// ```
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresSettings {
    /// The source database as a `postgres://` URL (or `key=value` string). TLS follows its
    /// `sslmode` (`disable`, `prefer` — the default —, `require`), verified against the system
    /// roots. Secret: never printed, logged or echoed in an error.
    pub url: String,
    /// Stream name → the table it reads. Stream names are lowercase letters, digits, `_` and
    /// `-`.
    pub streams: BTreeMap<String, StreamSettings>,
    /// Rows per page.
    #[serde(default = "default_page_size")]
    #[schemars(range(min = 1, max = 10_000))]
    pub page_size: u32,
    /// `statement_timeout` of the connector's session, in milliseconds: a query running longer
    /// is cancelled by the server and the pull fails as transient.
    #[serde(default = "default_statement_timeout_ms")]
    #[schemars(range(min = 1, max = 3_600_000))]
    pub statement_timeout_ms: u32,
    /// A column every configured table has, holding the tenant id: rows are filtered
    /// `WHERE tenant_column = <tenant>` (compared in the column's own type). Without it the
    /// tenant is ignored and every row of the table belongs to every tenant.
    #[serde(default)]
    pub tenant_column: Option<String>,
}

/// One stream: which table, and which columns order it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamSettings {
    /// The table (or view), as `table` or `schema.table`. Each part is an unquoted SQL
    /// identifier (letters, digits, `_`, `$`; not starting with a digit; at most 63 bytes) and
    /// is quoted when used, so it matches case-sensitively: `public.orders`, not `Public.Orders`
    /// for a table created without quotes.
    pub table: String,
    /// The primary key column (one column, unique and not null). Its text form is each
    /// record's `external_id`.
    pub primary_key: String,
    /// The `timestamp`/`timestamptz` column that says when a row last changed (a `timestamp`
    /// without time zone is read as UTC). Rows where it is null are never pulled.
    pub updated_at: String,
    /// The columns to put in each record's data. By default, every column of the row.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
}

impl fmt::Debug for PostgresSettings {
    /// The URL is never printed: it holds a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresSettings")
            .field("streams", &self.streams)
            .field("page_size", &self.page_size)
            .field("statement_timeout_ms", &self.statement_timeout_ms)
            .field("tenant_column", &self.tenant_column)
            .finish_non_exhaustive()
    }
}

fn default_page_size() -> u32 {
    1_000
}

fn default_statement_timeout_ms() -> u32 {
    30_000
}

/// A validated SQL identifier, quoted for use in a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ident(String);

impl Ident {
    /// Accepts an unquoted-style identifier: `[A-Za-z_][A-Za-z0-9_$]*`, at most 63 bytes.
    pub(crate) fn parse(name: &str) -> Result<Self, String> {
        let mut chars = name.chars();
        let valid_start = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        let valid_rest = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
        if !valid_start || !valid_rest || name.len() > 63 {
            return Err(format!(
                "`{name}` is not a plain SQL identifier (letters, digits, `_`, `$`, not starting with a digit, at most 63 bytes)"
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as written.
    pub(crate) fn name(&self) -> &str {
        &self.0
    }

    /// The name double-quoted (it holds no quote, so nothing needs escaping).
    pub(crate) fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

/// A table name: an optional schema and the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableName {
    pub(crate) schema: Option<Ident>,
    pub(crate) table: Ident,
}

impl TableName {
    /// `table` or `schema.table`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        match text.split('.').collect::<Vec<_>>()[..] {
            [table] => Ok(Self {
                schema: None,
                table: Ident::parse(table)?,
            }),
            [schema, table] => Ok(Self {
                schema: Some(Ident::parse(schema)?),
                table: Ident::parse(table)?,
            }),
            _ => Err(format!("`{text}` is not `table` or `schema.table`")),
        }
    }

    /// Quoted for a statement: `"public"."orders"`.
    pub(crate) fn quoted(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{}.{}", schema.quoted(), self.table.quoted()),
            None => self.table.quoted(),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{}.{}", schema.name(), self.table.name()),
            None => f.write_str(self.table.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_validated_and_quoted() {
        assert_eq!(
            Ident::parse("updated_at").unwrap().quoted(),
            "\"updated_at\""
        );
        assert_eq!(Ident::parse("Col$1").unwrap().quoted(), "\"Col$1\"");
        for bad in ["", "1abc", "a b", "a\"b", "a;drop", "é", &"x".repeat(64)] {
            assert!(Ident::parse(bad).is_err(), "{bad}");
        }
        let table = TableName::parse("public.orders").unwrap();
        assert_eq!(table.quoted(), "\"public\".\"orders\"");
        assert_eq!(table.to_string(), "public.orders");
        assert_eq!(TableName::parse("orders").unwrap().quoted(), "\"orders\"");
        assert!(TableName::parse("a.b.c").is_err());
        assert!(TableName::parse("public.").is_err());
        assert!(TableName::parse("public.\"x\"").is_err());
    }
}
