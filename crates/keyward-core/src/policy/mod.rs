//! The AWS IAM policy language: key policies, secret resource policies, identity
//! policies and role trust policies. `PolicyDocument::parse` validates a document into
//! compiled statements; `authorize` combines the documents that bear on one request the
//! way AWS does for a caller in the resource's own account.
//!
//! Policy variables (`${aws:username}`, `${aws:PrincipalTag/team, 'none'}`, `${*}`) are
//! filled in from the request's condition keys in `Resource`/`NotResource` entries and in
//! string and ARN condition values of `2012-10-17` documents; in older documents they
//! stay literal text. `variables` has the rules: a filled-in value is never a wildcard,
//! and an entry whose variable has no value matches nothing.

mod condition;
mod document;
mod eval;
mod pattern;
mod principal;
mod variables;

pub use condition::ConditionKeys;
pub use document::{PolicyDocument, PolicyError, PolicyKind};
pub use eval::{
    authorize, CallerPrincipal, Decision, Evaluation, Outcome, RequestContext, ResourceMode,
};

use crate::{AccountId, KmsError};

/// The only policy name KMS has.
pub const DEFAULT_POLICY_NAME: &str = "default";

/// AWS's default key policy, byte for byte as KMS returns it for a key created without a
/// policy: it gives the account full access, delegating to IAM policies.
pub fn default_key_policy(account: &AccountId) -> String {
    format!(
        "{{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {{\n    \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {{\n      \"AWS\" : \"arn:aws:iam::{account}:root\"\n    }},\n    \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  }} ]\n}}"
    )
}

/// The checks KMS makes before it stores a policy: a JSON object with a `Statement`.
pub fn check_key_policy(policy: &str) -> Result<(), KmsError> {
    let malformed = || {
        KmsError::MalformedPolicyDocument(
            "The new key policy will not allow you to update the key policy in the future.".into(),
        )
    };
    let value: serde_json::Value = serde_json::from_str(policy).map_err(|_| {
        KmsError::MalformedPolicyDocument("The policy document is not valid JSON.".into())
    })?;
    let object = value.as_object().ok_or_else(malformed)?;
    match object.get("Statement") {
        Some(serde_json::Value::Array(statements)) if !statements.is_empty() => Ok(()),
        Some(serde_json::Value::Object(_)) => Ok(()),
        _ => Err(KmsError::MalformedPolicyDocument(
            "Policy document must contain a Statement.".into(),
        )),
    }
}

#[cfg(test)]
mod tests;
