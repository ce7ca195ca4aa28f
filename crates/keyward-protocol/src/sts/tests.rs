//! The STS shapes against the model, botocore's own request bodies, STS's validation answers,
//! and response fixtures that botocore parses back into the typed responses.

#![allow(clippy::unwrap_used, clippy::panic)]

use serde_json::json;

use super::*;
use crate::json::examples::{self, example, without_nulls};
use crate::json::ServiceModel;
use crate::query::tests::{assert_error_fixture, assert_response_fixture, botocore_requests};

fn decode(form: &str) -> Result<StsOperation, WireError> {
    StsOperation::decode(&QueryRequest::parse(form.as_bytes())?)
}

#[test]
fn the_supported_operations_are_the_model() {
    let mut in_model: Vec<_> = ServiceModel::sts().operation_names().collect();
    in_model.sort_unstable();
    let mut supported = StsOperation::SUPPORTED.to_vec();
    supported.sort_unstable();
    assert_eq!(supported, in_model);
}

#[test]
fn every_member_round_trips_under_its_wire_name() {
    let model = ServiceModel::sts();
    let input = example(model, model.shape_id("AssumeRoleRequest").unwrap(), 0);
    let request: AssumeRoleRequest = serde_json::from_value(input.clone()).unwrap();
    assert_eq!(
        without_nulls(serde_json::to_value(&request).unwrap()),
        input
    );

    fn round_trip<T: serde::de::DeserializeOwned + Serialize>(shape: &str) {
        let value = examples::example_of(ServiceModel::sts(), shape);
        let typed: T = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(serde_json::to_value(typed).unwrap(), value, "{shape}");
    }
    round_trip::<GetCallerIdentityResponse>("GetCallerIdentityResponse");
    round_trip::<AssumeRoleResponse>("AssumeRoleResponse");
    round_trip::<Credentials>("Credentials");
    round_trip::<AssumedRoleUser>("AssumedRoleUser");
    round_trip::<PolicyDescriptorType>("PolicyDescriptorType");
    round_trip::<ProvidedContext>("ProvidedContext");
}

#[test]
fn botocore_request_bodies_decode_to_their_parameters() {
    let requests = botocore_requests("sts");
    assert_eq!(requests.len(), 2);
    for request in &requests {
        let parsed = QueryRequest::parse(request.body.as_bytes()).unwrap();
        let input = QueryService::sts().decode_input(&parsed).unwrap();
        assert_eq!(input, request.params, "{}", request.body);
        assert_eq!(
            StsOperation::decode(&parsed).unwrap().name(),
            request.operation
        );
    }
    let StsOperation::AssumeRole(assume) = decode(&requests[1].body).unwrap() else {
        panic!("not AssumeRole")
    };
    assert_eq!(assume.role_arn, "arn:aws:iam::000000000000:role/deployer");
    assert_eq!(assume.role_session_name, "ci-run");
    assert_eq!(assume.duration_seconds, Some(900));
    assert_eq!(
        assume.policy_arns,
        Some(vec![PolicyDescriptorType {
            arn: Some("arn:aws:iam::aws:policy/ReadOnlyAccess".into())
        }])
    );
    assert_eq!(assume.transitive_tag_keys, Some(vec!["k".into()]));
    assert_eq!(
        decode("Action=GetCallerIdentity&Version=2011-06-15").unwrap(),
        StsOperation::GetCallerIdentity(GetCallerIdentityRequest {})
    );
}

#[test]
fn validation_errors_quote_the_value_as_sts_does() {
    let error =
        decode("Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A0%3Arole%2Fr&RoleSessionName=a%3Ab")
            .unwrap_err();
    assert_eq!(
        (error.code, error.message.as_str(), error.status),
        (
            "ValidationError",
            "1 validation error detected: Value 'a:b' at 'roleSessionName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
            400
        )
    );
    let error =
        decode("Action=AssumeRole&Version=2011-06-15&RoleArn=&DurationSeconds=60").unwrap_err();
    assert_eq!(
        error.message,
        "4 validation errors detected: \
         Value '' at 'roleArn' failed to satisfy constraint: Member must satisfy regular \
         expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u007E\\u0085\\u00A0-\\uD7FF\\uE000-\\uFFFD\\u10000-\\u10FFFF]+; \
         Value '' at 'roleArn' failed to satisfy constraint: Member must have length greater \
         than or equal to 20; \
         Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null; \
         Value '60' at 'durationSeconds' failed to satisfy constraint: Member must have value \
         greater than or equal to 900"
    );
    assert_eq!(
        decode("Action=GetSessionToken&Version=2011-06-15")
            .unwrap_err()
            .message,
        "Could not find operation GetSessionToken for version 2011-06-15"
    );
}

fn assumed() -> AssumeRoleResponse {
    AssumeRoleResponse {
        credentials: Credentials {
            access_key_id: "ASIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: SecretText::from("wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"),
            session_token: SecretText::from("FwoGZXIvYXdzEBYaDH+/=token"),
            expiration: 1_795_455_000.359,
        },
        assumed_role_user: AssumedRoleUser {
            assumed_role_id: "AROADBQP57FF2AEXAMPLE:ci-run".into(),
            arn: "arn:aws:sts::000000000000:assumed-role/deployer/ci-run".into(),
        },
        source_identity: Some("alice".into()),
        ..AssumeRoleResponse::default()
    }
}

#[test]
fn responses_and_errors_render_as_botocore_reads_them() {
    let sts = QueryService::sts();
    assert_response_fixture(
        sts,
        "sts_get_caller_identity",
        "GetCallerIdentity",
        &GetCallerIdentityResponse {
            user_id: "AIDACKCEVSQ6C2EXAMPLE".into(),
            account: "000000000000".into(),
            arn: "arn:aws:iam::000000000000:user/alice".into(),
        },
    );
    assert_response_fixture(sts, "sts_assume_role", "AssumeRole", &assumed());
    assert_error_fixture(
        sts,
        "sts_error_validation",
        &decode("Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A0%3Arole%2Fr&RoleSessionName=a%3Ab")
            .unwrap_err(),
    );
    assert_eq!(
        encode("AssumeRole", &assumed(), "id"),
        sts.encode("AssumeRole", &assumed(), "id")
    );
    let error = WireError::client("ExpiredTokenException", "expired");
    assert_eq!(error_body(&error, "id"), sts.error_body(&error, "id"));
}

#[test]
fn secrets_stay_out_of_debug() {
    let debug = format!("{:?}", assumed());
    assert!(
        !debug.contains("wJalrXUtnFEMI") && !debug.contains("FwoGZXIvYXdz"),
        "{debug}"
    );
    let value = serde_json::to_value(assumed()).unwrap();
    assert_eq!(
        value["Credentials"]["SessionToken"],
        json!("FwoGZXIvYXdzEBYaDH+/=token")
    );
}
