//! Whatever arrives, the codec answers with a value or an error — never a panic — and its
//! errors are always 400s of the three kinds a body can earn.

// Test helpers outside #[test] functions fail loudly by design.
#![allow(clippy::unwrap_used, clippy::panic)]

use keyward_protocol::json::ServiceModel;
use keyward_protocol::kms::KmsOperation;
use proptest::prelude::*;
use serde_json::{Map, Value};

const OPERATIONS: &[&str] = &[
    "Encrypt",
    "Decrypt",
    "CreateKey",
    "TagResource",
    "ListAliases",
    "GenerateRandom",
    "Sign",
];

/// Member names of the operations above, so generated objects reach past the top level.
const MEMBERS: &[&str] = &[
    "KeyId",
    "Plaintext",
    "CiphertextBlob",
    "EncryptionContext",
    "GrantTokens",
    "EncryptionAlgorithm",
    "Tags",
    "TagKey",
    "TagValue",
    "KeySpec",
    "NumberOfBytes",
    "Limit",
    "Marker",
    "MultiRegion",
    "Recipient",
    "AttestationDocument",
    "DryRun",
    "Message",
    "SigningAlgorithm",
    "Other",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[A-Za-z0-9+/=]{0,12}".prop_map(Value::String),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(MEMBERS), inner), 0..6).prop_map(
                |entries| Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>()
                )
            ),
        ]
    })
}

fn check_outcome(operation: &str, body: &[u8]) {
    match ServiceModel::kms().decode_input(operation, body) {
        Ok(value) => assert!(value.is_object()),
        Err(error) => {
            assert_eq!(error.status, 400);
            assert!(
                ["SerializationException", "ValidationException"].contains(&error.code),
                "{error}"
            );
        }
    }
    if let Err(error) = KmsOperation::decode(operation, body) {
        assert!(
            [
                "SerializationException",
                "ValidationException",
                "UnsupportedOperationException"
            ]
            .contains(&error.code),
            "{error}"
        );
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(operation in prop::sample::select(OPERATIONS), body in prop::collection::vec(any::<u8>(), 0..256)) {
        check_outcome(operation, &body);
    }

    #[test]
    fn arbitrary_json_never_panics(operation in prop::sample::select(OPERATIONS), value in json_value()) {
        check_outcome(operation, &serde_json::to_vec(&value).unwrap());
    }

    #[test]
    fn arbitrary_members_never_panic(
        operation in prop::sample::select(OPERATIONS),
        members in prop::collection::vec((prop::sample::select(MEMBERS), json_value()), 0..8),
    ) {
        let object: Map<String, Value> = members.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        check_outcome(operation, &serde_json::to_vec(&Value::Object(object)).unwrap());
    }
}
