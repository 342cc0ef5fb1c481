//! The mock Stripe over plain HTTP: the shapes, parameters and errors a real Stripe client
//! would see, checked without the connector in between.

use serde_json::Value;
use std::time::Duration;
use tributary_connector_stripe::mock::{spawn, MockConfig, MockFault, MockFaultKind, MockStripe};
use tributary_connector_stripe::{CreatedRange, StripeStream};

async fn get(
    stripe: &MockStripe,
    path_and_query: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{path_and_query}", stripe.url()))
        .bearer_auth(stripe.api_key())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

fn ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|object| object["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn lists_are_stripe_shaped_and_newest_first() {
    let stripe = spawn(MockConfig::default()).await.unwrap();
    let (status, headers, body) = get(&stripe, "/v1/charges").await;
    assert_eq!(status, 200);
    assert!(headers["request-id"].to_str().unwrap().starts_with("req_"));
    assert_eq!(headers["stripe-version"], "2024-06-20");
    assert_eq!(body["object"], "list");
    assert_eq!(body["url"], "/v1/charges");
    assert_eq!(body["has_more"], true);
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 10, "Stripe's default limit");
    let created: Vec<i64> = data
        .iter()
        .map(|c| c["created"].as_i64().unwrap())
        .collect();
    assert!(
        created.windows(2).all(|pair| pair[0] >= pair[1]),
        "{created:?}"
    );

    let charge = &data[0];
    assert_eq!(charge["object"], "charge");
    assert!(charge["amount"].is_i64());
    assert!(charge["currency"].is_string());
    assert!(charge["payment_method_details"]["card"]["last4"].is_string());
    assert!(charge["metadata"].is_object());
    assert!(charge["application"].is_null());

    let (_, _, invoices) = get(&stripe, "/v1/invoices?limit=100").await;
    for invoice in invoices["data"].as_array().unwrap() {
        let customer = invoice["customer"].as_str().unwrap();
        assert!(stripe.object(StripeStream::Customers, customer).is_some());
        assert_eq!(invoice["lines"]["object"], "list");
        let paid = invoice["amount_paid"].as_i64().unwrap();
        assert!(paid == 0 || paid == invoice["total"].as_i64().unwrap());
    }
    let (_, _, customers) = get(&stripe, "/v1/customers?limit=100").await;
    let text = customers.to_string();
    assert!(text.contains("Zoë") || text.contains("Łukasz") || text.contains("佐藤"));
}

#[tokio::test]
async fn cursors_and_created_filters_work_like_stripes() {
    let stripe = spawn(MockConfig::with_volume(60, 5, 0)).await.unwrap();
    let all = stripe.ids(StripeStream::Charges, CreatedRange::ALL);
    let (_, _, page) = get(
        &stripe,
        &format!("/v1/charges?limit=5&starting_after={}", all[9]),
    )
    .await;
    assert_eq!(ids(&page), all[10..15]);
    let (_, _, page) = get(
        &stripe,
        &format!("/v1/charges?limit=5&ending_before={}", all[9]),
    )
    .await;
    assert_eq!(ids(&page), all[4..9]);
    assert_eq!(page["has_more"], true);
    let (_, _, page) = get(
        &stripe,
        &format!("/v1/charges?limit=50&starting_after={}", all[20]),
    )
    .await;
    assert_eq!(ids(&page), all[21..]);
    assert_eq!(page["has_more"], false);

    let created = stripe.object(StripeStream::Charges, &all[30]).unwrap()["created"]
        .as_i64()
        .unwrap();
    let (_, _, page) = get(
        &stripe,
        &format!(
            "/v1/charges?limit=100&created%5Bgt%5D={}&created%5Blte%5D={created}",
            created - 86_400 * 10
        ),
    )
    .await;
    let expected = stripe.ids(
        StripeStream::Charges,
        CreatedRange {
            gte: Some(created - 86_400 * 10 + 1),
            lt: Some(created + 1),
        },
    );
    assert_eq!(ids(&page), expected);
    assert!(ids(&page).contains(&all[30]));
    let (_, _, page) = get(&stripe, &format!("/v1/charges?created={created}")).await;
    assert!(ids(&page).contains(&all[30]));
}

#[tokio::test]
async fn bad_requests_get_stripes_error_bodies() {
    let stripe = spawn(MockConfig::with_volume(3, 1, 0)).await.unwrap();
    for (query, status, param, code) in [
        ("/v1/charges?limit=0", 400, Some("limit"), None),
        ("/v1/charges?limit=101", 400, Some("limit"), None),
        (
            "/v1/charges?limit=ten",
            400,
            Some("limit"),
            Some("parameter_invalid_integer"),
        ),
        (
            "/v1/charges?created%5Bgte%5D=soon",
            400,
            Some("created[gte]"),
            Some("parameter_invalid_integer"),
        ),
        (
            "/v1/charges?expand%5B%5D=data.customer",
            400,
            Some("expand[]"),
            Some("parameter_unknown"),
        ),
        (
            "/v1/charges?starting_after=",
            400,
            Some("starting_after"),
            Some("parameter_invalid_empty"),
        ),
        (
            "/v1/charges?starting_after=ch_nope",
            400,
            Some("starting_after"),
            Some("resource_missing"),
        ),
        (
            "/v1/charges?starting_after=a&ending_before=b",
            400,
            None,
            None,
        ),
        ("/v1/refunds", 404, None, None),
        ("/v2/anything", 404, None, None),
    ] {
        let (got, headers, body) = get(&stripe, query).await;
        assert_eq!(got, status, "{query}: {body}");
        assert!(headers.contains_key("request-id"));
        let error = &body["error"];
        assert_eq!(error["type"], "invalid_request_error", "{query}: {body}");
        assert_eq!(error["param"].as_str(), param, "{query}: {body}");
        assert_eq!(error["code"].as_str(), code, "{query}: {body}");
        assert!(error["message"].as_str().unwrap().len() > 10);
        assert!(error["request_log_url"].as_str().unwrap().contains("req_"));
    }
}

#[tokio::test]
async fn only_the_configured_bearer_key_gets_in() {
    let stripe = spawn(MockConfig::default()).await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/v1/customers", stripe.url());
    for request in [
        client.get(&url),
        client.get(&url).bearer_auth("sk_test_notTheKey1234"),
        client.get(&url).basic_auth(stripe.api_key(), None::<&str>),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["type"], "authentication_error");
    }
    let response = client
        .get(&url)
        .bearer_auth(stripe.api_key())
        .header("Stripe-Account", "not-an-account")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn scripted_faults_counters_and_the_request_log() {
    let stripe = spawn(MockConfig::with_volume(30, 5, 0)).await.unwrap();
    stripe.script([
        MockFault::status(500).with_should_retry(false),
        MockFault::rate_limited(Some(3)),
        MockFault::Malformed,
        MockFault::Hang(Duration::from_millis(50)),
    ]);
    let (status, headers, body) = get(&stripe, "/v1/charges").await;
    assert_eq!(status, 500);
    assert_eq!(headers["stripe-should-retry"], "false");
    assert_eq!(body["error"]["type"], "api_error");
    let (status, headers, body) = get(&stripe, "/v1/charges").await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "3");
    assert_eq!(body["error"]["code"], "rate_limit");
    let (status, _, body) = get(&stripe, "/v1/charges").await;
    assert_eq!(
        (status, body),
        (200, Value::Null),
        "a truncated body is not JSON"
    );
    let (status, _, body) = get(&stripe, "/v1/charges?limit=30").await;
    assert_eq!(status, 200);
    assert_eq!(ids(&body).len(), 30);

    let stats = stripe.stats();
    assert_eq!(stats.requests, 4);
    assert_eq!(stats.faults, 4);
    assert_eq!(stats.pages, 1, "only well-formed pages count");
    assert_eq!(stats.records.charges, 30);
    assert_eq!(stats.responses_by_status.get(&200), Some(&2));
    let log = stripe.request_log();
    let faults: Vec<_> = log.iter().map(|entry| entry.fault).collect();
    assert_eq!(
        faults,
        [
            Some(MockFaultKind::Error),
            Some(MockFaultKind::Error),
            Some(MockFaultKind::Malformed),
            Some(MockFaultKind::Hang)
        ]
    );
    assert_eq!(log[3].path, "/v1/charges?limit=30");
    assert!(log.windows(2).all(|pair| pair[0].at <= pair[1].at));
    stripe.clear_request_log();
    assert!(stripe.request_log().is_empty());
    stripe.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_cuts_a_hang_short() {
    let stripe = spawn(MockConfig::default()).await.unwrap();
    stripe.script([MockFault::Hang(Duration::from_secs(600))]);
    let url = format!("{}/v1/charges", stripe.url());
    let key = stripe.api_key().to_owned();
    let request = tokio::spawn(async move {
        reqwest::Client::new()
            .get(url)
            .bearer_auth(key)
            .send()
            .await
    });
    while stripe.stats().requests == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::timeout(Duration::from_secs(10), stripe.shutdown())
        .await
        .expect("shutdown waits for no hang")
        .unwrap();
    let response = request.await.unwrap().unwrap();
    assert_eq!(response.status(), 503);
}

#[tokio::test]
async fn a_config_with_invoices_but_no_customers_is_refused() {
    let error = spawn(MockConfig::with_volume(1, 0, 1)).await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
}
