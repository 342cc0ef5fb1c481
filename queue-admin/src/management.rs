//! A small client of RabbitMQ's management HTTP API: per-queue depth, unacknowledged count,
//! consumers and message rates for the queue overview and the depth gauges on `/metrics` (so
//! alerting works without the broker's own Prometheus plugin). Read-only.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tributary_runtime::{AmqpSettings, Secret};

/// One queue as the overview shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QueueStats {
    /// Queue name.
    pub name: String,
    /// `quorum` or `classic`.
    pub kind: String,
    /// Messages ready for delivery.
    pub ready: i64,
    /// Messages delivered and not yet acknowledged.
    pub unacked: i64,
    /// Consumers attached.
    pub consumers: i64,
    /// Messages published per second (recent average).
    pub publish_rate: f64,
    /// Messages delivered per second (recent average).
    pub deliver_rate: f64,
    /// Messages acknowledged per second (recent average).
    pub ack_rate: f64,
}

/// The management API of one broker (or cluster: any node answers for all).
#[derive(Clone)]
pub struct ManagementClient {
    base: String,
    vhost: String,
    user: String,
    password: Secret,
    http: reqwest::Client,
}

impl std::fmt::Debug for ManagementClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagementClient")
            .field("base", &self.base)
            .field("vhost", &self.vhost)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The fields we read from `/api/queues/{vhost}`.
#[derive(Debug, Deserialize)]
struct RawQueue {
    name: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    messages_ready: Option<i64>,
    #[serde(default)]
    messages_unacknowledged: Option<i64>,
    #[serde(default)]
    consumers: Option<i64>,
    #[serde(default)]
    message_stats: Option<RawStats>,
}

#[derive(Debug, Default, Deserialize)]
struct RawStats {
    #[serde(default)]
    publish_details: Option<RawRate>,
    #[serde(default)]
    deliver_get_details: Option<RawRate>,
    #[serde(default)]
    ack_details: Option<RawRate>,
}

#[derive(Debug, Deserialize)]
struct RawRate {
    rate: f64,
}

impl ManagementClient {
    /// The client for `amqp.management_url`, or `None` when it is not configured. The vhost is
    /// the one in `amqp.url` (its first node); the credentials are `amqp.management_user`/`_password`, else the
    /// ones in `amqp.url`.
    pub fn from_settings(amqp: &AmqpSettings) -> anyhow::Result<Option<Self>> {
        let Some(base) = amqp.management_url.as_deref() else {
            return Ok(None);
        };
        // Every node of a cluster serves the same vhosts (`amqp.url` is checked for that), so
        // the first node's URL speaks for all of them.
        let first = amqp
            .url
            .entries()
            .first()
            .map(Secret::expose)
            .unwrap_or_default();
        let amqp_url = reqwest::Url::parse(first)
            .map_err(|_| anyhow::anyhow!("amqp.url is not a valid URL"))?;
        let vhost = match amqp_url.path().trim_start_matches('/') {
            "" => "/".to_owned(),
            encoded => percent_decode(encoded),
        };
        let user = amqp
            .management_user
            .clone()
            .unwrap_or_else(|| percent_decode(amqp_url.username()));
        let password = amqp.management_password.clone().unwrap_or_else(|| {
            Secret::new(percent_decode(amqp_url.password().unwrap_or_default()))
        });
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .context("cannot build the management API client")?;
        Ok(Some(Self {
            base: base.trim_end_matches('/').to_owned(),
            vhost,
            user,
            password,
            http,
        }))
    }

    /// The queues whose names start with `prefix`, by name.
    pub async fn queues(&self, prefix: &str) -> anyhow::Result<Vec<QueueStats>> {
        let url = format!(
            "{}/api/queues/{}?columns=name,type,messages_ready,messages_unacknowledged,consumers,message_stats",
            self.base,
            encode_path_segment(&self.vhost)
        );
        let response = self
            .http
            .get(&url)
            .basic_auth(&self.user, Some(self.password.expose()))
            .send()
            .await
            .with_context(|| format!("the management API at {} did not answer", self.base))?;
        let status = response.status();
        if !status.is_success() {
            anyhow::bail!(
                "the management API at {} answered {status} for the queue list",
                self.base
            );
        }
        let raw: Vec<RawQueue> = response
            .json()
            .await
            .context("the management API's queue list is not the expected JSON")?;
        let rate = |rate: &Option<RawRate>| rate.as_ref().map_or(0.0, |rate| rate.rate);
        let mut queues: Vec<QueueStats> = raw
            .into_iter()
            .filter(|queue| queue.name.starts_with(prefix))
            .map(|queue| {
                let stats = queue.message_stats.unwrap_or_default();
                QueueStats {
                    kind: queue.kind.unwrap_or_else(|| "classic".into()),
                    ready: queue.messages_ready.unwrap_or(0),
                    unacked: queue.messages_unacknowledged.unwrap_or(0),
                    consumers: queue.consumers.unwrap_or(0),
                    publish_rate: rate(&stats.publish_details),
                    deliver_rate: rate(&stats.deliver_get_details),
                    ack_rate: rate(&stats.ack_details),
                    name: queue.name,
                }
            })
            .collect();
        queues.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(queues)
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' && index + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&text[index + 1..index + 3], 16) {
                out.push(byte);
                index += 3;
                continue;
            }
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn encode_path_segment(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vhost_and_credentials_come_from_the_amqp_url() {
        let amqp = AmqpSettings {
            url: tributary_runtime::AmqpUrls::one("amqp://app:p%40ss@127.0.0.1:5673/%2f"),
            management_url: Some("http://127.0.0.1:15673/".into()),
            ..AmqpSettings::default()
        };
        let client = ManagementClient::from_settings(&amqp).unwrap().unwrap();
        assert_eq!(client.vhost, "/");
        assert_eq!(client.user, "app");
        assert_eq!(client.password.expose(), "p@ss");
        assert_eq!(client.base, "http://127.0.0.1:15673");
        assert!(!format!("{client:?}").contains("p@ss"));
        assert_eq!(encode_path_segment("/"), "%2F");
    }
}
