//! A headless Chromium for browser tests, driven over WebDriver by fantoccini: Debian's
//! `chromium` + `chromium-driver` (`ops/dev` installs them). Each [`Browser`] runs its own
//! chromedriver on a free loopback port, in its own process group with its own profile
//! directory; dropping it (also while a test panics) kills that group and removes the profile.

#![allow(dead_code)]

use fantoccini::{Client, ClientBuilder, Locator};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long chromedriver and Chromium get to start.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// How long a page gets to show what a test waits for.
pub const PAGE_DEADLINE: Duration = Duration::from_secs(20);

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The Chromium binary itself (not Debian's shell wrapper), when it is there.
fn chromium_binary() -> &'static str {
    ["/usr/lib/chromium/chromium", "/usr/bin/chromium"]
        .into_iter()
        .find(|path| Path::new(path).exists())
        .unwrap_or_else(|| {
            panic!("Chromium is not installed: run `ops/dev up` (or apt-get install -y chromium chromium-driver)")
        })
}

/// chromedriver's process group, killed (with every Chromium it started) when dropped.
struct Driver {
    child: Child,
    profile: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group id is chromedriver's pid (it was started as a group leader): this reaches
        // the Chromium processes it started, and nothing else.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A headless Chromium session.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    driver: Driver,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium, waiting (with a deadline) until both are
    /// ready.
    pub async fn start() -> Self {
        use std::os::unix::process::CommandExt;
        assert!(
            Path::new(CHROMEDRIVER).exists(),
            "chromedriver is not installed: run `ops/dev up` (or apt-get install -y chromium chromium-driver)"
        );
        let port = free_port();
        let profile = std::env::temp_dir().join(format!(
            "queue-admin-browser-{}",
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&profile).expect("create a browser profile directory");
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let mut driver = Driver { child, profile };
        let url = format!("http://127.0.0.1:{port}");

        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Some(status) = driver.child.try_wait().expect("poll chromedriver") {
                panic!("chromedriver exited at start: {status}");
            }
            let ready = match http.get(format!("{url}/status")).send().await {
                Ok(response) => response
                    .json::<serde_json::Value>()
                    .await
                    .map(|status| status["value"]["ready"] == true)
                    .unwrap_or(false),
                Err(_) => false,
            };
            if ready {
                break;
            }
            assert!(
                started.elapsed() < START_DEADLINE,
                "chromedriver was not ready on port {port} after {START_DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // fantoccini's connector links two rustls crypto providers; choose one for the process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium_binary(),
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--window-size=1400,1000",
                    format!("--user-data-dir={}", driver.profile.display()),
                ],
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("an object literal")
        };
        let client = tokio::time::timeout(
            START_DEADLINE,
            ClientBuilder::rustls()
                .expect("TLS roots for the WebDriver client")
                .capabilities(capabilities)
                .connect(&url),
        )
        .await
        .expect("Chromium started in time")
        .expect("a WebDriver session with headless Chromium");
        Self { client, driver }
    }

    /// Ends the WebDriver session (Chromium quits); dropping then stops chromedriver.
    pub async fn close(self) {
        let Self { client, driver } = self;
        let _ = client.close().await;
        drop(driver);
    }

    /// Opens `url`.
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// The current URL's path (and query, if any).
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("the current URL");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Waits until the current path satisfies `matches`; returns it.
    pub async fn wait_for_path(&self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        self.wait_until(what, || async {
            let path = self.path().await;
            matches(&path).then_some(path)
        })
        .await
    }

    /// The text of the first element matching `css` (waiting for it to appear).
    pub async fn text(&self, css: &str) -> String {
        self.client
            .wait()
            .at_most(PAGE_DEADLINE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("no element {css} on the page: {error}"))
            .text()
            .await
            .expect("element text")
    }

    /// The page's HTML.
    pub async fn source(&self) -> String {
        self.client.source().await.expect("the page source")
    }

    /// Waits until `condition` returns `Some`, polling, failing after [`PAGE_DEADLINE`] with
    /// the page's text.
    pub async fn wait_until<T, F, Fut>(&self, what: &str, mut condition: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let started = Instant::now();
        loop {
            if let Some(value) = condition().await {
                return value;
            }
            if started.elapsed() > PAGE_DEADLINE {
                let path = self.path().await;
                let body = self.client.find(Locator::Css("body")).await.ok();
                let text = match body {
                    Some(body) => body.text().await.unwrap_or_default(),
                    None => String::new(),
                };
                panic!("timed out after {PAGE_DEADLINE:?} waiting for {what}; at {path}:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Types `text` into the field matching `css` (clearing it first).
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self
            .client
            .wait()
            .at_most(PAGE_DEADLINE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("no field {css}: {error}"));
        field.clear().await.expect("clear a field");
        field.send_keys(text).await.expect("type into a field");
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        self.client
            .wait()
            .at_most(PAGE_DEADLINE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("nothing to click at {css}: {error}"))
            .click()
            .await
            .expect("click");
    }

    /// The text of the first element matching the XPath `xpath` (waiting for it to appear).
    pub async fn text_xpath(&self, xpath: &str) -> String {
        self.client
            .wait()
            .at_most(PAGE_DEADLINE)
            .for_element(Locator::XPath(xpath))
            .await
            .unwrap_or_else(|error| panic!("no element {xpath} on the page: {error}"))
            .text()
            .await
            .expect("element text")
    }

    /// Clicks the element matching the XPath `xpath`.
    pub async fn click_xpath(&self, xpath: &str) {
        self.client
            .wait()
            .at_most(PAGE_DEADLINE)
            .for_element(Locator::XPath(xpath))
            .await
            .unwrap_or_else(|error| panic!("nothing to click at {xpath}: {error}"))
            .click()
            .await
            .expect("click");
    }

    /// Fills in and submits the login form (the browser must be on the login page).
    pub async fn sign_in(&self, username: &str, password: &str) {
        self.fill("#username", username).await;
        self.fill("#password", password).await;
        self.click("#sign-in").await;
    }
}
