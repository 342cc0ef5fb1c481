//! Checking a connector's JSON settings against the JSON Schema of its settings type, reporting
//! *every* problem with its path (serde stops at the first). Supports what schemars generates
//! for plain settings structs: `$ref`/`$defs`, `type` (also as a list), `properties`,
//! `required`, `additionalProperties: false`, `enum`/`const`, `oneOf`/`anyOf`, numeric and
//! length bounds, and `items`.

use serde_json::Value;

/// Every problem of `value` against `schema`, as `path: message` lines (`$` is the root).
pub fn problems(schema: &Value, value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    check(schema, schema, value, "$", &mut found);
    found
}

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let mut current = schema;
    // Bounded: a self-referential `$ref` chain must not loop forever.
    for _ in 0..16 {
        let Some(reference) = current.get("$ref").and_then(Value::as_str) else {
            return current;
        };
        let Some(pointer) = reference.strip_prefix('#') else {
            return current;
        };
        match root.pointer(pointer) {
            Some(target) => current = target,
            None => return current,
        }
    }
    current
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(number) if number.is_i64() || number.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(expected: &str, value: &Value) -> bool {
    let actual = type_name(value);
    actual == expected || (expected == "number" && actual == "integer")
}

fn check(root: &Value, schema: &Value, value: &Value, path: &str, found: &mut Vec<String>) {
    let schema = resolve(root, schema);
    if schema == &Value::Bool(false) {
        found.push(format!("{path}: not allowed"));
        return;
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let fits = options.iter().any(|option| {
                let mut scratch = Vec::new();
                check(root, option, value, path, &mut scratch);
                scratch.is_empty()
            });
            if !fits {
                found.push(format!(
                    "{path}: {} does not match any allowed form",
                    short(value)
                ));
            }
        }
    }
    if let Some(expected) = schema.get("type") {
        let allowed: Vec<&str> = match expected {
            Value::String(single) => vec![single.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !allowed.is_empty() && !allowed.iter().any(|t| type_matches(t, value)) {
            found.push(format!(
                "{path}: expected {}, found {} {}",
                allowed.join(" or "),
                type_name(value),
                short(value)
            ));
            return;
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            let options: Vec<String> = options.iter().map(short).collect();
            found.push(format!(
                "{path}: {} is not one of {}",
                short(value),
                options.join(", ")
            ));
        }
    }
    if let Some(constant) = schema.get("const") {
        if constant != value {
            found.push(format!("{path}: must be {}", short(constant)));
        }
    }
    if let Some(number) = value.as_f64() {
        if let Some(minimum) = schema.get("minimum").and_then(Value::as_f64) {
            if number < minimum {
                found.push(format!("{path}: {number} is below the minimum {minimum}"));
            }
        }
        if let Some(maximum) = schema.get("maximum").and_then(Value::as_f64) {
            if number > maximum {
                found.push(format!("{path}: {number} is above the maximum {maximum}"));
            }
        }
    }
    if let Some(text) = value.as_str() {
        let length = text.chars().count() as u64;
        if let Some(minimum) = schema.get("minLength").and_then(Value::as_u64) {
            if length < minimum {
                found.push(format!("{path}: must be at least {minimum} characters"));
            }
        }
        if let Some(maximum) = schema.get("maxLength").and_then(Value::as_u64) {
            if length > maximum {
                found.push(format!("{path}: must be at most {maximum} characters"));
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (index, item) in array.iter().enumerate() {
            check(root, items, item, &format!("{path}[{index}]"), found);
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(name) {
                    found.push(format!("{path}.{name}: missing (required)"));
                }
            }
        }
        for (name, field) in object {
            let field_path = format!("{path}.{name}");
            match properties.and_then(|p| p.get(name)) {
                Some(field_schema) => check(root, field_schema, field, &field_path, found),
                None => {
                    if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
                        let known: Vec<&str> = properties
                            .map(|p| p.keys().map(String::as_str).collect())
                            .unwrap_or_default();
                        found.push(format!(
                            "{field_path}: unknown field; known fields: {}",
                            known.join(", ")
                        ));
                    }
                }
            }
        }
    }
}

/// A value as a short string for messages (secrets are strings too: cut them short).
fn short(value: &Value) -> String {
    match value {
        Value::String(text) if text.chars().count() > 24 => {
            format!("\"{}…\"", text.chars().take(8).collect::<String>())
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_every_problem_with_its_path() {
        let schema = json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["base_url", "page_size"],
            "properties": {
                "base_url": {"type": "string", "minLength": 1},
                "page_size": {"type": "integer", "minimum": 1, "maximum": 250},
                "mode": {"$ref": "#/$defs/Mode"},
                "tags": {"type": "array", "items": {"type": "string"}}
            },
            "$defs": {"Mode": {"type": "string", "enum": ["fast", "safe"]}}
        });
        let value = json!({"page_size": 900, "mode": "reckless", "tags": ["a", 3], "colour": 1});
        let found = problems(&schema, &value);
        assert_eq!(
            found,
            vec![
                "$.base_url: missing (required)",
                "$.colour: unknown field; known fields: base_url, mode, page_size, tags",
                "$.mode: \"reckless\" is not one of \"fast\", \"safe\"",
                "$.page_size: 900 is above the maximum 250",
                "$.tags[1]: expected string, found integer 3",
            ]
        );
        assert!(problems(&schema, &json!({"base_url": "x", "page_size": 5})).is_empty());
    }
}
