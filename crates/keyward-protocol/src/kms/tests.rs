//! The typed shapes against the model: every member of every supported operation's request and
//! response survives a round trip under its wire name, and every enum has exactly the model's
//! values.

#![allow(clippy::unwrap_used, clippy::panic)]

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::*;
use crate::json::examples::{self, example, without_nulls};
use crate::json::model::Kind;

fn example_of(shape: &str) -> Value {
    examples::example_of(ServiceModel::kms(), shape)
}

#[test]
fn every_supported_operation_is_in_the_model() {
    let model = ServiceModel::kms();
    assert_eq!(KmsOperation::SUPPORTED.len(), 47);
    for operation in KmsOperation::SUPPORTED {
        assert!(model.has_operation(operation), "{operation}");
    }
}

#[test]
fn every_request_member_round_trips_under_its_wire_name() {
    let model = ServiceModel::kms();
    for operation in KmsOperation::SUPPORTED {
        let input_shape = model.operation(operation).unwrap().input.unwrap();
        let input = example(model, input_shape, 0);
        let decoded = KmsOperation::from_input(operation, input.clone())
            .unwrap_or_else(|e| panic!("{operation}: {e}"));
        assert_eq!(decoded.name(), *operation);
        assert_eq!(without_nulls(decoded.request_json()), input, "{operation}");
    }
}

/// Deserializes a response shape's JSON into its type and serializes it back.
type RoundTrip = fn(Value) -> Value;

fn round_trip<T: DeserializeOwned + Serialize>(value: Value) -> Value {
    serde_json::to_value(serde_json::from_value::<T>(value).unwrap()).unwrap()
}

#[test]
fn every_response_member_round_trips_under_its_wire_name() {
    let cases: &[(&str, RoundTrip)] = &[
        ("CreateKeyResponse", round_trip::<CreateKeyResponse>),
        ("DescribeKeyResponse", round_trip::<DescribeKeyResponse>),
        ("KeyMetadata", round_trip::<KeyMetadata>),
        (
            "MultiRegionConfiguration",
            round_trip::<MultiRegionConfiguration>,
        ),
        ("MultiRegionKey", round_trip::<MultiRegionKey>),
        (
            "XksKeyConfigurationType",
            round_trip::<XksKeyConfigurationType>,
        ),
        ("ListKeysResponse", round_trip::<ListKeysResponse>),
        ("KeyListEntry", round_trip::<KeyListEntry>),
        (
            "ScheduleKeyDeletionResponse",
            round_trip::<ScheduleKeyDeletionResponse>,
        ),
        (
            "CancelKeyDeletionResponse",
            round_trip::<CancelKeyDeletionResponse>,
        ),
        ("ListAliasesResponse", round_trip::<ListAliasesResponse>),
        ("AliasListEntry", round_trip::<AliasListEntry>),
        ("EncryptResponse", round_trip::<EncryptResponse>),
        ("DecryptResponse", round_trip::<DecryptResponse>),
        ("ReEncryptResponse", round_trip::<ReEncryptResponse>),
        (
            "GenerateDataKeyResponse",
            round_trip::<GenerateDataKeyResponse>,
        ),
        (
            "GenerateDataKeyWithoutPlaintextResponse",
            round_trip::<GenerateDataKeyWithoutPlaintextResponse>,
        ),
        (
            "GenerateRandomResponse",
            round_trip::<GenerateRandomResponse>,
        ),
        (
            "ListResourceTagsResponse",
            round_trip::<ListResourceTagsResponse>,
        ),
        ("Tag", round_trip::<Tag>),
        (
            "GetKeyRotationStatusResponse",
            round_trip::<GetKeyRotationStatusResponse>,
        ),
        (
            "RotateKeyOnDemandResponse",
            round_trip::<RotateKeyOnDemandResponse>,
        ),
        (
            "ListKeyRotationsResponse",
            round_trip::<ListKeyRotationsResponse>,
        ),
        ("RotationsListEntry", round_trip::<RotationsListEntry>),
        ("GetKeyPolicyResponse", round_trip::<GetKeyPolicyResponse>),
        (
            "ListKeyPoliciesResponse",
            round_trip::<ListKeyPoliciesResponse>,
        ),
        ("CreateGrantResponse", round_trip::<CreateGrantResponse>),
        ("ListGrantsResponse", round_trip::<ListGrantsResponse>),
        ("GrantListEntry", round_trip::<GrantListEntry>),
        ("GrantConstraints", round_trip::<GrantConstraints>),
        ("SignResponse", round_trip::<SignResponse>),
        ("VerifyResponse", round_trip::<VerifyResponse>),
        ("GetPublicKeyResponse", round_trip::<GetPublicKeyResponse>),
        ("GenerateMacResponse", round_trip::<GenerateMacResponse>),
        ("VerifyMacResponse", round_trip::<VerifyMacResponse>),
        (
            "GenerateDataKeyPairResponse",
            round_trip::<GenerateDataKeyPairResponse>,
        ),
        (
            "GenerateDataKeyPairWithoutPlaintextResponse",
            round_trip::<GenerateDataKeyPairWithoutPlaintextResponse>,
        ),
        (
            "DeriveSharedSecretResponse",
            round_trip::<DeriveSharedSecretResponse>,
        ),
        (
            "GetParametersForImportResponse",
            round_trip::<GetParametersForImportResponse>,
        ),
        (
            "ImportKeyMaterialResponse",
            round_trip::<ImportKeyMaterialResponse>,
        ),
        (
            "DeleteImportedKeyMaterialResponse",
            round_trip::<DeleteImportedKeyMaterialResponse>,
        ),
        ("ReplicateKeyResponse", round_trip::<ReplicateKeyResponse>),
    ];
    for (shape, round_trip) in cases {
        let value = example_of(shape);
        assert_eq!(round_trip(value.clone()), value, "{shape}");
    }
    let model = ServiceModel::kms();
    for operation in KmsOperation::SUPPORTED {
        if let Some(output) = model.operation(operation).unwrap().output {
            let name = &model.shape(output).name;
            assert!(
                cases.iter().any(|(shape, _)| shape == name),
                "no response type for {name}"
            );
        }
    }
}

macro_rules! enum_cases {
    ($($shape:literal => $rust:ty,)+) => {
        vec![$(($shape, <$rust>::ALL.iter().map(|v| {
            let wire = serde_json::to_value(v).unwrap();
            assert_eq!(wire, json!(v.as_str()));
            assert_eq!(serde_json::from_value::<$rust>(wire).unwrap(), *v);
            assert_eq!(<$rust>::from_wire(v.as_str()), Some(*v));
            v.as_str()
        }).collect::<Vec<_>>())),+]
    };
}

#[test]
fn every_enum_has_exactly_the_model_values() {
    let model = ServiceModel::kms();
    let cases = enum_cases! {
        "AlgorithmSpec" => AlgorithmSpec,
        "CustomerMasterKeySpec" => CustomerMasterKeySpec,
        "DataKeyPairSpec" => DataKeyPairSpec,
        "DataKeySpec" => DataKeySpec,
        "DryRunModifierType" => DryRunModifierType,
        "EncryptionAlgorithmSpec" => EncryptionAlgorithmSpec,
        "ExpirationModelType" => ExpirationModelType,
        "GrantOperation" => GrantOperation,
        "ImportState" => ImportState,
        "ImportType" => ImportType,
        "IncludeKeyMaterial" => IncludeKeyMaterial,
        "KeyAgreementAlgorithmSpec" => KeyAgreementAlgorithmSpec,
        "KeyEncryptionMechanism" => KeyEncryptionMechanism,
        "KeyManagerType" => KeyManagerType,
        "KeyMaterialState" => KeyMaterialState,
        "KeySpec" => KeySpec,
        "KeyState" => KeyState,
        "KeyUsageType" => KeyUsage,
        "MacAlgorithmSpec" => MacAlgorithmSpec,
        "MessageType" => MessageType,
        "MultiRegionKeyType" => MultiRegionKeyType,
        "OriginType" => OriginType,
        "RotationType" => RotationType,
        "SigningAlgorithmSpec" => SigningAlgorithmSpec,
        "WrappingKeySpec" => WrappingKeySpec,
    };
    for (shape, rust_values) in cases {
        let Kind::String { enum_values, .. } = &model.shape(model.shape_id(shape).unwrap()).kind
        else {
            panic!("{shape} is not a string");
        };
        assert_eq!(&rust_values, enum_values, "{shape}");
    }
    assert_eq!(KeySpec::SymmetricDefault.to_string(), "SYMMETRIC_DEFAULT");
    assert_eq!(KeyState::PendingDeletion.as_str(), "PendingDeletion");
    assert_eq!(KeySpec::from_wire("symmetric_default"), None);
}

#[test]
fn unsupported_operations_are_checked_then_refused() {
    let error = KmsOperation::decode("CreateCustomKeyStore", br#"{"CustomKeyStoreName":"store"}"#)
        .unwrap_err();
    assert_eq!(error.code, "UnsupportedOperationException");
    assert_eq!(
        error.message,
        "CreateCustomKeyStore is not supported by this server yet."
    );
    let error = KmsOperation::decode("Sign", b"{}").unwrap_err();
    assert_eq!(error.code, "ValidationException");
}

#[test]
fn grant_requests_are_checked_against_the_model() {
    let decoded = KmsOperation::decode(
        "CreateGrant",
        br#"{"KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab","GranteePrincipal":"arn:aws:iam::111122223333:role/keyUserRole","Operations":["Decrypt","DescribeKey"],"Constraints":{"EncryptionContextSubset":{"Department":"IT"}},"Name":"IT-1234abcd-keyUserRole-decrypt"}"#,
    )
    .unwrap();
    let KmsOperation::CreateGrant(request) = decoded else {
        panic!("not a CreateGrant");
    };
    assert_eq!(
        request.operations,
        vec![GrantOperation::Decrypt, GrantOperation::DescribeKey]
    );
    let constraints = request.constraints.unwrap();
    assert_eq!(
        constraints.encryption_context_subset.unwrap()["Department"],
        "IT"
    );
    assert_eq!(constraints.encryption_context_equals, None);

    for body in [
        // An operation the enum does not know.
        r#"{"KeyId":"k","GranteePrincipal":"arn:aws:iam::111122223333:root","Operations":["ListGrants"]}"#,
        // Operations is required.
        r#"{"KeyId":"k","GranteePrincipal":"arn:aws:iam::111122223333:root"}"#,
        // A name outside ^[a-zA-Z0-9:/_-]+$.
        r#"{"KeyId":"k","GranteePrincipal":"arn:aws:iam::111122223333:root","Operations":["Decrypt"],"Name":"two words"}"#,
        // A principal outside ^[\w+=,.@:/-]+$.
        r#"{"KeyId":"k","GranteePrincipal":"arn:aws:iam::111122223333:user/a b","Operations":["Decrypt"]}"#,
    ] {
        let error = KmsOperation::decode("CreateGrant", body.as_bytes()).unwrap_err();
        assert_eq!(error.code, "ValidationException", "{body}");
    }
    let error = KmsOperation::decode("RevokeGrant", br#"{"KeyId":"k"}"#).unwrap_err();
    assert_eq!(error.code, "ValidationException");
    let retire = KmsOperation::decode("RetireGrant", b"{}").unwrap();
    assert_eq!(retire.name(), "RetireGrant");
}

#[test]
fn grant_list_entries_leave_out_what_a_grant_lacks() {
    let entry = GrantListEntry {
        key_id: Some("arn:aws:kms:us-east-1:111122223333:key/k".into()),
        grant_id: Some("ab".repeat(32)),
        creation_date: Some(1_700_000_000.0),
        grantee_principal: Some("arn:aws:iam::111122223333:role/app".into()),
        issuing_account: Some("arn:aws:iam::111122223333:root".into()),
        operations: Some(vec![GrantOperation::Decrypt]),
        constraints: Some(GrantConstraints {
            encryption_context_equals: Some([("a".to_owned(), "b".to_owned())].into()),
            encryption_context_subset: None,
        }),
        ..GrantListEntry::default()
    };
    let value = serde_json::to_value(&entry).unwrap();
    assert_eq!(value["Operations"], json!(["Decrypt"]));
    assert_eq!(
        value["Constraints"],
        json!({"EncryptionContextEquals": {"a": "b"}})
    );
    assert!(value.get("Name").is_none());
    assert!(value.get("RetiringPrincipal").is_none());
}
