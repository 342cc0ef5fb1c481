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
            // Report the problems of the closest form, so a tagged enum with one bad inner
            // field says which field, not just "no form matches".
            let mut closest: Option<Vec<String>> = None;
            for option in options {
                let mut scratch = Vec::new();
                check(root, option, value, path, &mut scratch);
                if scratch.is_empty() {
                    closest = None;
                    break;
                }
                if closest
                    .as_ref()
                    .is_none_or(|best| scratch.len() < best.len())
                {
                    closest = Some(scratch);
                }
            }
            if let Some(problems) = closest {
                found.extend(problems);
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
                "{path}: expected {}, found {}",
                allowed.join(" or "),
                short(value)
            ));
            return;
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            // The allowed values come from the schema, not the user: safe to show.
            let options: Vec<String> = options.iter().map(Value::to_string).collect();
            found.push(format!(
                "{path}: {} is not one of {}",
                short(value),
                options.join(", ")
            ));
        }
    }
    if let Some(constant) = schema.get("const") {
        if constant != value {
            found.push(format!("{path}: must be {}", constant));
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

/// A value for messages. Strings and containers are never echoed: a misplaced secret (a token
/// where an object was expected) must not end up in a log.
fn short(value: &Value) -> String {
    match value {
        Value::String(text) => format!("a string of {} characters", text.chars().count()),
        Value::Array(items) => format!("an array of {} items", items.len()),
        Value::Object(_) => "an object".to_owned(),
        other => format!("{} {other}", type_name(other)),
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
                "$.mode: a string of 8 characters is not one of \"fast\", \"safe\"",
                "$.page_size: 900 is above the maximum 250",
                "$.tags[1]: expected string, found integer 3",
            ]
        );
        assert!(problems(&schema, &json!({"base_url": "x", "page_size": 5})).is_empty());
    }

    #[test]
    fn never_echoes_a_string_and_explains_the_closest_form() {
        let schema = json!({
            "type": "object",
            "properties": {
                "auth": {"type": "object"},
                "paging": {"oneOf": [
                    {"type": "object", "required": ["style"], "properties": {
                        "style": {"const": "page"}, "size": {"type": "integer", "minimum": 1}}},
                    {"type": "object", "required": ["style", "path"], "properties": {
                        "style": {"const": "cursor"}, "path": {"type": "string"}}}
                ]}
            }
        });
        let value = json!({"auth": "Bearer hunter2", "paging": {"style": "page", "size": 0}});
        let found = problems(&schema, &value).join("\n");
        assert!(!found.contains("hunter2"), "{found}");
        assert!(
            found.contains("$.auth: expected object, found a string of 14 characters"),
            "{found}"
        );
        assert!(
            found.contains("$.paging.size: 0 is below the minimum 1"),
            "{found}"
        );
    }
}
