//! The connector: one request per page, with the URL, pagination and record shape all taken
//! from the settings.

use crate::settings::{GenericHttpSettings, Pagination};
use crate::template::UrlTemplate;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use std::fmt;
use std::time::Duration;
use tributary_connector::typed::{TypedConnector, TypedPage, TypedPull};
use tributary_connector::{
    async_trait, ConfigError, ConnectorError, Cursor, RatePolicy, Record, StreamInfo, StreamName,
    TenantId, Window,
};
use tributary_connector_http::{
    with_context, HeaderMap, HttpClient, JsonResponse, LinkPaginator, OffsetPaginator, PageFacts,
    PageNumberPaginator, TokenPaginator, Url,
};

/// The paginator of the configured style.
#[derive(Debug, Clone)]
enum Paginator {
    Page(PageNumberPaginator),
    Offset(OffsetPaginator),
    Token {
        paginator: TokenPaginator,
        next_path: String,
    },
    Link(LinkPaginator),
}

impl Paginator {
    fn new(pagination: Pagination) -> Self {
        match pagination {
            Pagination::PageNumber {
                page_param,
                size_param,
                page_size,
                first_page,
            } => Self::Page(
                PageNumberPaginator::new(page_size)
                    .with_params(&page_param, &size_param)
                    .starting_at(first_page),
            ),
            Pagination::Offset {
                offset_param,
                limit_param,
                page_size,
            } => Self::Offset(
                OffsetPaginator::new(page_size).with_params(&offset_param, &limit_param),
            ),
            Pagination::Cursor {
                cursor_param,
                next_cursor_path,
            } => Self::Token {
                paginator: TokenPaginator::new(&cursor_param),
                next_path: next_cursor_path,
            },
            Pagination::LinkHeader => Self::Link(LinkPaginator::new()),
        }
    }
}

/// Pulls records from a JSON API described by [`GenericHttpSettings`]. Cheap to share: the
/// client pools connections.
pub struct GenericHttp {
    template: UrlTemplate,
    streams: Vec<StreamName>,
    paginator: Paginator,
    records_path: String,
    id_field: String,
    updated_at_field: Option<String>,
    since_param: Option<String>,
    before_param: Option<String>,
    rate_policy: RatePolicy,
    client: HttpClient,
}

impl fmt::Debug for GenericHttp {
    /// No credential: the template without its query, and the client (which shows none).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GenericHttp")
            .field("url_template", &self.template.display())
            .field("streams", &self.streams)
            .field("paginator", &self.paginator)
            .field("records_path", &self.records_path)
            .field("id_field", &self.id_field)
            .field("updated_at_field", &self.updated_at_field)
            .field("rate_policy", &self.rate_policy)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

/// The records of one response, and what the paginator needs of it.
struct Extracted {
    /// The records to return (those outside the window dropped, when filtered here).
    records: Vec<Record>,
    /// Records on the page as served.
    served: usize,
    /// The id of the page's last record as served.
    last_id: Option<String>,
    /// The next token, for the cursor style.
    next_token: Option<String>,
}

#[async_trait]
impl TypedConnector for GenericHttp {
    const KIND: &'static str = "http_json";
    const DESCRIPTION: &'static str =
        "Records from any paginated JSON API, described entirely by settings.";
    type Settings = GenericHttpSettings;
    type Cursor = Cursor;

    fn from_settings(settings: GenericHttpSettings) -> Result<Self, ConfigError> {
        let config_error = |message: String| ConfigError {
            kind: Self::KIND.to_owned(),
            message,
        };
        let mut problems = settings.problems();
        let template = match UrlTemplate::parse(&settings.url_template) {
            Ok(template) => Some(template),
            Err(found) => {
                problems.extend(found);
                None
            }
        };
        if let Some(template) = &template {
            if settings.streams.len() > 1 && !template.has_stream() {
                problems.push(
                    "$.url_template: lists no `{stream}`, so every stream would read the same URL"
                        .to_owned(),
                );
            }
        }
        let (Some(template), true) = (template, problems.is_empty()) else {
            return Err(config_error(problems.join("; ")));
        };
        let streams = settings
            .streams
            .iter()
            .map(|name| StreamName::new(name.as_str()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| config_error(format!("$.streams: {error}")))?;
        let mut builder = HttpClient::builder(concat!(
            "tributary-connector-generic-http/",
            env!("CARGO_PKG_VERSION")
        ))
        .timeout(Duration::from_millis(settings.timeout_ms))
        .header("accept", "application/json");
        if let Some(auth) = &settings.auth {
            // Marked sensitive, and scrubbed from every error message should the API echo it.
            builder = builder.secret_header(&auth.header, &auth.value);
        }
        let client = builder
            .build()
            .map_err(|error| config_error(error.to_string()))?;
        let rate_policy = settings
            .rate_limit
            .map_or_else(RatePolicy::default, |rate| RatePolicy {
                requests_per_second: rate.requests_per_second,
                burst: rate.burst,
            });
        Ok(Self {
            template,
            streams,
            paginator: Paginator::new(settings.pagination),
            records_path: settings.records_path,
            id_field: settings.id_field,
            updated_at_field: settings.updated_at_field,
            since_param: settings.updated_since_param,
            before_param: settings.updated_before_param,
            rate_policy,
            client,
        })
    }

    fn streams(&self) -> Vec<StreamInfo> {
        self.streams
            .iter()
            .map(|name| StreamInfo {
                name: name.clone(),
                description: format!("`{name}` records from the configured JSON API."),
            })
            .collect()
    }

    fn rate_policy(&self) -> RatePolicy {
        self.rate_policy
    }

    /// The first page of the first stream proves the URL, the network, the credential and the
    /// records path.
    async fn check(&self, tenant: &TenantId) -> Result<(), ConnectorError> {
        let Some(stream) = self.streams.first() else {
            return Err(ConnectorError::Config {
                message: "no streams are configured".to_owned(),
            });
        };
        self.fetch(tenant, stream, None, &Window::default())
            .await
            .map(drop)
    }

    async fn pull(
        &self,
        request: TypedPull<'_, Cursor>,
    ) -> Result<TypedPage<Cursor>, ConnectorError> {
        if !self.streams.contains(request.stream) {
            let known: Vec<&str> = self.streams.iter().map(StreamName::as_str).collect();
            return Err(ConnectorError::Config {
                message: format!(
                    "unknown stream `{}`; this source has {}",
                    request.stream,
                    known.join(", ")
                ),
            });
        }
        let cursor = request.cursor.as_ref();
        let (url, response, extracted) = self
            .fetch(request.tenant, request.stream, cursor, request.window)
            .await?;
        let next_cursor = self
            .next_cursor(cursor, &url, &response.headers, &extracted)
            .map_err(|error| with_context(&response.request, error))?;
        Ok(TypedPage {
            records: extracted.records,
            next_cursor,
            rate_limit: response.rate_limit,
        })
    }
}

impl GenericHttp {
    /// Requests one page and takes its records out of the body.
    async fn fetch(
        &self,
        tenant: &TenantId,
        stream: &StreamName,
        cursor: Option<&Cursor>,
        window: &Window,
    ) -> Result<(Url, JsonResponse<()>, Extracted), ConnectorError> {
        let url = self.page_url(self.template.render(tenant, stream)?, cursor, window)?;
        let no_query: &[(&str, &str)] = &[];
        let response = self
            .client
            .get_json::<Value, _>(url.clone(), no_query, HeaderMap::new())
            .await?;
        let JsonResponse {
            body,
            headers,
            status,
            rate_limit,
            request,
            body_bytes,
        } = response;
        let extracted = self
            .extract(body, window)
            .map_err(|error| with_context(&request, error))?;
        let response = JsonResponse {
            body: (),
            headers,
            status,
            rate_limit,
            request,
            body_bytes,
        };
        Ok((url, response, extracted))
    }

    /// The URL of the page at `cursor`: the stream's URL with the paging and window
    /// parameters, or for the Link style the next link the cursor holds.
    fn page_url(
        &self,
        base: Url,
        cursor: Option<&Cursor>,
        window: &Window,
    ) -> Result<Url, ConnectorError> {
        let mut query = match &self.paginator {
            Paginator::Page(paginator) => paginator.query(cursor)?,
            Paginator::Offset(paginator) => paginator.query(cursor)?,
            Paginator::Token { paginator, .. } => paginator.query(cursor)?,
            // The next link carries the whole query, window included.
            Paginator::Link(paginator) if cursor.is_some() => return paginator.url(cursor, &base),
            Paginator::Link(_) => Vec::new(),
        };
        let at = |time: DateTime<Utc>| time.to_rfc3339_opts(SecondsFormat::Secs, true);
        if let (Some(param), Some(from)) = (&self.since_param, window.from) {
            query.push((param.clone(), at(from)));
        }
        if let (Some(param), Some(to)) = (&self.before_param, window.to) {
            query.push((param.clone(), at(to)));
        }
        let mut url = base;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// The records (and the next token) of a body.
    fn extract(&self, mut body: Value, window: &Window) -> Result<Extracted, ConnectorError> {
        let next_token = match &self.paginator {
            Paginator::Token { next_path, .. } => match body.pointer(next_path) {
                None | Some(Value::Null) => None,
                Some(Value::String(token)) => Some(token.clone()),
                Some(Value::Number(number)) => Some(number.to_string()),
                Some(other) => {
                    return Err(ConnectorError::Malformed {
                        message: format!(
                            "the next cursor at `{next_path}` is {}, not a string",
                            kind(other)
                        ),
                    })
                }
            },
            _ => None,
        };
        let items = match body.pointer_mut(&self.records_path).map(Value::take) {
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(ConnectorError::Malformed {
                    message: format!(
                        "`{}` in the body is {}, not an array of records",
                        self.records_path,
                        kind(&other)
                    ),
                })
            }
            None => {
                return Err(ConnectorError::Malformed {
                    message: format!("the body has no `{}` (the records path)", self.records_path),
                })
            }
        };
        let served = items.len();
        let mut last_id = None;
        let mut records = Vec::with_capacity(served);
        for (index, data) in items.into_iter().enumerate() {
            let record = self.record(index, data)?;
            last_id = Some(record.external_id.clone());
            if self.keep(&record, window) {
                records.push(record);
            }
        }
        Ok(Extracted {
            records,
            served,
            last_id,
            next_token,
        })
    }

    /// One element of the records array into a record.
    fn record(&self, index: usize, data: Value) -> Result<Record, ConnectorError> {
        let id_field = &self.id_field;
        let external_id = match data.pointer(id_field) {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            Some(Value::Number(id)) => id.to_string(),
            None | Some(Value::Null) => {
                return Err(ConnectorError::Malformed {
                    message: format!("record {index} of the page has no id at `{id_field}`"),
                })
            }
            Some(other) => {
                return Err(ConnectorError::Malformed {
                    message: format!(
                    "record {index} of the page has {} at `{id_field}`, not a string or number id",
                    kind(other)
                ),
                })
            }
        };
        let updated_at = match &self.updated_at_field {
            None => None,
            Some(field) => match data.pointer(field) {
                None | Some(Value::Null) => None,
                Some(value) => Some(timestamp(value).ok_or_else(|| ConnectorError::Malformed {
                    message: format!(
                        "record {index} of the page (id `{external_id}`) has {} at `{field}`, not an RFC 3339 time or unix seconds",
                        kind(value)
                    ),
                })?),
            },
        };
        Ok(Record {
            external_id,
            updated_at,
            // The settings name no creation field (yet); reconciliation windows use none.
            created_at: None,
            data,
        })
    }

    /// Whether a record belongs in the window: the API filtered what it was asked to, and
    /// a bound it was not asked about is applied here when the record says when it changed.
    fn keep(&self, record: &Record, window: &Window) -> bool {
        let Some(at) = record.updated_at else {
            return true;
        };
        let after_start = self.since_param.is_some() || window.from.is_none_or(|from| at >= from);
        let before_end = self.before_param.is_some() || window.to.is_none_or(|to| at < to);
        after_start && before_end
    }

    /// The cursor after the page at `cursor`, by the configured style.
    fn next_cursor(
        &self,
        cursor: Option<&Cursor>,
        requested: &Url,
        headers: &HeaderMap,
        page: &Extracted,
    ) -> Result<Option<Cursor>, ConnectorError> {
        let facts =
            || PageFacts::new(page.served, page.last_id.as_deref()).with_totals_from(headers);
        match &self.paginator {
            Paginator::Page(paginator) => paginator.next(cursor, &facts()),
            Paginator::Offset(paginator) => paginator.next(cursor, &facts()),
            Paginator::Token { paginator, .. } => {
                paginator.next(cursor, page.next_token.as_deref(), None)
            }
            Paginator::Link(paginator) => paginator.next(cursor, requested, headers),
        }
    }
}

/// RFC 3339, or unix seconds as a number or a string of digits.
fn timestamp(value: &Value) -> Option<DateTime<Utc>> {
    let from_seconds = |seconds: f64| {
        let whole = seconds.floor();
        let nanos = ((seconds - whole) * 1e9).round() as u32;
        DateTime::from_timestamp(whole as i64, nanos.min(999_999_999))
    };
    match value {
        Value::Number(number) => from_seconds(number.as_f64()?),
        Value::String(text) => match DateTime::parse_from_rfc3339(text) {
            Ok(at) => Some(at.with_timezone(&Utc)),
            Err(_) => from_seconds(text.trim().parse::<f64>().ok().filter(|s| s.is_finite())?),
        },
        _ => None,
    }
}

/// A JSON value's kind, for messages (never the value: it may be large or personal).
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_are_rfc3339_or_unix_seconds() {
        let at = DateTime::parse_from_rfc3339("2024-06-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(timestamp(&json!("2024-06-01T00:00:00Z")), Some(at));
        assert_eq!(timestamp(&json!("2024-06-01T02:00:00+02:00")), Some(at));
        assert_eq!(timestamp(&json!(at.timestamp())), Some(at));
        assert_eq!(timestamp(&json!(at.timestamp().to_string())), Some(at));
        assert_eq!(timestamp(&json!("yesterday")), None);
        assert_eq!(timestamp(&json!(true)), None);
    }
}
