//! The shop over real HTTP on a loopback port: pagination, errors, headers, faults, admin
//! routes, and the binary's start-up line and clean shutdown.

use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;
use tributary_demo_shop::{spawn, Faults, ScriptedFault, ShopConfig, ShopHandle, Stream};

async fn small_shop() -> ShopHandle {
    spawn(ShopConfig::with_volume(600, 120, 40)).await.unwrap()
}

async fn get(shop: &ShopHandle, path_and_query: &str) -> reqwest::Response {
    reqwest::get(format!("{}{path_and_query}", shop.url()))
        .await
        .unwrap()
}

async fn error_code(response: reqwest::Response) -> String {
    let body: Value = response.json().await.unwrap();
    body["error"]["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn pages_walk_the_stream_with_opaque_cursors_and_budget_headers() {
    let shop = small_shop().await;
    let mut cursor: Option<String> = None;
    let mut ids = Vec::new();
    loop {
        let query = match &cursor {
            Some(cursor) => format!("?limit=250&cursor={cursor}"),
            None => "?limit=250".to_owned(),
        };
        let response = get(&shop, &format!("/v1/tenants/acme/orders{query}")).await;
        assert_eq!(response.status(), StatusCode::OK);
        for header in [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
        ] {
            let value = response.headers()[header].to_str().unwrap();
            value.parse::<u64>().unwrap();
        }
        let page: Value = response.json().await.unwrap();
        ids.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|order| order["id"].as_str().unwrap().to_owned()),
        );
        if !page["has_more"].as_bool().unwrap() {
            assert!(page["next_cursor"].is_null());
            break;
        }
        cursor = Some(page["next_cursor"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 600);
    let stats = shop.stats();
    assert_eq!(stats.records_served.orders, 600);
    assert_eq!(stats.pages_served, 3);
    assert_eq!(stats.responses_by_status[&200], 3);
    assert_eq!(shop.request_log().len(), 3);
}

#[tokio::test]
async fn the_same_seed_serves_the_same_bytes() {
    let first = small_shop().await;
    let second = small_shop().await;
    for stream in ["orders", "customers", "products"] {
        let path = format!("/v1/tenants/acme/{stream}?limit=50");
        let a = get(&first, &path).await.bytes().await.unwrap();
        let b = get(&second, &path).await.bytes().await.unwrap();
        assert_eq!(a, b, "{stream}");
    }
}

#[tokio::test]
async fn bad_requests_get_error_bodies() {
    let shop = small_shop().await;
    let response = get(&shop, "/v1/tenants/acme/orders?limit=251").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(response).await, "invalid_parameter");

    let response = get(&shop, "/v1/tenants/acme/orders?cursor=garbage").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(response).await, "invalid_cursor");

    let response = get(&shop, "/v1/tenants/acme/orders?updated_since=yesterday").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let response = get(&shop, "/v1/tenants/acme/invoices").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.headers().contains_key("x-ratelimit-remaining"));
    assert_eq!(error_code(response).await, "unknown_stream");

    let response = get(&shop, "/v1/tenants/locked-acme/orders").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(response).await, "unauthorized");

    let response = get(&shop, "/v2/nothing").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(response).await, "not_found");
}

#[tokio::test]
async fn scripted_faults_apply_in_order_to_data_routes_only() {
    let shop = small_shop().await;
    shop.script([
        ScriptedFault::rate_limited(7),
        ScriptedFault::status(503),
        ScriptedFault::Malformed,
    ]);
    // Admin routes never consume or suffer faults.
    let stats = get(&shop, "/_admin/stats").await;
    assert_eq!(stats.status(), StatusCode::OK);

    let response = get(&shop, "/v1/tenants/acme/orders").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "7");
    assert_eq!(error_code(response).await, "rate_limited");

    let response = get(&shop, "/v1/tenants/acme/orders").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);

    let response = get(&shop, "/v1/tenants/acme/orders").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.bytes().await.unwrap();
    assert!(serde_json::from_slice::<Value>(&body).is_err());

    let response = get(&shop, "/v1/tenants/acme/orders").await;
    assert_eq!(response.status(), StatusCode::OK);

    let faults = shop.stats().faults;
    assert_eq!(
        (faults.rate_limited, faults.server_error, faults.malformed),
        (1, 1, 1)
    );
    assert_eq!(
        shop.stats().records_served.orders,
        100,
        "only the good page counts"
    );
}

#[tokio::test]
async fn a_hang_outlasts_a_client_timeout_and_is_logged() {
    let shop = small_shop().await;
    shop.script([ScriptedFault::hang(Duration::from_secs(30))]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let error = client
        .get(format!("{}/v1/tenants/acme/orders", shop.url()))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_timeout());
    assert_eq!(shop.stats().faults.hang, 1);
    // Shutdown cuts the hang short instead of waiting 30 s.
    tokio::time::timeout(Duration::from_secs(5), shop.shutdown())
        .await
        .expect("shutdown waited for the hang")
        .unwrap();
}

#[tokio::test]
async fn admin_routes_set_faults_bump_epochs_and_count() {
    let shop = small_shop().await;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/_admin/faults", shop.url()))
        .json(&serde_json::json!({"p429": 1.0, "retry_after_secs": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = get(&shop, "/v1/tenants/acme/products").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "3");
    let response = client
        .post(format!("{}/_admin/faults", shop.url()))
        .json(&serde_json::json!({"p429": 2.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    shop.set_faults(Faults::default()).unwrap();

    let response = client
        .post(format!("{}/_admin/script", shop.url()))
        .json(&serde_json::json!([{"kind": "status", "status": 401}]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = get(&shop, "/v1/tenants/acme/products").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let epoch: Value = client
        .post(format!("{}/_admin/epoch", shop.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(epoch["epoch"], 1);
    let since = shop
        .reference_time()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let totals: Value = get(
        &shop,
        &format!("/_admin/totals?tenant=acme&updated_since={since}"),
    )
    .await
    .json()
    .await
    .unwrap();
    let changed = totals["orders"].as_u64().unwrap();
    assert!(
        changed > 20 && changed < 110,
        "{changed} of 600 orders changed"
    );
    let page: Value = get(
        &shop,
        &format!("/v1/tenants/acme/orders?limit=250&updated_since={since}"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(page["data"].as_array().unwrap().len() as u64, changed);
    assert_eq!(shop.total("acme", Stream::Orders), 600);

    let log: Value = get(&shop, "/_admin/requests").await.json().await.unwrap();
    assert_eq!(
        log.as_array().unwrap().len(),
        3,
        "only data requests are logged"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn the_binary_prints_its_address_and_stops_on_sigterm() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tributary-demo-shop"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--orders",
            "10",
            "--customers",
            "5",
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(30),
        BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .unwrap()
    .unwrap();
    let url = line
        .trim()
        .strip_prefix("demo shop listening on ")
        .unwrap()
        .to_owned();
    assert!(!url.ends_with(":0"), "{url}");
    let page: Value = reqwest::get(format!("{url}/v1/tenants/acme/orders"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 10);

    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn the_binary_refuses_remote_addresses_unless_allowed() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tributary-demo-shop"))
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--allow-remote"));
}

#[tokio::test]
async fn empty_and_huge_tenants_over_http() {
    let shop = small_shop().await;
    let page: Value = get(&shop, "/v1/tenants/empty-acme/orders?limit=250")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        page,
        serde_json::json!({"data": [], "has_more": false, "next_cursor": null})
    );
    let totals: Value = get(&shop, "/_admin/totals?tenant=empty-acme")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&totals["orders"], &totals["customers"], &totals["products"]),
        (&Value::from(0), &Value::from(0), &Value::from(0))
    );

    let response = get(&shop, "/v1/tenants/huge-acme/customers?limit=100").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.bytes().await.unwrap();
    assert!(body.len() > 3 * 1024 * 1024, "{} bytes", body.len());
    let page: Value = serde_json::from_slice(&body).unwrap();
    let records = page["data"].as_array().unwrap();
    assert_eq!(records.len(), 100);
    let id = records[7]["id"].as_str().unwrap();
    assert_eq!(
        shop.shop()
            .record("huge-acme", Stream::Customers, id)
            .as_ref(),
        Some(&records[7])
    );
}
