//! The frame of queue-admin against the real stack: it starts, serves its OpenAPI document to
//! a token, refuses the anonymous, and publishes its gauges.

mod support;

use std::time::Duration;
use support::{wait_for, Letter, TestAdmin};
use tributary_queue_admin::auth::Role;

#[tokio::test]
async fn serves_the_openapi_document_to_a_token_and_refuses_the_anonymous() {
    let admin = TestAdmin::start().await;
    let viewer = admin.token(Role::Viewer).await;
    let (status, document) = admin.api_get(&viewer, "/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(
        document["paths"]["/api/v1/overview"]["get"].is_object(),
        "{document}"
    );
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    let anonymous = admin
        .http
        .get(format!("{}/api/v1/openapi.json", admin.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let (status, _) = admin
        .api_get("trb_not-a-real-token", "/api/v1/overview")
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_overview_counts_pending_dead_letters_and_reads_the_broker() {
    let admin = TestAdmin::start().await;
    admin.dead_letter(Letter::new("boom 1")).await;
    let mut auth = Letter::new("401 from the shop");
    auth.class = "auth".into();
    admin.dead_letter(auth).await;
    let viewer = admin.token(Role::Viewer).await;
    let (status, overview) = admin.api_get(&viewer, "/api/v1/overview").await;
    assert_eq!(status, 200, "{overview}");
    let classes: Vec<(String, i64)> = overview["dead_letters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["class"].as_str().unwrap().to_owned(),
                row["letters"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        classes,
        vec![("auth".to_owned(), 1), ("permanent".to_owned(), 1)]
    );
    // queue-admin declared the topology's shared part (exchanges, tiers, the dead queue).
    assert!(overview["broker_error"].is_null(), "{overview}");
    let queues: Vec<&str> = overview["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|queue| queue["name"].as_str().unwrap())
        .collect();
    let dead_queue = format!("{}.dead", admin.settings.amqp.prefix);
    assert!(queues.contains(&dead_queue.as_str()), "{queues:?}");
}

#[tokio::test]
async fn gauges_follow_the_dead_letters() {
    let admin = TestAdmin::start().await;
    admin.dead_letter(Letter::new("boom")).await;
    admin.dead_letter(Letter::new("boom again")).await;
    // One refresh sets the database gauges, then asks the broker: wait for both.
    let metrics = wait_for(
        "the pending and broker gauges",
        Duration::from_secs(10),
        || async {
            let text = admin.metrics().await;
            let lines: Vec<&str> = text.lines().collect();
            (lines.contains(&"tributary_dead_letters_pending{class=\"permanent\"} 2")
                && lines.contains(&"tributary_broker_up 1"))
            .then_some(text)
        },
    )
    .await;
    assert!(
        metrics.contains("tributary_dead_letter_oldest_age_seconds"),
        "{metrics}"
    );
}
