//! Just enough reading of an incoming GraphQL request for the mock: the root field, its
//! arguments (`first`, `after`, `query`, literal or `$variable`) and the `updated_at` bounds of
//! the search string. Not a GraphQL engine: selections are ignored, and the mock answers with
//! its fixed node shape.

use chrono::{DateTime, Utc};

/// An argument value after resolving variables.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Int(i64),
    Str(String),
    Null,
    /// An enum or boolean literal, such as `UPDATED_AT`.
    Word(String),
}

/// The root field of a request and its arguments.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RootField {
    pub(crate) name: String,
    pub(crate) arguments: Vec<(String, Value)>,
}

impl RootField {
    pub(crate) fn argument(&self, name: &str) -> Option<&Value> {
        self.arguments
            .iter()
            .find(|(argument, _)| argument == name)
            .map(|(_, value)| value)
    }
}

/// Reads the first root field of `document`, resolving `$name` arguments from `variables`.
pub(crate) fn root_field(
    document: &str,
    variables: &serde_json::Value,
) -> Result<RootField, String> {
    let chars: Vec<char> = document.chars().collect();
    let open = chars
        .iter()
        .position(|c| *c == '{')
        .ok_or_else(|| "syntax error, expected a selection set".to_owned())?;
    let mut at = skip_space(&chars, open + 1);
    let name = identifier(&chars, &mut at);
    if name.is_empty() {
        return Err(format!("syntax error at position {at}: expected a field"));
    }
    at = skip_space(&chars, at);
    let mut arguments = Vec::new();
    if chars.get(at) == Some(&'(') {
        at += 1;
        loop {
            at = skip_space(&chars, at);
            match chars.get(at) {
                Some(')') => break,
                None => return Err("syntax error, unexpected end of file".to_owned()),
                _ => {}
            }
            let argument = identifier(&chars, &mut at);
            at = skip_space(&chars, at);
            if argument.is_empty() || chars.get(at) != Some(&':') {
                return Err(format!(
                    "syntax error at position {at}: expected `name: value`"
                ));
            }
            at = skip_space(&chars, at + 1);
            let value = literal(&chars, &mut at, variables)?;
            arguments.push((argument, value));
        }
    }
    Ok(RootField { name, arguments })
}

/// Skips whitespace and commas (insignificant in GraphQL).
fn skip_space(chars: &[char], mut at: usize) -> usize {
    while chars
        .get(at)
        .is_some_and(|c| c.is_whitespace() || *c == ',')
    {
        at += 1;
    }
    at
}

fn identifier(chars: &[char], at: &mut usize) -> String {
    let start = *at;
    while chars
        .get(*at)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
    {
        *at += 1;
    }
    chars[start..*at].iter().collect()
}

fn literal(chars: &[char], at: &mut usize, variables: &serde_json::Value) -> Result<Value, String> {
    match chars.get(*at) {
        Some('$') => {
            *at += 1;
            let name = identifier(chars, at);
            Ok(match variables.get(&name) {
                Some(serde_json::Value::String(text)) => Value::Str(text.clone()),
                Some(serde_json::Value::Number(number)) => Value::Int(
                    number
                        .as_i64()
                        .ok_or_else(|| format!("variable `{name}` is not an Int"))?,
                ),
                None | Some(serde_json::Value::Null) => Value::Null,
                Some(other) => Value::Word(other.to_string()),
            })
        }
        Some('"') => {
            *at += 1;
            let mut text = String::new();
            loop {
                match chars.get(*at) {
                    None => return Err("syntax error, unterminated string".to_owned()),
                    Some('"') => {
                        *at += 1;
                        return Ok(Value::Str(text));
                    }
                    Some('\\') => {
                        let escaped = chars.get(*at + 1).copied().unwrap_or('\\');
                        text.push(match escaped {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                        *at += 2;
                    }
                    Some(c) => {
                        text.push(*c);
                        *at += 1;
                    }
                }
            }
        }
        Some(c) if c.is_ascii_digit() || *c == '-' => {
            let start = *at;
            *at += 1;
            while chars.get(*at).is_some_and(char::is_ascii_digit) {
                *at += 1;
            }
            let text: String = chars[start..*at].iter().collect();
            text.parse()
                .map(Value::Int)
                .map_err(|_| format!("syntax error: {text:?} is not an Int"))
        }
        _ => {
            let word = identifier(chars, at);
            match word.as_str() {
                "" => Err(format!("syntax error at position {at}: expected a value")),
                "null" => Ok(Value::Null),
                _ => Ok(Value::Word(word)),
            }
        }
    }
}

/// The `updated_at` bounds of a search string; other terms (`status:any`) are ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct UpdatedBounds {
    /// Lower bound and whether it is inclusive.
    pub(crate) lower: Option<(DateTime<Utc>, bool)>,
    /// Upper bound and whether it is inclusive.
    pub(crate) upper: Option<(DateTime<Utc>, bool)>,
}

impl UpdatedBounds {
    pub(crate) fn contains(&self, at: DateTime<Utc>) -> bool {
        let above = match self.lower {
            Some((bound, true)) => at >= bound,
            Some((bound, false)) => at > bound,
            None => true,
        };
        let below = match self.upper {
            Some((bound, true)) => at <= bound,
            Some((bound, false)) => at < bound,
            None => true,
        };
        above && below
    }
}

/// Reads `updated_at:>='…'`, `:>`, `:<`, `:<=` and `:'…'` (exact) terms.
pub(crate) fn updated_bounds(search: &str) -> Result<UpdatedBounds, String> {
    let mut bounds = UpdatedBounds::default();
    for term in search.split_whitespace() {
        let Some(condition) = term.strip_prefix("updated_at:") else {
            continue;
        };
        let (operator, value) = ["<=", ">=", "<", ">"]
            .iter()
            .find_map(|operator| {
                condition
                    .strip_prefix(operator)
                    .map(|value| (*operator, value))
            })
            .unwrap_or(("=", condition));
        let value = value.trim_matches(|c| c == '\'' || c == '"');
        let at = DateTime::parse_from_rfc3339(value)
            .map_err(|_| format!("invalid updated_at value {value:?} in the search query"))?
            .with_timezone(&Utc);
        match operator {
            ">=" => bounds.lower = Some((at, true)),
            ">" => bounds.lower = Some((at, false)),
            "<=" => bounds.upper = Some((at, true)),
            "<" => bounds.upper = Some((at, false)),
            _ => {
                bounds.lower = Some((at, true));
                bounds.upper = Some((at, true));
            }
        }
    }
    Ok(bounds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_root_field_and_resolves_variables() {
        let document = "query P($first: Int!, $after: String, $query: String) { orders(first: $first, after: $after, sortKey: UPDATED_AT, query: $query) { nodes { id } } }";
        let root = root_field(
            document,
            &json!({"first": 10, "after": null, "query": "status:any"}),
        )
        .unwrap();
        assert_eq!(root.name, "orders");
        assert_eq!(root.argument("first"), Some(&Value::Int(10)));
        assert_eq!(root.argument("after"), Some(&Value::Null));
        assert_eq!(
            root.argument("sortKey"),
            Some(&Value::Word("UPDATED_AT".into()))
        );
        assert_eq!(
            root.argument("query"),
            Some(&Value::Str("status:any".into()))
        );

        let literal = root_field(
            r#"{ ordersCount(query: "updated_at:>'2024-01-01T00:00:00Z'", limit: null) { count } }"#,
            &json!({}),
        )
        .unwrap();
        assert_eq!(literal.name, "ordersCount");
        assert_eq!(
            literal.argument("query"),
            Some(&Value::Str("updated_at:>'2024-01-01T00:00:00Z'".into()))
        );
        assert_eq!(
            root_field("{ shop { name } }", &json!({})).unwrap().name,
            "shop"
        );
        assert!(root_field("query {", &json!({})).is_err());
        assert!(root_field("{ orders(first: ) }", &json!({})).is_err());
    }

    #[test]
    fn reads_updated_at_bounds() {
        let bounds = updated_bounds(
            "status:any updated_at:>='2024-01-01T00:00:00Z' updated_at:<'2024-02-01T00:00:00Z'",
        )
        .unwrap();
        let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().to_utc();
        assert!(bounds.contains(at("2024-01-01T00:00:00Z")));
        assert!(!bounds.contains(at("2024-02-01T00:00:00Z")));
        assert!(!bounds.contains(at("2023-12-31T23:59:59Z")));
        assert_eq!(updated_bounds("").unwrap(), UpdatedBounds::default());
        assert!(updated_bounds("updated_at:>yesterday").is_err());
    }
}
