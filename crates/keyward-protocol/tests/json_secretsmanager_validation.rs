//! Bad Secrets Manager bodies get AWS's exception and AWS's message, word for word, and no
//! message ever quotes a secret value.

// Test helpers outside #[test] functions fail loudly by design.
#![allow(clippy::unwrap_used, clippy::panic)]

use keyward_protocol::secretsmanager::*;
use keyward_protocol::WireError;

const SECRET: &str = "hunter2-correct-horse";

fn decode(operation: &str, body: &str) -> SecretsManagerOperation {
    SecretsManagerOperation::decode(operation, body.as_bytes())
        .unwrap_or_else(|e| panic!("{operation} {body}: {e}"))
}
fn error(operation: &str, body: &str) -> WireError {
    match SecretsManagerOperation::decode(operation, body.as_bytes()) {
        Ok(request) => panic!("{operation} {body} was accepted as {request:?}"),
        Err(error) => error,
    }
}

fn validation(operation: &str, body: &str) -> String {
    let error = error(operation, body);
    assert_eq!(
        (error.code, error.status),
        ("ValidationException", 400),
        "{error}"
    );
    error.message
}

fn serialization(operation: &str, body: &str) -> String {
    let error = error(operation, body);
    assert_eq!(
        (error.code, error.status),
        ("SerializationException", 400),
        "{error}"
    );
    error.message
}

/// Neither the message, nor the error's `Display` or `Debug`, nor the wire body shows `secret`.
fn assert_conceals(error: &WireError, secret: &str) {
    for shown in [
        error.message.clone(),
        error.to_string(),
        format!("{error:?}"),
        String::from_utf8(error.to_json_body()).unwrap(),
    ] {
        assert!(!shown.contains(secret), "{shown}");
    }
}
#[test]
fn decode_answers_each_failure_with_its_exception() {
    let unknown = error("NoSuchOperation", "{}");
    assert_eq!(
        (unknown.code, unknown.message.as_str()),
        ("UnknownOperationException", "")
    );
    // A KMS operation is not a Secrets Manager one.
    assert_eq!(error("Encrypt", "{}").code, "UnknownOperationException");
    assert_eq!(serialization("GetSecretValue", "{"), "");
    for operation in SecretsManagerOperation::SUPPORTED {
        assert_eq!(
            serialization(operation, "[]"),
            "Start of list found where not expected",
            "{operation}"
        );
    }
}

#[test]
fn name_length_and_presence() {
    let long = "n".repeat(513);
    assert_eq!(
        validation("CreateSecret", &format!(r#"{{"Name": "{long}"}}"#)),
        format!(
            "1 validation error detected: Value '{long}' at 'name' failed to satisfy constraint: \
             Member must have length less than or equal to 512"
        )
    );
    decode(
        "CreateSecret",
        &format!(r#"{{"Name": "{}"}}"#, "n".repeat(512)),
    );
    assert_eq!(
        validation("CreateSecret", r#"{"Name": ""}"#),
        "1 validation error detected: Value '' at 'name' failed to satisfy constraint: \
         Member must have length greater than or equal to 1"
    );
    assert_eq!(
        validation("CreateSecret", r#"{"Description": "d"}"#),
        "1 validation error detected: Value null at 'name' failed to satisfy constraint: \
         Member must not be null"
    );
    let long_id = "s".repeat(2049);
    assert_eq!(
        validation("GetSecretValue", &format!(r#"{{"SecretId": "{long_id}"}}"#)),
        format!(
            "1 validation error detected: Value '{long_id}' at 'secretId' failed to satisfy \
             constraint: Member must have length less than or equal to 2048"
        )
    );
}

#[test]
fn client_request_token_is_32_to_64_characters() {
    for (token, bound) in [
        ("t".repeat(31), "greater than or equal to 32"),
        ("t".repeat(65), "less than or equal to 64"),
    ] {
        assert_eq!(
            validation(
                "CreateSecret",
                &format!(r#"{{"Name": "n", "ClientRequestToken": "{token}"}}"#)
            ),
            format!(
                "1 validation error detected: Value '{token}' at 'clientRequestToken' failed to \
                 satisfy constraint: Member must have length {bound}"
            )
        );
    }
    for len in [32, 36, 64] {
        let body = format!(
            r#"{{"SecretId": "n", "ClientRequestToken": "{}"}}"#,
            "t".repeat(len)
        );
        decode("PutSecretValue", &body);
    }
}

#[test]
fn recovery_window_is_an_unbounded_long() {
    // The model gives no range: 7–30 days is the service's rule, answered by the handler.
    for days in ["0", "7", "30", "10000000000"] {
        let body = format!(r#"{{"SecretId": "s", "RecoveryWindowInDays": {days}}}"#);
        let SecretsManagerOperation::DeleteSecret(request) = decode("DeleteSecret", &body) else {
            panic!("not DeleteSecret")
        };
        assert_eq!(request.recovery_window_in_days, Some(days.parse().unwrap()));
    }
    assert_eq!(
        serialization(
            "DeleteSecret",
            r#"{"SecretId": "s", "RecoveryWindowInDays": "7"}"#
        ),
        "STRING_VALUE can not be converted to a Long"
    );
    assert_eq!(
        serialization(
            "DeleteSecret",
            r#"{"SecretId": "s", "RecoveryWindowInDays": 7.5}"#
        ),
        "NUMBER_VALUE can not be converted to a Long"
    );
    assert_eq!(
        serialization(
            "DeleteSecret",
            r#"{"SecretId": "s", "ForceDeleteWithoutRecovery": "true"}"#
        ),
        "STRING_VALUE can not be converted to an Boolean"
    );
    // PasswordLength is a bounded Long.
    assert_eq!(
        validation("GetRandomPassword", r#"{"PasswordLength": 4097}"#),
        "1 validation error detected: Value '4097' at 'passwordLength' failed to satisfy \
         constraint: Member must have value less than or equal to 4096"
    );
}

#[test]
fn list_constraints_and_nested_paths() {
    assert_eq!(
        validation("ListSecrets", r#"{"MaxResults": 101}"#),
        "1 validation error detected: Value '101' at 'maxResults' failed to satisfy constraint: \
         Member must have value less than or equal to 100"
    );
    assert_eq!(
        validation("BatchGetSecretValue", r#"{"MaxResults": 21}"#),
        "1 validation error detected: Value '21' at 'maxResults' failed to satisfy constraint: \
         Member must have value less than or equal to 20"
    );
    assert_eq!(
        validation(
            "ListSecrets",
            r#"{"Filters": [{"Key": "names", "Values": ["a"]}, {"Key": "name", "Values": ["a*b"]}]}"#
        ),
        "2 validation errors detected: \
         Value 'names' at 'filters.1.member.key' failed to satisfy constraint: Member must satisfy \
         enum value set: [description, name, tag-key, tag-value, primary-region, owning-service, all]; \
         Value 'a*b' at 'filters.2.member.values.1.member' failed to satisfy constraint: Member must \
         satisfy regular expression pattern: ^\\!?[a-zA-Z0-9 :_@\\/\\+\\=\\.\\-\\!]*$"
    );
    decode(
        "ListSecrets",
        r#"{"Filters": [{"Key": "description", "Values": ["!not this", "a:b_c@d/e+f=g.h-i"]}]}"#,
    );
    assert_eq!(
        validation(
            "PutSecretValue",
            r#"{"SecretId": "s", "VersionStages": []}"#
        ),
        "1 validation error detected: Value '[]' at 'versionStages' failed to satisfy constraint: \
         Member must have length greater than or equal to 1"
    );
    assert_eq!(
        validation(
            "RotateSecret",
            r#"{"SecretId": "s", "RotationRules": {"AutomaticallyAfterDays": 1001, "Duration": "2d"}}"#
        ),
        "2 validation errors detected: \
         Value '1001' at 'rotationRules.automaticallyAfterDays' failed to satisfy constraint: \
         Member must have value less than or equal to 1000; \
         Value '2d' at 'rotationRules.duration' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: [0-9]+h"
    );
    assert_eq!(
        validation(
            "ReplicateSecretToRegions",
            r#"{"SecretId": "s", "AddReplicaRegions": [{"Region": "EU-WEST-1"}]}"#
        ),
        "1 validation error detected: Value 'EU-WEST-1' at 'addReplicaRegions.1.member.region' \
         failed to satisfy constraint: Member must satisfy regular expression pattern: \
         ^([a-z]+-)+\\d+$"
    );
}

#[test]
fn secret_values_never_appear_in_an_error() {
    let empty = validation("CreateSecret", r#"{"Name": "n", "SecretString": ""}"#);
    assert_eq!(
        empty,
        "1 validation error detected: Value at 'secretString' failed to satisfy constraint: \
         Member must have length greater than or equal to 1"
    );

    // A secret too long, next to a name too long: the name is quoted, the secret is not.
    let secret = SECRET.repeat(65536 / SECRET.len() + 1);
    let long_name = "n".repeat(513);
    let body = format!(r#"{{"Name": "{long_name}", "SecretString": "{secret}"}}"#);
    let too_long = error("CreateSecret", &body);
    assert_eq!(
        too_long.message,
        format!(
            "2 validation errors detected: \
             Value '{long_name}' at 'name' failed to satisfy constraint: Member must have length \
             less than or equal to 512; \
             Value at 'secretString' failed to satisfy constraint: Member must have length less \
             than or equal to 65536"
        )
    );
    assert_conceals(&too_long, SECRET);

    let binary = error(
        "PutSecretValue",
        &format!(
            r#"{{"SecretId": "s", "SecretBinary": "{}"}}"#,
            "aHVudGVy".repeat(65536 / 6 + 1)
        ),
    );
    assert_eq!(
        binary.message,
        "1 validation error detected: Value at 'secretBinary' failed to satisfy constraint: \
         Member must have length less than or equal to 65536"
    );
    assert_conceals(&binary, "hunter");

    let token = format!("{SECRET}!");
    let bad_token = error(
        "PutSecretValue",
        &format!(r#"{{"SecretId": "s", "RotationToken": "{token}-0123456789abcdef"}}"#),
    );
    assert_eq!(
        bad_token.message,
        "1 validation error detected: Value at 'rotationToken' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: ^[a-zA-Z0-9\\-]+$"
    );
    assert_conceals(&bad_token, SECRET);

    // A secret of the wrong JSON type is refused without echoing it.
    for value in ["12345678", "[\"hunter2\"]", "{\"p\": \"hunter2\"}", "true"] {
        let wrong = error(
            "UpdateSecret",
            &format!(r#"{{"SecretId": "s", "SecretString": {value}}}"#),
        );
        assert_eq!(wrong.code, "SerializationException");
        assert_conceals(&wrong, "hunter2");
        assert_conceals(&wrong, "12345678");
    }
    // A valid secret beside an invalid member is not quoted either.
    let beside = error(
        "UpdateSecret",
        &format!(r#"{{"SecretId": "", "SecretString": "{SECRET}"}}"#),
    );
    assert_eq!(beside.code, "ValidationException");
    assert_conceals(&beside, SECRET);
}
