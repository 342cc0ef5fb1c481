//! AMQP message properties as JSON, for storing next to a dead letter and showing to ops.

use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use serde_json::{json, Map, Value};

/// The properties and headers of a message as a JSON object.
pub fn properties_json(properties: &BasicProperties) -> Value {
    let mut object = Map::new();
    if let Some(id) = properties.message_id() {
        object.insert("message_id".into(), json!(id.as_str()));
    }
    if let Some(content_type) = properties.content_type() {
        object.insert("content_type".into(), json!(content_type.as_str()));
    }
    if let Some(timestamp) = properties.timestamp() {
        object.insert("timestamp".into(), json!(timestamp));
    }
    if let Some(mode) = properties.delivery_mode() {
        object.insert("delivery_mode".into(), json!(mode));
    }
    if let Some(headers) = properties.headers() {
        object.insert("headers".into(), table_json(headers));
    }
    Value::Object(object)
}

fn table_json(table: &FieldTable) -> Value {
    Value::Object(
        table
            .inner()
            .iter()
            .map(|(key, value)| (key.as_str().to_owned(), value_json(value)))
            .collect(),
    )
}

fn value_json(value: &AMQPValue) -> Value {
    match value {
        AMQPValue::Boolean(b) => json!(b),
        AMQPValue::ShortShortInt(n) => json!(n),
        AMQPValue::ShortShortUInt(n) => json!(n),
        AMQPValue::ShortInt(n) => json!(n),
        AMQPValue::ShortUInt(n) => json!(n),
        AMQPValue::LongInt(n) => json!(n),
        AMQPValue::LongUInt(n) => json!(n),
        AMQPValue::LongLongInt(n) => json!(n),
        AMQPValue::Float(n) => json!(n),
        AMQPValue::Double(n) => json!(n),
        AMQPValue::ShortString(s) => json!(s.as_str()),
        AMQPValue::LongString(s) => json!(String::from_utf8_lossy(s.as_bytes())),
        AMQPValue::FieldArray(array) => {
            Value::Array(array.as_slice().iter().map(value_json).collect())
        }
        AMQPValue::Timestamp(t) => json!(t),
        AMQPValue::FieldTable(table) => table_json(table),
        AMQPValue::ByteArray(bytes) => json!(format!("{} bytes", bytes.len())),
        other => json!(format!("{other:?}")),
    }
}

/// A string header's value, if present and a string.
pub fn header_str(properties: &BasicProperties, name: &str) -> Option<String> {
    let headers = properties.headers().as_ref()?;
    match headers.inner().get(name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}
