//! The XML of Query responses and errors, laid out by the operation's output shape.
//!
//! ```text
//! <CreateUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
//!   <CreateUserResult><User>…members in model order…</User></CreateUserResult>
//!   <ResponseMetadata><RequestId>…</RequestId></ResponseMetadata>
//! </CreateUserResponse>
//! ```
//!
//! (without the whitespace). Absent members are left out; lists are `<Name><member>…</member>
//! </Name>`, maps `<Name><entry><key>…</key><value>…</value></entry></Name>` (the model's
//! `locationName` and `flattened` change either); timestamps are ISO 8601 in UTC
//! (`2026-11-23T16:29:00Z`, milliseconds only when there are any); booleans `true`/`false`.

use serde_json::Value;
use time::OffsetDateTime;

use super::form::percent_encode;
use crate::json::model::{Kind, Member, ServiceModel, ShapeId};
use crate::WireError;

/// Renders `value`, the JSON form of a typed response, as the response of `operation`.
/// `url_encoded` names the string shapes sent percent-encoded (IAM's policy documents).
pub(crate) fn response(
    model: &ServiceModel,
    url_encoded: &[&str],
    operation: &str,
    value: &Value,
    request_id: &str,
) -> Vec<u8> {
    let mut out = String::with_capacity(512);
    out.push('<');
    out.push_str(operation);
    out.push_str("Response xmlns=\"");
    escape_into(&mut out, model.xml_namespace());
    out.push_str("\">");
    if let Some(shape) = model
        .operation(operation)
        .and_then(|op| op.output.map(|s| (s, op)))
    {
        let (output, op) = shape;
        let writer = Writer { model, url_encoded };
        match &op.result_wrapper {
            Some(wrapper) => {
                open(&mut out, wrapper);
                writer.members(&mut out, output, value);
                close(&mut out, wrapper);
            }
            None => writer.members(&mut out, output, value),
        }
    }
    out.push_str("<ResponseMetadata><RequestId>");
    escape_into(&mut out, request_id);
    out.push_str("</RequestId></ResponseMetadata></");
    out.push_str(operation);
    out.push_str("Response>");
    out.into_bytes()
}

/// The error body of the Query protocol. `Type` is `Receiver` for a 5xx and `Sender` otherwise;
/// an empty message is left out, as the JSON codec leaves it out.
pub fn error_body(error: &WireError, namespace: &str, request_id: &str) -> Vec<u8> {
    let mut out = String::with_capacity(256);
    out.push_str("<ErrorResponse xmlns=\"");
    escape_into(&mut out, namespace);
    out.push_str("\"><Error><Type>");
    out.push_str(if error.status >= 500 {
        "Receiver"
    } else {
        "Sender"
    });
    out.push_str("</Type><Code>");
    escape_into(&mut out, error.code);
    out.push_str("</Code>");
    if !error.message.is_empty() {
        out.push_str("<Message>");
        escape_into(&mut out, &error.message);
        out.push_str("</Message>");
    }
    out.push_str("</Error><RequestId>");
    escape_into(&mut out, request_id);
    out.push_str("</RequestId></ErrorResponse>");
    out.into_bytes()
}

struct Writer<'m> {
    model: &'m ServiceModel,
    url_encoded: &'m [&'m str],
}

impl Writer<'_> {
    /// The members of a structure, in model order, each as an element.
    fn members(&self, out: &mut String, id: ShapeId, value: &Value) {
        let (Kind::Structure(members), Value::Object(fields)) = (&self.model.shape(id).kind, value)
        else {
            return;
        };
        for member in members {
            match fields.get(&member.name) {
                None | Some(Value::Null) => {}
                Some(field) => self.member(out, member, field),
            }
        }
    }

    fn member(&self, out: &mut String, member: &Member, value: &Value) {
        let shape = self.model.shape(member.shape);
        let name = member.wire_name();
        match (&shape.kind, value) {
            (Kind::List(item), Value::Array(items)) if shape.xml.flattened || member.flattened => {
                let name = shape.xml.item.as_deref().unwrap_or(name);
                for value in items.iter().filter(|value| !value.is_null()) {
                    self.element(out, name, *item, value);
                }
            }
            (
                Kind::Map {
                    key,
                    value: value_shape,
                },
                Value::Object(entries),
            ) if shape.xml.flattened || member.flattened => {
                for (entry_key, entry_value) in entries {
                    open(out, name);
                    self.entry(out, shape.xml.key.as_deref(), *key, entry_key);
                    self.element(
                        out,
                        shape.xml.value.as_deref().unwrap_or("value"),
                        *value_shape,
                        entry_value,
                    );
                    close(out, name);
                }
            }
            _ => self.element(out, name, member.shape, value),
        }
    }

    /// `<name>…</name>` holding a value of the shape.
    fn element(&self, out: &mut String, name: &str, id: ShapeId, value: &Value) {
        let shape = self.model.shape(id);
        match (&shape.kind, value) {
            (Kind::Structure(_), Value::Object(_)) => {
                open(out, name);
                self.members(out, id, value);
                close(out, name);
            }
            (Kind::List(item), Value::Array(items)) => {
                let item_name = shape.xml.item.as_deref().unwrap_or("member");
                open(out, name);
                for value in items.iter().filter(|value| !value.is_null()) {
                    self.element(out, item_name, *item, value);
                }
                close(out, name);
            }
            (
                Kind::Map {
                    key,
                    value: value_shape,
                },
                Value::Object(entries),
            ) => {
                open(out, name);
                for (entry_key, entry_value) in entries {
                    out.push_str("<entry>");
                    self.entry(out, shape.xml.key.as_deref(), *key, entry_key);
                    self.element(
                        out,
                        shape.xml.value.as_deref().unwrap_or("value"),
                        *value_shape,
                        entry_value,
                    );
                    out.push_str("</entry>");
                }
                close(out, name);
            }
            (kind, value) => {
                if let Some(text) = self.text(kind, &shape.name, value) {
                    open(out, name);
                    escape_into(out, &text);
                    close(out, name);
                }
            }
        }
    }

    fn entry(&self, out: &mut String, key_name: Option<&str>, key_shape: ShapeId, key: &str) {
        self.element(
            out,
            key_name.unwrap_or("key"),
            key_shape,
            &Value::String(key.to_owned()),
        );
    }

    /// The text of a scalar, or `None` when the value does not fit the shape (the typed
    /// responses mirror the model, so this is only ever a bug, and the member is left out).
    fn text(&self, kind: &Kind, shape_name: &str, value: &Value) -> Option<String> {
        match (kind, value) {
            (Kind::Timestamp, Value::Number(seconds)) => seconds.as_f64().and_then(iso8601),
            (Kind::Boolean, Value::Bool(flag)) => Some(flag.to_string()),
            (Kind::Integer | Kind::Long | Kind::Float | Kind::Double, Value::Number(number)) => {
                Some(number.to_string())
            }
            (_, Value::String(text)) if self.url_encoded.contains(&shape_name) => {
                Some(percent_encode(text))
            }
            (Kind::Structure(_) | Kind::List(_) | Kind::Map { .. }, _) => None,
            (_, Value::String(text)) => Some(text.clone()),
            _ => None,
        }
    }
}

/// Epoch seconds as ISO 8601 in UTC: `2026-11-23T16:29:00Z`, or `2026-11-23T16:29:00.359Z`
/// when there is a fraction of a second (to the millisecond).
pub(crate) fn iso8601(seconds: f64) -> Option<String> {
    if !seconds.is_finite() {
        return None;
    }
    // `as` saturates; an out-of-range value is then refused by `from_unix_timestamp_nanos`.
    let millis = (seconds * 1000.0).round() as i128;
    let time = OffsetDateTime::from_unix_timestamp_nanos(millis.checked_mul(1_000_000)?).ok()?;
    let mut text = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        time.year(),
        u8::from(time.month()),
        time.day(),
        time.hour(),
        time.minute(),
        time.second()
    );
    if time.millisecond() != 0 {
        text.push_str(&format!(".{:03}", time.millisecond()));
    }
    text.push('Z');
    Some(text)
}

fn open(out: &mut String, name: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
}

fn close(out: &mut String, name: &str) {
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Escapes text for element content and attribute values. A carriage return is kept as a
/// character reference (a parser would otherwise fold it into a line feed); characters XML 1.0
/// cannot carry at all are replaced by U+FFFD.
pub(crate) fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}
