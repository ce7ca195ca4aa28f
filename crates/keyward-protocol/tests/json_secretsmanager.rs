//! Secrets Manager bodies exactly as botocore serializes them (`botocore.serialize` for the
//! `secretsmanager` model) become typed requests, and typed responses become the JSON the SDKs
//! expect. Bad bodies are in `json_secretsmanager_validation.rs`.

// Test helpers outside #[test] functions fail loudly by design.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;

use keyward_protocol::json::{self, Blob, SecretText, ServiceModel};
use keyward_protocol::secretsmanager::*;
use keyward_protocol::WireError;

const SECRET: &str = "hunter2-correct-horse";

fn decode(operation: &str, body: &str) -> SecretsManagerOperation {
    SecretsManagerOperation::decode(operation, body.as_bytes())
        .unwrap_or_else(|e| panic!("{operation} {body}: {e}"))
}

fn validation(operation: &str, body: &str) -> String {
    match SecretsManagerOperation::decode(operation, body.as_bytes()) {
        Ok(request) => panic!("{operation} {body} was accepted as {request:?}"),
        Err(WireError { code, message, .. }) => {
            assert_eq!(code, "ValidationException", "{message}");
            message
        }
    }
}

#[test]
fn create_secret_with_string_tags_and_token() {
    let body = r#"{"Name": "prod/db/password", "ClientRequestToken": "EXAMPLE1-90ab-cdef-fedc-ba987SECRET1", "Description": "db", "SecretString": "{\"username\":\"admin\",\"password\":\"hunter2\"}", "Tags": [{"Key": "team", "Value": "infra"}, {"Key": "env", "Value": ""}]}"#;
    let operation = decode("CreateSecret", body);
    assert_eq!(operation.name(), "CreateSecret");
    let SecretsManagerOperation::CreateSecret(request) = operation else {
        panic!("not CreateSecret")
    };
    assert_eq!(request.name, "prod/db/password");
    assert_eq!(
        request.client_request_token.as_deref(),
        Some("EXAMPLE1-90ab-cdef-fedc-ba987SECRET1")
    );
    assert_eq!(request.description.as_deref(), Some("db"));
    assert_eq!(
        request.secret_string.as_ref().map(SecretText::as_str),
        Some(r#"{"username":"admin","password":"hunter2"}"#)
    );
    assert_eq!(
        request.tags.clone().unwrap(),
        [
            Tag {
                key: Some("team".into()),
                value: Some("infra".into())
            },
            Tag {
                key: Some("env".into()),
                value: Some(String::new())
            },
        ]
    );
    assert!(request.secret_binary.is_none() && request.kms_key_id.is_none());
    assert!(request.add_replica_regions.is_none() && request.secret_type.is_none());
    let debug = format!("{request:?}");
    assert!(
        !debug.contains("hunter2") && !debug.contains("admin"),
        "{debug}"
    );
    assert!(debug.contains("SecretText(<redacted>)"), "{debug}");
}

#[test]
fn create_secret_with_binary() {
    let body = r#"{"Name": "bin", "SecretBinary": "AAH/aHVudGVyMg==", "KmsKeyId": "alias/app", "Type": "custom"}"#;
    let SecretsManagerOperation::CreateSecret(request) = decode("CreateSecret", body) else {
        panic!("not CreateSecret")
    };
    let binary = request.secret_binary.as_ref().unwrap();
    assert_eq!(binary.as_bytes(), b"\x00\x01\xffhunter2");
    assert_eq!(request.kms_key_id.as_deref(), Some("alias/app"));
    assert_eq!(request.secret_type.as_deref(), Some("custom"));
    assert!(request.secret_string.is_none());
    assert!(!format!("{request:?}").contains("hunter2"));
}

#[test]
fn get_secret_value_by_version_stage() {
    let body = r#"{"SecretId": "prod/db/password", "VersionStage": "AWSPREVIOUS"}"#;
    let SecretsManagerOperation::GetSecretValue(request) = decode("GetSecretValue", body) else {
        panic!("not GetSecretValue")
    };
    assert_eq!(request.secret_id, "prod/db/password");
    assert_eq!(request.version_stage.as_deref(), Some("AWSPREVIOUS"));
    assert!(request.version_id.is_none());
}

#[test]
fn list_secrets_with_filters() {
    let body = r#"{"Filters": [{"Key": "name", "Values": ["prod/"]}, {"Key": "tag-key", "Values": ["!team"]}], "MaxResults": 10, "SortOrder": "asc", "IncludePlannedDeletion": true}"#;
    let SecretsManagerOperation::ListSecrets(request) = decode("ListSecrets", body) else {
        panic!("not ListSecrets")
    };
    assert_eq!(
        request.filters.unwrap(),
        [
            Filter {
                key: Some(FilterNameStringType::Name),
                values: Some(vec!["prod/".into()])
            },
            Filter {
                key: Some(FilterNameStringType::TagKey),
                values: Some(vec!["!team".into()])
            },
        ]
    );
    assert_eq!(request.max_results, Some(10));
    assert_eq!(request.sort_order, Some(SortOrderType::Asc));
    assert_eq!(request.include_planned_deletion, Some(true));
    assert!(request.next_token.is_none() && request.sort_by.is_none());

    let SecretsManagerOperation::ListSecrets(request) = decode("ListSecrets", "") else {
        panic!("not ListSecrets")
    };
    assert!(request.filters.is_none() && request.max_results.is_none());
}

#[test]
fn update_secret_version_stage() {
    let body = r#"{"SecretId": "arn:aws:secretsmanager:us-east-1:000000000000:secret:prod/db/password-AbCdEf", "VersionStage": "AWSCURRENT", "MoveToVersionId": "EXAMPLE2-90ab-cdef-fedc-ba987SECRET2", "RemoveFromVersionId": "EXAMPLE1-90ab-cdef-fedc-ba987SECRET1"}"#;
    let SecretsManagerOperation::UpdateSecretVersionStage(request) =
        decode("UpdateSecretVersionStage", body)
    else {
        panic!("not UpdateSecretVersionStage")
    };
    assert_eq!(
        request.secret_id,
        "arn:aws:secretsmanager:us-east-1:000000000000:secret:prod/db/password-AbCdEf"
    );
    assert_eq!(request.version_stage, "AWSCURRENT");
    assert_eq!(
        request.move_to_version_id.as_deref(),
        Some("EXAMPLE2-90ab-cdef-fedc-ba987SECRET2")
    );
    assert_eq!(
        request.remove_from_version_id.as_deref(),
        Some("EXAMPLE1-90ab-cdef-fedc-ba987SECRET1")
    );
    assert_eq!(
        validation("UpdateSecretVersionStage", r#"{"SecretId": "s"}"#),
        "1 validation error detected: Value null at 'versionStage' failed to satisfy constraint: \
         Member must not be null"
    );
}

#[test]
fn rotate_secret_and_put_secret_value() {
    let body = r#"{"SecretId": "x", "RotationLambdaARN": "arn:aws:lambda:us-east-1:000000000000:function:rot", "RotationRules": {"AutomaticallyAfterDays": 30, "Duration": "2h"}}"#;
    let SecretsManagerOperation::RotateSecret(request) = decode("RotateSecret", body) else {
        panic!("not RotateSecret")
    };
    assert_eq!(
        request.rotation_lambda_arn.as_deref(),
        Some("arn:aws:lambda:us-east-1:000000000000:function:rot")
    );
    assert_eq!(
        request.rotation_rules,
        Some(RotationRulesType {
            automatically_after_days: Some(30),
            duration: Some("2h".into()),
            schedule_expression: None,
        })
    );
    let token = "0123456789abcdef-0123-4567-89ab-cdef01234567";
    let body = format!(
        r#"{{"SecretId": "x", "SecretString": "{SECRET}", "VersionStages": ["AWSPENDING"], "RotationToken": "{token}"}}"#
    );
    let SecretsManagerOperation::PutSecretValue(request) = decode("PutSecretValue", &body) else {
        panic!("not PutSecretValue")
    };
    assert_eq!(request.secret_string.as_ref().unwrap().as_str(), SECRET);
    assert_eq!(
        request.version_stages.as_deref(),
        Some(&["AWSPENDING".into()][..])
    );
    assert_eq!(request.rotation_token.as_ref().unwrap().as_str(), token);
    let debug = format!("{request:?}");
    assert!(!debug.contains(SECRET) && !debug.contains(token), "{debug}");
}

#[test]
fn tags_may_lack_a_key_or_value_in_this_model() {
    // Unlike KMS, Secrets Manager's Tag requires neither member: the service decides.
    let SecretsManagerOperation::TagResource(request) = decode(
        "TagResource",
        r#"{"SecretId": "s", "Tags": [{"Key": "team"}]}"#,
    ) else {
        panic!("not TagResource")
    };
    assert_eq!(request.tags[0].key.as_deref(), Some("team"));
    assert!(request.tags[0].value.is_none());
}

#[test]
fn every_operation_decodes_a_botocore_body() {
    let cases = [
        (
            "CreateSecret",
            r#"{"Name": "n", "ClientRequestToken": "2c6f0c6a-8a2b-4b44-9d8e-0b5a1c3b9f10"}"#,
        ),
        ("GetSecretValue", r#"{"SecretId": "n"}"#),
        ("BatchGetSecretValue", r#"{"SecretIdList": ["a", "b"]}"#),
        (
            "PutSecretValue",
            r#"{"SecretId": "n", "SecretBinary": "AQ=="}"#,
        ),
        ("UpdateSecret", r#"{"SecretId": "n", "Description": "d"}"#),
        ("DescribeSecret", r#"{"SecretId": "n"}"#),
        ("ListSecrets", r#"{"SortBy": "last-changed-date"}"#),
        (
            "ListSecretVersionIds",
            r#"{"SecretId": "n", "IncludeDeprecated": true}"#,
        ),
        (
            "UpdateSecretVersionStage",
            r#"{"SecretId": "n", "VersionStage": "AWSCURRENT"}"#,
        ),
        (
            "DeleteSecret",
            r#"{"SecretId": "n", "ForceDeleteWithoutRecovery": true}"#,
        ),
        ("RestoreSecret", r#"{"SecretId": "n"}"#),
        (
            "GetRandomPassword",
            r#"{"PasswordLength": 32, "ExcludePunctuation": true}"#,
        ),
        (
            "TagResource",
            r#"{"SecretId": "n", "Tags": [{"Key": "k", "Value": "v"}]}"#,
        ),
        ("UntagResource", r#"{"SecretId": "n", "TagKeys": ["k"]}"#),
        (
            "PutResourcePolicy",
            r#"{"SecretId": "n", "ResourcePolicy": "{}", "BlockPublicPolicy": true}"#,
        ),
        ("GetResourcePolicy", r#"{"SecretId": "n"}"#),
        ("DeleteResourcePolicy", r#"{"SecretId": "n"}"#),
        ("ValidateResourcePolicy", r#"{"ResourcePolicy": "{}"}"#),
        (
            "ReplicateSecretToRegions",
            r#"{"SecretId": "n", "AddReplicaRegions": [{"Region": "eu-west-1"}]}"#,
        ),
        (
            "RemoveRegionsFromReplication",
            r#"{"SecretId": "n", "RemoveReplicaRegions": ["eu-west-1"]}"#,
        ),
        ("StopReplicationToReplica", r#"{"SecretId": "n"}"#),
        (
            "RotateSecret",
            r#"{"SecretId": "n", "RotateImmediately": false}"#,
        ),
        ("CancelRotateSecret", r#"{"SecretId": "n"}"#),
    ];
    assert_eq!(cases.len(), SecretsManagerOperation::SUPPORTED.len());
    for (operation, body) in cases {
        assert_eq!(decode(operation, body).name(), operation);
        assert!(ServiceModel::secretsmanager().has_operation(operation));
    }
    let SecretsManagerOperation::GetRandomPassword(request) = decode(cases[11].0, cases[11].1)
    else {
        panic!("not GetRandomPassword")
    };
    assert_eq!(
        (request.password_length, request.exclude_punctuation),
        (Some(32), Some(true))
    );
}
#[test]
fn get_secret_value_response_is_what_the_sdks_expect() {
    let response = GetSecretValueResponse {
        arn: Some("arn:aws:secretsmanager:us-east-1:000000000000:secret:prod/db-AbCdEf".into()),
        name: Some("prod/db".into()),
        version_id: Some("EXAMPLE1-90ab-cdef-fedc-ba987SECRET1".into()),
        secret_string: Some(SecretText::from(SECRET)),
        version_stages: Some(vec!["AWSCURRENT".into()]),
        created_date: Some(1_700_000_000.25),
        ..Default::default()
    };
    assert_eq!(
        String::from_utf8(json::encode(&response)).unwrap(),
        format!(
            r#"{{"ARN":"arn:aws:secretsmanager:us-east-1:000000000000:secret:prod/db-AbCdEf","Name":"prod/db","VersionId":"EXAMPLE1-90ab-cdef-fedc-ba987SECRET1","SecretString":"{SECRET}","VersionStages":["AWSCURRENT"],"CreatedDate":1700000000.25}}"#
        )
    );
    assert!(!format!("{response:?}").contains(SECRET));

    let binary = GetSecretValueResponse {
        secret_binary: Some(Blob::from(b"hunter2".to_vec())),
        ..Default::default()
    };
    assert_eq!(json::encode(&binary), br#"{"SecretBinary":"aHVudGVyMg=="}"#);
    assert_eq!(json::encode(&GetSecretValueResponse::default()), b"{}");

    let batch = BatchGetSecretValueResponse {
        secret_values: Some(vec![SecretValueEntry {
            name: Some("a".into()),
            secret_string: Some(SecretText::from(SECRET)),
            ..Default::default()
        }]),
        errors: Some(vec![ApiErrorType {
            secret_id: Some("b".into()),
            error_code: Some("ResourceNotFoundException".into()),
            message: Some("Secrets Manager can't find the specified secret.".into()),
        }]),
        next_token: None,
    };
    assert_eq!(
        String::from_utf8(json::encode(&batch)).unwrap(),
        format!(
            r#"{{"SecretValues":[{{"Name":"a","SecretString":"{SECRET}"}}],"Errors":[{{"SecretId":"b","ErrorCode":"ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret."}}]}}"#
        )
    );
    assert!(!format!("{batch:?}").contains(SECRET));

    let password = GetRandomPasswordResponse {
        random_password: Some(SecretText::from(SECRET)),
    };
    assert_eq!(
        json::encode(&password),
        format!(r#"{{"RandomPassword":"{SECRET}"}}"#).as_bytes()
    );
    assert!(!format!("{password:?}").contains(SECRET));
}

#[test]
fn describe_secret_response_leaves_out_what_is_absent() {
    let response = DescribeSecretResponse {
        arn: Some("arn:aws:secretsmanager:us-east-1:000000000000:secret:prod/db-AbCdEf".into()),
        name: Some("prod/db".into()),
        rotation_enabled: Some(true),
        rotation_lambda_arn: Some("arn:aws:lambda:us-east-1:000000000000:function:rot".into()),
        rotation_rules: Some(RotationRulesType {
            automatically_after_days: Some(30),
            ..Default::default()
        }),
        tags: Some(vec![Tag {
            key: Some("team".into()),
            value: Some("infra".into()),
        }]),
        version_ids_to_stages: Some(BTreeMap::from([(
            "EXAMPLE1-90ab-cdef-fedc-ba987SECRET1".into(),
            vec!["AWSCURRENT".into()],
        )])),
        created_date: Some(1_700_000_000.0),
        replication_status: Some(vec![ReplicationStatusType {
            region: Some("eu-west-1".into()),
            status: Some(StatusType::InSync),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let body: serde_json::Value = serde_json::from_slice(&json::encode(&response)).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "ARN": "arn:aws:secretsmanager:us-east-1:000000000000:secret:prod/db-AbCdEf",
            "Name": "prod/db",
            "RotationEnabled": true,
            "RotationLambdaARN": "arn:aws:lambda:us-east-1:000000000000:function:rot",
            "RotationRules": {"AutomaticallyAfterDays": 30},
            "Tags": [{"Key": "team", "Value": "infra"}],
            "VersionIdsToStages": {"EXAMPLE1-90ab-cdef-fedc-ba987SECRET1": ["AWSCURRENT"]},
            "CreatedDate": 1_700_000_000.0,
            "ReplicationStatus": [{"Region": "eu-west-1", "Status": "InSync"}]
        })
    );
    assert_eq!(json::encode(&DescribeSecretResponse::default()), b"{}");

    let list = ListSecretsResponse {
        secret_list: Some(vec![SecretListEntry {
            name: Some("prod/db".into()),
            secret_type: Some("custom".into()),
            secret_versions_to_stages: Some(BTreeMap::new()),
            ..Default::default()
        }]),
        next_token: Some("t".into()),
    };
    assert_eq!(
        json::encode(&list),
        br#"{"SecretList":[{"Name":"prod/db","Type":"custom","SecretVersionsToStages":{}}],"NextToken":"t"}"#
    );
}
