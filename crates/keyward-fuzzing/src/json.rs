//! The AWS JSON 1.1 codec with its operation dispatch. The input is the `X-Amz-Target`
//! header value, a newline, then the body:
//!
//! ```text
//! TrentService.Encrypt
//! {"KeyId":"alias/app","Plaintext":"aGVsbG8="}
//! ```
//!
//! The target is routed by the service models' own target prefixes (KMS, Secrets Manager,
//! CloudTrail), the way the server routes it, to the same decoders the server calls.

use keyward_protocol::cloudtrail::CloudTrailOperation;
use keyward_protocol::json::{self, ServiceModel};
use keyward_protocol::kms::KmsOperation;
use keyward_protocol::secretsmanager::SecretsManagerOperation;
use keyward_protocol::WireError;
use serde_json::Value;

use crate::input::split_line;

/// Decodes the body for the target and checks the codec's properties.
pub fn json(data: &[u8]) {
    let (target, body) = split_line(data);
    check_value_round_trip(body);
    let Ok(target) = std::str::from_utf8(target) else {
        return;
    };
    let Some((prefix, operation)) = json::parse_target(target) else {
        assert!(!target.contains('.') || target.starts_with('.') || target.ends_with('.'));
        return;
    };
    assert_eq!(format!("{prefix}.{operation}"), target);
    assert!(!operation.contains('.') && !prefix.is_empty() && !operation.is_empty());

    for model in [
        ServiceModel::kms(),
        ServiceModel::secretsmanager(),
        ServiceModel::cloudtrail(),
    ] {
        if model.target_prefix() == prefix {
            check_operation(model, operation, body);
        }
    }
}

/// Any JSON value goes back to text and reads back the same: numbers included, which
/// needs serde_json's `float_roundtrip` (without it some floats come back one unit in the
/// last place off).
fn check_value_round_trip(body: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        let text = serde_json::to_vec(&value);
        assert!(text.is_ok(), "a parsed value serializes");
        let again = serde_json::from_slice::<Value>(&text.unwrap_or_default());
        assert_eq!(again.ok(), Some(value));
    }
}

/// The model check and the typed decoder agree, accepted input is a fixed point of the
/// check, and every refusal is a client error.
fn check_operation(model: &ServiceModel, operation: &str, body: &[u8]) {
    let checked = model.decode_input(operation, body);
    let typed: Result<&'static str, WireError> =
        if model.target_prefix() == ServiceModel::kms().target_prefix() {
            KmsOperation::decode(operation, body).map(|op| op.name())
        } else if model.target_prefix() == ServiceModel::secretsmanager().target_prefix() {
            SecretsManagerOperation::decode(operation, body).map(|op| op.name())
        } else {
            CloudTrailOperation::decode(operation, body).map(|op| op.name())
        };
    match (&checked, &typed) {
        (Ok(input), _) => {
            let text = serde_json::to_vec(input).unwrap_or_default();
            assert_eq!(model.decode_input(operation, &text).as_ref(), Ok(input));
        }
        (Err(err), typed) => {
            assert_client_error(err);
            assert!(
                typed.is_err(),
                "{operation}: decoded what the model refused"
            );
        }
    }
    match typed {
        Ok(name) => assert_eq!(name, operation),
        Err(err) => assert_client_error(&err),
    }
}

fn assert_client_error(err: &WireError) {
    assert_eq!(err.status, 400, "{err:?}");
    assert!(!err.code.is_empty());
}
