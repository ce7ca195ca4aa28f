//! Policy variables, as the IAM User Guide's "IAM policy elements: Variables and tags"
//! describes them: filled in from the request's condition keys in Resource entries and
//! string/ARN condition values of 2012-10-17 documents.

use serde_json::{json, Value};

use super::*;

const BOB: &str = "arn:aws:iam::111122223333:user/bob";
const SELF_USER: &str = "arn:aws:iam::111122223333:user/${aws:username}";
const OWN_SECRETS: &str = "arn:aws:secretsmanager:*:*:secret:${aws:username}-*";
const ALICE_SECRET: &str = "arn:aws:secretsmanager:us-east-1:111122223333:secret:alice-db-AbCdEf";
const BOB_SECRET: &str = "arn:aws:secretsmanager:us-east-1:111122223333:secret:bob-db-AbCdEf";
const V2012: Option<&str> = Some("2012-10-17");
const V2008: Option<&str> = Some("2008-10-17");

/// A document of `statements` with the given Version (none when `None`).
fn versioned(version: Option<&str>, statements: Value) -> Value {
    match version {
        Some(version) => json!({ "Version": version, "Statement": statements }),
        None => json!({ "Statement": statements }),
    }
}

/// A resource case: (AWS behaviour, Version, statements, request keys, resource acted
/// on, expected decision).
type ResourceCase<'a> = (
    &'a str,
    Option<&'a str>,
    Value,
    Pairs<'a>,
    &'a str,
    Decision,
);

/// Identity statements with variables in Resource/NotResource.
#[test]
#[rustfmt::skip]
fn resource_entries_fill_in_variables() {
    use Decision::{Allow, ExplicitDeny, NotApplicable};
    let allow = |r: Value| json!([{ "Effect": "Allow", "Action": "*", "Resource": r }]);
    let alice: Pairs = &[("aws:username", &["alice"])];
    let absent: Pairs = &[];
    let deny_others = json!([
        { "Effect": "Allow", "Action": "*", "Resource": "*" },
        { "Effect": "Deny", "Action": "*", "NotResource": SELF_USER }
    ]);
    let cases: Vec<ResourceCase> = vec![
        ("${aws:username} in a user ARN lets alice act on her own user.",
            V2012, allow(json!(SELF_USER)), alice, ALICE, Allow),
        ("...and not on bob's.",
            V2012, allow(json!(SELF_USER)), alice, BOB, NotApplicable),
        ("Variable names are case-insensitive, like condition keys.",
            V2012, allow(json!("arn:aws:iam::111122223333:user/${AWS:UserName}")), alice, ALICE, Allow),
        ("Version 2008-10-17 has no variables: `${aws:username}` is literal text.",
            V2008, allow(json!(SELF_USER)), alice, ALICE, NotApplicable),
        ("...matching only that literal text.",
            V2008, allow(json!(SELF_USER)), alice, SELF_USER, Allow),
        ("A document without Version is read as 2008-10-17: no variables.",
            None, allow(json!(SELF_USER)), alice, ALICE, NotApplicable),
        ("In 2012-10-17 the literal text no longer matches itself.",
            V2012, allow(json!(SELF_USER)), alice, SELF_USER, NotApplicable),
        ("A key the request lacks matches no resource (\"Policy variables with no value\").",
            V2012, allow(json!(SELF_USER)), absent, ALICE, NotApplicable),
        ("...not even the variable's own text.",
            V2012, allow(json!(SELF_USER)), absent, SELF_USER, NotApplicable),
        ("An unresolved entry leaves the other entries of the list in force.",
            V2012, allow(json!([SELF_USER, BOB])), absent, BOB, Allow),
        ("A default value stands in for an absent key.",
            V2012, allow(json!("arn:aws:iam::111122223333:user/${aws:username, 'anonymous'}")), absent, "arn:aws:iam::111122223333:user/anonymous", Allow),
        ("A present key wins over the default.",
            V2012, allow(json!("arn:aws:iam::111122223333:user/${aws:username, 'anonymous'}")), alice, "arn:aws:iam::111122223333:user/anonymous", NotApplicable),
        ("...and is what the entry matches.",
            V2012, allow(json!("arn:aws:iam::111122223333:user/${aws:username, 'anonymous'}")), alice, ALICE, Allow),
        ("In a default, '' is one quote.",
            V2012, allow(json!("arn:aws:s3:::b/${aws:username, 'o''neil'}")), absent, "arn:aws:s3:::b/o'neil", Allow),
        ("A default is not searched for variables in turn.",
            V2012, allow(json!("arn:aws:s3:::b/${aws:username, '${aws:userid}'}")), &[("aws:userid", &["AIDA1"])], "arn:aws:s3:::b/${aws:userid}", Allow),
        ("${*} is a literal `*`...",
            V2012, allow(json!("arn:aws:s3:::b/${*}")), absent, "arn:aws:s3:::b/*", Allow),
        ("...that is no wildcard.",
            V2012, allow(json!("arn:aws:s3:::b/${*}")), absent, "arn:aws:s3:::b/x", NotApplicable),
        ("${?} is a literal `?`, no wildcard.",
            V2012, allow(json!("arn:aws:s3:::b/${?}")), absent, "arn:aws:s3:::b/x", NotApplicable),
        ("${?} matches a `?`.",
            V2012, allow(json!("arn:aws:s3:::b/${?}")), absent, "arn:aws:s3:::b/?", Allow),
        ("${$} is a literal `$`.",
            V2012, allow(json!("arn:aws:s3:::b/${$}{aws:username}")), alice, "arn:aws:s3:::b/${aws:username}", Allow),
        ("A `$` not followed by `{` is plain text.",
            V2012, allow(json!("arn:aws:s3:::b/$x")), absent, "arn:aws:s3:::b/$x", Allow),
        ("A `*` in the request's value is literal: it is no wildcard.",
            V2012, allow(json!(SELF_USER)), &[("aws:username", &["a*"])], ALICE, NotApplicable),
        ("...and matches only a `*`.",
            V2012, allow(json!(SELF_USER)), &[("aws:username", &["a*"])], "arn:aws:iam::111122223333:user/a*", Allow),
        ("A `?` in the request's value is literal too.",
            V2012, allow(json!(SELF_USER)), &[("aws:username", &["b?b"])], BOB, NotApplicable),
        ("The policy's own wildcards around a variable still work: alice's secrets.",
            V2012, allow(json!(OWN_SECRETS)), alice, ALICE_SECRET, Allow),
        ("...but not bob's.",
            V2012, allow(json!(OWN_SECRETS)), alice, BOB_SECRET, NotApplicable),
        ("...nor, with no user name, anyone's.",
            V2012, allow(json!(OWN_SECRETS)), absent, ALICE_SECRET, NotApplicable),
        ("A principal tag as a variable.",
            V2012, allow(json!("arn:aws:secretsmanager:*:*:secret:${aws:PrincipalTag/team}/*")), &[("aws:PrincipalTag/team", &["blue"])], "arn:aws:secretsmanager:us-east-1:111122223333:secret:blue/db-AbCdEf", Allow),
        ("Several variables in one entry.",
            V2012, allow(json!("arn:aws:s3:::${aws:PrincipalTag/team}/${aws:username}")), &[("aws:PrincipalTag/team", &["blue"]), ("aws:username", &["alice"])], "arn:aws:s3:::blue/alice", Allow),
        ("A service key as a variable.",
            V2012, allow(json!("arn:aws:kms:*:*:key/${kms:EncryptionContext:KeyId}")), &[("kms:EncryptionContext:KeyId", &["k1"])], "arn:aws:kms:us-east-1:111122223333:key/k1", Allow),
        ("A multi-valued key is no variable: it matches nothing.",
            V2012, allow(json!(SELF_USER)), &[("aws:username", &["alice", "bob"])], ALICE, NotApplicable),
        ("...unless there is a default.",
            V2012, allow(json!("arn:aws:s3:::b/${aws:TagKeys, 'none'}")), &[("aws:TagKeys", &["env", "team"])], "arn:aws:s3:::b/none", Allow),
        ("A key present with no values is absent.",
            V2012, allow(json!(SELF_USER)), &[("aws:username", &[])], ALICE, NotApplicable),
        ("NotResource with a variable: alice's own user is excluded from the Deny.",
            V2012, deny_others.clone(), alice, ALICE, Allow),
        ("...bob's is not.",
            V2012, deny_others.clone(), alice, BOB, ExplicitDeny),
        ("A NotResource entry with no value excludes nothing.",
            V2012, deny_others, absent, ALICE, ExplicitDeny),
    ];
    for (behaviour, version, statements, pairs, resource, expected) in cases {
        let document = parse(PolicyKind::Identity, &versioned(version, statements));
        let keys = keys(pairs);
        let got = document.evaluate(&ctx(Caller::Alice, "secretsmanager:GetSecretValue", resource, &keys));
        assert_eq!(got.decision, expected, "{behaviour}");
    }
}

/// Variables in condition values: (AWS behaviour, Version, Condition element, request
/// keys, whether the condition holds).
#[test]
#[rustfmt::skip]
fn condition_values_fill_in_variables() {
    const TEAM: &str = "aws:PrincipalTag/team";
    const USER: &str = "aws:username";
    const SOURCE: &str = "aws:SourceArn";
    const TAGS: &str = "aws:TagKeys";
    let same = json!({"StringEquals": {TEAM: "${aws:username}"}});
    let cases: Vec<(&str, Option<&str>, Value, Pairs, bool)> = vec![
        ("StringEquals against a variable: the tag equals the user name.",
            V2012, same.clone(), &[(TEAM, &["alice"]), (USER, &["alice"])], true),
        ("...and fails when they differ.",
            V2012, same.clone(), &[(TEAM, &["bob"]), (USER, &["alice"])], false),
        ("A variable with no value makes StringEquals fail.",
            V2012, same.clone(), &[(TEAM, &["alice"])], false),
        ("...while StringNotEquals matches against the missing value.",
            V2012, json!({"StringNotEquals": {TEAM: "${aws:username}"}}), &[(TEAM, &["alice"])], true),
        ("StringNotEquals fails when the values are equal.",
            V2012, json!({"StringNotEquals": {TEAM: "${aws:username}"}}), &[(TEAM, &["alice"]), (USER, &["alice"])], false),
        ("In 2008-10-17 the value is literal text.",
            V2008, same.clone(), &[(TEAM, &["alice"]), (USER, &["alice"])], false),
        ("...which matches only itself.",
            V2008, same, &[(TEAM, &["${aws:username}"]), (USER, &["alice"])], true),
        ("Plain values and values with variables are alternatives.",
            V2012, json!({"StringEquals": {TEAM: ["blue", "${aws:username}"]}}), &[(TEAM, &["blue"])], true),
        ("...either may match.",
            V2012, json!({"StringEquals": {TEAM: ["blue", "${aws:username}"]}}), &[(TEAM, &["alice"]), (USER, &["alice"])], true),
        ("StringEqualsIgnoreCase ignores case in the filled-in value.",
            V2012, json!({"StringEqualsIgnoreCase": {TEAM: "team-${aws:username}"}}), &[(TEAM, &["Team-ALICE"]), (USER, &["alice"])], true),
        ("StringLike: the policy's `*` stays a wildcard around the variable.",
            V2012, json!({"StringLike": {"s3:prefix": "home/${aws:username}/*"}}), &[("s3:prefix", &["home/alice/docs/a.txt"]), (USER, &["alice"])], true),
        ("StringLike: another user's prefix does not match.",
            V2012, json!({"StringLike": {"s3:prefix": "home/${aws:username}/*"}}), &[("s3:prefix", &["home/bob/a.txt"]), (USER, &["alice"])], false),
        ("StringLike: a `*` in the user name is no wildcard.",
            V2012, json!({"StringLike": {"s3:prefix": "home/${aws:username}/*"}}), &[("s3:prefix", &["home/alice/a.txt"]), (USER, &["*"])], false),
        ("StringLike: ${*} is a literal `*`.",
            V2012, json!({"StringLike": {"s3:prefix": "${*}"}}), &[("s3:prefix", &["home"])], false),
        ("StringNotLike with a variable.",
            V2012, json!({"StringNotLike": {"s3:prefix": "home/${aws:username}/*"}}), &[("s3:prefix", &["home/bob/a.txt"]), (USER, &["alice"])], true),
        ("A default value in a condition.",
            V2012, json!({"StringEquals": {TEAM: "${aws:PrincipalTag/dept, 'none'}"}}), &[(TEAM, &["none"])], true),
        ("ArnLike: a variable in the resource part.",
            V2012, json!({"ArnLike": {SOURCE: "arn:aws:iam::*:user/${aws:username}"}}), &[(SOURCE, &[ALICE]), (USER, &["alice"])], true),
        ("ArnLike: another user's ARN does not match.",
            V2012, json!({"ArnLike": {SOURCE: "arn:aws:iam::*:user/${aws:username}"}}), &[(SOURCE, &[BOB]), (USER, &["alice"])], false),
        ("ArnEquals: ${*} is no wildcard.",
            V2012, json!({"ArnEquals": {SOURCE: "arn:aws:iam::111122223333:user/${*}"}}), &[(SOURCE, &[ALICE])], false),
        ("A multi-valued key as a variable matches nothing.",
            V2012, json!({"StringEquals": {TEAM: "${aws:TagKeys}"}}), &[(TEAM, &["env"]), (TAGS, &["env", "cost"])], false),
        ("ForAllValues: every request value matches a value, some filled in.",
            V2012, json!({"ForAllValues:StringEquals": {TAGS: ["env", "${aws:username}"]}}), &[(TAGS, &["env", "alice"]), (USER, &["alice"])], true),
        ("ForAllValues: a request value matching nothing fails.",
            V2012, json!({"ForAllValues:StringEquals": {TAGS: ["env", "${aws:username}"]}}), &[(TAGS, &["env", "bob"]), (USER, &["alice"])], false),
        ("Condition keys are never filled in: `${...}` in a key is its name.",
            V2012, json!({"StringEquals": {"aws:PrincipalTag/${aws:username}": "x"}}), &[("aws:PrincipalTag/alice", &["x"]), (USER, &["alice"])], false),
    ];
    for (behaviour, version, condition, pairs, holds) in cases {
        let statement = json!({ "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*", "Condition": condition });
        let document = parse(PolicyKind::Identity, &versioned(version, json!([statement])));
        let keys = keys(pairs);
        let got = document.evaluate(&ctx(Caller::Alice, "kms:Decrypt", KEY, &keys));
        let expected = if holds { Decision::Allow } else { Decision::NotApplicable };
        assert_eq!(got.decision, expected, "{behaviour}");
    }
}

/// Variables are compiled with the document: (AWS behaviour, Version, statement, the
/// message's start, or `None` when the document parses).
#[test]
#[rustfmt::skip]
fn variable_syntax_is_checked_at_parse_time() {
    let with_resource = |r: &str| json!({ "Effect": "Allow", "Action": "*", "Resource": r });
    let with_condition = |c: Value| json!({ "Effect": "Allow", "Action": "*", "Resource": "*", "Condition": c });
    let cases: Vec<(&str, Option<&str>, Value, Option<&str>)> = vec![
        ("An unclosed `${` is a syntax error.",
            V2012, with_resource("arn:aws:iam::111122223333:user/${aws:username"), Some("Syntax errors in policy. The policy variable is missing a closing curly brace")),
        ("...in a condition value too.",
            V2012, with_condition(json!({"StringLike": {"s3:prefix": "home/${aws:username/*"}})), Some("Syntax errors in policy. The policy variable is missing a closing curly brace")),
        ("...but is literal text in a 2008-10-17 document.",
            V2008, with_resource("arn:aws:iam::111122223333:user/${aws:username"), None),
        ("An empty variable is an error.",
            V2012, with_resource("arn:aws:s3:::b/${}"), Some("Syntax errors in policy. Empty policy variable")),
        ("A space in a variable name is an error.",
            V2012, with_resource("arn:aws:s3:::b/${aws:user name}"), Some("Syntax errors in policy. A space is not supported within the policy variable name")),
        ("A `$` in a variable name is an error.",
            V2012, with_resource("arn:aws:s3:::b/${aws:${aws:username}}"), Some("Syntax errors in policy. The symbol $ is not supported")),
        ("A default must be in single quotes.",
            V2012, with_resource("arn:aws:s3:::b/${aws:username, anonymous}"), Some("Syntax errors in policy. The policy variable default value must begin and end with a single quote")),
        ("A default must close its quote.",
            V2012, with_resource("arn:aws:s3:::b/${aws:username, 'anonymous}"), Some("Syntax errors in policy. The policy variable default value must begin and end with a single quote")),
        ("Nothing may follow the default's closing quote but `}`.",
            V2012, with_resource("arn:aws:s3:::b/${aws:username, 'a'b}"), Some("Syntax errors in policy. The policy variable default value must begin and end with a single quote")),
        ("A closed default still needs the closing brace.",
            V2012, with_resource("arn:aws:s3:::b/${aws:username, 'a'"), Some("Syntax errors in policy. The policy variable is missing a closing curly brace")),
        ("A `}` inside a quoted default does not close the variable.",
            V2012, with_resource("arn:aws:s3:::b/${aws:username, 'a}b'}"), None),
        ("Numeric operators take no variables: the value is literal, and no number.",
            V2012, with_condition(json!({"NumericEquals": {"kms:NumberOfBytes": "${kms:Bytes}"}})), Some("Syntax errors in policy. Invalid value ${kms:Bytes}")),
        ("Variables in actions are not filled in, so the action is invalid.",
            V2012, json!({ "Effect": "Allow", "Action": "kms:${username}", "Resource": "*" }), Some("Policy has invalid action")),
    ];
    for (behaviour, version, statement, message) in cases {
        let text = versioned(version, json!([statement])).to_string();
        match (PolicyDocument::parse(&text, PolicyKind::Identity), message) {
            (Ok(_), None) => {}
            (Err(PolicyError::Malformed(got)), Some(message)) => {
                assert!(got.starts_with(message), "{behaviour}: got {got:?}, want {message:?}")
            }
            (got, _) => panic!("{behaviour}: got {got:?}"),
        }
    }
}

/// The same compiled document answers each caller with that caller's own values.
#[test]
fn one_document_serves_every_caller() {
    // A single group policy lets each user manage only their own user (the guide's
    // `iam:*AccessKey*` example).
    let document = parse(
        PolicyKind::Identity,
        &policy(json!([{ "Effect": "Allow", "Action": "iam:*AccessKey*", "Resource": SELF_USER }])),
    );
    for (user, own, other) in [("alice", ALICE, BOB), ("bob", BOB, ALICE)] {
        let mut keys = ConditionKeys::new();
        keys.insert("aws:username", user);
        let decide = |resource| {
            document
                .evaluate(&ctx(Caller::Alice, "iam:CreateAccessKey", resource, &keys))
                .decision
        };
        assert_eq!(decide(own), Decision::Allow, "{user} on own user");
        assert_eq!(
            decide(other),
            Decision::NotApplicable,
            "{user} on other user"
        );
    }
}
