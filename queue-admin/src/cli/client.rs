//! The CLI's client of the JSON API: base URL and token from flags or the environment, JSON in
//! and out, the server's error message shown as is.

use anyhow::Context;
use clap::Args;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;

/// Where the API is and how to authenticate.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// queue-admin's base URL.
    #[arg(
        long,
        env = "TRIBUTARY_ADMIN_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,
    /// An API token (`trb_...`, from `queue-admin tokens create`).
    #[arg(long, env = "TRIBUTARY_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// A JSON API client.
#[derive(Clone)]
pub struct ApiClient {
    base: String,
    token: String,
    http: reqwest::Client,
    /// Print JSON rather than tables.
    pub json: bool,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// A client for these arguments; a missing token is an error naming the fix.
    pub fn new(args: &ApiArgs) -> anyhow::Result<Self> {
        let token = args.token.clone().context(
            "no API token: pass --token or set TRIBUTARY_ADMIN_TOKEN (create one with `queue-admin tokens create`)",
        )?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            base: args.url.trim_end_matches('/').to_owned(),
            token,
            http,
            json: args.json,
        })
    }

    /// `GET path?query`, decoded.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> anyhow::Result<T> {
        let request = self
            .http
            .get(format!("{}{path}", self.base))
            .query(query)
            .bearer_auth(&self.token);
        self.send(request, path).await
    }

    /// `POST path` with a JSON body, decoded.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .bearer_auth(&self.token);
        self.send(request, path).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        path: &str,
    ) -> anyhow::Result<T> {
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach queue-admin at {}", self.base))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .with_context(|| format!("reading the answer to {path}"))?;
        if !status.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|value| value["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            anyhow::bail!("{path}: {status}: {message}");
        }
        serde_json::from_slice(&body)
            .with_context(|| format!("the answer to {path} is not the expected JSON"))
    }
}
