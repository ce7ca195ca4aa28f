#![allow(clippy::unwrap_used, clippy::panic)]

use serde_json::{json, Value};

use super::*;

const ACCOUNT: &str = "111122223333";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const OTHER_KEY: &str =
    "arn:aws:kms:us-east-1:111122223333:key/0000aaaa-0000-0000-0000-000000000000";
const ROOT: &str = "arn:aws:iam::111122223333:root";
const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const ADMIN: &str = "arn:aws:iam::111122223333:user/admin";
const ROLE: &str = "arn:aws:iam::111122223333:role/loadtest";
const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/loadtest/sess";
const LAMBDA: &str = "lambda.amazonaws.com";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Alice,
    Admin,
    Root,
    Session,
    Lambda,
}

impl Caller {
    const ALL: [Caller; 5] = [
        Caller::Alice,
        Caller::Admin,
        Caller::Root,
        Caller::Session,
        Caller::Lambda,
    ];

    fn principal(self) -> CallerPrincipal<'static> {
        let base = CallerPrincipal {
            account: ACCOUNT,
            arn: ALICE,
            role_arn: None,
            service: None,
            is_root: false,
        };
        match self {
            Caller::Alice => base,
            Caller::Admin => CallerPrincipal { arn: ADMIN, ..base },
            Caller::Root => CallerPrincipal {
                arn: ROOT,
                is_root: true,
                ..base
            },
            Caller::Session => CallerPrincipal {
                arn: SESSION,
                role_arn: Some(ROLE),
                ..base
            },
            Caller::Lambda => CallerPrincipal {
                arn: LAMBDA,
                service: Some(LAMBDA),
                ..base
            },
        }
    }

    /// A principal element naming exactly this caller.
    fn named(self) -> Value {
        match self {
            Caller::Alice => json!({ "AWS": ALICE }),
            Caller::Admin => json!({ "AWS": ADMIN }),
            Caller::Root => json!({ "AWS": ROOT }),
            Caller::Session => json!({ "AWS": SESSION }),
            Caller::Lambda => json!({ "Service": LAMBDA }),
        }
    }
}

fn parse(kind: PolicyKind, document: &Value) -> PolicyDocument {
    PolicyDocument::parse(&document.to_string(), kind)
        .unwrap_or_else(|e| panic!("{document} does not parse: {e}"))
}

fn policy(statements: Value) -> Value {
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// Condition keys and their values, as a test table spells them.
type Pairs<'a> = &'a [(&'a str, &'a [&'a str])];

fn keys(pairs: Pairs<'_>) -> ConditionKeys {
    let mut keys = ConditionKeys::new();
    for (name, values) in pairs {
        keys.insert_many(name, values.iter().copied());
    }
    keys
}

fn ctx<'a>(
    caller: Caller,
    action: &'a str,
    resource: &'a str,
    keys: &'a ConditionKeys,
) -> RequestContext<'a> {
    RequestContext {
        principal: caller.principal(),
        action,
        resource,
        keys,
    }
}

/// Identity-policy statements against one request: (AWS behaviour, statements, action,
/// resource, expected decision).
#[test]
#[rustfmt::skip]
fn identity_documents_decide_by_action_resource_and_effect() {
    use Decision::{Allow, ExplicitDeny, NotApplicable};
    let allow = |a: Value, r: Value| json!({ "Effect": "Allow", "Action": a, "Resource": r });
    let deny = |a: Value, r: Value| json!({ "Effect": "Deny", "Action": a, "Resource": r });
    let not_action = |effect: &str, a: Value| json!({ "Effect": effect, "NotAction": a, "Resource": "*" });
    let not_resource = json!({ "Effect": "Deny", "Action": "kms:*", "NotResource": KEY });
    let cases: Vec<(&str, Value, &str, &str, Decision)> = vec![
        ("An Allow naming the action and resource allows.",
            json!([allow(json!("kms:Decrypt"), json!(KEY))]), "kms:Decrypt", KEY, Allow),
        ("Anything no statement allows is implicitly denied.",
            json!([allow(json!("kms:Encrypt"), json!("*"))]), "kms:Decrypt", KEY, NotApplicable),
        ("An explicit Deny wins over an Allow in the same document.",
            json!([allow(json!("kms:*"), json!("*")), deny(json!("kms:Decrypt"), json!(KEY))]), "kms:Decrypt", KEY, ExplicitDeny),
        ("A Deny for another action leaves the Allow in force.",
            json!([allow(json!("kms:*"), json!("*")), deny(json!("kms:Encrypt"), json!("*"))]), "kms:Decrypt", KEY, Allow),
        ("Action names compare case-insensitively.",
            json!([allow(json!("KMS:decrypt"), json!("*"))]), "kms:Decrypt", KEY, Allow),
        ("`*` in an action matches any run of characters.",
            json!([allow(json!("kms:Generate*"), json!("*"))]), "kms:GenerateDataKeyWithoutPlaintext", KEY, Allow),
        ("`?` in an action matches one character.",
            json!([allow(json!("kms:?ncrypt"), json!("*"))]), "kms:Encrypt", KEY, Allow),
        ("A wildcard action still has to match the whole name.",
            json!([allow(json!("kms:Generate*"), json!("*"))]), "kms:Decrypt", KEY, NotApplicable),
        ("`*` alone is every action of every service.",
            json!([allow(json!("*"), json!("*"))]), "secretsmanager:GetSecretValue", KEY, Allow),
        ("A list of actions is any of them.",
            json!([allow(json!(["kms:Encrypt", "kms:Decrypt"]), json!("*"))]), "kms:Decrypt", KEY, Allow),
        ("NotAction allows every action but those listed.",
            json!([not_action("Allow", json!(["kms:Delete*", "kms:ScheduleKeyDeletion"]))]), "kms:Decrypt", KEY, Allow),
        ("NotAction does not allow the actions listed.",
            json!([not_action("Allow", json!("kms:Delete*"))]), "kms:DeleteAlias", KEY, NotApplicable),
        ("Deny with NotAction denies everything else.",
            json!([allow(json!("*"), json!("*")), not_action("Deny", json!("kms:Describe*"))]), "kms:Decrypt", KEY, ExplicitDeny),
        ("A resource wildcard spans `:` and `/`.",
            json!([allow(json!("kms:Decrypt"), json!("arn:aws:kms:*"))]), "kms:Decrypt", KEY, Allow),
        ("A resource pattern of another account does not match.",
            json!([allow(json!("kms:Decrypt"), json!("arn:aws:kms:*:999999999999:key/*"))]), "kms:Decrypt", KEY, NotApplicable),
        ("Resources compare case-sensitively.",
            json!([allow(json!("kms:Decrypt"), json!("arn:aws:kms:us-east-1:111122223333:KEY/*"))]), "kms:Decrypt", KEY, NotApplicable),
        ("`?` in a resource matches one character.",
            json!([allow(json!("kms:Decrypt"), json!("arn:aws:kms:us-east-?:111122223333:key/*"))]), "kms:Decrypt", KEY, Allow),
        ("NotResource applies to every resource but those listed.",
            json!([allow(json!("*"), json!("*")), not_resource]), "kms:Decrypt", OTHER_KEY, ExplicitDeny),
        ("NotResource does not apply to the resources listed.",
            json!([allow(json!("*"), json!("*")), not_resource]), "kms:Decrypt", KEY, Allow),
    ];
    let no_keys = ConditionKeys::new();
    for (behaviour, statements, action, resource, expected) in cases {
        let document = parse(PolicyKind::Identity, &policy(statements));
        let got = document.evaluate(&ctx(Caller::Alice, action, resource, &no_keys));
        assert_eq!(got.decision, expected, "{behaviour}");
        assert!(!got.allow_via_account_only, "{behaviour}");
    }
}

/// Resource-policy principals: (AWS behaviour, statements, caller, expected decision,
/// whether the allow is only through the account).
#[test]
#[rustfmt::skip]
fn resource_documents_apply_to_the_principals_they_name() {
    use Decision::{Allow, ExplicitDeny, NotApplicable};
    let allow_to = |p: Value| json!([{ "Effect": "Allow", "Principal": p, "Action": "kms:*", "Resource": "*" }]);
    let deny_all_but_alice = json!([{ "Effect": "Deny", "NotPrincipal": {"AWS": ALICE}, "Action": "kms:*", "Resource": "*" }]);
    let cases: Vec<(&str, Value, Caller, Decision, bool)> = vec![
        ("`\"*\"` names everyone.", allow_to(json!("*")), Caller::Alice, Allow, false),
        ("`{\"AWS\": \"*\"}` names everyone.", allow_to(json!({"AWS": "*"})), Caller::Session, Allow, false),
        ("`\"*\"` names service callers too.", allow_to(json!("*")), Caller::Lambda, Allow, false),
        ("An account id names every caller of the account, through the account.",
            allow_to(json!({"AWS": ACCOUNT})), Caller::Alice, Allow, true),
        ("The account root ARN is the same account principal.",
            allow_to(json!({"AWS": ROOT})), Caller::Session, Allow, true),
        ("The account root ARN names the root user through the account.",
            allow_to(json!({"AWS": ROOT})), Caller::Root, Allow, true),
        ("Another account's principal does not name this account's callers.",
            allow_to(json!({"AWS": "999999999999"})), Caller::Alice, NotApplicable, false),
        ("A user ARN names that user.", allow_to(json!({"AWS": ALICE})), Caller::Alice, Allow, false),
        ("A user ARN names no one else.", allow_to(json!({"AWS": ALICE})), Caller::Admin, NotApplicable, false),
        ("A list of principals names each of them.",
            allow_to(json!({"AWS": [ADMIN, ALICE]})), Caller::Alice, Allow, false),
        ("A role ARN names every session of the role.", allow_to(json!({"AWS": ROLE})), Caller::Session, Allow, false),
        ("A role ARN does not name users.", allow_to(json!({"AWS": ROLE})), Caller::Alice, NotApplicable, false),
        ("An assumed-role session ARN names that session.",
            allow_to(json!({"AWS": SESSION})), Caller::Session, Allow, false),
        ("A Service principal names that service.",
            allow_to(json!({"Service": [LAMBDA]})), Caller::Lambda, Allow, false),
        ("A Service principal names no IAM identity.",
            allow_to(json!({"Service": LAMBDA})), Caller::Alice, NotApplicable, false),
        ("An account principal does not name a service.",
            allow_to(json!({"AWS": ACCOUNT})), Caller::Lambda, NotApplicable, false),
        ("Federated principals parse but name no Keyward caller.",
            allow_to(json!({"Federated": "cognito-identity.amazonaws.com"})), Caller::Alice, NotApplicable, false),
        ("NotPrincipal applies to every caller it does not name.",
            deny_all_but_alice.clone(), Caller::Admin, ExplicitDeny, false),
        ("NotPrincipal does not apply to the callers it names.",
            deny_all_but_alice, Caller::Alice, NotApplicable, false),
        ("A specific allow outranks an account allow in the same document.",
            json!([
                { "Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*" },
                { "Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "kms:Decrypt", "Resource": "*" }
            ]), Caller::Alice, Allow, false),
        ("A resource policy statement without Resource applies to its resource.",
            json!([{ "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt" }]), Caller::Alice, Allow, false),
    ];
    let no_keys = ConditionKeys::new();
    for (behaviour, statements, caller, decision, via_account) in cases {
        let document = parse(PolicyKind::Resource, &policy(statements));
        let got = document.evaluate(&ctx(caller, "kms:Decrypt", KEY, &no_keys));
        assert_eq!(got.decision, decision, "{behaviour}");
        assert_eq!(got.allow_via_account_only, via_account, "{behaviour}");
    }
}

/// Each operator, qualifier and `IfExists`: (AWS behaviour, Condition element, request
/// keys, whether the condition holds).
#[test]
#[rustfmt::skip]
fn conditions_match_as_aws_documents_them() {
    const TEAM: &str = "aws:PrincipalTag/team";
    const BYTES: &str = "kms:NumberOfBytes";
    const NOW: &str = "aws:CurrentTime";
    const IP: &str = "aws:SourceIp";
    const TAGS: &str = "aws:TagKeys";
    const SOURCE: &str = "aws:SourceArn";
    let absent: Pairs = &[];
    let cases: Vec<(&str, Value, Pairs, bool)> = vec![
        ("StringEquals matches the exact value.", json!({"StringEquals": {TEAM: "blue"}}), &[(TEAM, &["blue"])], true),
        ("StringEquals is case-sensitive.", json!({"StringEquals": {TEAM: "Blue"}}), &[(TEAM, &["blue"])], false),
        ("Several policy values for one key are alternatives.", json!({"StringEquals": {TEAM: ["red", "blue"]}}), &[(TEAM, &["blue"])], true),
        ("A positive operator on an absent key is false.", json!({"StringEquals": {TEAM: "blue"}}), absent, false),
        ("StringNotEquals holds for another value.", json!({"StringNotEquals": {TEAM: "red"}}), &[(TEAM, &["blue"])], true),
        ("StringNotEquals fails for a listed value.", json!({"StringNotEquals": {TEAM: ["red", "blue"]}}), &[(TEAM, &["blue"])], false),
        ("A negated operator on an absent key is true.", json!({"StringNotEquals": {TEAM: "red"}}), absent, true),
        ("StringEqualsIgnoreCase ignores case.", json!({"StringEqualsIgnoreCase": {TEAM: "BLUE"}}), &[(TEAM, &["Blue"])], true),
        ("StringNotEqualsIgnoreCase ignores case.", json!({"StringNotEqualsIgnoreCase": {TEAM: "BLUE"}}), &[(TEAM, &["blue"])], false),
        ("StringLike takes `*` and `?`.", json!({"StringLike": {"s3:prefix": "home/?lice/*"}}), &[("s3:prefix", &["home/alice/docs/a.txt"])], true),
        ("StringLike is case-sensitive.", json!({"StringLike": {"s3:prefix": "Home/*"}}), &[("s3:prefix", &["home/alice"])], false),
        ("StringNotLike holds when no pattern matches.", json!({"StringNotLike": {"s3:prefix": ["tmp/*", "cache/*"]}}), &[("s3:prefix", &["home/alice"])], true),
        ("NumericEquals compares numbers, given as JSON numbers too.", json!({"NumericEquals": {BYTES: 64}}), &[(BYTES, &["64.0"])], true),
        ("NumericNotEquals fails for an equal number.", json!({"NumericNotEquals": {BYTES: "64"}}), &[(BYTES, &["64"])], false),
        ("NumericLessThan: the request value is less than the policy's.", json!({"NumericLessThan": {BYTES: "64"}}), &[(BYTES, &["32"])], true),
        ("NumericLessThan is strict.", json!({"NumericLessThan": {BYTES: "64"}}), &[(BYTES, &["64"])], false),
        ("NumericLessThanEquals includes equality.", json!({"NumericLessThanEquals": {BYTES: "64"}}), &[(BYTES, &["64"])], true),
        ("NumericGreaterThan holds for a greater number.", json!({"NumericGreaterThan": {BYTES: "64"}}), &[(BYTES, &["1024"])], true),
        ("NumericGreaterThanEquals fails for a smaller number.", json!({"NumericGreaterThanEquals": {BYTES: "64"}}), &[(BYTES, &["63"])], false),
        ("A request value that is not a number matches nothing.", json!({"NumericEquals": {BYTES: "64"}}), &[(BYTES, &["sixty-four"])], false),
        ("DateGreaterThan compares instants in ISO 8601.", json!({"DateGreaterThan": {NOW: "2024-01-01T00:00:00Z"}}), &[(NOW, &["2024-06-01T12:00:00Z"])], true),
        ("DateLessThan takes epoch seconds against ISO 8601.", json!({"DateLessThan": {NOW: "2024-01-01T00:00:00Z"}}), &[(NOW, &["1700000000"])], true),
        ("DateEquals: the same instant in two spellings.", json!({"DateEquals": {NOW: "2024-01-01T01:00:00+01:00"}}), &[(NOW, &["1704067200"])], true),
        ("DateNotEquals: a bare date is midnight UTC.", json!({"DateNotEquals": {NOW: "2024-01-01"}}), &[(NOW, &["2024-01-01T00:00:00Z"])], false),
        ("DateLessThanEquals includes the instant.", json!({"DateLessThanEquals": {NOW: "2024-01-01T00:00:00Z"}}), &[(NOW, &["2024-01-01T00:00:00.000Z"])], true),
        ("DateGreaterThanEquals fails for an earlier instant.", json!({"DateGreaterThanEquals": {NOW: 1704067200}}), &[(NOW, &["2023-12-31T23:59:59Z"])], false),
        ("Bool matches true.", json!({"Bool": {"aws:SecureTransport": "true"}}), &[("aws:SecureTransport", &["true"])], true),
        ("Bool takes JSON booleans.", json!({"Bool": {"aws:SecureTransport": true}}), &[("aws:SecureTransport", &["false"])], false),
        ("BinaryEquals compares the decoded bytes, padding or not.", json!({"BinaryEquals": {"aws:Blob": "QmluYXJ5VmFsdWU="}}), &[("aws:Blob", &["QmluYXJ5VmFsdWU"])], true),
        ("BinaryEquals fails for other bytes.", json!({"BinaryEquals": {"aws:Blob": "QmluYXJ5VmFsdWU="}}), &[("aws:Blob", &["b3RoZXI="])], false),
        ("IpAddress matches inside a CIDR block.", json!({"IpAddress": {IP: "203.0.113.0/24"}}), &[(IP, &["203.0.113.7"])], true),
        ("IpAddress fails outside the block.", json!({"IpAddress": {IP: "203.0.113.0/24"}}), &[(IP, &["198.51.100.1"])], false),
        ("IpAddress takes bare addresses and IPv6 blocks.", json!({"IpAddress": {IP: ["198.51.100.1", "2001:db8::/32"]}}), &[(IP, &["2001:db8:1::5"])], true),
        ("NotIpAddress holds outside every block.", json!({"NotIpAddress": {IP: "203.0.113.0/24"}}), &[(IP, &["198.51.100.1"])], true),
        ("NotIpAddress on an absent key is true.", json!({"NotIpAddress": {IP: "203.0.113.0/24"}}), absent, true),
        ("ArnLike matches each ARN part with wildcards.", json!({"ArnLike": {SOURCE: "arn:aws:iam::*:role/load*"}}), &[(SOURCE, &[ROLE])], true),
        ("ArnLike matches part by part: a `*` does not run across a colon.", json!({"ArnLike": {SOURCE: "arn:*:iam::111122223333:role/loadtest"}}), &[(SOURCE, &["arn:aws:foo:iam::111122223333:role/loadtest"])], false),
        ("ArnEquals behaves as ArnLike.", json!({"ArnEquals": {SOURCE: ROLE}}), &[(SOURCE, &[ROLE])], true),
        ("ArnNotEquals holds for another ARN.", json!({"ArnNotEquals": {SOURCE: ROLE}}), &[(SOURCE, &[SESSION])], true),
        ("ArnNotLike fails for a matching ARN.", json!({"ArnNotLike": {SOURCE: "arn:aws:iam::*:role/*"}}), &[(SOURCE, &[ROLE])], false),
        ("Null true: the key is absent.", json!({"Null": {"aws:TokenIssueTime": "true"}}), absent, true),
        ("Null true fails when the key is present.", json!({"Null": {"aws:TokenIssueTime": "true"}}), &[("aws:TokenIssueTime", &["2024-01-01T00:00:00Z"])], false),
        ("Null false: the key is present.", json!({"Null": {"aws:TokenIssueTime": false}}), &[("aws:TokenIssueTime", &["2024-01-01T00:00:00Z"])], true),
        ("IfExists: an absent key passes.", json!({"StringEqualsIfExists": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}), absent, true),
        ("IfExists: a present key is tested as usual.", json!({"StringEqualsIfExists": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}), &[("kms:ViaService", &["ec2.us-east-1.amazonaws.com"])], false),
        ("IfExists on a numeric operator.", json!({"NumericLessThanIfExists": {BYTES: 64}}), absent, true),
        ("ForAnyValue: one request value matching is enough.", json!({"ForAnyValue:StringEquals": {TAGS: ["env", "team"]}}), &[(TAGS, &["cost", "team"])], true),
        ("ForAnyValue: no request value matching fails.", json!({"ForAnyValue:StringEquals": {TAGS: ["env", "team"]}}), &[(TAGS, &["cost"])], false),
        ("ForAnyValue on an absent key is false.", json!({"ForAnyValue:StringEquals": {TAGS: "env"}}), absent, false),
        ("ForAllValues: every request value must match.", json!({"ForAllValues:StringEquals": {TAGS: ["env", "team"]}}), &[(TAGS, &["team", "env"])], true),
        ("ForAllValues: one stray request value fails.", json!({"ForAllValues:StringEquals": {TAGS: ["env", "team"]}}), &[(TAGS, &["team", "cost"])], false),
        ("ForAllValues on an absent key is true.", json!({"ForAllValues:StringEquals": {TAGS: "env"}}), absent, true),
        ("ForAllValues on an empty key is true.", json!({"ForAllValues:StringEquals": {TAGS: "env"}}), &[(TAGS, &[])], true),
        ("ForAnyValue:StringNotEquals: some request value is not listed.", json!({"ForAnyValue:StringNotEquals": {TAGS: "env"}}), &[(TAGS, &["env", "cost"])], true),
        ("ForAllValues:StringNotLike: a listed request value fails.", json!({"ForAllValues:StringNotLike": {TAGS: "secret*"}}), &[(TAGS, &["env", "secretive"])], false),
        ("Without a qualifier a multi-valued key matches when any value does.", json!({"StringEquals": {TAGS: "env"}}), &[(TAGS, &["cost", "env"])], true),
        ("Without a qualifier a negated operator fails when any value is listed.", json!({"StringNotEquals": {TAGS: "env"}}), &[(TAGS, &["cost", "env"])], false),
        ("All keys under one operator must match.", json!({"StringEquals": {TEAM: "blue", "aws:PrincipalTag/env": "prod"}}), &[(TEAM, &["blue"])], false),
        ("All operators must match.", json!({"StringEquals": {TEAM: "blue"}, "Bool": {"aws:SecureTransport": "true"}}), &[(TEAM, &["blue"]), ("aws:SecureTransport", &["true"])], true),
        ("Condition key names are case-insensitive.", json!({"IpAddress": {"AWS:SOURCEIP": "203.0.113.0/24"}}), &[("aws:sourceip", &["203.0.113.9"])], true),
        ("A policy variable whose key the request lacks matches nothing.", json!({"StringEquals": {TEAM: "${aws:username}"}}), &[(TEAM, &["alice"])], false),
    ];
    for (behaviour, condition, pairs, holds) in cases {
        let statement = json!({ "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*", "Condition": condition });
        let document = parse(PolicyKind::Identity, &policy(json!([statement])));
        let keys = keys(pairs);
        let got = document.evaluate(&ctx(Caller::Alice, "kms:Decrypt", KEY, &keys));
        let expected = if holds { Decision::Allow } else { Decision::NotApplicable };
        assert_eq!(got.decision, expected, "{behaviour}");
    }
}

type AuthorizeCase = (
    &'static str,
    Vec<Value>,
    Option<Value>,
    ResourceMode,
    Caller,
    &'static str,
    Outcome,
);

/// The combined verdict: (AWS behaviour, identity statements (one document each),
/// resource policy statements, mode, caller, action, expected outcome).
#[test]
#[rustfmt::skip]
fn authorize_combines_identity_and_resource_policies() {
    use Outcome::*;
    use ResourceMode::{Optional, Required};
    let statement = |effect: &str, action: &str| json!({ "Effect": effect, "Action": action, "Resource": "*" });
    let to = |effect: &str, who: Value, action: &str| json!({ "Effect": effect, "Principal": who, "Action": action, "Resource": "*" });
    let account = || json!({ "AWS": ROOT });
    let key_policy_default = || json!([to("Allow", account(), "kms:*")]);
    let cases: Vec<AuthorizeCase> = vec![
        ("A key policy naming the caller allows without any IAM policy.",
            vec![], Some(json!([to("Allow", Caller::Alice.named(), "kms:Decrypt")])), Required, Caller::Alice, "kms:Decrypt", Allow),
        ("The default key policy delegates to IAM: an identity allow is needed and enough.",
            vec![statement("Allow", "kms:Decrypt")], Some(key_policy_default()), Required, Caller::Alice, "kms:Decrypt", Allow),
        ("The default key policy without an identity allow denies.",
            vec![], Some(key_policy_default()), Required, Caller::Alice, "kms:Decrypt", NoIdentityAllow),
        ("An identity allow for another action does not help.",
            vec![statement("Allow", "kms:Encrypt")], Some(key_policy_default()), Required, Caller::Alice, "kms:Decrypt", NoIdentityAllow),
        ("The account root needs no identity policy where the account is trusted.",
            vec![], Some(key_policy_default()), Required, Caller::Root, "kms:ScheduleKeyDeletion", Allow),
        ("Without a key policy that allows, IAM policies cannot grant KMS access.",
            vec![statement("Allow", "kms:*")], Some(json!([to("Allow", Caller::Admin.named(), "kms:*")])), Required, Caller::Alice, "kms:Decrypt", NoResourceAllow),
        ("No key policy at all in Required mode is a denial, even for root.",
            vec![], None, Required, Caller::Root, "kms:Decrypt", NoResourceAllow),
        ("An identity Deny wins over a key policy naming the caller.",
            vec![statement("Deny", "kms:Decrypt")], Some(json!([to("Allow", Caller::Alice.named(), "kms:*")])), Required, Caller::Alice, "kms:Decrypt", ExplicitDenyIdentity),
        ("A key policy Deny wins over an identity allow.",
            vec![statement("Allow", "kms:*")], Some(json!([to("Allow", account(), "kms:*"), to("Deny", json!("*"), "kms:Decrypt")])), Required, Caller::Alice, "kms:Decrypt", ExplicitDenyResource),
        ("When both deny, the identity deny is reported.",
            vec![statement("Deny", "*")], Some(json!([to("Deny", json!("*"), "*")])), Required, Caller::Alice, "kms:Decrypt", ExplicitDenyIdentity),
        ("A Deny in any one of several identity policies wins.",
            vec![statement("Allow", "*"), statement("Deny", "kms:Decrypt")], Some(key_policy_default()), Required, Caller::Alice, "kms:Decrypt", ExplicitDenyIdentity),
        ("The root user is bound by an explicit Deny in the resource policy.",
            vec![], Some(json!([to("Allow", account(), "kms:*"), to("Deny", json!({"AWS": ACCOUNT}), "kms:Decrypt")])), Required, Caller::Root, "kms:Decrypt", ExplicitDenyResource),
        ("A role principal in the key policy lets its sessions in.",
            vec![], Some(json!([to("Allow", json!({"AWS": ROLE}), "kms:Decrypt")])), Required, Caller::Session, "kms:Decrypt", Allow),
        ("A secret without a resource policy: the identity allow is enough.",
            vec![statement("Allow", "secretsmanager:GetSecretValue")], None, Optional, Caller::Alice, "secretsmanager:GetSecretValue", Allow),
        ("A secret without a resource policy or identity allow: denied.",
            vec![], None, Optional, Caller::Alice, "secretsmanager:GetSecretValue", NoIdentityAllow),
        ("The account root may do anything not explicitly denied on a secret.",
            vec![], None, Optional, Caller::Root, "secretsmanager:DeleteSecret", Allow),
        ("A secret resource policy naming the caller is enough without IAM.",
            vec![], Some(json!([to("Allow", Caller::Alice.named(), "secretsmanager:GetSecretValue")])), Optional, Caller::Alice, "secretsmanager:GetSecretValue", Allow),
        ("A secret resource policy naming the account still needs IAM.",
            vec![], Some(json!([to("Allow", json!({"AWS": ACCOUNT}), "secretsmanager:*")])), Optional, Caller::Alice, "secretsmanager:GetSecretValue", NoIdentityAllow),
        ("A secret resource policy that does not mention the caller defers to IAM.",
            vec![statement("Allow", "secretsmanager:*")], Some(json!([to("Allow", Caller::Admin.named(), "secretsmanager:*")])), Optional, Caller::Alice, "secretsmanager:GetSecretValue", Allow),
        ("A secret resource policy Deny wins over root's implicit allow.",
            vec![], Some(json!([to("Deny", json!("*"), "secretsmanager:DeleteSecret")])), Optional, Caller::Root, "secretsmanager:DeleteSecret", ExplicitDenyResource),
    ];
    let no_keys = ConditionKeys::new();
    for (behaviour, identity, resource, mode, caller, action, expected) in cases {
        let identity: Vec<PolicyDocument> = identity.into_iter().map(|s| parse(PolicyKind::Identity, &policy(json!([s])))).collect();
        let identity: Vec<&PolicyDocument> = identity.iter().collect();
        let resource = resource.map(|s| parse(PolicyKind::Resource, &policy(s)));
        let got = authorize(&ctx(caller, action, KEY, &no_keys), &identity, resource.as_ref(), mode);
        assert_eq!(got, expected, "{behaviour}");
        assert_eq!(got.is_allowed(), expected == Allow, "{behaviour}");
    }
}

#[test]
fn identity_documents_ignore_principals_whatever_their_kind() {
    // Identity policies have no principal: the caller they are attached to is implied.
    let named_admin = parse(
        PolicyKind::Resource,
        &policy(json!([{ "Effect": "Allow", "Principal": {"AWS": ADMIN}, "Action": "kms:*" }])),
    );
    let keys = ConditionKeys::new();
    let request = ctx(Caller::Alice, "kms:Decrypt", KEY, &keys);
    assert_eq!(
        named_admin.evaluate(&request).decision,
        Decision::NotApplicable
    );
    let key_policy = parse(
        PolicyKind::Resource,
        &serde_json::from_str(&default_key_policy(
            &crate::AccountId::parse(ACCOUNT).unwrap(),
        ))
        .unwrap(),
    );
    assert_eq!(
        authorize(
            &request,
            &[&named_admin],
            Some(&key_policy),
            ResourceMode::Required
        ),
        Outcome::Allow
    );
}

#[test]
fn trust_policies_name_who_may_assume_the_role() {
    // A trust policy is a resource policy on the role: a named service or principal is
    // enough; an account principal needs the caller's own sts:AssumeRole permission.
    let trust = parse(
        PolicyKind::Trust,
        &json!({ "Version": "2012-10-17", "Statement": [
            { "Effect": "Allow", "Principal": {"Service": LAMBDA}, "Action": "sts:AssumeRole" },
            { "Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole" }
        ]}),
    );
    let may_assume = parse(
        PolicyKind::Identity,
        &policy(json!({ "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": ROLE })),
    );
    let keys = ConditionKeys::new();
    let assume = |caller| ctx(caller, "sts:AssumeRole", ROLE, &keys);
    let mode = ResourceMode::Required;
    assert_eq!(
        authorize(&assume(Caller::Lambda), &[], Some(&trust), mode),
        Outcome::Allow
    );
    assert_eq!(
        authorize(&assume(Caller::Alice), &[], Some(&trust), mode),
        Outcome::NoIdentityAllow
    );
    assert_eq!(
        authorize(&assume(Caller::Alice), &[&may_assume], Some(&trust), mode),
        Outcome::Allow
    );
}

#[test]
fn encryption_context_condition_limits_a_role_to_its_function() {
    // kms:EncryptionContext:<key> restricts use to requests carrying that context pair.
    let key_policy = parse(
        PolicyKind::Resource,
        &policy(json!([
            { "Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*" },
            { "Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
              "Condition": {"StringEquals": {"kms:EncryptionContext:LambdaFunctionName": "loadtest"}} }
        ])),
    );
    let outcome = |function: &str| {
        let mut keys = ConditionKeys::new();
        keys.insert("kms:encryptioncontext:lambdafunctionname", function);
        let request = ctx(Caller::Session, "kms:Decrypt", KEY, &keys);
        authorize(&request, &[], Some(&key_policy), ResourceMode::Required)
    };
    assert_eq!(outcome("loadtest"), Outcome::Allow);
    assert_eq!(outcome("other"), Outcome::NoIdentityAllow);
    let no_keys = ConditionKeys::new();
    let without = ctx(Caller::Session, "kms:Decrypt", KEY, &no_keys);
    assert_eq!(
        authorize(&without, &[], Some(&key_policy), ResourceMode::Required),
        Outcome::NoIdentityAllow
    );
}

/// The key policy the AWS console writes for a key with administrators and users.
#[test]
fn seed_lab_key_policy() {
    let key_policy = parse(
        PolicyKind::Resource,
        &json!({ "Version": "2012-10-17", "Id": "key-consolepolicy-3", "Statement": [
            { "Sid": "Enable IAM User Permissions", "Effect": "Allow",
              "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*" },
            { "Sid": "Allow access for Key Administrators", "Effect": "Allow",
              "Principal": {"AWS": ADMIN},
              "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
                         "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
                         "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
                         "kms:CancelKeyDeletion"],
              "Resource": "*" },
            { "Sid": "Allow use of the key", "Effect": "Allow",
              "Principal": {"AWS": ROLE},
              "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
              "Resource": "*" },
            { "Sid": "Allow attachment of persistent resources", "Effect": "Allow",
              "Principal": {"AWS": ROLE},
              "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
              "Resource": "*",
              "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}} }
        ]}),
    );
    assert_eq!(key_policy.id(), Some("key-consolepolicy-3"));
    let for_aws = keys(&[("kms:GrantIsForAWSResource", &["true"])]);
    let no_keys = ConditionKeys::new();
    #[rustfmt::skip]
    let cases = [
        // The administrator is named for administration, so needs no IAM policy for it...
        (Caller::Admin, "kms:PutKeyPolicy", &no_keys, Outcome::Allow),
        (Caller::Admin, "kms:ScheduleKeyDeletion", &no_keys, Outcome::Allow),
        // ...but may use the key only through the account statement, i.e. through IAM.
        (Caller::Admin, "kms:Decrypt", &no_keys, Outcome::NoIdentityAllow),
        // The role's sessions use the key, and administer nothing without IAM.
        (Caller::Session, "kms:Decrypt", &no_keys, Outcome::Allow),
        (Caller::Session, "kms:GenerateDataKeyWithoutPlaintext", &no_keys, Outcome::Allow),
        (Caller::Session, "kms:PutKeyPolicy", &no_keys, Outcome::NoIdentityAllow),
        // Grants only for AWS resources.
        (Caller::Session, "kms:CreateGrant", &no_keys, Outcome::NoIdentityAllow),
        (Caller::Session, "kms:CreateGrant", &for_aws, Outcome::Allow),
        // Anyone else in the account goes through IAM; the root needs nothing.
        (Caller::Alice, "kms:Decrypt", &no_keys, Outcome::NoIdentityAllow),
        (Caller::Root, "kms:Decrypt", &no_keys, Outcome::Allow),
    ];
    for (caller, action, keys, expected) in cases {
        let request = ctx(caller, action, KEY, keys);
        let got = authorize(&request, &[], Some(&key_policy), ResourceMode::Required);
        assert_eq!(got, expected, "{caller:?} {action}");
    }
}

/// Documents AWS rejects, with the start of the message it gives: (document, kind,
/// message prefix).
#[test]
#[rustfmt::skip]
fn malformed_documents_are_rejected_with_aws_messages() {
    use PolicyKind::{Identity, Resource, Trust};
    // The statement `{Effect: Allow, Action: kms:Decrypt, Resource: *}` with fields
    // changed; a null removes the field.
    let stmt = |changes: Value| {
        let mut s = json!({ "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*" });
        for (field, value) in changes.as_object().unwrap() {
            match value {
                Value::Null => drop(s.as_object_mut().unwrap().remove(field)),
                value => s[field] = value.clone(),
            }
        }
        policy(json!([s])).to_string()
    };
    let to_anyone = |mut changes: Value| {
        changes.as_object_mut().unwrap().entry("Principal").or_insert(json!("*"));
        stmt(changes)
    };
    let cases: Vec<(String, PolicyKind, &str)> = vec![
        ("{not json".into(), Identity, "Syntax errors in policy."),
        ("[]".into(), Identity, "Syntax errors in policy."),
        (json!({"Version": "2012-10-17"}).to_string(), Identity, "Syntax errors in policy. Policy document must contain a Statement"),
        (json!({"Version": "2012-10-17", "Statement": []}).to_string(), Resource, "Syntax errors in policy. Policy document must contain a Statement"),
        (json!({"Version": "2013-01-01", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}).to_string(), Identity, "Syntax errors in policy. Invalid Version"),
        (json!({"Version": "2012-10-17", "Statment": []}).to_string(), Identity, "Syntax errors in policy. Unknown field Statment"),
        (stmt(json!({"Foo": 1})), Identity, "Syntax errors in policy. Unknown field Foo"),
        (stmt(json!({"Principal": "*"})), Identity, "Policy document should not specify a principal."),
        (stmt(json!({"NotPrincipal": {"AWS": ALICE}})), Identity, "Policy document should not specify a principal."),
        (stmt(json!({"Resource": null})), Identity, "Policy statement must contain resources."),
        (stmt(json!({"Resource": []})), Identity, "Policy statement must contain resources."),
        (stmt(json!({"Action": null})), Identity, "Policy statement must contain actions."),
        (stmt(json!({"Action": []})), Identity, "Policy statement must contain actions."),
        (stmt(json!({"NotAction": "kms:Encrypt"})), Identity, "Syntax errors in policy. A statement cannot have both Action and NotAction"),
        (stmt(json!({"Effect": "allow"})), Identity, "Syntax errors in policy. Invalid Effect"),
        (stmt(json!({"Effect": null})), Identity, "Syntax errors in policy. Missing required field Effect"),
        (stmt(json!({"Sid": 7})), Identity, "Syntax errors in policy. Sid must be a string"),
        (stmt(json!({"Action": "Decrypt"})), Identity, "Actions/Conditions must be prefaced by a vendor"),
        (stmt(json!({"Action": "kms:Decrypt:Now"})), Identity, "Actions/Condition can contain only one colon."),
        (stmt(json!({"Action": "*:Decrypt"})), Identity, "Action vendors (e.g., aws, ec2, etc.) must not contain wildcards"),
        (stmt(json!({"Action": "kms:De crypt"})), Identity, "Policy has invalid action"),
        (stmt(json!({"Action": ["kms:Decrypt", 5]})), Identity, "Syntax errors in policy. Action must be a string"),
        (stmt(json!({"Resource": "my-key"})), Identity, "Resource my-key must be in ARN format or \"*\"."),
        (stmt(json!({})), Resource, "Missing required field Principal"),
        (stmt(json!({})), Trust, "Missing required field Principal"),
        (to_anyone(json!({"Principal": ALICE})), Resource, "Invalid principal in policy"),
        (to_anyone(json!({"Principal": {"AWS": "arn:aws:iam::111122223333:user/*"}})), Resource, "Invalid principal in policy: \"AWS\":\"arn:aws:iam::111122223333:user/*\""),
        (to_anyone(json!({"Principal": {"AWS": "alice"}})), Resource, "Invalid principal in policy"),
        (to_anyone(json!({"Principal": {"Robot": "r2d2"}})), Resource, "Invalid principal in policy"),
        (to_anyone(json!({"Principal": {}})), Resource, "Invalid principal in policy"),
        (to_anyone(json!({"NotPrincipal": {"AWS": ALICE}})), Resource, "Syntax errors in policy. A statement cannot have both Principal and NotPrincipal"),
        (stmt(json!({"Condition": {"StringEqualz": {"aws:username": "a"}}})), Identity, "Syntax errors in policy. Invalid condition operator StringEqualz"),
        (stmt(json!({"Condition": {"NullIfExists": {"aws:username": "true"}}})), Identity, "Syntax errors in policy. Invalid condition operator"),
        (stmt(json!({"Condition": {"ForSomeValues:StringEquals": {"aws:TagKeys": "a"}}})), Identity, "Syntax errors in policy. Invalid condition operator"),
        (stmt(json!({"Condition": {"stringequals": {"aws:username": "a"}}})), Identity, "Syntax errors in policy. Invalid condition operator"),
        (stmt(json!({"Condition": {"StringEquals": "aws:username"}})), Identity, "Syntax errors in policy. Condition StringEquals must be an object"),
        (stmt(json!({"Condition": {"StringEquals": {"username": "a"}}})), Identity, "Actions/Conditions must be prefaced by a vendor"),
        (stmt(json!({"Condition": {"StringEquals": {"aws:username": {"a": 1}}}})), Identity, "Syntax errors in policy. Invalid value"),
        (stmt(json!({"Condition": {"NumericLessThan": {"kms:NumberOfBytes": "many"}}})), Identity, "Syntax errors in policy. Invalid value many"),
        (stmt(json!({"Condition": {"DateLessThan": {"aws:CurrentTime": "soon"}}})), Identity, "Syntax errors in policy. Invalid value soon"),
        (stmt(json!({"Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/33"}}})), Identity, "Syntax errors in policy. Invalid value"),
        (stmt(json!({"Condition": {"Bool": {"aws:SecureTransport": "yes"}}})), Identity, "Syntax errors in policy. Invalid value"),
        (stmt(json!({"Condition": {"BinaryEquals": {"aws:Blob": "not base64!"}}})), Identity, "Syntax errors in policy. Invalid value"),
        (json!({"Statement": [
            {"Sid": "A", "Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Sid": "A", "Effect": "Deny", "Action": "*", "Resource": "*"}
        ]}).to_string(), Identity, "Statement IDs (SID) in a single policy must be unique."),
    ];
    for (text, kind, message) in cases {
        match PolicyDocument::parse(&text, kind) {
            Err(PolicyError::Malformed(got)) => {
                assert!(got.starts_with(message), "{text}: got {got:?}, want {message:?}")
            }
            Ok(_) => panic!("{text} parsed as {kind:?}"),
        }
    }
}

#[test]
fn well_formed_documents_parse() {
    // The forms AWS accepts beyond the canonical one.
    let no_version = parse(
        PolicyKind::Identity,
        &json!({ "Statement": { "Effect": "Deny", "NotAction": "kms:*", "NotResource": ["*"] } }),
    );
    assert_eq!(no_version.version(), "2008-10-17");
    assert_eq!(no_version.kind(), PolicyKind::Identity);
    let old = parse(
        PolicyKind::Trust,
        &json!({ "Version": "2008-10-17", "Statement": [
            { "Sid": "", "Effect": "Allow", "Principal": {"AWS": [ACCOUNT, ROLE, SESSION], "Service": LAMBDA, "CanonicalUser": "79a59df9"}, "Action": "sts:AssumeRole" },
            { "Sid": "", "Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::111122223333:saml-provider/idp"}, "Action": "sts:AssumeRoleWithSAML",
              "Condition": { "StringEquals": { "SAML:aud": "https://signin.aws.amazon.com/saml" }, "NumericEquals": { "aws:MultiFactorAuthAge": [1, 2.5] } } }
        ]}),
    );
    assert_eq!(old.version(), "2008-10-17");
    let account = crate::AccountId::parse(ACCOUNT).unwrap();
    let default =
        PolicyDocument::parse(&default_key_policy(&account), PolicyKind::Resource).unwrap();
    assert_eq!(default.id(), Some("key-default-1"));
    assert_eq!(default.version(), "2012-10-17");
}

#[test]
fn condition_keys_are_case_insensitive_and_replaced_on_insert() {
    let mut keys = ConditionKeys::new();
    keys.insert("aws:SourceIp", "203.0.113.1")
        .insert_many("aws:TagKeys", ["a", "b"]);
    assert_eq!(
        keys.get("AWS:SOURCEIP"),
        Some(&["203.0.113.1".to_owned()][..])
    );
    keys.insert("aws:sourceip", "198.51.100.1");
    assert_eq!(
        keys.get("aws:SourceIp"),
        Some(&["198.51.100.1".to_owned()][..])
    );
    assert_eq!(keys.get("aws:tagkeys").map(<[String]>::len), Some(2));
    assert_eq!(keys.get("aws:username"), None);
}

#[test]
fn default_policy_is_valid_json_naming_the_account_root() {
    let account = crate::AccountId::parse("123456789012").unwrap();
    let policy = default_key_policy(&account);
    let value: serde_json::Value = serde_json::from_str(&policy).unwrap();
    assert_eq!(
        value["Statement"][0]["Principal"]["AWS"],
        "arn:aws:iam::123456789012:root"
    );
    assert!(check_key_policy(&policy).is_ok());
    assert!(check_key_policy("not json").is_err());
    assert!(check_key_policy("{}").is_err());
}

mod properties;
mod variables;
