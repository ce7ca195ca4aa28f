//! The IAM shapes against the model, botocore's own request bodies, AWS's validation answers,
//! and response fixtures that botocore parses back into the typed responses.

#![allow(clippy::unwrap_used, clippy::panic)]

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::*;
use crate::json::examples::{self, example, without_nulls};
use crate::json::{SecretText, ServiceModel};
use crate::query::tests::{assert_error_fixture, assert_response_fixture, botocore_requests};

fn model() -> &'static ServiceModel {
    ServiceModel::iam()
}

fn decode(form: &str) -> Result<IamOperation, WireError> {
    IamOperation::decode(&QueryRequest::parse(form.as_bytes())?)
}

fn error(form: &str) -> (&'static str, String) {
    let error = decode(form).unwrap_err();
    assert_eq!(error.status, 400, "{form}");
    (error.code, error.message)
}

#[test]
fn the_supported_operations_are_the_model() {
    let mut supported = IamOperation::SUPPORTED.to_vec();
    let mut in_model: Vec<_> = model().operation_names().collect();
    supported.sort_unstable();
    in_model.sort_unstable();
    assert_eq!(supported, in_model);
    assert_eq!(supported.len(), 27);
}

#[test]
fn every_request_member_round_trips_under_its_wire_name() {
    for operation in IamOperation::SUPPORTED {
        let input_shape = model().operation(operation).unwrap().input.unwrap();
        let input = example(model(), input_shape, 0);
        let decoded = IamOperation::from_input(operation, input.clone())
            .unwrap_or_else(|e| panic!("{operation}: {e}"));
        assert_eq!(decoded.name(), *operation);
        assert_eq!(without_nulls(decoded.request_json()), input, "{operation}");
    }
}

type RoundTrip = fn(Value) -> Value;

fn round_trip<T: DeserializeOwned + Serialize>(value: Value) -> Value {
    serde_json::to_value(serde_json::from_value::<T>(value).unwrap()).unwrap()
}

#[test]
fn every_response_member_round_trips_under_its_wire_name() {
    let cases: &[(&str, RoundTrip)] = &[
        ("CreateUserResponse", round_trip::<CreateUserResponse>),
        ("GetUserResponse", round_trip::<GetUserResponse>),
        ("ListUsersResponse", round_trip::<ListUsersResponse>),
        ("User", round_trip::<User>),
        (
            "AttachedPermissionsBoundary",
            round_trip::<AttachedPermissionsBoundary>,
        ),
        (
            "CreateAccessKeyResponse",
            round_trip::<CreateAccessKeyResponse>,
        ),
        ("AccessKey", round_trip::<AccessKey>),
        (
            "ListAccessKeysResponse",
            round_trip::<ListAccessKeysResponse>,
        ),
        ("AccessKeyMetadata", round_trip::<AccessKeyMetadata>),
        ("CreateRoleResponse", round_trip::<CreateRoleResponse>),
        ("GetRoleResponse", round_trip::<GetRoleResponse>),
        ("ListRolesResponse", round_trip::<ListRolesResponse>),
        ("Role", round_trip::<Role>),
        ("RoleLastUsed", round_trip::<RoleLastUsed>),
        ("SourceRoleTemplate", round_trip::<SourceRoleTemplate>),
        ("GetUserPolicyResponse", round_trip::<GetUserPolicyResponse>),
        ("GetRolePolicyResponse", round_trip::<GetRolePolicyResponse>),
        (
            "ListUserPoliciesResponse",
            round_trip::<ListUserPoliciesResponse>,
        ),
        (
            "ListRolePoliciesResponse",
            round_trip::<ListRolePoliciesResponse>,
        ),
        ("ListUserTagsResponse", round_trip::<ListUserTagsResponse>),
        ("ListRoleTagsResponse", round_trip::<ListRoleTagsResponse>),
        ("Tag", round_trip::<Tag>),
    ];
    for (shape, round_trip) in cases {
        let value = examples::example_of(model(), shape);
        assert_eq!(round_trip(value.clone()), value, "{shape}");
    }
    // Every output shape of the model has its type above.
    for operation in IamOperation::SUPPORTED {
        if let Some(output) = model().operation(operation).unwrap().output {
            let name = &model().shape(output).name;
            assert!(cases.iter().any(|(shape, _)| shape == name), "{name}");
        }
    }
}

#[test]
fn enums_are_the_model_values() {
    let values = |all: &[&str]| all.iter().map(|v| v.to_string()).collect::<Vec<_>>();
    assert_eq!(
        values(
            &StatusType::ALL
                .iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>()
        ),
        examples::enum_values(model(), "statusType")
    );
    assert_eq!(
        values(
            &PermissionsBoundaryAttachmentType::ALL
                .iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>()
        ),
        examples::enum_values(model(), "PermissionsBoundaryAttachmentType")
    );
}

#[test]
fn botocore_request_bodies_decode_to_their_parameters() {
    let requests = botocore_requests("iam");
    assert!(requests.len() >= 27);
    for request in &requests {
        let parsed = QueryRequest::parse(request.body.as_bytes()).unwrap();
        let input = QueryService::iam().decode_input(&parsed).unwrap();
        assert_eq!(input, request.params, "{}", request.body);
        let operation = IamOperation::decode(&parsed).unwrap();
        assert_eq!(operation.name(), request.operation);
    }
    // Every supported operation is among them.
    for operation in IamOperation::SUPPORTED {
        assert!(
            requests.iter().any(|r| r.operation == *operation),
            "{operation}"
        );
    }
}

#[test]
fn typed_requests_from_botocore_bodies() {
    let body = &botocore_requests("iam")[0].body;
    assert_eq!(
        decode(body).unwrap(),
        IamOperation::CreateUser(CreateUserRequest {
            path: Some("/eng/".into()),
            user_name: "alice".into(),
            permissions_boundary: None,
            tags: Some(vec![
                Tag {
                    key: "team".into(),
                    value: "a b+c".into()
                },
                Tag {
                    key: "env".into(),
                    value: String::new()
                },
            ]),
        })
    );
    assert_eq!(
        decode("Action=UpdateAccessKey&Version=2010-05-08&AccessKeyId=AKIAIOSFODNN7EXAMPLE&Status=Inactive")
            .unwrap(),
        IamOperation::UpdateAccessKey(UpdateAccessKeyRequest {
            user_name: None,
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            status: StatusType::Inactive,
        })
    );
    assert_eq!(
        decode("Action=UntagRole&Version=2010-05-08&RoleName=r&TagKeys=").unwrap(),
        IamOperation::UntagRole(UntagRoleRequest {
            role_name: "r".into(),
            tag_keys: vec![],
        })
    );
}

const CREATE_USER: &str = "Action=CreateUser&Version=2010-05-08";
const NAME_RULE: &str =
    "It must contain only alphanumeric characters and/or the following: +=,.@_-";

#[test]
fn validation_errors_are_worded_as_iam_words_them() {
    assert_eq!(
        error(CREATE_USER),
        (
            "ValidationError",
            "1 validation error detected: Value at 'userName' failed to satisfy constraint: \
             Member must not be null"
                .into()
        )
    );
    assert_eq!(
        error(&format!("{CREATE_USER}&UserName=bad%2Fname")),
        (
            "ValidationError",
            format!("The specified value for userName is invalid. {NAME_RULE}")
        )
    );
    assert_eq!(
        error(&format!("{CREATE_USER}&UserName={}", "a".repeat(65))),
        (
            "ValidationError",
            "1 validation error detected: Value at 'userName' failed to satisfy constraint: \
             Member must have length less than or equal to 64"
                .into()
        )
    );
    assert_eq!(
        error(&format!("{CREATE_USER}&UserName=alice&Path=bad")),
        (
            "ValidationError",
            "The specified value for path is invalid. It must begin and end with / and contain \
             only alphanumeric characters and/or / characters."
                .into()
        )
    );
    assert_eq!(
        error(&format!(
            "{CREATE_USER}&UserName=alice&Tags.member.1.Key=bad*key&Tags.member.1.Value=v"
        )),
        (
            "ValidationError",
            "1 validation error detected: Value at 'tags.1.member.key' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+"
                .into()
        )
    );
    assert_eq!(
        error(&format!(
            "{CREATE_USER}&UserName=alice&Tags.member.1.Value=v"
        )),
        (
            "MissingParameter",
            "The request must contain the parameter Tags.member.1.Key.".into()
        )
    );
    assert_eq!(
        error("Action=PutUserPolicy&Version=2010-05-08&UserName=alice&PolicyName=p&PolicyDocument=emoji%F0%9F%98%80"),
        (
            "ValidationError",
            "The specified value for policyDocument is invalid. It must contain only printable \
             ASCII characters."
                .into()
        )
    );
    assert_eq!(
        error("Action=ListUsers&Version=2010-05-08&MaxItems=0"),
        (
            "ValidationError",
            "1 validation error detected: Value at 'maxItems' failed to satisfy constraint: \
             Member must have value greater than or equal to 1"
                .into()
        )
    );
    assert_eq!(
        error("Action=CreateRole&Version=2010-05-08&RoleName=r&AssumeRolePolicyDocument=%7B%7D&MaxSessionDuration=soon"),
        ("MalformedInput", String::new())
    );
    assert_eq!(
        error("Action=UpdateAccessKey&Version=2010-05-08&AccessKeyId=AKIAIOSFODNN7EXAMPLE&Status=Bogus"),
        (
            "ValidationError",
            "1 validation error detected: Value at 'status' failed to satisfy constraint: \
             Member must satisfy enum value set: [Active, Inactive, Expired]"
                .into()
        )
    );
    let too_many: String = (1..=51)
        .map(|n| format!("&TagKeys.member.{n}=k{n}"))
        .collect();
    assert_eq!(
        error(&format!(
            "Action=UntagUser&Version=2010-05-08&UserName=a{too_many}"
        )),
        (
            "ValidationError",
            "1 validation error detected: Value at 'tagKeys' failed to satisfy constraint: \
             Member must have length less than or equal to 50"
                .into()
        )
    );
}

#[test]
fn unknown_actions_and_versions_are_invalid_actions() {
    assert_eq!(
        error("Action=CreateGroup&Version=2010-05-08&GroupName=g"),
        (
            "InvalidAction",
            "Could not find operation CreateGroup for version 2010-05-08".into()
        )
    );
    assert_eq!(
        error("Action=CreateUser&Version=2011-06-15&UserName=a"),
        (
            "InvalidAction",
            "Could not find operation CreateUser for version 2011-06-15".into()
        )
    );
    assert_eq!(
        error("Version=2010-05-08&UserName=a"),
        ("MissingAction", "Missing Action".into())
    );
}

fn user(name: &str, created: f64) -> User {
    User {
        path: "/".into(),
        user_name: name.into(),
        user_id: "AIDACKCEVSQ6C2EXAMPLE".into(),
        arn: format!("arn:aws:iam::000000000000:user/{name}"),
        create_date: created,
        ..User::default()
    }
}

const TRUST_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"sts:AssumeRole"}]}"#;

fn role() -> Role {
    Role {
        path: "/ci/".into(),
        role_name: "deployer".into(),
        role_id: "AROADBQP57FF2AEXAMPLE".into(),
        arn: "arn:aws:iam::000000000000:role/ci/deployer".into(),
        create_date: 1_795_451_340.0,
        assume_role_policy_document: Some(TRUST_POLICY.into()),
        description: Some("Deploys & ships <fast>".into()),
        max_session_duration: Some(7200),
        tags: Some(vec![Tag {
            key: "team".into(),
            value: "platform".into(),
        }]),
        ..Role::default()
    }
}

#[test]
fn responses_render_as_botocore_reads_them() {
    let iam = QueryService::iam();
    let mut alice = user("alice", 1_795_451_340.0);
    alice.path = "/eng/".into();
    alice.arn = "arn:aws:iam::000000000000:user/eng/alice".into();
    alice.tags = Some(vec![
        Tag {
            key: "team".into(),
            value: "a b+c".into(),
        },
        Tag {
            key: "env".into(),
            value: String::new(),
        },
    ]);
    alice.permissions_boundary = Some(AttachedPermissionsBoundary {
        permissions_boundary_type: Some(
            PermissionsBoundaryAttachmentType::PermissionsBoundaryPolicy,
        ),
        permissions_boundary_arn: Some("arn:aws:iam::000000000000:policy/boundary".into()),
    });
    assert_response_fixture(
        iam,
        "iam_create_user",
        "CreateUser",
        &CreateUserResponse {
            user: Some(alice.clone()),
        },
    );
    let mut bob = user("bob", 1_795_451_399.0);
    bob.password_last_used = Some(1_795_537_740.0);
    assert_response_fixture(
        iam,
        "iam_get_user",
        "GetUser",
        &GetUserResponse { user: bob.clone() },
    );
    assert_response_fixture(
        iam,
        "iam_list_users",
        "ListUsers",
        &ListUsersResponse {
            users: vec![alice, bob],
            is_truncated: true,
            marker: Some("next page".into()),
        },
    );
    assert_response_fixture(
        iam,
        "iam_list_users_empty",
        "ListUsers",
        &ListUsersResponse::default(),
    );
    assert_response_fixture(
        iam,
        "iam_create_access_key",
        "CreateAccessKey",
        &CreateAccessKeyResponse {
            access_key: AccessKey {
                user_name: "alice".into(),
                access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
                status: StatusType::Active,
                secret_access_key: SecretText::from("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
                create_date: Some(1_795_451_340.0),
            },
        },
    );
    assert_response_fixture(
        iam,
        "iam_list_access_keys",
        "ListAccessKeys",
        &ListAccessKeysResponse {
            access_key_metadata: vec![
                AccessKeyMetadata {
                    user_name: Some("alice".into()),
                    access_key_id: Some("AKIAIOSFODNN7EXAMPLE".into()),
                    status: Some(StatusType::Active),
                    create_date: Some(1_795_451_340.0),
                },
                AccessKeyMetadata {
                    user_name: Some("alice".into()),
                    access_key_id: Some("AKIAI44QH8DHBEXAMPLE".into()),
                    status: Some(StatusType::Inactive),
                    create_date: Some(1_795_451_341.0),
                },
            ],
            is_truncated: false,
            marker: None,
        },
    );
    let mut got = role();
    got.role_last_used = Some(RoleLastUsed::default());
    assert_response_fixture(
        iam,
        "iam_get_role",
        "GetRole",
        &GetRoleResponse { role: got },
    );
    let mut used = role();
    used.role_name = "reader".into();
    used.role_last_used = Some(RoleLastUsed {
        last_used_date: Some(1_795_537_740.0),
        region: Some("eu-west-1".into()),
    });
    assert_response_fixture(
        iam,
        "iam_list_roles",
        "ListRoles",
        &ListRolesResponse {
            roles: vec![role(), used],
            is_truncated: false,
            marker: None,
        },
    );
    assert_response_fixture(
        iam,
        "iam_get_user_policy",
        "GetUserPolicy",
        &GetUserPolicyResponse {
            user_name: "alice".into(),
            policy_name: "kms-use".into(),
            policy_document: "{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"kms:*\", \"Resource\": \"*\", \"Condition\": {\"StringEquals\": {\"aws:PrincipalTag/team\": \"a&b <c> é\"}}}]}".into(),
        },
    );
    assert_response_fixture(
        iam,
        "iam_list_role_policies",
        "ListRolePolicies",
        &ListRolePoliciesResponse {
            policy_names: vec!["kms-use".into(), "s3-read".into()],
            is_truncated: false,
            marker: None,
        },
    );
    assert_response_fixture(
        iam,
        "iam_list_user_tags",
        "ListUserTags",
        &ListUserTagsResponse {
            tags: vec![Tag {
                key: "team".into(),
                value: "platform".into(),
            }],
            is_truncated: false,
            marker: None,
        },
    );
    assert_response_fixture(iam, "iam_delete_user", "DeleteUser", &());
}

#[test]
fn the_free_functions_are_the_service_ones() {
    let response = GetUserPolicyResponse {
        user_name: "u".into(),
        policy_name: "p".into(),
        policy_document: "{\"a\": 1}".into(),
    };
    let body = String::from_utf8(encode("GetUserPolicy", &response, "id")).unwrap();
    assert!(
        body.contains("<PolicyDocument>%7B%22a%22%3A%201%7D</PolicyDocument>"),
        "{body}"
    );
    assert_eq!(
        encode("GetUserPolicy", &response, "id"),
        QueryService::iam().encode("GetUserPolicy", &response, "id")
    );
    let error = WireError::client("NoSuchEntity", "gone");
    assert_eq!(
        error_body(&error, "id"),
        QueryService::iam().error_body(&error, "id")
    );
}

#[test]
fn errors_render_as_botocore_reads_them() {
    let iam = QueryService::iam();
    assert_error_fixture(
        iam,
        "iam_error_no_such_entity",
        &WireError {
            code: "NoSuchEntity",
            message: "The user with name alice cannot be found.".into(),
            status: 404,
        },
    );
    assert_error_fixture(
        iam,
        "iam_error_validation",
        &decode("Action=CreateUser&Version=2010-05-08&UserName=a%3Cb%3E").unwrap_err(),
    );
    let invalid = decode("Action=CreateGroup&Version=2010-05-08").unwrap_err();
    assert_error_fixture(iam, "iam_error_invalid_action", &invalid);
    let body = String::from_utf8(iam.error_body(&invalid, "r")).unwrap();
    assert!(
        body.starts_with(
            "<ErrorResponse xmlns=\"http://webservices.amazon.com/AWSFault/2005-15-09\">"
        ),
        "{body}"
    );
    assert_error_fixture(iam, "iam_error_internal", &WireError::internal());
}

#[test]
fn secrets_stay_out_of_debug() {
    let response = CreateAccessKeyResponse {
        access_key: AccessKey {
            secret_access_key: SecretText::from("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            ..AccessKey::default()
        },
    };
    let debug = format!("{response:?}");
    assert!(!debug.contains("wJalrXUtnFEMI"), "{debug}");
    assert_eq!(
        serde_json::to_value(&response).unwrap()["AccessKey"]["SecretAccessKey"],
        json!("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    );
}
