//! Bodies exactly as botocore serializes them (`botocore.serialize` for the `kms` model) become
//! typed requests, and typed responses become the JSON the SDKs expect.

// Test helpers outside #[test] functions fail loudly by design.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;

use keyward_protocol::json::{self, Blob, ServiceModel};
use keyward_protocol::kms::*;

fn decode(operation: &str, body: &str) -> KmsOperation {
    KmsOperation::decode(operation, body.as_bytes()).unwrap_or_else(|e| panic!("{operation}: {e}"))
}

#[test]
fn encrypt() {
    let body = r#"{"KeyId": "alias/app", "Plaintext": "aHVudGVyMg==", "EncryptionContext": {"purpose": "test", "tenant": "t1"}}"#;
    let KmsOperation::Encrypt(request) = decode("Encrypt", body) else {
        panic!("not Encrypt")
    };
    assert_eq!(request.key_id, "alias/app");
    assert_eq!(request.plaintext.as_bytes(), b"hunter2");
    let context = request.encryption_context.clone().unwrap();
    assert_eq!(
        context,
        BTreeMap::from([
            ("purpose".into(), "test".into()),
            ("tenant".into(), "t1".into())
        ])
    );
    assert!(
        request.grant_tokens.is_none()
            && request.encryption_algorithm.is_none()
            && request.dry_run.is_none()
    );
    // The plaintext never reaches a log through Debug.
    let debug = format!("{request:?}");
    assert!(
        !debug.contains("hunter2") && !debug.contains("aHVudGVyMg"),
        "{debug}"
    );
    assert!(debug.contains("Blob(<7 bytes>)"), "{debug}");
}

#[test]
fn decrypt() {
    let body = r#"{"CiphertextBlob": "AQID/wECA/8BAgP/AQID/wECA/8BAgP/AQID/wECA/8BAgP/AQID/w==", "EncryptionContext": {"purpose": "test"}, "GrantTokens": ["tok1"], "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}"#;
    let operation = decode("Decrypt", body);
    assert_eq!(operation.name(), "Decrypt");
    let KmsOperation::Decrypt(request) = operation else {
        panic!("not Decrypt")
    };
    assert_eq!(
        request.ciphertext_blob.unwrap().as_bytes(),
        [1u8, 2, 3, 0xff].repeat(10)
    );
    assert_eq!(request.grant_tokens.unwrap(), ["tok1"]);
    assert_eq!(
        request.encryption_algorithm,
        Some(EncryptionAlgorithmSpec::SymmetricDefault)
    );
    assert!(request.key_id.is_none() && request.recipient.is_none());
}

#[test]
fn create_key_with_tags() {
    let body = r#"{"Description": "app key", "KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "SYMMETRIC_DEFAULT", "Tags": [{"TagKey": "team", "TagValue": "infra"}, {"TagKey": "env", "TagValue": ""}], "MultiRegion": false}"#;
    let KmsOperation::CreateKey(request) = decode("CreateKey", body) else {
        panic!("not CreateKey")
    };
    assert_eq!(request.description.as_deref(), Some("app key"));
    assert_eq!(request.key_usage, Some(KeyUsage::EncryptDecrypt));
    assert_eq!(request.key_spec, Some(KeySpec::SymmetricDefault));
    assert_eq!(request.multi_region, Some(false));
    let tags = request.tags.unwrap();
    assert_eq!(
        tags.iter()
            .map(|t| (t.tag_key.as_str(), t.tag_value.as_str()))
            .collect::<Vec<_>>(),
        [("team", "infra"), ("env", "")]
    );
    assert!(request.origin.is_none() && request.policy.is_none());
}

#[test]
fn list_aliases() {
    let KmsOperation::ListAliases(request) = decode("ListAliases", "{}") else {
        panic!("not ListAliases")
    };
    assert!(request.key_id.is_none() && request.limit.is_none() && request.marker.is_none());
    let body =
        r#"{"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "Limit": 10, "Marker": "next"}"#;
    let KmsOperation::ListAliases(request) = decode("ListAliases", body) else {
        panic!("not ListAliases")
    };
    assert_eq!(
        request.key_id.as_deref(),
        Some("1234abcd-12ab-34cd-56ef-1234567890ab")
    );
    assert_eq!(
        (request.limit, request.marker.as_deref()),
        (Some(10), Some("next"))
    );
}

#[test]
fn generic_decode_into_a_request_type() {
    let request: ScheduleKeyDeletionRequest = json::decode(
        ServiceModel::kms(),
        "ScheduleKeyDeletion",
        br#"{"KeyId": "k", "PendingWindowInDays": 7}"#,
    )
    .unwrap();
    assert_eq!(
        (request.key_id.as_str(), request.pending_window_in_days),
        ("k", Some(7))
    );
    let error = json::decode::<ScheduleKeyDeletionRequest>(
        ServiceModel::kms(),
        "ScheduleKeyDeletion",
        b"{}",
    )
    .unwrap_err();
    assert_eq!(error.code, "ValidationException");
}

#[test]
fn decode_answers_each_failure_with_its_exception() {
    let code = |operation: &str, body: &str| {
        KmsOperation::decode(operation, body.as_bytes())
            .unwrap_err()
            .code
    };
    assert_eq!(code("NoSuchOperation", "{}"), "UnknownOperationException");
    assert_eq!(code("Encrypt", "{"), "SerializationException");
    assert_eq!(code("Encrypt", r#"{"KeyId":"k"}"#), "ValidationException");
    assert_eq!(
        code("CreateCustomKeyStore", r#"{"CustomKeyStoreName":"store"}"#),
        "UnsupportedOperationException"
    );
    for operation in KmsOperation::SUPPORTED {
        assert_ne!(
            code(operation, "[]"),
            "UnsupportedOperationException",
            "{operation}"
        );
    }
}

#[test]
fn key_metadata_leaves_out_what_is_absent() {
    let response = DescribeKeyResponse {
        key_metadata: Some(KeyMetadata {
            aws_account_id: Some("000000000000".into()),
            key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
            arn: Some(
                "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                    .into(),
            ),
            creation_date: Some(1_700_000_000.5),
            enabled: Some(true),
            description: Some(String::new()),
            key_usage: Some(KeyUsage::EncryptDecrypt),
            key_state: Some(KeyState::Enabled),
            origin: Some(OriginType::AwsKms),
            key_manager: Some(KeyManagerType::Customer),
            customer_master_key_spec: Some(CustomerMasterKeySpec::SymmetricDefault),
            key_spec: Some(KeySpec::SymmetricDefault),
            encryption_algorithms: Some(vec![EncryptionAlgorithmSpec::SymmetricDefault]),
            multi_region: Some(false),
            ..KeyMetadata::default()
        }),
    };
    let body: serde_json::Value = serde_json::from_slice(&json::encode(&response)).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"KeyMetadata": {
            "AWSAccountId": "000000000000",
            "KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
            "Arn": "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "CreationDate": 1_700_000_000.5,
            "Enabled": true,
            "Description": "",
            "KeyUsage": "ENCRYPT_DECRYPT",
            "KeyState": "Enabled",
            "Origin": "AWS_KMS",
            "KeyManager": "CUSTOMER",
            "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
            "KeySpec": "SYMMETRIC_DEFAULT",
            "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
            "MultiRegion": false
        }})
    );
    assert_eq!(json::encode(&DescribeKeyResponse::default()), b"{}");
}

#[test]
fn responses_carry_blobs_as_base64() {
    let response = GenerateDataKeyResponse {
        ciphertext_blob: Some(Blob::from(vec![1, 2, 3])),
        plaintext: Some(Blob::from(b"hunter2".to_vec())),
        key_id: Some("arn:aws:kms:us-east-1:000000000000:key/k".into()),
        ..Default::default()
    };
    assert_eq!(
        String::from_utf8(json::encode(&response)).unwrap(),
        r#"{"CiphertextBlob":"AQID","Plaintext":"aHVudGVyMg==","KeyId":"arn:aws:kms:us-east-1:000000000000:key/k"}"#
    );
    assert!(!format!("{response:?}").contains("hunter2"));
}
