//! Whatever form arrives, the Query codec answers with an operation or an error — never a
//! panic — and its errors are always client errors of the kinds a form can earn. Rendering
//! any response value never panics either.

// Test helpers outside #[test] functions fail loudly by design.
#![allow(clippy::unwrap_used, clippy::panic)]

use keyward_protocol::iam::IamOperation;
use keyward_protocol::query::{QueryRequest, QueryService};
use keyward_protocol::sts::StsOperation;
use proptest::prelude::*;
use serde_json::Value;

/// Parameter names of the supported operations, alone and in list and map positions, so
/// generated forms reach past the top level.
const NAMES: &[&str] = &[
    "UserName",
    "RoleName",
    "Path",
    "PathPrefix",
    "MaxItems",
    "Marker",
    "Status",
    "AccessKeyId",
    "PolicyName",
    "PolicyDocument",
    "AssumeRolePolicyDocument",
    "MaxSessionDuration",
    "Tags",
    "Tags.member.1.Key",
    "Tags.member.1.Value",
    "Tags.member.2.Key",
    "Tags.member.10.Value",
    "Tags.member.0.Key",
    "TagKeys",
    "TagKeys.member.1",
    "TagKeys.member.3",
    "RoleArn",
    "RoleSessionName",
    "DurationSeconds",
    "PolicyArns.member.1.arn",
    "ProvidedContexts.member.1.ProviderArn",
    "TransitiveTagKeys.member.1",
    "Other",
];

const ACTIONS: &[&str] = &[
    "CreateUser",
    "ListUsers",
    "UpdateAccessKey",
    "CreateRole",
    "PutUserPolicy",
    "TagUser",
    "UntagRole",
    "ListRoleTags",
    "AssumeRole",
    "GetCallerIdentity",
    "Nope",
];

const ANSWERS: &[&str] = &[
    "MissingAction",
    "InvalidAction",
    "MalformedQueryString",
    "MalformedInput",
    "MissingParameter",
    "ValidationError",
];

fn check(result: Result<&'static str, keyward_protocol::WireError>) {
    if let Err(error) = result {
        assert!(ANSWERS.contains(&error.code), "{error:?}");
        assert!(error.status == 400 || error.status == 404, "{error:?}");
    }
}

fn decode_all(form: &[u8]) {
    match QueryRequest::parse(form) {
        Ok(request) => {
            check(IamOperation::decode(&request).map(|op| op.name()));
            check(StsOperation::decode(&request).map(|op| op.name()));
        }
        Err(error) => check(Err(error)),
    }
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z]{1,8}",
        "-?[0-9]{1,12}",
        Just("true".to_owned()),
        Just("Active".to_owned()),
        Just("/a/".to_owned()),
        "[%+&=.a-zA-Z0-9]{0,12}",
        ".{0,8}",
    ]
}

fn form() -> impl Strategy<Value = String> {
    (
        prop::sample::select(ACTIONS),
        prop::sample::select(&["2010-05-08", "2011-06-15", "1"][..]),
        prop::collection::vec((prop::sample::select(NAMES), value()), 0..12),
    )
        .prop_map(|(action, version, params)| {
            let mut form = format!("Action={action}&Version={version}");
            for (name, value) in params {
                form.push('&');
                form.push_str(name);
                form.push('=');
                form.push_str(&value);
            }
            form
        })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(
                        &[
                            "User",
                            "Users",
                            "Role",
                            "Tags",
                            "Key",
                            "CreateDate",
                            "Credentials"
                        ][..]
                    ),
                    inner
                ),
                0..5
            )
            .prop_map(|entries| Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect()
            )),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        decode_all(&bytes);
    }

    #[test]
    fn arbitrary_forms_never_panic(form in form()) {
        decode_all(form.as_bytes());
    }

    #[test]
    fn arbitrary_response_values_never_panic(value in json_value()) {
        for operation in ["CreateUser", "ListUsers", "GetRole", "DeleteUser", "Nope"] {
            let body = QueryService::iam().encode(operation, &value, "id");
            prop_assert!(body.starts_with(b"<"));
        }
        let body = QueryService::sts().encode("AssumeRole", &value, "id");
        prop_assert!(body.ends_with(b"</AssumeRoleResponse>"));
    }
}
