//! The `http_json` connector passes the conformance suite, every check included, against the
//! mock API in each pagination style it supports.

mod support;

use support::MockApi;
use tributary_connector_testkit::Conformance;

async fn conforms(style: &'static str) {
    let mock = MockApi::start(style).await;
    Conformance::new(tributary_connector_generic_http::spec(), &mock)
        .require_every_check()
        .run()
        .await;
}

#[tokio::test]
async fn conforms_with_page_numbers() {
    conforms("page_number").await;
}

#[tokio::test]
async fn conforms_with_offsets() {
    conforms("offset").await;
}

#[tokio::test]
async fn conforms_with_body_cursors() {
    conforms("cursor").await;
}

#[tokio::test]
async fn conforms_with_link_headers() {
    conforms("link_header").await;
}
