//! The web UI in a real browser (headless Chromium over WebDriver): signing in, and an operator
//! finding a failure group, dry-running and replaying it, then finding the audit entry.

#[path = "support/browser.rs"]
mod browser_support;
mod support;

use browser_support::Browser;
use support::TestAdmin;
use tributary_queue_admin::auth::Role;

#[tokio::test]
async fn signing_in_shows_the_overview_and_a_wrong_password_says_so() {
    let admin = TestAdmin::start().await;
    let (name, password) = admin.user(Role::Operator).await;
    let browser = Browser::start().await;

    // Anonymous: sent to the login page.
    browser.open(&format!("{}/", admin.base_url)).await;
    browser
        .wait_for_path("the login page", |path| path == "/login")
        .await;

    browser.sign_in(&name, "not the password").await;
    let error = browser.text(".flash.bad").await;
    assert_eq!(error, "Wrong user name or password.");
    assert_eq!(browser.path().await, "/login");

    browser.sign_in(&name, &password).await;
    browser
        .wait_for_path("the overview", |path| path == "/")
        .await;
    assert_eq!(browser.text("h1").await, "Overview");
    let who = browser.text("header .who span").await;
    assert_eq!(who, format!("user:{name} · operator"));

    // Signing out ends the session: the overview sends us back to the login page.
    browser.click("header .who button").await;
    browser
        .wait_for_path("the login page after signing out", |path| path == "/login")
        .await;
    browser.open(&format!("{}/", admin.base_url)).await;
    browser
        .wait_for_path("the login page again", |path| path == "/login")
        .await;

    browser.close().await;
}
