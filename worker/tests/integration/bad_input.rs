//! Bad input gets a precise dead letter and loses nothing: malformed JSON, the wrong shape, an
//! unknown envelope version, an unknown connector or source, an oversized message.

use crate::helpers::{wait_for, TestApp};
use std::time::Duration;
use tributary_broker::lapin::BasicProperties;
use tributary_demo_shop::ShopConfig;

async fn dead_letters(app: &TestApp, count: i64) -> Vec<(String, String, i64)> {
    wait_for("dead letters", Duration::from_secs(30), || async {
        let client = app.store.pool().get().await.unwrap();
        let rows = client
            .query(
                "SELECT class, reason, length(payload)::bigint FROM dead_letters ORDER BY id",
                &[],
            )
            .await
            .unwrap();
        (rows.len() as i64 >= count).then(|| {
            rows.iter()
                .map(|row| (row.get(0), row.get(1), row.get(2)))
                .collect()
        })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_each_end_as_a_dead_letter_with_their_class() {
    let mut app = TestApp::new(ShopConfig::with_volume(10, 10, 10)).await;
    app.settings.worker.max_message_bytes = 64 * 1024;
    app.start_worker().await;

    app.publish_raw(b"{not json", BasicProperties::default())
        .await;
    app.publish_raw(br#"{"hello": "world"}"#, BasicProperties::default())
        .await;

    let mut unknown_version = serde_json::to_value(app.pull_job("acme", "orders")).unwrap();
    unknown_version["version"] = 99.into();
    app.publish_raw(
        &serde_json::to_vec(&unknown_version).unwrap(),
        BasicProperties::default(),
    )
    .await;

    let mut unknown_connector = serde_json::to_value(app.pull_job("acme", "orders")).unwrap();
    unknown_connector["connector"] = "sendgrid".into();
    app.publish_raw(
        &serde_json::to_vec(&unknown_connector).unwrap(),
        BasicProperties::default(),
    )
    .await;

    let mut unknown_source = serde_json::to_value(app.pull_job("acme", "orders")).unwrap();
    unknown_source["source"] = "nowhere".into();
    app.publish_raw(
        &serde_json::to_vec(&unknown_source).unwrap(),
        BasicProperties::default(),
    )
    .await;

    let oversized = vec![b'x'; 200 * 1024];
    app.publish_raw(&oversized, BasicProperties::default())
        .await;

    let letters = dead_letters(&app, 6).await;
    let find = |class: &str| {
        letters
            .iter()
            .find(|(c, _, _)| c == class)
            .unwrap_or_else(|| panic!("no dead letter of class {class}: {letters:?}"))
    };
    assert!(letters
        .iter()
        .any(|(c, r, _)| c == "malformed_job" && r.contains("not valid JSON")));
    assert!(letters
        .iter()
        .any(|(c, r, _)| c == "malformed_job" && r.contains("not a job envelope")));
    assert!(letters
        .iter()
        .any(|(c, r, _)| c == "malformed_job" && r.contains("unsupported envelope version 99")));
    assert_eq!(
        find("unknown_connector").1,
        "unknown connector kind `sendgrid`; known kinds: demo, stripe, shopify, woocommerce, http_json, postgres"
    );
    assert!(find("unknown_source")
        .1
        .contains("source `nowhere` is not configured"));
    let (_, reason, stored_bytes) = find("oversized");
    assert!(
        reason.contains("204800 bytes; the limit is 65536"),
        "{reason}"
    );
    assert_eq!(*stored_bytes, 204_800, "the original is kept");
    assert_eq!(letters.len(), 6);

    // Nothing is left on the work queue and the worker is still consuming.
    let job = app.pull_job("acme", "orders");
    app.enqueue(std::slice::from_ref(&job)).await;
    app.wait_for_runs(&[job.job_id.as_uuid()], Duration::from_secs(30))
        .await;
    assert_eq!(app.stored("acme", "orders").await, 10);
    app.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_malformed_message_is_stored_once() {
    let mut app = TestApp::new(ShopConfig::with_volume(0, 0, 0)).await;
    let properties = BasicProperties::default().with_message_id("same-message".into());
    app.publish_raw(b"garbage", properties.clone()).await;
    app.publish_raw(b"garbage", properties).await;
    app.start_worker().await;
    dead_letters(&app, 1).await;
    // Both copies are consumed and acknowledged, but only one row exists.
    wait_for(
        "both copies to be handled",
        Duration::from_secs(30),
        || async {
            let handled = app
                .scalar_i64("SELECT COALESCE(sum(deliveries), 0)::bigint FROM dead_letters")
                .await;
            (handled == 2).then_some(())
        },
    )
    .await;
    app.stop_workers().await;
    assert_eq!(app.work_queue_ready().await, 0);
    assert_eq!(app.scalar_i64("SELECT count(*) FROM dead_letters").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unroutable_publish_is_an_error_not_silence() {
    let app = TestApp::new(ShopConfig::with_volume(0, 0, 0)).await;
    // No work queue is bound for this connector kind: `mandatory` returns the message.
    let error = app
        .publisher
        .publish_raw(
            &app.topology.work_exchange(),
            "no-such-connector",
            b"{}",
            BasicProperties::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, tributary_broker::PublishError::Unroutable { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("unroutable"), "{error}");
}
