//! Every kind of bad input gets AWS's exception and AWS's message, word for word.

// Test helpers outside #[test] functions fail loudly by design.
#![allow(clippy::unwrap_used, clippy::panic)]

use keyward_protocol::json::{unknown_operation, ServiceModel};
use keyward_protocol::WireError;

fn error(operation: &str, body: &str) -> WireError {
    match ServiceModel::kms().decode_input(operation, body.as_bytes()) {
        Ok(value) => panic!("{operation} {body} was accepted as {value}"),
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

fn accepted(operation: &str, body: &str) -> serde_json::Value {
    ServiceModel::kms()
        .decode_input(operation, body.as_bytes())
        .unwrap_or_else(|e| panic!("{operation} {body}: {e}"))
}

#[test]
fn missing_required_members_are_named_in_model_order() {
    assert_eq!(
        validation("Encrypt", "{}"),
        "2 validation errors detected: \
         Value null at 'keyId' failed to satisfy constraint: Member must not be null; \
         Value null at 'plaintext' failed to satisfy constraint: Member must not be null"
    );
    assert_eq!(
        validation("DescribeKey", r#"{"KeyId":null}"#),
        "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"
    );
    assert_eq!(validation("Encrypt", ""), validation("Encrypt", "{}"));
}

#[test]
fn string_lengths() {
    let long = "a".repeat(2049);
    assert_eq!(
        validation("DescribeKey", &format!(r#"{{"KeyId":"{long}"}}"#)),
        format!(
            "1 validation error detected: Value '{long}' at 'keyId' failed to satisfy constraint: \
             Member must have length less than or equal to 2048"
        )
    );
    assert_eq!(
        validation("DescribeKey", r#"{"KeyId":""}"#),
        "1 validation error detected: Value '' at 'keyId' failed to satisfy constraint: \
         Member must have length greater than or equal to 1"
    );
    // Lengths count characters, not UTF-8 bytes.
    accepted(
        "DescribeKey",
        &format!(r#"{{"KeyId":"{}"}}"#, "é".repeat(2048)),
    );
}

#[test]
fn enum_values_are_listed_in_model_order() {
    assert_eq!(
        validation("CreateKey", r#"{"KeySpec":"AES_256"}"#),
        "1 validation error detected: Value 'AES_256' at 'keySpec' failed to satisfy constraint: \
         Member must satisfy enum value set: [RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, \
         ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1, SYMMETRIC_DEFAULT, HMAC_224, HMAC_256, \
         HMAC_384, HMAC_512, SM2, ML_DSA_44, ML_DSA_65, ML_DSA_87, ECC_NIST_EDWARDS25519]"
    );
    assert_eq!(
        validation("GenerateDataKey", r#"{"KeyId":"k","KeySpec":"aes_256"}"#),
        "1 validation error detected: Value 'aes_256' at 'keySpec' failed to satisfy constraint: \
         Member must satisfy enum value set: [AES_256, AES_128]"
    );
}

#[test]
fn patterns_must_match_the_whole_value() {
    assert_eq!(
        validation(
            "CreateAlias",
            r#"{"AliasName":"alias/my key","TargetKeyId":"k"}"#
        ),
        "1 validation error detected: Value 'alias/my key' at 'aliasName' failed to satisfy \
         constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
    );
    assert_eq!(
        validation(
            "GetKeyPolicy",
            r#"{"KeyId":"k","PolicyName":"default policy"}"#
        ),
        "1 validation error detected: Value 'default policy' at 'policyName' failed to satisfy \
         constraint: Member must satisfy regular expression pattern: [\\w]+"
    );
    assert_eq!(
        validation("ListKeys", r#"{"Marker":"a\tb"}"#),
        "1 validation error detected: Value 'a\tb' at 'marker' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: [\\u0020-\\u00FF]*"
    );
    accepted("GetKeyPolicy", r#"{"KeyId":"k","PolicyName":"default"}"#);
}

#[test]
fn a_value_can_break_several_constraints() {
    assert_eq!(
        validation("CreateAlias", r#"{"AliasName":"","TargetKeyId":"k"}"#),
        "2 validation errors detected: \
         Value '' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$; \
         Value '' at 'aliasName' failed to satisfy constraint: Member must have length greater than or equal to 1"
    );
}

#[test]
fn integer_ranges() {
    for (body, bound) in [
        (r#"{"NumberOfBytes":0}"#, "greater than or equal to 1"),
        (r#"{"NumberOfBytes":1025}"#, "less than or equal to 1024"),
    ] {
        let value = if body.contains(":0") { "0" } else { "1025" };
        assert_eq!(
            validation("GenerateRandom", body),
            format!(
                "1 validation error detected: Value '{value}' at 'numberOfBytes' failed to satisfy \
                 constraint: Member must have value {bound}"
            )
        );
    }
    accepted("GenerateRandom", r#"{"NumberOfBytes":1}"#);
    accepted("GenerateRandom", r#"{"NumberOfBytes":1024}"#);
    assert_eq!(
        validation(
            "ScheduleKeyDeletion",
            r#"{"KeyId":"k","PendingWindowInDays":366}"#
        ),
        "1 validation error detected: Value '366' at 'pendingWindowInDays' failed to satisfy \
         constraint: Member must have value less than or equal to 365"
    );
    assert_eq!(
        validation(
            "EnableKeyRotation",
            r#"{"KeyId":"k","RotationPeriodInDays":89}"#
        ),
        "1 validation error detected: Value '89' at 'rotationPeriodInDays' failed to satisfy \
         constraint: Member must have value greater than or equal to 90"
    );
}

#[test]
fn collection_lengths() {
    let tokens = vec!["t"; 11];
    assert_eq!(
        validation(
            "DescribeKey",
            &format!(
                r#"{{"KeyId":"k","GrantTokens":{}}}"#,
                serde_json::json!(tokens)
            )
        ),
        "1 validation error detected: Value '[t, t, t, t, t, t, t, t, t, t, t]' at 'grantTokens' \
         failed to satisfy constraint: Member must have length less than or equal to 10"
    );
}

#[test]
fn nested_members_have_one_based_list_paths() {
    let long_key = "k".repeat(129);
    assert_eq!(
        validation(
            "TagResource",
            &format!(r#"{{"KeyId":"k","Tags":[{{"TagKey":"{long_key}","TagValue":"v"}},{{"TagKey":"ok"}}]}}"#)
        ),
        format!(
            "2 validation errors detected: \
             Value '{long_key}' at 'tags.1.member.tagKey' failed to satisfy constraint: Member must have length less than or equal to 128; \
             Value null at 'tags.2.member.tagValue' failed to satisfy constraint: Member must not be null"
        )
    );
    assert_eq!(
        validation("UntagResource", r#"{"KeyId":"k","TagKeys":["a",""]}"#),
        "1 validation error detected: Value '' at 'tagKeys.2.member' failed to satisfy constraint: \
         Member must have length greater than or equal to 1"
    );
}

#[test]
fn violations_across_the_input_are_counted_together() {
    let tokens = serde_json::json!(vec!["t"; 11]);
    assert_eq!(
        validation(
            "Encrypt",
            &format!(r#"{{"KeyId":"","Plaintext":"","GrantTokens":{tokens},"EncryptionAlgorithm":"AES"}}"#)
        ),
        "4 validation errors detected: \
         Value '' at 'keyId' failed to satisfy constraint: Member must have length greater than or equal to 1; \
         Value at 'plaintext' failed to satisfy constraint: Member must have length greater than or equal to 1; \
         Value '[t, t, t, t, t, t, t, t, t, t, t]' at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to 10; \
         Value 'AES' at 'encryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: \
         [SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE]"
    );
}

#[test]
fn sensitive_values_are_never_quoted() {
    let plaintext = "s3cr3t-".repeat(600);
    let encoded = base64_of(plaintext.as_bytes());
    let message = validation(
        "Encrypt",
        &format!(r#"{{"KeyId":"k","Plaintext":"{encoded}"}}"#),
    );
    assert_eq!(
        message,
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: \
         Member must have length less than or equal to 4096"
    );
    assert!(!message.contains("s3cr3t") && !message.contains(&encoded[..16]));
    // A sensitive value that is fine is not mentioned when another member is wrong.
    let message = validation(
        "Encrypt",
        &format!(r#"{{"KeyId":"","Plaintext":"{}"}}"#, base64_of(b"s3cr3t")),
    );
    assert!(
        !message.contains("s3cr3t") && !message.contains(&base64_of(b"s3cr3t")),
        "{message}"
    );
}

#[test]
fn blobs_are_shown_as_buffers_never_as_bytes() {
    assert_eq!(
        validation("Decrypt", r#"{"CiphertextBlob":""}"#),
        "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=0 cap=0]' at \
         'ciphertextBlob' failed to satisfy constraint: Member must have length greater than or equal to 1"
    );
    let big = base64_of(&vec![7u8; 6145]);
    assert_eq!(
        validation("Decrypt", &format!(r#"{{"CiphertextBlob":"{big}"}}"#)),
        "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=6145 cap=6145]' at \
         'ciphertextBlob' failed to satisfy constraint: Member must have length less than or equal to 6144"
    );
}

#[test]
fn invalid_base64_is_a_serialization_error() {
    for blob in [
        "not base64!",
        "aHVudGVyMg",
        "aHVudGVyMg=",
        "aHVu dGVyMg==",
        "aHVudGVyMg-=",
    ] {
        assert_eq!(
            serialization(
                "Encrypt",
                &format!(r#"{{"KeyId":"k","Plaintext":"{blob}"}}"#)
            ),
            "",
            "{blob}"
        );
    }
}

#[test]
fn wrong_json_types_are_serialization_errors() {
    for (operation, body, message) in [
        (
            "DescribeKey",
            r#"{"KeyId":5}"#,
            "NUMBER_VALUE can not be converted to a String",
        ),
        (
            "DescribeKey",
            r#"{"KeyId":true}"#,
            "TRUE_VALUE can not be converted to a String",
        ),
        (
            "DescribeKey",
            r#"{"KeyId":false}"#,
            "FALSE_VALUE can not be converted to a String",
        ),
        (
            "DescribeKey",
            r#"{"KeyId":["k"]}"#,
            "Start of list found where not expected",
        ),
        (
            "DescribeKey",
            r#"{"KeyId":{"Id":"k"}}"#,
            "Start of structure or map found where not expected.",
        ),
        (
            "GenerateRandom",
            r#"{"NumberOfBytes":"32"}"#,
            "STRING_VALUE can not be converted to an Integer",
        ),
        (
            "GenerateRandom",
            r#"{"NumberOfBytes":32.5}"#,
            "NUMBER_VALUE can not be converted to an Integer",
        ),
        (
            "GenerateRandom",
            r#"{"NumberOfBytes":4294967296}"#,
            "NUMBER_VALUE can not be converted to an Integer",
        ),
        (
            "CreateKey",
            r#"{"MultiRegion":"true"}"#,
            "STRING_VALUE can not be converted to an Boolean",
        ),
        (
            "CreateKey",
            r#"{"Tags":{"TagKey":"a"}}"#,
            "Start of structure or map found where not expected.",
        ),
        ("CreateKey", r#"{"Tags":"a"}"#, "Expected list or null"),
        ("CreateKey", r#"{"Tags":["a"]}"#, "Expected null"),
        (
            "CreateKey",
            r#"{"Tags":[[]]}"#,
            "Start of list found where not expected",
        ),
        (
            "Encrypt",
            r#"{"KeyId":"k","Plaintext":"AA==","EncryptionContext":[]}"#,
            "Start of list found where not expected",
        ),
        (
            "Encrypt",
            r#"{"KeyId":"k","Plaintext":"AA==","EncryptionContext":"a=b"}"#,
            "Expected map or null",
        ),
        (
            "Encrypt",
            r#"{"KeyId":"k","Plaintext":"AA==","EncryptionContext":{"a":1}}"#,
            "NUMBER_VALUE can not be converted to a String",
        ),
        (
            "Encrypt",
            r#"{"KeyId":"k","Plaintext":7}"#,
            "NUMBER_VALUE can not be converted to a Blob",
        ),
    ] {
        assert_eq!(
            serialization(operation, body),
            message,
            "{operation} {body}"
        );
    }
}

#[test]
fn a_serialization_error_wins_over_validation_errors() {
    assert_eq!(
        serialization("Encrypt", r#"{"KeyId":"","GrantTokens":[1]}"#),
        "NUMBER_VALUE can not be converted to a String"
    );
}

#[test]
fn malformed_json() {
    for body in [
        "{",
        r#"{"KeyId":"k",}"#,
        r#"{"KeyId":"k"} {}"#,
        "nul",
        "\"k\"",
        "1",
        "null",
        "true",
    ] {
        assert_eq!(serialization("DescribeKey", body), "", "{body}");
    }
    assert_eq!(
        serialization("DescribeKey", "[]"),
        "Start of list found where not expected"
    );
    assert_eq!(
        serialization("DescribeKey", "[{\"KeyId\":\"k\"}]"),
        "Start of list found where not expected"
    );
}

#[test]
fn nulls_are_absent_and_unknown_members_are_dropped() {
    let value = accepted(
        "Encrypt",
        r#"{"KeyId":"k","Plaintext":"AA==","EncryptionContext":null,"GrantTokens":[null,"t"],"Bogus":{"x":[1]}}"#,
    );
    assert_eq!(
        value,
        serde_json::json!({"KeyId":"k","Plaintext":"AA==","GrantTokens":["t"]})
    );
    assert_eq!(accepted("ListKeys", ""), serde_json::json!({}));
    assert_eq!(accepted("ListKeys", " \n"), serde_json::json!({}));
}

#[test]
fn unknown_operations() {
    let error = error("encrypt", "{}");
    assert_eq!(error, unknown_operation());
    assert_eq!(
        (error.code, error.message.as_str()),
        ("UnknownOperationException", "")
    );
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
