//! Whatever else is wrong with a body, a secret value in it never comes back in the error,
//! and the Secrets Manager codec answers every body with a value or a 400, never a panic.

// Test helpers outside #[test] functions fail loudly by design.
#![allow(clippy::unwrap_used, clippy::panic)]

use keyward_protocol::secretsmanager::SecretsManagerOperation;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// The operations that carry a secret value (`SecretString`, `SecretBinary`, `RotationToken`).
const OPERATIONS: &[&str] = &["CreateSecret", "PutSecretValue", "UpdateSecret"];

/// Values for the members around the secret, valid and invalid.
fn other_member() -> impl Strategy<Value = (&'static str, Value)> {
    prop_oneof![
        Just(("Name", json!("prod/db"))),
        Just(("Name", json!(""))),
        Just(("Name", json!("n".repeat(513)))),
        Just(("SecretId", json!("prod/db"))),
        Just(("SecretId", json!(7))),
        Just(("ClientRequestToken", json!("t".repeat(36)))),
        Just(("ClientRequestToken", json!("short"))),
        Just(("Tags", json!([{"Key": "k", "Value": "v"}]))),
        Just(("Tags", json!([{"Key": ""}]))),
        Just(("Tags", json!({"Key": "k"}))),
        Just(("VersionStages", json!([]))),
        Just(("VersionStages", json!(["AWSPENDING"]))),
        Just(("Description", json!(false))),
        Just(("AddReplicaRegions", json!([{"Region": "Nowhere"}]))),
    ]
}

/// Ways of sending the secret: as it should be, too long, of the wrong JSON type, inside a
/// rotation token or a binary.
fn secret_member(secret: String) -> impl Strategy<Value = (&'static str, Value)> {
    let long = secret.repeat(65536 / secret.len() + 1);
    let base64 = base64_of(&secret);
    let long_base64 = base64_of(&long);
    prop_oneof![
        Just(("SecretString", json!(secret.clone()))),
        Just(("SecretString", json!(long))),
        Just(("SecretString", json!([secret.clone()]))),
        Just(("SecretString", json!({ "value": secret.clone() }))),
        Just(("RotationToken", json!(format!("{secret}!")))),
        Just(("RotationToken", json!(secret.clone()))),
        Just(("SecretBinary", json!(base64))),
        Just(("SecretBinary", json!(long_base64))),
    ]
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn secret_text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{12,24}".prop_map(|s| format!("Zk{s}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_secret_never_comes_back_in_an_error(
        operation in prop::sample::select(OPERATIONS),
        (secret, secret_member) in secret_text().prop_flat_map(|s| (Just(s.clone()), secret_member(s))),
        others in prop::collection::vec(other_member(), 0..5),
    ) {
        let mut body: Map<String, Value> = others
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        body.insert(secret_member.0.to_owned(), secret_member.1);
        let bytes = serde_json::to_vec(&Value::Object(body)).unwrap();
        match SecretsManagerOperation::decode(operation, &bytes) {
            Ok(request) => {
                let debug = format!("{request:?}");
                prop_assert!(!debug.contains(&secret), "{}", debug);
                prop_assert!(!debug.contains(&base64_of(&secret)), "{}", debug);
            }
            Err(error) => {
                prop_assert_eq!(error.status, 400);
                prop_assert!(
                    ["SerializationException", "ValidationException"].contains(&error.code),
                    "{}", error
                );
                let body = String::from_utf8(error.to_json_body()).unwrap();
                prop_assert!(!body.contains(&secret), "{}", body);
                prop_assert!(!body.contains(&base64_of(&secret)), "{}", body);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        operation in prop::sample::select(SecretsManagerOperation::SUPPORTED),
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        if let Err(error) = SecretsManagerOperation::decode(operation, &body) {
            prop_assert!(
                ["SerializationException", "ValidationException"].contains(&error.code),
                "{}", error
            );
        }
    }
}
