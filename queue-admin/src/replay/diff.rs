//! What an edit changed in a payload: a list of changes by JSON path (`$.window.start`,
//! `$.items[2]`, `$["odd key"]`), each a value changed, added or removed. Small on purpose: a
//! job envelope is a small document, and operators read the result line by line.
//!
//! Objects are compared key by key (in sorted order, so the result is stable), arrays index by
//! index (a value inserted at the front shows as every later index changed plus one added —
//! plain and predictable rather than clever).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt::Write as _;

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Change {
    /// Where, as a JSON path from the document root `$`.
    pub path: String,
    /// `changed`, `added` or `removed`.
    pub op: ChangeOp,
    /// The value before (absent when added).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    /// The value after (absent when removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
}

/// The kind of a difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeOp {
    /// A value replaced by another.
    Changed,
    /// A key or element that was not there.
    Added,
    /// A key or element that is gone.
    Removed,
}

/// The differences from `before` to `after`, in document order (empty: equal).
pub fn diff(before: &Value, after: &Value) -> Vec<Change> {
    let mut changes = Vec::new();
    walk("$".to_owned(), before, after, &mut changes);
    changes
}

fn walk(path: String, before: &Value, after: &Value, changes: &mut Vec<Change>) {
    match (before, after) {
        (Value::Object(old), Value::Object(new)) => {
            let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let child = member_path(&path, key);
                match (old.get(key), new.get(key)) {
                    (Some(old), Some(new)) => walk(child, old, new, changes),
                    (Some(old), None) => changes.push(removed(child, old)),
                    (None, Some(new)) => changes.push(added(child, new)),
                    (None, None) => unreachable!("the key came from one of the objects"),
                }
            }
        }
        (Value::Array(old), Value::Array(new)) => {
            for index in 0..old.len().max(new.len()) {
                let child = format!("{path}[{index}]");
                match (old.get(index), new.get(index)) {
                    (Some(old), Some(new)) => walk(child, old, new, changes),
                    (Some(old), None) => changes.push(removed(child, old)),
                    (None, Some(new)) => changes.push(added(child, new)),
                    (None, None) => unreachable!("the index is below one of the lengths"),
                }
            }
        }
        (old, new) if old == new => {}
        (old, new) => changes.push(Change {
            path,
            op: ChangeOp::Changed,
            before: Some(old.clone()),
            after: Some(new.clone()),
        }),
    }
}

fn added(path: String, value: &Value) -> Change {
    Change {
        path,
        op: ChangeOp::Added,
        before: None,
        after: Some(value.clone()),
    }
}

fn removed(path: String, value: &Value) -> Change {
    Change {
        path,
        op: ChangeOp::Removed,
        before: Some(value.clone()),
        after: None,
    }
}

/// `$.key` for plain keys, `$["odd key"]` (JSON-quoted) for the rest.
fn member_path(parent: &str, key: &str) -> String {
    let plain = key
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        format!("{parent}.{key}")
    } else {
        format!("{parent}[{}]", Value::String(key.to_owned()))
    }
}

/// The changes as lines: `$.a: 1 → 2`, `+ $.b: true`, `- $.c: "x"`.
pub fn render_text(changes: &[Change]) -> String {
    let mut out = String::new();
    for change in changes {
        let _ = match change.op {
            ChangeOp::Changed => writeln!(
                out,
                "{}: {} → {}",
                change.path,
                compact(change.before.as_ref()),
                compact(change.after.as_ref())
            ),
            ChangeOp::Added => {
                writeln!(out, "+ {}: {}", change.path, compact(change.after.as_ref()))
            }
            ChangeOp::Removed => {
                writeln!(
                    out,
                    "- {}: {}",
                    change.path,
                    compact(change.before.as_ref())
                )
            }
        };
    }
    out
}

/// A value on one line, shortened past 200 characters.
pub fn compact(value: Option<&Value>) -> String {
    const LONGEST: usize = 200;
    let text = value.map_or_else(|| "(none)".to_owned(), Value::to_string);
    if text.chars().count() <= LONGEST {
        text
    } else {
        let short: String = text.chars().take(LONGEST).collect();
        format!("{short}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_documents_have_no_changes() {
        let doc = json!({"a": [1, {"b": null}], "c": "x"});
        assert!(diff(&doc, &doc).is_empty());
    }

    #[test]
    fn nested_changes_are_named_by_path_in_sorted_key_order() {
        let before = json!({"window": {"start": "2026-01-01", "end": null}, "tenant": "locked1"});
        let after = json!({"window": {"start": "2026-02-01", "end": null}, "tenant": "acme"});
        assert_eq!(
            render_text(&diff(&before, &after)),
            "$.tenant: \"locked1\" → \"acme\"\n$.window.start: \"2026-01-01\" → \"2026-02-01\"\n"
        );
    }

    #[test]
    fn added_and_removed_keys_and_elements() {
        let before = json!({"a": 1, "list": [1, 2, 3]});
        let after = json!({"b": {"c": true}, "list": [1, 5]});
        let changes = diff(&before, &after);
        assert_eq!(
            changes,
            vec![
                Change {
                    path: "$.a".into(),
                    op: ChangeOp::Removed,
                    before: Some(json!(1)),
                    after: None
                },
                Change {
                    path: "$.b".into(),
                    op: ChangeOp::Added,
                    before: None,
                    after: Some(json!({"c": true}))
                },
                Change {
                    path: "$.list[1]".into(),
                    op: ChangeOp::Changed,
                    before: Some(json!(2)),
                    after: Some(json!(5))
                },
                Change {
                    path: "$.list[2]".into(),
                    op: ChangeOp::Removed,
                    before: Some(json!(3)),
                    after: None
                },
            ]
        );
        assert_eq!(
            render_text(&changes),
            "- $.a: 1\n+ $.b: {\"c\":true}\n$.list[1]: 2 → 5\n- $.list[2]: 3\n"
        );
    }

    #[test]
    fn a_changed_type_is_one_change_of_the_whole_value() {
        let changes = diff(&json!({"w": {"x": 1}}), &json!({"w": [1]}));
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path, "$.w");
        assert_eq!(changes[0].op, ChangeOp::Changed);
        // Numbers of different representation are different values.
        assert_eq!(diff(&json!(1), &json!(1.0)).len(), 1);
        // The root itself.
        assert_eq!(render_text(&diff(&json!("a"), &json!(2))), "$: \"a\" → 2\n");
    }

    #[test]
    fn odd_keys_are_quoted() {
        let changes = diff(
            &json!({}),
            &json!({"odd key": 1, "x-y": 2, "9": 3, "_ok": 4}),
        );
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["$[\"9\"]", "$._ok", "$[\"odd key\"]", "$[\"x-y\"]"]);
        let quoted = diff(&json!({}), &json!({"a\"b": 1}));
        assert_eq!(quoted[0].path, r#"$["a\"b"]"#);
    }

    #[test]
    fn long_values_are_shortened_on_one_line() {
        let long = json!("x".repeat(500));
        let text = compact(Some(&long));
        assert_eq!(text.chars().count(), 201);
        assert!(text.ends_with('…'));
        assert_eq!(compact(None), "(none)");
    }

    #[test]
    fn the_diff_round_trips_as_json() {
        let changes = diff(&json!({"a": 1}), &json!({"a": 2, "b": 3}));
        let stored = serde_json::to_value(&changes).unwrap();
        assert_eq!(
            stored,
            json!([
                {"path": "$.a", "op": "changed", "before": 1, "after": 2},
                {"path": "$.b", "op": "added", "after": 3}
            ])
        );
        let back: Vec<Change> = serde_json::from_value(stored).unwrap();
        assert_eq!(back, changes);
    }
}
