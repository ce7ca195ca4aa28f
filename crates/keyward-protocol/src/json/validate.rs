//! Checking a request body against its input shape, as AWS's front end does, in two phases:
//!
//! 1. Deserialization: a JSON type the shape cannot take is a `SerializationException`, and
//!    the first one ends the check. Its messages are the ones AWS's JSON 1.1 services send
//!    (`STRING_VALUE can not be converted to an Integer`, `Start of list found where not
//!    expected`, …).
//! 2. Validation: every constraint of the model (required, length, range, enum, pattern) is
//!    checked over the whole input and all violations are reported together as one
//!    `ValidationException`: `2 validation errors detected: Value 'x' at 'keyId' failed to
//!    satisfy constraint: …; …`.
//!
//! `null` members and list elements count as absent, unknown members are dropped, and the
//! value that comes out is the input with only the modelled members left.
//!
//! The wording follows what AWS's JSON services have been seen to answer. Where no answer of
//! AWS's is on record — a wrong JSON type for a blob, timestamp or map, constraints on map keys
//! and values — the message is written in the same style.
//! Deliberate difference: AWS truncates a fractional number sent for an integer; this codec
//! refuses it, like any other value that is not of the member's type.
//!
//! The Query protocol's services (IAM, STS) run the same checks and differ only in how they
//! word the answer; a [`Style`] says how.

use serde_json::{Map, Value};

use super::model::{Kind, Member, ServiceModel, Shape, ShapeId};
use super::{Blob, ZeroizeStrings};
use crate::WireError;

/// How a service words its validation errors.
#[derive(Debug)]
pub(crate) struct Style {
    /// The error code: `ValidationException` (JSON services) or `ValidationError` (Query).
    pub(crate) code: &'static str,
    /// Whether a violating value is quoted (`Value 'x' at 'name'`) or not (`Value at 'name'`).
    /// Sensitive values are never quoted either way.
    pub(crate) quotes_values: bool,
    /// Patterns the service checks itself, after the generic checks, answering with its own
    /// message: `(pattern, message)`, where `{member}` in the message is the member's path.
    /// Such a message is sent alone, and only when nothing else is wrong.
    pub(crate) own_pattern_messages: &'static [(&'static str, &'static str)],
}

/// AWS's JSON 1.1 services: `ValidationException`, values quoted.
pub(crate) const JSON_STYLE: Style = Style {
    code: "ValidationException",
    quotes_values: true,
    own_pattern_messages: &[],
};

pub(crate) fn check_structure(
    model: &ServiceModel,
    shape: ShapeId,
    input: Map<String, Value>,
) -> Result<Value, WireError> {
    check_structure_in_style(model, shape, input, &JSON_STYLE)
}

pub(crate) fn check_structure_in_style(
    model: &ServiceModel,
    shape: ShapeId,
    input: Map<String, Value>,
    style: &Style,
) -> Result<Value, WireError> {
    let mut walk = Walk {
        model,
        style,
        violations: Vec::new(),
        own_violation: None,
    };
    let Kind::Structure(members) = &model.shape(shape).kind else {
        return Ok(Value::Object(Map::new()));
    };
    let mut checked = walk.structure(members, input, None, model.shape(shape).sensitive)?;
    if !walk.violations.is_empty() {
        checked.zeroize_strings();
        Err(validation_error(style.code, &walk.violations))
    } else if let Some(message) = walk.own_violation {
        checked.zeroize_strings();
        Err(WireError::client(style.code, message))
    } else {
        Ok(checked)
    }
}

fn validation_error(code: &'static str, violations: &[String]) -> WireError {
    let count = violations.len();
    let plural = if count == 1 { "" } else { "s" };
    WireError::client(
        code,
        format!(
            "{count} validation error{plural} detected: {}",
            violations.join("; ")
        ),
    )
}

/// The deserialization error for a JSON value of the wrong type. `target` is how AWS names the
/// expected type in its messages, e.g. `an Integer`.
pub(crate) fn type_mismatch(value: &Value, target: &str) -> WireError {
    let found = match value {
        Value::Array(_) => return start_of_list(),
        Value::Object(_) => return start_of_map(),
        Value::Null => return WireError::serialization(""),
        Value::String(_) => "STRING_VALUE",
        Value::Number(_) => "NUMBER_VALUE",
        Value::Bool(true) => "TRUE_VALUE",
        Value::Bool(false) => "FALSE_VALUE",
    };
    WireError::serialization(format!("{found} can not be converted to {target}"))
}

pub(crate) fn start_of_list() -> WireError {
    WireError::serialization("Start of list found where not expected")
}

fn start_of_map() -> WireError {
    WireError::serialization("Start of structure or map found where not expected.")
}

struct Walk<'m> {
    model: &'m ServiceModel,
    style: &'m Style,
    violations: Vec<String>,
    /// The first violation of a pattern the service words itself (see [`Style`]).
    own_violation: Option<String>,
}

impl Walk<'_> {
    fn structure(
        &mut self,
        members: &[Member],
        mut input: Map<String, Value>,
        parent: Option<&str>,
        in_sensitive: bool,
    ) -> Result<Value, WireError> {
        let mut checked = Map::new();
        for member in members {
            let path = match parent {
                Some(parent) => format!("{parent}.{}", member.path),
                None => member.path.clone(),
            };
            match input.remove(&member.name) {
                None | Some(Value::Null) => {
                    if member.required {
                        let null = if self.style.quotes_values {
                            " null"
                        } else {
                            ""
                        };
                        self.violations.push(format!(
                            "Value{null} at '{path}' failed to satisfy constraint: Member must not be null"
                        ));
                    }
                }
                Some(value) => {
                    let value = self.value(member.shape, value, &path, in_sensitive)?;
                    checked.insert(member.name.clone(), value);
                }
            }
        }
        Ok(Value::Object(checked))
    }

    /// `in_sensitive`: the value is inside a sensitive shape, so nothing of it may be shown.
    fn value(
        &mut self,
        id: ShapeId,
        value: Value,
        path: &str,
        in_sensitive: bool,
    ) -> Result<Value, WireError> {
        let shape = self.model.shape(id);
        let in_sensitive = in_sensitive || shape.sensitive;
        // Whether this value as a whole may be quoted; its members decide for themselves.
        let concealed = in_sensitive || shape.conceals;
        match &shape.kind {
            Kind::Structure(members) => match value {
                Value::Object(input) => self.structure(members, input, Some(path), in_sensitive),
                Value::Array(_) => Err(start_of_list()),
                _ => Err(WireError::serialization("Expected null")),
            },
            Kind::List(member) => match value {
                Value::Array(items) => {
                    let mut checked = Vec::with_capacity(items.len());
                    for item in items.into_iter().filter(|item| !item.is_null()) {
                        let item_path = format!("{path}.{}.member", checked.len() + 1);
                        checked.push(self.value(*member, item, &item_path, in_sensitive)?);
                    }
                    let violations = length_violations(shape, checked.len());
                    let checked = Value::Array(checked);
                    let shown =
                        (!concealed && !violations.is_empty()).then(|| self.show(id, &checked));
                    self.report(path, shown.as_deref(), violations);
                    Ok(checked)
                }
                Value::Object(_) => Err(start_of_map()),
                _ => Err(WireError::serialization("Expected list or null")),
            },
            Kind::Map {
                key,
                value: value_shape,
            } => match value {
                Value::Object(entries) => {
                    self.map(shape, *key, *value_shape, entries, path, in_sensitive)
                }
                Value::Array(_) => Err(start_of_list()),
                _ => Err(WireError::serialization("Expected map or null")),
            },
            Kind::String { pattern, .. } => match value {
                Value::String(text) => {
                    let own_message = pattern.as_ref().and_then(|pattern| {
                        self.style
                            .own_pattern_messages
                            .iter()
                            .find(|(source, _)| *source == pattern.source)
                            .map(|(_, message)| (pattern, *message))
                    });
                    let violations = string_violations(shape, &text, own_message.is_none());
                    if let Some((pattern, message)) = own_message {
                        if pattern.matches(&text) == Some(false) && self.own_violation.is_none() {
                            self.own_violation = Some(message.replace("{member}", path));
                        }
                    }
                    self.report(path, (!concealed).then_some(text.as_str()), violations);
                    Ok(Value::String(text))
                }
                other => Err(type_mismatch(&other, "a String")),
            },
            Kind::Integer | Kind::Long => {
                let (target, fits): (&str, fn(i64) -> bool) = match shape.kind {
                    Kind::Integer => ("an Integer", |n| i32::try_from(n).is_ok()),
                    _ => ("a Long", |_| true),
                };
                match value.as_i64().filter(|n| fits(*n)) {
                    Some(number) => {
                        let violations = range_violations(shape, number);
                        let shown =
                            (!concealed && !violations.is_empty()).then(|| number.to_string());
                        self.report(path, shown.as_deref(), violations);
                        Ok(value)
                    }
                    None => Err(type_mismatch(&value, target)),
                }
            }
            Kind::Float | Kind::Double | Kind::Timestamp => {
                if value.is_number() {
                    Ok(value)
                } else {
                    let target = match shape.kind {
                        Kind::Float => "a Float",
                        Kind::Double => "a Double",
                        _ => "a Timestamp",
                    };
                    Err(type_mismatch(&value, target))
                }
            }
            // AWS's wording, article included, as observed on its JSON services.
            Kind::Boolean if value.is_boolean() => Ok(value),
            Kind::Boolean => Err(type_mismatch(&value, "an Boolean")),
            Kind::Blob => match value {
                Value::String(text) => {
                    // Invalid base64 is a SerializationException without a message, as AWS.
                    let bytes =
                        Blob::decode_base64(&text).ok_or_else(|| WireError::serialization(""))?;
                    let shown = (!concealed).then(|| byte_buffer(bytes.len()));
                    self.report(
                        path,
                        shown.as_deref(),
                        length_violations(shape, bytes.len()),
                    );
                    Ok(Value::String(text))
                }
                other => Err(type_mismatch(&other, "a Blob")),
            },
            Kind::Unchecked => Ok(value),
        }
    }

    fn map(
        &mut self,
        shape: &Shape,
        key_shape: ShapeId,
        value_shape: ShapeId,
        entries: Map<String, Value>,
        path: &str,
        in_sensitive: bool,
    ) -> Result<Value, WireError> {
        let mut checked = Map::new();
        for (key, value) in entries {
            if value.is_null() {
                continue;
            }
            for violation in string_violations(self.model.shape(key_shape), &key, true) {
                self.report(
                    path,
                    None,
                    vec![format!("Map keys must satisfy constraint: [{violation}]")],
                );
            }
            let value_shape_ref = self.model.shape(value_shape);
            let value = match (&value_shape_ref.kind, value) {
                (Kind::String { .. }, Value::String(text)) => {
                    for violation in string_violations(value_shape_ref, &text, true) {
                        self.report(
                            path,
                            None,
                            vec![format!("Map value must satisfy constraint: [{violation}]")],
                        );
                    }
                    Value::String(text)
                }
                (_, value) => {
                    self.value(value_shape, value, &format!("{path}.{key}"), in_sensitive)?
                }
            };
            checked.insert(key, value);
        }
        // Maps are never quoted in messages: AWS says `Value at 'path'` for them.
        self.report(path, None, length_violations(shape, checked.len()));
        Ok(Value::Object(checked))
    }

    fn report(&mut self, path: &str, shown: Option<&str>, violations: Vec<String>) {
        let shown = shown.filter(|_| self.style.quotes_values);
        for violation in violations {
            self.violations.push(match shown {
                Some(shown) => {
                    format!("Value '{shown}' at '{path}' failed to satisfy constraint: {violation}")
                }
                None => format!("Value at '{path}' failed to satisfy constraint: {violation}"),
            });
        }
    }

    /// How AWS quotes a value: Java's `toString` of it. Only called for shapes that conceal
    /// nothing, and blobs show their length only.
    fn show(&self, id: ShapeId, value: &Value) -> String {
        let shape = self.model.shape(id);
        match (&shape.kind, value) {
            (Kind::Blob, Value::String(text)) => {
                byte_buffer(Blob::decode_base64(text).map_or(0, |bytes| bytes.len()))
            }
            (Kind::List(member), Value::Array(items)) => {
                let items: Vec<String> =
                    items.iter().map(|item| self.show(*member, item)).collect();
                format!("[{}]", items.join(", "))
            }
            (Kind::Structure(members), Value::Object(fields)) => {
                let fields: Vec<String> = members
                    .iter()
                    .filter_map(|m| {
                        fields
                            .get(&m.name)
                            .map(|v| format!("{}={}", m.name, self.show(m.shape, v)))
                    })
                    .collect();
                format!("{{{}}}", fields.join(", "))
            }
            (_, Value::String(text)) => text.clone(),
            (_, other) => other.to_string(),
        }
    }
}

/// How AWS's Java front end prints a blob: the buffer, never its bytes.
fn byte_buffer(len: usize) -> String {
    format!("java.nio.HeapByteBuffer[pos=0 lim={len} cap={len}]")
}

/// `with_pattern`: whether the pattern is checked here (it is not when the service checks it
/// itself, see [`Style`]).
fn string_violations(shape: &Shape, text: &str, with_pattern: bool) -> Vec<String> {
    let mut violations = Vec::new();
    if let Kind::String {
        enum_values,
        pattern,
    } = &shape.kind
    {
        if !enum_values.is_empty() && !enum_values.iter().any(|allowed| allowed == text) {
            violations.push(format!(
                "Member must satisfy enum value set: [{}]",
                enum_values.join(", ")
            ));
        }
        if let Some(pattern) = pattern.as_ref().filter(|_| with_pattern) {
            if pattern.matches(text) == Some(false) {
                violations.push(format!(
                    "Member must satisfy regular expression pattern: {}",
                    pattern.source
                ));
            }
        }
    }
    violations.extend(length_violations(shape, text.chars().count()));
    violations
}

fn length_violations(shape: &Shape, len: usize) -> Vec<String> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let mut violations = Vec::new();
    if let Some(min) = shape.min.filter(|min| len < *min) {
        violations.push(format!(
            "Member must have length greater than or equal to {min}"
        ));
    }
    if let Some(max) = shape.max.filter(|max| len > *max) {
        violations.push(format!(
            "Member must have length less than or equal to {max}"
        ));
    }
    violations
}

fn range_violations(shape: &Shape, number: i64) -> Vec<String> {
    let mut violations = Vec::new();
    if let Some(min) = shape.min.filter(|min| number < *min) {
        violations.push(format!(
            "Member must have value greater than or equal to {min}"
        ));
    }
    if let Some(max) = shape.max.filter(|max| number > *max) {
        violations.push(format!(
            "Member must have value less than or equal to {max}"
        ));
    }
    violations
}
