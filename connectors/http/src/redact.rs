//! Keeping credentials out of messages: URLs shown without their secrets, and known secret
//! values scrubbed from any text that may reach a log, a dead letter or a `Debug` string.
//!
//! Error messages end up in Postgres and in the admin UI, where many people read them. So a
//! message names a request by method, origin and path only ([`describe_request`]); the query
//! string, where APIs like to put `api_key=` and `access_token=`, is never shown.

use reqwest::{Method, Url};

/// What a secret is replaced with.
pub const REDACTED: &str = "REDACTED";

/// Query parameter names containing one of these (case-insensitively) have their values
/// redacted by [`redact_url`]. Over-redacting an `author=` parameter is harmless; leaking an
/// `X-Amz-Signature` is not.
const SENSITIVE_QUERY_WORDS: [&str; 10] = [
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "signature",
    "sig",
    "auth",
    "credential",
    "session",
];

/// Secrets shorter than this are not scrubbed from text: replacing every "ab" in a message
/// would make it unreadable, and a 3-byte credential is not a credential.
const MIN_SCRUBBED_SECRET_LEN: usize = 4;

fn is_sensitive_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SENSITIVE_QUERY_WORDS.iter().any(|word| name.contains(word))
}

/// The URL with its user name, password and sensitive query values replaced by
/// [`REDACTED`], and without its fragment: safe for `Debug`, logs and error messages.
pub fn redact_url(url: &Url) -> String {
    let mut url = url.clone();
    url.set_fragment(None);
    if !url.username().is_empty() {
        // Cannot fail: a URL with a user name has a host.
        let _ = url.set_username(REDACTED);
    }
    if url.password().is_some() {
        let _ = url.set_password(Some(REDACTED));
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(name, value)| {
                let value = if is_sensitive_parameter(&name) {
                    REDACTED.to_owned()
                } else {
                    value.into_owned()
                };
                (name.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// Names a request for error messages: `GET https://shop.example.com/v1/orders`. Method,
/// origin and path only: no user info, no query string, no fragment.
pub fn describe_request(method: &Method, url: &Url) -> String {
    format!(
        "{method} {}{}",
        url.origin().ascii_serialization(),
        url.path()
    )
}

/// Replaces every occurrence of each secret in `text` with [`REDACTED`].
pub(crate) fn scrub(text: &str, secrets: &[String]) -> String {
    let mut text = text.to_owned();
    for secret in secrets {
        if secret.len() >= MIN_SCRUBBED_SECRET_LEN && text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), REDACTED);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_user_info_sensitive_query_values_and_fragments() {
        let cases = [
            (
                "https://sk_live_abc:x@api.example.com/v1/charges?limit=10",
                "https://REDACTED:REDACTED@api.example.com/v1/charges?limit=10",
            ),
            (
                "https://api.example.com/v1?api_key=s3cret&page=2&access_token=t0ken#frag",
                "https://api.example.com/v1?api_key=REDACTED&page=2&access_token=REDACTED",
            ),
            (
                "https://s3.example.com/obj?X-Amz-Signature=abc&X-Amz-Credential=def&x=1",
                "https://s3.example.com/obj?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED&x=1",
            ),
            (
                "http://127.0.0.1:8089/v1/tenants/acme/orders",
                "http://127.0.0.1:8089/v1/tenants/acme/orders",
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(redact_url(&Url::parse(url).unwrap()), expected, "{url}");
        }
    }

    #[test]
    fn requests_are_described_without_query_or_credentials() {
        let url = Url::parse("https://user:pw@shop.example.com:8443/api/orders?token=t#x").unwrap();
        assert_eq!(
            describe_request(&Method::GET, &url),
            "GET https://shop.example.com:8443/api/orders"
        );
    }

    #[test]
    fn known_secrets_are_scrubbed_from_text() {
        let secrets = vec!["sk_live_123456".to_owned(), "ab".to_owned()];
        assert_eq!(
            scrub("invalid key sk_live_123456 (ab)", &secrets),
            "invalid key REDACTED (ab)"
        );
    }
}
