//! The web UI in a real browser (headless Chromium over WebDriver): signing in, and an operator
//! finding a failure group, dry-running and replaying it, then finding the audit entry.

#[path = "support/browser.rs"]
mod browser_support;
mod support;

use browser_support::Browser;
use support::{Letter, TestAdmin};
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

#[tokio::test]
async fn an_operator_finds_a_failure_group_dry_runs_and_replays_it_then_sees_the_audit_entry() {
    let admin = TestAdmin::start().await;
    let mut group = Vec::new();
    for order in [1001, 1002, 1003] {
        let letter = Letter::new(&format!("upstream answered 500 for order {order}"));
        group.push(admin.dead_letter(letter).await);
    }
    let other = admin
        .dead_letter(Letter::new("token expired for shop acme"))
        .await;
    let (name, password) = admin.user(Role::Operator).await;
    let browser = Browser::start().await;

    browser.open(&format!("{}/login", admin.base_url)).await;
    browser.sign_in(&name, &password).await;
    browser
        .wait_for_path("the overview", |path| path == "/")
        .await;

    // Find the group from the navigation: three letters under one normalised message.
    browser.click("header nav a[href='/groups']").await;
    browser
        .wait_for_path("the groups page", |path| path.starts_with("/groups"))
        .await;
    let row = "//tr[td/code[contains(., 'upstream answered <n> for order <n>')]]";
    let count = browser
        .text_xpath(&format!("{row}/td[contains(@class, 'num')]"))
        .await;
    assert_eq!(count, "3");
    browser
        .click_xpath(&format!("{row}//a[contains(., 'Dry-run replay')]"))
        .await;

    // The dry run counts the group and changes nothing.
    browser
        .wait_for_path("the dry run", |path| path.starts_with("/replays/preview?"))
        .await;
    assert_eq!(browser.text("#matching .value").await, "3");
    assert_eq!(browser.text("#replayable .value").await, "3");
    assert_eq!(
        pending_letters(&admin).await,
        4,
        "a dry run changes nothing"
    );

    browser
        .fill("#replay input[name='reason']", "upstream fixed their 500s")
        .await;
    browser.click("#replay button[type='submit']").await;
    let batch = browser
        .wait_for_path("the replay's progress page", |path| {
            path.strip_prefix("/replays/")
                .is_some_and(|id| id.parse::<i64>().is_ok())
        })
        .await;
    assert!(browser.text("h1").await.starts_with("Replay #"));
    assert!(browser.text("#published .value").await.ends_with("/ 3"));
    assert_eq!(
        pending_letters(&admin).await,
        1,
        "the group was replayed, the other letter not"
    );
    let replayed = replayed_letters(&admin).await;
    assert_eq!(replayed, group, "{batch}");
    assert!(!replayed.contains(&other));

    // The audit log shows who replayed what, how many, and why.
    browser.click("header nav a[href='/audit']").await;
    browser
        .wait_for_path("the audit log", |path| path.starts_with("/audit"))
        .await;
    let entry = "//table[@id='audit']//tr[td//code[.='dead_letter.replay']]";
    let text = browser.text_xpath(entry).await;
    assert!(text.contains(&format!("user:{name}")), "{text}");
    assert!(text.contains("upstream fixed their 500s"), "{text}");
    assert_eq!(
        browser
            .text_xpath(&format!("{entry}/td[contains(@class, 'num')]"))
            .await,
        "3"
    );

    browser.close().await;
}

async fn pending_letters(admin: &TestAdmin) -> i64 {
    let client = admin.store().pool().get().await.unwrap();
    client
        .query_one(
            "SELECT count(*) FROM dead_letters WHERE status = 'pending'",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

async fn replayed_letters(admin: &TestAdmin) -> Vec<i64> {
    let client = admin.store().pool().get().await.unwrap();
    client
        .query(
            "SELECT dead_letter_id FROM replays ORDER BY dead_letter_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}
