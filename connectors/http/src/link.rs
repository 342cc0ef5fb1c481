//! RFC 8288 `Link` headers: every link of a response with its relation types and parameters,
//! and the `next` link that Link-header pagination (GitHub, Shopify REST, WordPress) follows.
//!
//! The parser is lenient, as a client should be: a malformed link-value is skipped, the rest
//! of the field is still read. Commas inside `<...>` and inside quoted strings do not split.

use reqwest::header::{HeaderMap, LINK};

/// One link of a `Link` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The target URI reference, as written between `<` and `>` (possibly relative: resolve
    /// it against the request URL).
    pub target: String,
    /// The relation types of the first `rel` parameter, lower-cased (`rel="next last"` gives
    /// `["next", "last"]`).
    pub rel: Vec<String>,
    /// Every parameter in order, names lower-cased, quoted values unescaped.
    pub params: Vec<(String, String)>,
}

impl Link {
    /// Whether one of the relation types is `rel` (compared case-insensitively).
    pub fn has_rel(&self, rel: &str) -> bool {
        self.rel.iter().any(|own| own.eq_ignore_ascii_case(rel))
    }

    /// The first value of parameter `name` (case-insensitive), if present.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(own, _)| own.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Every link of one `Link` field value, in order.
pub fn parse_link_header(value: &str) -> Vec<Link> {
    let mut parser = Parser {
        bytes: value.as_bytes(),
        text: value,
        at: 0,
    };
    let mut links = Vec::new();
    loop {
        parser.skip(|b| b.is_ascii_whitespace() || b == b',');
        let Some(first) = parser.peek() else {
            return links;
        };
        if first != b'<' {
            parser.skip_to_next_value();
            continue;
        }
        parser.at += 1;
        let Some(target) = parser.take_until(b'>') else {
            // No closing '>': nothing after this can be trusted.
            return links;
        };
        let target = target.trim().to_owned();
        let params = parser.params();
        let rel = params
            .iter()
            .find(|(name, _)| name == "rel")
            .map(|(_, value)| {
                value
                    .split_ascii_whitespace()
                    .map(str::to_ascii_lowercase)
                    .collect()
            })
            .unwrap_or_default();
        links.push(Link {
            target,
            rel,
            params,
        });
    }
}

/// Every link of every `Link` field of a response, in order.
pub fn links(headers: &HeaderMap) -> Vec<Link> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(parse_link_header)
        .collect()
}

/// The target of the first link whose relation types include `next`, if any.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    links(headers)
        .into_iter()
        .find(|link| link.has_rel("next"))
        .map(|link| link.target)
}

struct Parser<'a> {
    bytes: &'a [u8],
    text: &'a str,
    at: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip(&mut self, mut while_: impl FnMut(u8) -> bool) {
        while self.peek().is_some_and(&mut while_) {
            self.at += 1;
        }
    }

    /// The text up to `end` (exclusive), consuming `end`; `None` if `end` never comes.
    fn take_until(&mut self, end: u8) -> Option<&'a str> {
        let start = self.at;
        let offset = self.bytes[start..].iter().position(|b| *b == end)?;
        self.at = start + offset + 1;
        // `end` is ASCII, so both ends are on char boundaries.
        Some(&self.text[start..start + offset])
    }

    /// Skips a malformed link-value: up to the next comma outside quotes and angle brackets.
    fn skip_to_next_value(&mut self) {
        let mut quoted = false;
        let mut bracketed = false;
        while let Some(b) = self.peek() {
            match b {
                b'\\' if quoted => self.at += 1,
                b'"' if !bracketed => quoted = !quoted,
                b'<' if !quoted => bracketed = true,
                b'>' if !quoted => bracketed = false,
                b',' if !quoted && !bracketed => return,
                _ => {}
            }
            self.at += 1;
        }
    }

    /// `*( OWS ";" OWS link-param )`, stopping at the comma that ends the link-value.
    fn params(&mut self) -> Vec<(String, String)> {
        let mut params = Vec::new();
        loop {
            self.skip(|b| b == b' ' || b == b'\t');
            match self.peek() {
                None | Some(b',') => return params,
                Some(b';') => self.at += 1,
                Some(_) => {
                    // Junk between params: resynchronise at the next ';' or ','.
                    self.skip(|b| b != b';' && b != b',');
                    continue;
                }
            }
            self.skip(|b| b == b' ' || b == b'\t');
            let name = self.token();
            if name.is_empty() {
                continue;
            }
            self.skip(|b| b == b' ' || b == b'\t');
            let mut value = String::new();
            if self.peek() == Some(b'=') {
                self.at += 1;
                self.skip(|b| b == b' ' || b == b'\t');
                value = if self.peek() == Some(b'"') {
                    self.quoted_string()
                } else {
                    self.token().to_owned()
                };
            }
            params.push((name.to_ascii_lowercase(), value));
        }
    }

    fn token(&mut self) -> &'a str {
        let start = self.at;
        self.skip(|b| !matches!(b, b';' | b',' | b'=' | b'"' | b' ' | b'\t'));
        &self.text[start..self.at]
    }

    /// A quoted-string starting at the opening quote, unescaped. An unterminated one runs to
    /// the end of the field.
    fn quoted_string(&mut self) -> String {
        self.at += 1;
        let mut value = Vec::new();
        while let Some(b) = self.peek() {
            self.at += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(escaped) = self.peek() {
                        value.push(escaped);
                        self.at += 1;
                    }
                }
                other => value.push(other),
            }
        }
        String::from_utf8_lossy(&value).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn targets_with_rels(value: &str) -> Vec<(String, Vec<String>)> {
        parse_link_header(value)
            .into_iter()
            .map(|link| (link.target, link.rel))
            .collect()
    }

    fn pair(target: &str, rels: &[&str]) -> (String, Vec<String>) {
        (
            target.to_owned(),
            rels.iter().map(|rel| (*rel).to_owned()).collect(),
        )
    }

    #[test]
    fn the_shapes_real_apis_send() {
        type Expected = Vec<(String, Vec<String>)>;
        let cases: Vec<(&str, Expected)> = vec![
            // GitHub
            (
                r#"<https://api.github.com/repositories/1/issues?page=2>; rel="next", <https://api.github.com/repositories/1/issues?page=5>; rel="last""#,
                vec![
                    pair("https://api.github.com/repositories/1/issues?page=2", &["next"]),
                    pair("https://api.github.com/repositories/1/issues?page=5", &["last"]),
                ],
            ),
            // Shopify REST: page_info cursors, previous first.
            (
                r#"<https://shop.myshopify.com/admin/api/2024-01/orders.json?limit=50&page_info=abc>; rel="previous", <https://shop.myshopify.com/admin/api/2024-01/orders.json?limit=50&page_info=def>; rel="next""#,
                vec![
                    pair("https://shop.myshopify.com/admin/api/2024-01/orders.json?limit=50&page_info=abc", &["previous"]),
                    pair("https://shop.myshopify.com/admin/api/2024-01/orders.json?limit=50&page_info=def", &["next"]),
                ],
            ),
            // A rel list, an unquoted rel, upper case, extra params and odd spacing.
            (
                r#"</p?page=3> ;rel="next last" ; title="Page, the third", </p?page=1>;REL=First;type=text/html"#,
                vec![pair("/p?page=3", &["next", "last"]), pair("/p?page=1", &["first"])],
            ),
            // A comma inside the URL does not split links.
            (
                r#"<https://x.test/a?ids=1,2,3>; rel="next""#,
                vec![pair("https://x.test/a?ids=1,2,3", &["next"])],
            ),
            // Junk before a good link is skipped; a missing '>' ends parsing.
            (
                r#"garbage; rel="next", <https://x.test/ok>; rel="next", <https://x.test/broken; rel="next""#,
                vec![pair("https://x.test/ok", &["next"])],
            ),
            // No rel at all.
            (r#"<https://x.test/a>"#, vec![pair("https://x.test/a", &[])]),
            ("", vec![]),
        ];
        for (value, expected) in cases {
            assert_eq!(targets_with_rels(value), expected, "{value}");
        }
    }

    #[test]
    fn generated_headers_parse_back_to_their_links() {
        use crate::paginate::tests::Xorshift;
        let url_parts = [
            "a",
            "b",
            "/",
            "?",
            "=",
            "&",
            ",",
            ";",
            "%2C",
            "é",
            "page_info",
            "1",
        ];
        let value_parts = ["x", "y", ",", ";", " ", "=", "\\\"", "\\\\", "ß"];
        let rels = ["next", "prev", "last", "first", "Next", "alternate"];
        let spaces = ["", " ", "  ", "\t"];
        let mut rng = Xorshift(0x2545_f491_4f6c_dd1d);
        for _ in 0..1_000 {
            let count = 1 + rng.below(4);
            let mut expected = Vec::new();
            let mut fields = Vec::new();
            for _ in 0..count {
                let target = format!("https://x.test/{}", rng.string(&url_parts, 20));
                let mut rel: Vec<String> = (0..1 + rng.below(2))
                    .map(|_| rels[rng.below(rels.len())].to_owned())
                    .collect();
                let quoted_rel = rel.len() > 1 || rng.below(2) == 0;
                let rel_text = if quoted_rel {
                    format!("\"{}\"", rel.join(" "))
                } else {
                    rel[0].clone()
                };
                let space = spaces[rng.below(spaces.len())];
                let title = rng.string(&value_parts, 12);
                let mut field = format!("<{target}>{space};{space}rel={rel_text}");
                if rng.below(2) == 0 {
                    field.push_str(&format!("; title=\"{title}\""));
                }
                fields.push(field);
                rel.iter_mut().for_each(|r| *r = r.to_ascii_lowercase());
                expected.push((target, rel));
            }
            let header = fields.join(&format!(",{}", spaces[rng.below(spaces.len())]));
            assert_eq!(targets_with_rels(&header), expected, "{header}");
        }
    }

    #[test]
    fn params_are_unescaped_and_the_first_rel_wins() {
        let links = parse_link_header(
            r#"<https://x.test/a>; rel="next"; rel="prev"; title="say \"hi\"; ok"; anchor=#x"#,
        );
        assert_eq!(links.len(), 1);
        let link = &links[0];
        assert_eq!(link.rel, ["next"]);
        assert_eq!(link.param("title"), Some(r#"say "hi"; ok"#));
        assert_eq!(link.param("ANCHOR"), Some("#x"));
        assert!(link.has_rel("NEXT"));
    }

    #[test]
    fn next_link_reads_every_link_field() {
        let mut headers = HeaderMap::new();
        assert_eq!(next_link(&headers), None);
        headers.append(
            LINK,
            HeaderValue::from_static(r#"<https://x.test/first>; rel="first""#),
        );
        assert_eq!(next_link(&headers), None);
        headers.append(
            LINK,
            HeaderValue::from_static(r#"<https://x.test/next>; rel="Next Last""#),
        );
        assert_eq!(next_link(&headers).as_deref(), Some("https://x.test/next"));
    }
}
