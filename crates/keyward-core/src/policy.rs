//! Key policies. Stored and returned now; evaluated by the policy engine of a later issue.

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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_is_valid_json_naming_the_account_root() {
        let account = AccountId::parse("123456789012").unwrap();
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
}
