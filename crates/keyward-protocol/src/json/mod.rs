//! The AWS JSON 1.1 codec: `POST /` with `X-Amz-Target: <prefix>.<Operation>` and a JSON body.
//!
//! A body is first checked against the operation's input shape in the service model — the
//! model botocore installs, trimmed into `models/` — and then deserialized into a typed
//! request, so a handler only ever sees input that AWS itself would have accepted. Malformed
//! input gets AWS's own answers: `SerializationException` for JSON that does not fit the shape,
//! `ValidationException` listing every violated constraint.

mod audit_view;
mod blob;
#[cfg(test)]
pub(crate) mod examples;
pub(crate) mod model;
mod pattern;
mod secret_text;
pub(crate) mod validate;
mod wire_enum;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use zeroize::Zeroize;

pub use audit_view::Direction;
pub use blob::Blob;
pub use model::ServiceModel;
pub use secret_text::SecretText;
pub(crate) use wire_enum::wire_enums;

use crate::WireError;

/// A timestamp on the wire: seconds since the Unix epoch, fractions allowed.
pub type Timestamp = f64;

/// Splits an `X-Amz-Target` header into the service prefix and the operation, at the last `.`:
/// `TrentService.Encrypt` → `("TrentService", "Encrypt")`.
pub fn parse_target(header_value: &str) -> Option<(&str, &str)> {
    header_value
        .rsplit_once('.')
        .filter(|(prefix, operation)| !prefix.is_empty() && !operation.is_empty())
}

/// The answer to a target whose service is known but whose operation is not. AWS sends the
/// exception name alone, with no message.
pub fn unknown_operation() -> WireError {
    WireError::client("UnknownOperationException", "")
}

impl ServiceModel {
    /// Checks a request body against the operation's input shape and returns it as JSON with
    /// only the modelled members left. An empty body is `{}`.
    pub fn decode_input(&self, operation: &str, body: &[u8]) -> Result<Value, WireError> {
        let operation = self.operation(operation).ok_or_else(unknown_operation)?;
        let input = parse_object(body)?;
        match operation.input {
            Some(shape) => validate::check_structure(self, shape, input),
            None => Ok(Value::Object(Map::new())),
        }
    }
}

/// Checks a request body against the model, then deserializes it into `T`.
pub fn decode<T: DeserializeOwned>(
    model: &ServiceModel,
    operation: &str,
    body: &[u8],
) -> Result<T, WireError> {
    let input = model.decode_input(operation, body)?;
    into_request(input)
}

/// Deserializes checked input. The typed shapes mirror the model, so a failure here means they
/// disagree; the client still gets the `SerializationException` AWS would send for a bad type.
pub(crate) fn into_request<T: DeserializeOwned>(input: Value) -> Result<T, WireError> {
    serde_json::from_value(input).map_err(|_| WireError::serialization(""))
}

/// The JSON body of a response.
pub fn encode<T: Serialize>(response: &T) -> Vec<u8> {
    // Serializing the response shapes cannot fail: every map has string keys and every
    // custom `Serialize` (blobs) is infallible. An empty object is the safe answer regardless.
    serde_json::to_vec(response).unwrap_or_else(|_| b"{}".to_vec())
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, WireError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    // AWS answers unparseable JSON with the exception name alone.
    let value: Value = serde_json::from_slice(body).map_err(|_| WireError::serialization(""))?;
    match value {
        Value::Object(input) => Ok(input),
        Value::Array(_) => Err(validate::start_of_list()),
        _ => Err(WireError::serialization("")),
    }
}

/// Clearing the strings of a parsed body once it is no longer needed, so base64 plaintexts do
/// not linger in freed memory.
pub(crate) trait ZeroizeStrings {
    fn zeroize_strings(&mut self);
}

impl ZeroizeStrings for Value {
    fn zeroize_strings(&mut self) {
        match self {
            Value::String(text) => text.zeroize(),
            Value::Array(items) => items.iter_mut().for_each(ZeroizeStrings::zeroize_strings),
            Value::Object(members) => members
                .values_mut()
                .for_each(ZeroizeStrings::zeroize_strings),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_split_at_the_last_dot() {
        assert_eq!(
            parse_target("TrentService.Encrypt"),
            Some(("TrentService", "Encrypt"))
        );
        assert_eq!(
            parse_target("secretsmanager.GetSecretValue"),
            Some(("secretsmanager", "GetSecretValue"))
        );
        assert_eq!(
            parse_target("com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"),
            Some((
                "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101",
                "LookupEvents"
            ))
        );
        for bad in ["", "Encrypt", ".Encrypt", "TrentService.", "."] {
            assert_eq!(parse_target(bad), None, "{bad}");
        }
    }

    #[test]
    fn unknown_operation_is_a_bare_client_error() {
        let error = unknown_operation();
        assert_eq!(
            (error.code, error.message.as_str(), error.status),
            ("UnknownOperationException", "", 400)
        );
    }
}
