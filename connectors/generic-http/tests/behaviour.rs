//! What the conformance suite does not cover: settings errors, secrets, windows, record
//! shapes and the rate policy.

mod support;

use serde_json::{json, Value};
use std::sync::Arc;
use support::{settings_for, ticket_time, MockApi, TOKEN};
use tributary_connector::{
    Connector, ConnectorError, ErrorClass, Page, PullRequest, RatePolicy, StreamName, TenantId,
    Window,
};
use tributary_connector_generic_http::{settings_schema, spec};

fn build(settings: &Value) -> Result<Arc<dyn Connector>, String> {
    (spec().build)(settings).map_err(|error| error.to_string())
}

async fn pull_first(
    connector: &dyn Connector,
    tenant: &str,
    stream: &str,
    window: &Window,
) -> Result<Page, ConnectorError> {
    connector
        .pull(PullRequest {
            tenant: &TenantId::new(tenant).unwrap(),
            stream: &StreamName::new(stream).unwrap(),
            cursor: None,
            window,
        })
        .await
}

#[test]
fn every_bad_field_is_reported_with_its_path() {
    let error = build(&json!({
        "url_template": 42,
        "streams": ["tickets", 7],
        "pagination": {"style": "page_number", "page_size": 0},
        "id_field": "/id",
        "timeout_ms": 0,
        "rate_limit": {"requests_per_second": 1.0, "burst": 0},
        "colour": "blue",
    }))
    .unwrap_err();
    for expected in [
        "$.url_template: expected string, found integer 42",
        "$.streams[1]: expected string, found integer 7",
        "$.records_path: missing (required)",
        "$.timeout_ms: 0 is below the minimum 1",
        "$.rate_limit.burst: 0 is below the minimum 1",
        "$.pagination.page_size: 0 is below the minimum 1",
        "$.colour: unknown field",
    ] {
        assert!(error.contains(expected), "`{expected}` not in: {error}");
    }
}

#[test]
fn rules_beyond_the_schema_are_all_reported() {
    let mut settings = settings_for("https://api.example.com", "cursor");
    settings["url_template"] = json!("https://api.example.com/{account}/{stream}/{kind}");
    settings["streams"] = json!(["tickets", "tickets", "bad name"]);
    settings["id_field"] = json!("id");
    settings["pagination"]["next_cursor_path"] = json!("meta.next");
    settings["auth"]["header"] = json!("Bad Header");
    let error = build(&settings).unwrap_err();
    for expected in [
        "$.url_template: unknown placeholder `{account}`",
        "$.url_template: unknown placeholder `{kind}`",
        "$.streams[1]: `tickets` is listed twice",
        "$.streams[2]: ",
        "$.id_field: \"id\" is not a JSON pointer",
        "$.pagination.next_cursor_path: \"meta.next\" is not a JSON pointer",
        "$.auth.header: `Bad Header` is not a valid header name",
    ] {
        assert!(error.contains(expected), "`{expected}` not in: {error}");
    }
    assert!(!error.contains(TOKEN), "{error}");
}

#[test]
fn the_schema_carries_descriptions() {
    let schema = settings_schema();
    let text = schema.to_string();
    for field in [
        "url_template",
        "streams",
        "auth",
        "pagination",
        "records_path",
        "id_field",
    ] {
        let description = schema["properties"][field]["description"].as_str();
        assert!(
            description.is_some_and(|d| !d.is_empty()),
            "{field}: {text}"
        );
    }
    assert!(
        text.contains("page_number") && text.contains("link_header"),
        "{text}"
    );
}

#[tokio::test]
async fn the_auth_value_never_appears_in_debug_or_errors() {
    let mock = MockApi::start("page_number").await;
    let connector = build(&settings_for(mock.url(), "page_number")).unwrap();
    let debug = format!("{connector:?}");
    assert!(!debug.contains("s3cr3t"), "{debug}");

    let settings: tributary_connector_generic_http::GenericHttpSettings =
        serde_json::from_value(settings_for(mock.url(), "page_number")).unwrap();
    let debug = format!("{settings:?}");
    assert!(
        !debug.contains("s3cr3t") && debug.contains("Authorization"),
        "{debug}"
    );

    // A wrong credential, which the API echoes back in its 401 body.
    let wrong = "Bearer wr0ng-but-still-secret-value";
    let mut settings = settings_for(mock.url(), "page_number");
    settings["auth"]["value"] = json!(wrong);
    let connector = build(&settings).unwrap();
    let error = pull_first(&*connector, "acme", "tickets", &Window::default())
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Auth);
    let message = format!("{error} {error:?}");
    assert!(
        !message.contains("wr0ng-but-still-secret-value"),
        "{message}"
    );
    let tenant = TenantId::new("acme").unwrap();
    let error = connector.check(&tenant).await.unwrap_err();
    assert!(!error.to_string().contains("wr0ng"), "{error}");

    // A settings error about the auth object says which field, not the value.
    let mut settings = settings_for(mock.url(), "page_number");
    settings["auth"]["extra"] = json!(true);
    settings["auth"]["value"] = json!("Bearer a-very-long-secret-token-value");
    let error = build(&settings).unwrap_err();
    assert!(error.contains("$.auth.extra: unknown field"), "{error}");
    assert!(!error.contains("secret-token"), "{error}");
}

#[tokio::test]
async fn windows_map_to_the_configured_params() {
    let mock = MockApi::start("page_number").await;
    let connector = build(&settings_for(mock.url(), "page_number")).unwrap();
    let window = Window {
        from: Some(ticket_time(10)),
        to: Some(ticket_time(20)),
    };
    let page = pull_first(&*connector, "acme", "tickets", &window)
        .await
        .unwrap();
    let ids: Vec<&str> = page
        .records
        .iter()
        .map(|r| r.external_id.as_str())
        .collect();
    assert_eq!(ids, (10..20).map(|n| n.to_string()).collect::<Vec<_>>());
    assert!(page.next_cursor.is_none());
    assert_eq!(page.records[0].updated_at, Some(ticket_time(10)));
    let query = mock.queries().pop().unwrap();
    assert!(
        query.contains("updated_since=2024-06-01T00%3A10%3A00Z")
            && query.contains("updated_before=2024-06-01T00%3A20%3A00Z"),
        "{query}"
    );

    // Open ends send nothing.
    pull_first(&*connector, "acme", "tickets", &Window::default())
        .await
        .unwrap();
    let query = mock.queries().pop().unwrap();
    assert!(!query.contains("updated_"), "{query}");
}

#[tokio::test]
async fn without_window_params_records_are_filtered_here() {
    let mock = MockApi::start("offset").await;
    let mut settings = settings_for(mock.url(), "offset");
    let object = settings.as_object_mut().unwrap();
    object.remove("updated_since_param");
    object.remove("updated_before_param");
    let connector = build(&settings).unwrap();
    let window = Window {
        from: Some(ticket_time(5)),
        to: Some(ticket_time(8)),
    };
    // Users carry unix seconds.
    let page = pull_first(&*connector, "acme", "users", &window)
        .await
        .unwrap();
    let ids: Vec<&str> = page
        .records
        .iter()
        .map(|r| r.external_id.as_str())
        .collect();
    assert_eq!(ids, ["u-5", "u-6", "u-7"]);
    assert!(!mock.queries().pop().unwrap().contains("updated_"));
}

#[tokio::test]
async fn a_record_without_an_id_is_malformed_naming_pointer_and_index() {
    let mock = MockApi::start("page_number").await;
    let mut settings = settings_for(mock.url(), "page_number");
    settings["id_field"] = json!("/requester/id");
    let connector = build(&settings).unwrap();
    let error = pull_first(&*connector, "acme", "tickets", &Window::default())
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Malformed, "{error}");
    let message = error.to_string();
    assert!(
        message.contains("record 0") && message.contains("`/requester/id`"),
        "{message}"
    );
}

#[tokio::test]
async fn a_missing_or_non_array_records_path_is_malformed() {
    let mock = MockApi::start("cursor").await;
    for (path, expected) in [
        ("/items", "no `/items`"),
        ("/meta", "an object, not an array"),
    ] {
        let mut settings = settings_for(mock.url(), "cursor");
        settings["records_path"] = json!(path);
        let connector = build(&settings).unwrap();
        let error = pull_first(&*connector, "acme", "tickets", &Window::default())
            .await
            .unwrap_err();
        assert_eq!(error.class(), ErrorClass::Malformed, "{error}");
        assert!(error.to_string().contains(expected), "{error}");
    }
}

#[test]
fn rate_limit_settings_become_the_rate_policy() {
    let mut settings = settings_for("https://api.example.com", "link_header");
    assert_eq!(
        build(&settings).unwrap().rate_policy(),
        RatePolicy::default()
    );
    settings["rate_limit"] = json!({"requests_per_second": 2.5, "burst": 10});
    assert_eq!(
        build(&settings).unwrap().rate_policy(),
        RatePolicy {
            requests_per_second: 2.5,
            burst: 10
        }
    );
}

#[tokio::test]
async fn unknown_streams_are_config_errors_naming_the_known_ones() {
    let connector = build(&settings_for("https://api.example.com", "offset")).unwrap();
    let error = pull_first(&*connector, "acme", "orders", &Window::default())
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Config);
    assert!(error.to_string().contains("tickets, users"), "{error}");
}
