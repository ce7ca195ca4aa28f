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
    assert_eq!(KmsOperation::SUPPORTED.len(), 29);
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
        "CustomerMasterKeySpec" => CustomerMasterKeySpec,
        "DataKeySpec" => DataKeySpec,
        "DryRunModifierType" => DryRunModifierType,
        "EncryptionAlgorithmSpec" => EncryptionAlgorithmSpec,
        "ExpirationModelType" => ExpirationModelType,
        "ImportState" => ImportState,
        "IncludeKeyMaterial" => IncludeKeyMaterial,
        "KeyAgreementAlgorithmSpec" => KeyAgreementAlgorithmSpec,
        "KeyEncryptionMechanism" => KeyEncryptionMechanism,
        "KeyManagerType" => KeyManagerType,
        "KeyMaterialState" => KeyMaterialState,
        "KeySpec" => KeySpec,
        "KeyState" => KeyState,
        "KeyUsageType" => KeyUsage,
        "MacAlgorithmSpec" => MacAlgorithmSpec,
        "MultiRegionKeyType" => MultiRegionKeyType,
        "OriginType" => OriginType,
        "RotationType" => RotationType,
        "SigningAlgorithmSpec" => SigningAlgorithmSpec,
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
    let error = KmsOperation::decode(
        "Sign",
        br#"{"KeyId":"k","Message":"AA==","SigningAlgorithm":"ECDSA_SHA_256"}"#,
    )
    .unwrap_err();
    assert_eq!(error.code, "UnsupportedOperationException");
    assert_eq!(error.message, "Sign is not supported by this server yet.");
    let error = KmsOperation::decode("Sign", b"{}").unwrap_err();
    assert_eq!(error.code, "ValidationException");
}
