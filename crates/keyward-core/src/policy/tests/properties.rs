//! Property tests: the wildcard matcher against a reference, the parser against
//! arbitrary text, and the rule that a matching explicit Deny always wins.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::super::pattern::wildcard_match;
use super::*;

/// A plain recursive matcher, to check the backtracking one against.
fn reference_match(pattern: &[char], text: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('*', rest)) => (0..=text.len()).any(|i| reference_match(rest, &text[i..])),
        Some(('?', rest)) => !text.is_empty() && reference_match(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && reference_match(rest, &text[1..]),
    }
}

const ACTIONS: &[&str] = &[
    "*",
    "kms:*",
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:Gen*",
    "secretsmanager:*",
];
const RESOURCES: &[&str] = &["*", KEY, OTHER_KEY, "arn:aws:kms:*"];
const REQUEST_ACTIONS: &[&str] = &[
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "secretsmanager:GetSecretValue",
];

fn principals() -> Vec<Value> {
    vec![
        json!("*"),
        json!({ "AWS": ACCOUNT }),
        json!({ "AWS": ALICE }),
        json!({ "AWS": ROLE }),
        json!({ "Service": LAMBDA }),
    ]
}

fn conditions() -> Vec<Value> {
    vec![
        json!({ "Bool": { "aws:SecureTransport": "true" } }),
        json!({ "StringNotEquals": { "aws:PrincipalTag/team": "red" } }),
        json!({ "IpAddressIfExists": { "aws:SourceIp": "203.0.113.0/24" } }),
        json!({ "ForAllValues:StringLike": { "aws:TagKeys": "env*" } }),
    ]
}

/// A random statement; `principal` for resource documents.
fn arb_statement(principal: bool) -> impl Strategy<Value = Value> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::sample::select(ACTIONS),
        prop::sample::select(RESOURCES),
        prop::sample::select(principals()),
        prop::option::of(prop::sample::select(conditions())),
    )
        .prop_map(
            move |(allow, not_action, action, resource, who, condition)| {
                let mut s =
                    json!({ "Effect": if allow { "Allow" } else { "Deny" }, "Resource": resource });
                s[if not_action { "NotAction" } else { "Action" }] = json!(action);
                if principal {
                    s["Principal"] = who;
                }
                if let Some(condition) = condition {
                    s["Condition"] = condition;
                }
                s
            },
        )
}

proptest! {
    #[test]
    fn wildcards_agree_with_a_reference_matcher(
        pattern in "[ab*?:/é]{0,8}",
        text in "[ab:/é]{0,10}",
    ) {
        let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
        prop_assert_eq!(wildcard_match(&pattern, &text, false), reference_match(&p, &t));
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(text in any::<String>(), kind in 0..3u8) {
        let kind = [PolicyKind::Identity, PolicyKind::Resource, PolicyKind::Trust][usize::from(kind)];
        let _ = PolicyDocument::parse(&text, kind);
    }

    /// Whatever else the policies say, an explicit Deny that matches the request denies.
    #[test]
    fn a_matching_explicit_deny_always_denies(
        identity in prop::collection::vec(prop::collection::vec(arb_statement(false), 1..4), 0..3),
        resource in prop::option::of(prop::collection::vec(arb_statement(true), 1..4)),
        caller in prop::sample::select(Caller::ALL.to_vec()),
        action in prop::sample::select(REQUEST_ACTIONS),
        resource_arn in prop::sample::select(vec![KEY, OTHER_KEY]),
        secure in prop::option::of(any::<bool>()),
        tag_keys in prop::option::of(prop::collection::vec("(env|team|cost)", 0..3)),
        target in 0usize..4,
        position in 0usize..4,
        name_caller in any::<bool>(),
        required in any::<bool>(),
    ) {
        let mut keys = ConditionKeys::new();
        if let Some(secure) = secure {
            keys.insert("aws:SecureTransport", secure.to_string());
        }
        if let Some(tag_keys) = tag_keys {
            keys.insert_many("aws:TagKeys", tag_keys);
        }
        let (mut identity, mut resource) = (identity, resource);
        // The deny lands in one identity document, or in the resource policy.
        let into_identity = target < identity.len();
        let mut deny = json!({ "Effect": "Deny", "Action": action, "Resource": resource_arn });
        if into_identity {
            let statements = &mut identity[target];
            statements.insert(position.min(statements.len()), deny);
        } else {
            deny["Principal"] = if name_caller { caller.named() } else { json!("*") };
            let statements = resource.get_or_insert_with(Vec::new);
            statements.insert(position.min(statements.len()), deny);
        }
        let identity: Vec<PolicyDocument> = identity
            .into_iter()
            .map(|s| parse(PolicyKind::Identity, &policy(json!(s))))
            .collect();
        let identity: Vec<&PolicyDocument> = identity.iter().collect();
        let resource = resource.map(|s| parse(PolicyKind::Resource, &policy(json!(s))));
        let mode = if required { ResourceMode::Required } else { ResourceMode::Optional };
        let outcome = authorize(&ctx(caller, action, resource_arn, &keys), &identity, resource.as_ref(), mode);
        if into_identity {
            prop_assert_eq!(outcome, Outcome::ExplicitDenyIdentity);
        } else {
            prop_assert!(matches!(outcome, Outcome::ExplicitDenyIdentity | Outcome::ExplicitDenyResource), "{:?}", outcome);
        }
        prop_assert!(!outcome.is_allowed());
    }
}
