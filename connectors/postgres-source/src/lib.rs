//! The `postgres` connector: pulls rows incrementally from a *source* PostgreSQL database.
//!
//! Each configured stream reads one table, paginated by keyset on `(updated_at, primary key)`:
//!
//! ```sql
//! SELECT pk::text, updated_at, to_jsonb(t) FROM table AS t
//! WHERE updated_at >= window.from AND updated_at < window.to
//!   AND (updated_at, pk) > (cursor.updated_at, cursor.pk::<pk type>)
//! ORDER BY updated_at, pk LIMIT page_size + 1
//! ```
//!
//! * Records: `external_id` is the primary key as text, `updated_at` the column's value, and
//!   `data` the row as `to_jsonb` renders it (any column type works; numerics stay numbers,
//!   `jsonb` columns nest, timestamps become strings).
//! * The cursor (see [`PgCursor`]) carries the last row's `(updated_at, pk)` and the window's
//!   end. The primary key is kept as text and compared after a cast to the column's own type
//!   (looked up once per stream in `pg_attribute`), so the keyset order is the column's order
//!   (`2 < 10` for a `bigint`), the same order `ORDER BY` uses.
//! * An open window (`to == None`) is closed at the run's start with the database's `now()`
//!   and carried in the cursor: a row updated while the run paginates moves past the window's
//!   end and is picked up by the next run, instead of shifting this run's pages.
//! * [`PostgresSource::count_and_checksum`] counts a window and hashes its `(pk, updated_at)`
//!   pairs, for reconciliation.
//!
//! One connection per connector, shared by concurrent pulls (tokio-postgres pipelines them)
//! and reopened after it breaks. The session runs with the configured `statement_timeout` and
//! `TimeZone = UTC`.

mod errors;
mod settings;

use chrono::{DateTime, Utc};
use errors::{classify, scrub};
use serde::{Deserialize, Serialize};
use settings::{Ident, TableName};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;
use tributary_connector::typed::{TypedConnector, TypedPage, TypedPull};
use tributary_connector::{
    async_trait, ConfigError, ConnectorError, ConnectorSpec, RatePolicy, Record, StreamInfo,
    StreamName, TenantId, Window,
};

pub use settings::{PostgresSettings, StreamSettings};

/// The registry entry: one line in `worker/src/connectors.rs` lists it.
pub fn spec() -> ConnectorSpec {
    tributary_connector::typed::spec::<PostgresSource>()
}

/// How long opening a connection may take, unless the URL says (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a stream continues: after the row `(updated_at, pk)`, in the window ending at `to`.
///
/// As cursor text: `t1:{"updated_at":"2024-05-01T10:00:00.123456Z","pk":"42","to":"…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgCursor {
    /// The `updated_at` of the last row served.
    pub updated_at: DateTime<Utc>,
    /// The primary key of the last row served, as text.
    pub pk: String,
    /// The window's (closed) end: the request's `to`, or the database's `now()` at the run's
    /// first page.
    pub to: DateTime<Utc>,
}

/// One configured stream, validated.
#[derive(Debug)]
struct Stream {
    table: TableName,
    primary_key: Ident,
    updated_at: Ident,
    columns: Option<Vec<Ident>>,
}

/// What a stream's table looks like, learned once from `pg_attribute`.
#[derive(Debug)]
struct Shape {
    /// The primary key's type, as `format_type` spells it (`bigint`, `uuid`, …).
    pk_type: String,
    /// The tenant column's type, when there is a tenant column.
    tenant_type: Option<String>,
}

/// Pulls rows from a source PostgreSQL database. Cheap to share: one connection, pipelined.
pub struct PostgresSource {
    config: tokio_postgres::Config,
    password: Option<String>,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    streams: BTreeMap<String, Stream>,
    tenant_column: Option<Ident>,
    page_size: u32,
    statement_timeout_ms: u32,
    client: Mutex<Option<Arc<Client>>>,
    shapes: Mutex<HashMap<String, Arc<Shape>>>,
}

impl fmt::Debug for PostgresSource {
    /// Never the URL: it holds a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresSource")
            .field("streams", &self.streams.keys().collect::<Vec<_>>())
            .field(
                "tenant_column",
                &self.tenant_column.as_ref().map(Ident::name),
            )
            .field("page_size", &self.page_size)
            .field("statement_timeout_ms", &self.statement_timeout_ms)
            .finish_non_exhaustive()
    }
}

/// The password in a `postgres://user:password@host` URL, found without a parser (for
/// scrubbing messages about a URL that does not parse).
fn url_password(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let userinfo = &rest[..rest.find('@')?];
    userinfo.split_once(':').map(|(_, password)| password)
}

#[async_trait]
impl TypedConnector for PostgresSource {
    const KIND: &'static str = "postgres";
    const DESCRIPTION: &'static str =
        "Rows of PostgreSQL tables, incrementally by (updated_at, primary key).";
    type Settings = PostgresSettings;
    type Cursor = PgCursor;

    fn from_settings(settings: PostgresSettings) -> Result<Self, ConfigError> {
        let config_error = |message: String| ConfigError {
            kind: Self::KIND.to_owned(),
            message,
        };
        let mut config = tokio_postgres::Config::from_str(&settings.url).map_err(|error| {
            config_error(scrub(
                &format!("$.url: not a valid PostgreSQL URL: {error}"),
                url_password(&settings.url),
            ))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("tributary-connector-postgres");
        }
        let password = config
            .get_password()
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned());
        if settings.streams.is_empty() {
            return Err(config_error("$.streams: configure at least one".to_owned()));
        }
        let mut streams = BTreeMap::new();
        for (name, stream) in &settings.streams {
            let at =
                |field: &str, why: String| config_error(format!("$.streams.{name}.{field}: {why}"));
            StreamName::new(name.as_str())
                .map_err(|error| config_error(format!("$.streams.{name}: {error}")))?;
            let columns = match &stream.columns {
                None => None,
                Some(columns) if columns.is_empty() => {
                    return Err(at(
                        "columns",
                        "list at least one column, or leave it out for all".to_owned(),
                    ))
                }
                Some(columns) => Some(
                    columns
                        .iter()
                        .map(|column| Ident::parse(column))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|why| at("columns", why))?,
                ),
            };
            streams.insert(
                name.clone(),
                Stream {
                    table: TableName::parse(&stream.table).map_err(|why| at("table", why))?,
                    primary_key: Ident::parse(&stream.primary_key)
                        .map_err(|why| at("primary_key", why))?,
                    updated_at: Ident::parse(&stream.updated_at)
                        .map_err(|why| at("updated_at", why))?,
                    columns,
                },
            );
        }
        let tenant_column = settings
            .tenant_column
            .as_deref()
            .map(Ident::parse)
            .transpose()
            .map_err(|why| config_error(format!("$.tenant_column: {why}")))?;
        Ok(Self {
            config,
            password,
            tls: tls_connector().map_err(config_error)?,
            streams,
            tenant_column,
            page_size: settings.page_size,
            statement_timeout_ms: settings.statement_timeout_ms,
            client: Mutex::new(None),
            shapes: Mutex::new(HashMap::new()),
        })
    }

    fn streams(&self) -> Vec<StreamInfo> {
        self.streams
            .iter()
            .filter_map(|(name, stream)| {
                Some(StreamInfo {
                    name: StreamName::new(name.as_str()).ok()?,
                    description: format!("A row of `{}`.", stream.table),
                })
            })
            .collect()
    }

    /// 20 queries per second, bursts of 5: every page is one indexed query on someone's
    /// production database, and the budget is shared by every worker pulling this source.
    fn rate_policy(&self) -> RatePolicy {
        RatePolicy {
            requests_per_second: 20.0,
            burst: 5,
        }
    }

    /// `SELECT 1`, then for every stream: the table and each configured column exist (named
    /// in the error when not), and one row of it can be read (privileges).
    async fn check(&self, _tenant: &TenantId) -> Result<(), ConnectorError> {
        self.query("SELECT 1", &[], "checking the connection")
            .await?;
        for (name, stream) in &self.streams {
            let shape = self.learn_shape(name, stream).await?;
            self.shapes
                .lock()
                .await
                .insert(name.clone(), Arc::new(shape));
            let mut columns = vec![stream.primary_key.quoted(), stream.updated_at.quoted()];
            columns.extend(stream.columns.iter().flatten().map(Ident::quoted));
            let sql = format!(
                "SELECT {} FROM {} LIMIT 1",
                columns.join(", "),
                stream.table.quoted()
            );
            self.query(&sql, &[], &format!("reading `{}`", stream.table))
                .await?;
        }
        Ok(())
    }

    async fn pull(
        &self,
        request: TypedPull<'_, PgCursor>,
    ) -> Result<TypedPage<PgCursor>, ConnectorError> {
        let (name, stream) = self.stream(request.stream)?;
        let shape = self.shape(name, stream).await?;
        if let Some(cursor) = &request.cursor {
            let foreign = request.window.to.is_some_and(|to| to != cursor.to)
                || request
                    .window
                    .from
                    .is_some_and(|from| cursor.updated_at < from);
            if foreign {
                return Err(ConnectorError::CursorInvalid {
                    message: "the cursor belongs to another window".to_owned(),
                });
            }
        }
        let to = match (&request.cursor, request.window.to) {
            (Some(cursor), _) => cursor.to,
            (None, Some(to)) => to,
            (None, None) => self.now().await?,
        };
        let tenant = request.tenant.as_str().to_owned();
        let mut filter = Filter::new(stream, &to);
        filter.window_and_tenant(
            request.window.from.as_ref(),
            self.tenant_column.as_ref(),
            shape.tenant_type.as_deref(),
            &tenant,
        );
        if let Some(cursor) = &request.cursor {
            let (at, pk) = (filter.param(&cursor.updated_at), filter.param(&cursor.pk));
            filter.conditions.push(format!(
                "(t.{upd}, t.{pk}) > ({at}::timestamptz, {pk_param}::text::{pk_type})",
                upd = stream.updated_at.quoted(),
                pk = stream.primary_key.quoted(),
                pk_param = pk,
                pk_type = shape.pk_type,
            ));
        }
        let sql = format!(
            "SELECT t.{pk}::text AS pk, t.{upd}::timestamptz AS updated_at, {data} AS data \
             FROM {table} AS t WHERE {conditions} ORDER BY t.{upd}, t.{pk} LIMIT {limit}",
            pk = stream.primary_key.quoted(),
            upd = stream.updated_at.quoted(),
            data = data_expression(stream),
            table = stream.table.quoted(),
            conditions = filter.conditions.join(" AND "),
            limit = u64::from(self.page_size) + 1,
        );
        let rows = self
            .query(
                &sql,
                &filter.params,
                &format!("reading a page of `{}`", stream.table),
            )
            .await?;
        let mut records = rows
            .iter()
            .map(|row| {
                let malformed = |error: tokio_postgres::Error| ConnectorError::Malformed {
                    message: format!(
                        "a row of `{}` cannot become a record: {error}",
                        stream.table
                    ),
                };
                Ok(Record {
                    external_id: row.try_get::<_, String>("pk").map_err(malformed)?,
                    updated_at: Some(
                        row.try_get::<_, DateTime<Utc>>("updated_at")
                            .map_err(malformed)?,
                    ),
                    // Tables have no agreed creation column; reconciliation windows use none.
                    created_at: None,
                    data: row
                        .try_get::<_, serde_json::Value>("data")
                        .map_err(malformed)?,
                })
            })
            .collect::<Result<Vec<_>, ConnectorError>>()?;
        let more = records.len() > self.page_size as usize;
        records.truncate(self.page_size as usize);
        let next_cursor = match records.last() {
            Some(last) if more => Some(PgCursor {
                updated_at: last.updated_at.unwrap_or_default(),
                pk: last.external_id.clone(),
                to,
            }),
            _ => None,
        };
        Ok(TypedPage {
            records,
            next_cursor,
            rate_limit: None,
        })
    }
}

impl PostgresSource {
    /// The number of rows `tenant` has in `stream` within `window` (an open end is the
    /// database's `now()`), and a checksum of them: the hex SHA-256 of every row's
    /// `{pk}@{updated_at as microseconds since the epoch}`, joined by `,`, in
    /// `(updated_at, pk)` order — the order and the ids the pull serves, so a client can
    /// compute the same checksum over the records it stored. For reconciliation.
    pub async fn count_and_checksum(
        &self,
        tenant: &TenantId,
        stream: &StreamName,
        window: &Window,
    ) -> Result<(u64, String), ConnectorError> {
        let (name, config) = self.stream(stream)?;
        let shape = self.shape(name, config).await?;
        let to = match window.to {
            Some(to) => to,
            None => self.now().await?,
        };
        let tenant = tenant.as_str().to_owned();
        let mut filter = Filter::new(config, &to);
        filter.window_and_tenant(
            window.from.as_ref(),
            self.tenant_column.as_ref(),
            shape.tenant_type.as_deref(),
            &tenant,
        );
        let sql = format!(
            "SELECT count(*)::bigint AS count, encode(sha256(convert_to(coalesce(string_agg(\
             t.{pk}::text || '@' || (extract(epoch FROM t.{upd}::timestamptz) * 1000000)::bigint::text, \
             ',' ORDER BY t.{upd}, t.{pk}), ''), 'UTF8')), 'hex') AS checksum \
             FROM {table} AS t WHERE {conditions}",
            pk = config.primary_key.quoted(),
            upd = config.updated_at.quoted(),
            table = config.table.quoted(),
            conditions = filter.conditions.join(" AND "),
        );
        let rows = self
            .query(
                &sql,
                &filter.params,
                &format!("counting `{}`", config.table),
            )
            .await?;
        let row = rows.first().ok_or_else(|| ConnectorError::Permanent {
            status: None,
            message: "the count query returned no row".to_owned(),
        })?;
        let count: i64 = row.get("count");
        let checksum: String = row.get("checksum");
        Ok((u64::try_from(count).unwrap_or_default(), checksum))
    }

    fn stream<'s>(
        &'s self,
        stream: &StreamName,
    ) -> Result<(&'s String, &'s Stream), ConnectorError> {
        self.streams
            .get_key_value(stream.as_str())
            .ok_or_else(|| ConnectorError::Config {
                message: format!(
                    "unknown stream `{stream}`; this source has {}",
                    self.streams
                        .keys()
                        .map(|name| format!("`{name}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }

    /// The connection, opened (again) if there is none or it broke.
    async fn client(&self) -> Result<Arc<Client>, ConnectorError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref().filter(|client| !client.is_closed()) {
            return Ok(client.clone());
        }
        *slot = None;
        let secret = self.password.as_deref();
        let doing = "connecting to the source database";
        let (client, connection) = self
            .config
            .connect(self.tls.clone())
            .await
            .map_err(|error| classify(&error, doing, secret))?;
        let password = self.password.clone();
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                let error = scrub(&error.to_string(), password.as_deref());
                tracing::debug!(%error, "source database connection closed");
            }
        });
        client
            .batch_execute(&format!(
                "SET statement_timeout = {}; SET TIME ZONE 'UTC'",
                self.statement_timeout_ms
            ))
            .await
            .map_err(|error| classify(&error, "setting up the session", secret))?;
        let client = Arc::new(client);
        *slot = Some(client.clone());
        Ok(client)
    }

    /// Runs one query; a failure is classified, and a transient one drops the connection.
    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        doing: &str,
    ) -> Result<Vec<tokio_postgres::Row>, ConnectorError> {
        let client = self.client().await?;
        match client.query(sql, params).await {
            Ok(rows) => Ok(rows),
            Err(error) => {
                let error = classify(&error, doing, self.password.as_deref());
                if matches!(error, ConnectorError::Transient { .. }) {
                    let mut slot = self.client.lock().await;
                    if slot.as_ref().is_some_and(|held| Arc::ptr_eq(held, &client)) {
                        *slot = None;
                    }
                }
                Err(error)
            }
        }
    }

    /// The database's clock.
    async fn now(&self) -> Result<DateTime<Utc>, ConnectorError> {
        let rows = self.query("SELECT now()", &[], "reading the clock").await?;
        rows.first()
            .and_then(|row| row.try_get(0).ok())
            .ok_or_else(|| ConnectorError::Permanent {
                status: None,
                message: "`SELECT now()` returned no time".to_owned(),
            })
    }

    /// The stream's table shape, learned at first use.
    async fn shape(&self, name: &str, stream: &Stream) -> Result<Arc<Shape>, ConnectorError> {
        if let Some(shape) = self.shapes.lock().await.get(name) {
            return Ok(shape.clone());
        }
        let shape = Arc::new(self.learn_shape(name, stream).await?);
        self.shapes
            .lock()
            .await
            .insert(name.to_owned(), shape.clone());
        Ok(shape)
    }

    /// Reads the table's columns from `pg_attribute`: the table and every configured column
    /// must exist (the error names them), and `updated_at` must be a timestamp.
    async fn learn_shape(&self, name: &str, stream: &Stream) -> Result<Shape, ConnectorError> {
        let table = stream.table.quoted();
        let rows = self
            .query(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) \
                 FROM pg_attribute a WHERE a.attrelid = to_regclass($1::text) \
                 AND a.attnum > 0 AND NOT a.attisdropped",
                &[&table],
                &format!("looking up `{}`", stream.table),
            )
            .await?;
        if rows.is_empty() {
            return Err(ConnectorError::Config {
                message: format!(
                    "stream `{name}`: table `{}` does not exist (or this role cannot see it)",
                    stream.table
                ),
            });
        }
        let types: HashMap<String, String> =
            rows.iter().map(|row| (row.get(0), row.get(1))).collect();
        let type_of = |what: &str, column: &Ident| {
            types
                .get(column.name())
                .cloned()
                .ok_or_else(|| ConnectorError::Config {
                    message: format!(
                        "stream `{name}`: table `{}` has no column `{}` (the {what})",
                        stream.table,
                        column.name()
                    ),
                })
        };
        let pk_type = type_of("primary_key", &stream.primary_key)?;
        let updated_type = type_of("updated_at", &stream.updated_at)?;
        if !updated_type.starts_with("timestamp") {
            return Err(ConnectorError::Config {
                message: format!(
                    "stream `{name}`: column `{}` of `{}` is `{updated_type}`, not a timestamp",
                    stream.updated_at.name(),
                    stream.table
                ),
            });
        }
        for column in stream.columns.iter().flatten() {
            type_of("columns", column)?;
        }
        let tenant_type = self
            .tenant_column
            .as_ref()
            .map(|column| type_of("tenant_column", column))
            .transpose()?;
        Ok(Shape {
            pk_type,
            tenant_type,
        })
    }
}

/// A `WHERE` clause under construction, with its parameters.
struct Filter<'p> {
    conditions: Vec<String>,
    params: Vec<&'p (dyn ToSql + Sync)>,
    updated_at: String,
}

impl<'p> Filter<'p> {
    /// `updated_at < to`.
    fn new(stream: &Stream, to: &'p DateTime<Utc>) -> Self {
        let mut filter = Self {
            conditions: Vec::new(),
            params: Vec::new(),
            updated_at: format!("t.{}", stream.updated_at.quoted()),
        };
        let to = filter.param(to);
        filter
            .conditions
            .push(format!("{} < {to}::timestamptz", filter.updated_at));
        filter
    }

    /// Adds a parameter; returns its placeholder.
    fn param(&mut self, value: &'p (dyn ToSql + Sync)) -> String {
        self.params.push(value);
        format!("${}", self.params.len())
    }

    /// `updated_at >= from` and `tenant_column = tenant`, where they apply.
    fn window_and_tenant(
        &mut self,
        from: Option<&'p DateTime<Utc>>,
        tenant_column: Option<&Ident>,
        tenant_type: Option<&str>,
        tenant: &'p String,
    ) {
        if let Some(from) = from {
            let from = self.param(from);
            self.conditions
                .push(format!("{} >= {from}::timestamptz", self.updated_at));
        }
        if let (Some(column), Some(column_type)) = (tenant_column, tenant_type) {
            let tenant = self.param(tenant);
            self.conditions.push(format!(
                "t.{} = {tenant}::text::{column_type}",
                column.quoted()
            ));
        }
    }
}

/// The record's data: the whole row, or an object of the configured columns.
fn data_expression(stream: &Stream) -> String {
    match &stream.columns {
        None => "to_jsonb(t)".to_owned(),
        // `jsonb_build_object` takes at most 100 arguments: 50 columns per call.
        Some(columns) => columns
            .chunks(50)
            .map(|chunk| {
                let pairs: Vec<String> = chunk
                    .iter()
                    .map(|column| format!("'{}', t.{}", column.name(), column.quoted()))
                    .collect();
                format!("jsonb_build_object({})", pairs.join(", "))
            })
            .collect::<Vec<_>>()
            .join(" || "),
    }
}

/// A rustls connector trusting the system roots; the URL's `sslmode` decides whether it is used.
fn tls_connector() -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(certificate);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("cannot set up TLS: {error}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_found_for_scrubbing() {
        assert_eq!(url_password("postgres://u:s3cret@h/db"), Some("s3cret"));
        assert_eq!(url_password("postgres://u@h/db"), None);
        assert_eq!(url_password("host=h user=u"), None);
    }

    #[test]
    fn column_lists_become_objects_in_chunks() {
        let stream = Stream {
            table: TableName::parse("t").unwrap(),
            primary_key: Ident::parse("id").unwrap(),
            updated_at: Ident::parse("u").unwrap(),
            columns: Some(
                (0..51)
                    .map(|i| Ident::parse(&format!("c{i}")).unwrap())
                    .collect(),
            ),
        };
        let sql = data_expression(&stream);
        assert!(
            sql.starts_with("jsonb_build_object('c0', t.\"c0\""),
            "{sql}"
        );
        assert!(
            sql.ends_with(" || jsonb_build_object('c50', t.\"c50\")"),
            "{sql}"
        );
    }

    #[test]
    fn a_bad_url_is_a_config_error_without_the_password() {
        let settings: PostgresSettings = serde_json::from_value(serde_json::json!({
            "url": "postgres://u:topsecret@host:notaport/x",
            "streams": {"orders": {"table": "orders", "primary_key": "id", "updated_at": "u"}},
        }))
        .unwrap();
        let error = PostgresSource::from_settings(settings)
            .unwrap_err()
            .to_string();
        assert!(error.contains("$.url"), "{error}");
        assert!(!error.contains("topsecret"), "{error}");
    }
}
