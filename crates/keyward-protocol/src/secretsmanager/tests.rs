//! The typed shapes against the model: every operation of the model has a request type, every
//! member of every request and response survives a round trip under its wire name, and every
//! enum has exactly the model's values.

#![allow(clippy::unwrap_used, clippy::panic)]

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::*;
use crate::json::examples::{self, example, without_nulls};

fn model() -> &'static ServiceModel {
    ServiceModel::secretsmanager()
}

#[test]
fn every_operation_of_the_model_is_typed() {
    let mut typed: Vec<&str> = SecretsManagerOperation::SUPPORTED.to_vec();
    let mut modelled: Vec<&str> = model().operation_names().collect();
    typed.sort_unstable();
    modelled.sort_unstable();
    assert_eq!(typed, modelled);
    assert_eq!(typed.len(), 23);
}

#[test]
fn every_request_member_round_trips_under_its_wire_name() {
    for operation in SecretsManagerOperation::SUPPORTED {
        let input_shape = model().operation(operation).unwrap().input.unwrap();
        let input = example(model(), input_shape, 0);
        let decoded = SecretsManagerOperation::from_input(operation, input.clone())
            .unwrap_or_else(|e| panic!("{operation}: {e}"));
        assert_eq!(decoded.name(), *operation);
        assert_eq!(without_nulls(decoded.request_json()), input, "{operation}");
    }
}

#[test]
fn a_missing_required_member_is_not_silently_defaulted() {
    // The typed shapes agree with the model on what is required: a body the model would have
    // refused cannot slip through `from_input` either.
    let error = SecretsManagerOperation::from_input("GetSecretValue", json!({})).unwrap_err();
    assert_eq!(error.code, "SerializationException");
    let error = SecretsManagerOperation::from_input("NoSuchOperation", json!({})).unwrap_err();
    assert_eq!(error.code, "UnknownOperationException");
}

/// Deserializes a response shape's JSON into its type and serializes it back.
type RoundTrip = fn(Value) -> Value;

fn round_trip<T: DeserializeOwned + Serialize>(value: Value) -> Value {
    serde_json::to_value(serde_json::from_value::<T>(value).unwrap()).unwrap()
}

#[test]
fn every_response_member_round_trips_under_its_wire_name() {
    let cases: &[(&str, RoundTrip)] = &[
        ("APIErrorType", round_trip::<ApiErrorType>),
        (
            "BatchGetSecretValueResponse",
            round_trip::<BatchGetSecretValueResponse>,
        ),
        (
            "CancelRotateSecretResponse",
            round_trip::<CancelRotateSecretResponse>,
        ),
        ("CreateSecretResponse", round_trip::<CreateSecretResponse>),
        (
            "DeleteResourcePolicyResponse",
            round_trip::<DeleteResourcePolicyResponse>,
        ),
        ("DeleteSecretResponse", round_trip::<DeleteSecretResponse>),
        (
            "DescribeSecretResponse",
            round_trip::<DescribeSecretResponse>,
        ),
        (
            "ExternalSecretRotationMetadataItem",
            round_trip::<ExternalSecretRotationMetadataItem>,
        ),
        ("Filter", round_trip::<Filter>),
        (
            "GetRandomPasswordResponse",
            round_trip::<GetRandomPasswordResponse>,
        ),
        (
            "GetResourcePolicyResponse",
            round_trip::<GetResourcePolicyResponse>,
        ),
        (
            "GetSecretValueResponse",
            round_trip::<GetSecretValueResponse>,
        ),
        (
            "ListSecretVersionIdsResponse",
            round_trip::<ListSecretVersionIdsResponse>,
        ),
        ("ListSecretsResponse", round_trip::<ListSecretsResponse>),
        (
            "PutResourcePolicyResponse",
            round_trip::<PutResourcePolicyResponse>,
        ),
        (
            "PutSecretValueResponse",
            round_trip::<PutSecretValueResponse>,
        ),
        (
            "RemoveRegionsFromReplicationResponse",
            round_trip::<RemoveRegionsFromReplicationResponse>,
        ),
        ("ReplicaRegionType", round_trip::<ReplicaRegionType>),
        (
            "ReplicateSecretToRegionsResponse",
            round_trip::<ReplicateSecretToRegionsResponse>,
        ),
        ("ReplicationStatusType", round_trip::<ReplicationStatusType>),
        ("RestoreSecretResponse", round_trip::<RestoreSecretResponse>),
        ("RotateSecretResponse", round_trip::<RotateSecretResponse>),
        ("RotationRulesType", round_trip::<RotationRulesType>),
        ("SecretListEntry", round_trip::<SecretListEntry>),
        ("SecretValueEntry", round_trip::<SecretValueEntry>),
        (
            "SecretVersionsListEntry",
            round_trip::<SecretVersionsListEntry>,
        ),
        (
            "StopReplicationToReplicaResponse",
            round_trip::<StopReplicationToReplicaResponse>,
        ),
        ("Tag", round_trip::<Tag>),
        ("UpdateSecretResponse", round_trip::<UpdateSecretResponse>),
        (
            "UpdateSecretVersionStageResponse",
            round_trip::<UpdateSecretVersionStageResponse>,
        ),
        (
            "ValidateResourcePolicyResponse",
            round_trip::<ValidateResourcePolicyResponse>,
        ),
        ("ValidationErrorsEntry", round_trip::<ValidationErrorsEntry>),
    ];
    for (shape, round_trip) in cases {
        let value = examples::example_of(model(), shape);
        assert_eq!(round_trip(value.clone()), value, "{shape}");
    }
    for operation in SecretsManagerOperation::SUPPORTED {
        let output = model().operation(operation).unwrap().output;
        if let Some(output) = output {
            let name = &model().shape(output).name;
            assert!(
                cases.iter().any(|(shape, _)| shape == name),
                "no response type for {name}"
            );
        }
    }
}

#[test]
fn absent_response_members_are_left_out() {
    for encoded in [
        crate::json::encode(&DescribeSecretResponse::default()),
        crate::json::encode(&SecretListEntry::default()),
        crate::json::encode(&GetSecretValueResponse::default()),
        crate::json::encode(&RotationRulesType::default()),
        crate::json::encode(&Tag::default()),
    ] {
        assert_eq!(encoded, b"{}");
    }
}

macro_rules! enum_cases {
    ($($shape:literal => $rust:ty,)+) => {
        vec![$(($shape, <$rust>::ALL.iter().map(|v| {
            let wire = serde_json::to_value(v).unwrap();
            assert_eq!(wire, json!(v.as_str()));
            assert_eq!(serde_json::from_value::<$rust>(wire).unwrap(), *v);
            assert_eq!(<$rust>::from_wire(v.as_str()), Some(*v));
            assert_eq!(v.to_string(), v.as_str());
            v.as_str()
        }).collect::<Vec<_>>())),+]
    };
}

#[test]
fn every_enum_has_exactly_the_model_values() {
    let cases = enum_cases! {
        "FilterNameStringType" => FilterNameStringType,
        "SortByType" => SortByType,
        "SortOrderType" => SortOrderType,
        "StatusType" => StatusType,
    };
    for (shape, rust_values) in cases {
        assert_eq!(
            rust_values,
            examples::enum_values(model(), shape),
            "{shape}"
        );
    }
    assert_eq!(FilterNameStringType::TagKey.as_str(), "tag-key");
    assert_eq!(StatusType::InSync.to_string(), "InSync");
    assert_eq!(SortOrderType::from_wire("ASC"), None);
}
