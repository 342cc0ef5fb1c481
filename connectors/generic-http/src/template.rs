//! The URL template: `https://api.example.com/v2/{tenant}/{stream}`, checked once at start-up
//! and rendered per request with the tenant id and stream name escaped.

use tributary_connector::{ConnectorError, StreamName, TenantId};
use tributary_connector_http::Url;

/// The placeholders a template may hold.
const PLACEHOLDERS: [&str; 2] = ["tenant", "stream"];

/// A checked URL template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlTemplate {
    text: String,
    has_stream: bool,
}

impl UrlTemplate {
    /// Checks `text`: only `{tenant}` and `{stream}`, balanced braces, and an `http(s)` URL
    /// once rendered. Every problem is reported, prefixed with `$.url_template`.
    pub(crate) fn parse(text: &str) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let mut names = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                problems.push("$.url_template: an unmatched `}`".to_owned());
                rest = &rest[open + 1..];
                continue;
            }
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                problems.push("$.url_template: a `{` is never closed".to_owned());
                break;
            };
            let name = &after[..close];
            if PLACEHOLDERS.contains(&name) {
                names.push(name.to_owned());
            } else {
                problems.push(format!(
                    "$.url_template: unknown placeholder `{{{name}}}`; only {{tenant}} and {{stream}} are allowed"
                ));
            }
            rest = &after[close + 1..];
        }
        let template = Self {
            text: text.to_owned(),
            has_stream: names.iter().any(|name| name == "stream"),
        };
        if problems.is_empty() {
            match Url::parse(&template.substitute("tenant", "stream")) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
                Ok(url) => problems.push(format!(
                    "$.url_template: must be an http or https URL with a host, not `{}:`",
                    url.scheme()
                )),
                Err(error) => problems.push(format!("$.url_template: not a URL: {error}")),
            }
        }
        if problems.is_empty() {
            Ok(template)
        } else {
            Err(problems)
        }
    }

    /// Whether the template names the stream (without it, every stream is the same URL).
    pub(crate) fn has_stream(&self) -> bool {
        self.has_stream
    }

    /// The template with `{tenant}` and `{stream}` replaced (values escaped by the caller).
    fn substitute(&self, tenant: &str, stream: &str) -> String {
        self.text
            .replace("{tenant}", tenant)
            .replace("{stream}", stream)
    }

    /// The URL of `stream` for `tenant`. Each value is percent-escaped (anything but
    /// `A-Z a-z 0-9 - . _ ~`), so it stays one path segment or one query value; a tenant of
    /// only dots (`..` would climb the path) is refused.
    pub(crate) fn render(
        &self,
        tenant: &TenantId,
        stream: &StreamName,
    ) -> Result<Url, ConnectorError> {
        for value in [tenant.as_str(), stream.as_str()] {
            if value.chars().all(|c| c == '.') {
                return Err(ConnectorError::Config {
                    message: format!("`{value}` cannot be placed in a URL"),
                });
            }
        }
        let text = self.substitute(&escape(tenant.as_str()), &escape(stream.as_str()));
        Url::parse(&text).map_err(|error| ConnectorError::Config {
            message: format!("the URL template does not give a URL for tenant `{tenant}`: {error}"),
        })
    }

    /// The template without its query string (which might hold a key), for `Debug`.
    pub(crate) fn display(&self) -> String {
        match self.text.split_once('?') {
            Some((before, _)) => format!("{before}?…"),
            None => self.text.clone(),
        }
    }
}

/// Percent-escapes everything but RFC 3986's unreserved characters.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
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
    fn renders_tenant_and_stream() {
        let template =
            UrlTemplate::parse("https://api.example.com/v2/{tenant}/{stream}?x=1").unwrap();
        let url = template
            .render(
                &TenantId::new("acme").unwrap(),
                &StreamName::new("tickets").unwrap(),
            )
            .unwrap();
        assert_eq!(url.as_str(), "https://api.example.com/v2/acme/tickets?x=1");
        assert!(template.has_stream());
    }

    #[test]
    fn names_every_unknown_placeholder() {
        let problems = UrlTemplate::parse("https://x.test/{account}/{stream}/{kind}").unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("`{account}`"), "{problems:?}");
        assert!(problems[1].contains("`{kind}`"), "{problems:?}");
        assert!(UrlTemplate::parse("https://x.test/{tenant").is_err());
        assert!(UrlTemplate::parse("ftp://x.test/{tenant}").is_err());
        assert!(UrlTemplate::parse("not a url").is_err());
    }

    #[test]
    fn refuses_dot_tenants() {
        let template = UrlTemplate::parse("https://x.test/{tenant}/{stream}").unwrap();
        let error = template
            .render(
                &TenantId::new("..").unwrap(),
                &StreamName::new("s").unwrap(),
            )
            .unwrap_err();
        assert!(matches!(error, ConnectorError::Config { .. }));
    }
}
