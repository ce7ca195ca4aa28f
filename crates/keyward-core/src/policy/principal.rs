//! The `Principal` element of resource and trust policies: who a statement speaks of.

use serde_json::Value;

use super::document::{malformed, string_or_list, PolicyError};
use super::eval::CallerPrincipal;

/// The principals one `Principal` (or `NotPrincipal`) element names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct PrincipalSet {
    /// `"*"` or `{"AWS": "*"}`.
    everyone: bool,
    /// Account principals, `123456789012` or `arn:aws:iam::123456789012:root`, kept as the
    /// bare account id.
    accounts: Vec<String>,
    /// User, role and assumed-role session ARNs, compared exactly.
    arns: Vec<String>,
    /// `{"Service": "lambda.amazonaws.com"}`.
    services: Vec<String>,
}

/// How a caller is named by a principal element. The order matters: a specific name
/// outranks the account's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum PrincipalMatch {
    None,
    /// Only through its account: the account delegates the decision to its identity
    /// policies.
    Account,
    /// By name, by role, as a service, or as everyone: the resource policy alone decides.
    Specific,
}

impl PrincipalSet {
    pub(super) fn parse(value: &Value) -> Result<Self, PolicyError> {
        let mut set = PrincipalSet::default();
        match value {
            Value::String(s) if s == "*" => set.everyone = true,
            Value::Object(map) if !map.is_empty() => {
                for (kind, names) in map {
                    let names = string_or_list(names, "Principal")?;
                    for name in names {
                        set.add(kind, name)?;
                    }
                }
            }
            other => {
                return Err(malformed(format!("Invalid principal in policy: {other}")));
            }
        }
        Ok(set)
    }

    fn add(&mut self, kind: &str, name: &str) -> Result<(), PolicyError> {
        // AWS's wording: `Invalid principal in policy: "AWS":"foo"`.
        let invalid = || {
            malformed(format!(
                "Invalid principal in policy: \"{kind}\":\"{name}\""
            ))
        };
        match kind {
            "AWS" if name == "*" => self.everyone = true,
            "AWS" if is_account_id(name) => self.accounts.push(name.to_owned()),
            // The unique id of a user or role (`AIDA…`, `AROA…`): what a policy shows for a
            // principal that was deleted after the policy named it. It matches no one, so a
            // principal recreated under the same name gains nothing from the old policy.
            "AWS" if is_unique_id(name) => {}
            "AWS" => match account_root(name) {
                Some(account) => self.accounts.push(account.to_owned()),
                None if is_principal_arn(name) => self.arns.push(name.to_owned()),
                None => return Err(invalid()),
            },
            "Service" if !name.is_empty() => self.services.push(name.to_owned()),
            // Parsed so such documents are accepted, but Keyward has no federated or
            // S3-canonical callers, so they match no one.
            "Federated" | "CanonicalUser" if !name.is_empty() => {}
            _ => return Err(invalid()),
        }
        Ok(())
    }

    /// How `caller` is named here. A service caller is named only by `*` or by its
    /// service name: account and ARN principals speak of IAM identities.
    pub(super) fn match_caller(&self, caller: &CallerPrincipal<'_>) -> PrincipalMatch {
        if self.everyone {
            return PrincipalMatch::Specific;
        }
        if let Some(service) = caller.service {
            return if self.services.iter().any(|s| s == service) {
                PrincipalMatch::Specific
            } else {
                PrincipalMatch::None
            };
        }
        let named = self
            .arns
            .iter()
            .any(|arn| arn == caller.arn || Some(arn.as_str()) == caller.role_arn);
        if named {
            PrincipalMatch::Specific
        } else if self.accounts.iter().any(|a| a == caller.account) {
            PrincipalMatch::Account
        } else {
            PrincipalMatch::None
        }
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A user's or role's unique id: `AIDA` or `AROA` and 16 to 124 upper-case letters or digits.
fn is_unique_id(s: &str) -> bool {
    (s.starts_with("AIDA") || s.starts_with("AROA"))
        && (20..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// The account of `arn:<partition>:iam::<account>:root`.
fn account_root(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "iam", "", account, "root"] if is_account_id(account) => Some(account),
        _ => None,
    }
}

/// An IAM or STS ARN of one account with a non-empty resource. ARN principals take no
/// wildcards: AWS allows `*` only alone.
fn is_principal_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", partition, "iam" | "sts", "", account, resource] => {
            !partition.is_empty()
                && is_account_id(account)
                && !resource.is_empty()
                && !arn.contains(['*', '?'])
        }
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod unique_id_tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_unique_id_principal_parses_and_matches_no_one() {
        // AWS shows a deleted principal's unique id in the policies that named it.
        let set = PrincipalSet::parse(&json!({"AWS": "AIDAQ3EGRAB7NXF4UPKZ2"})).unwrap();
        let caller = CallerPrincipal {
            account: "111122223333",
            arn: "arn:aws:iam::111122223333:user/alice",
            role_arn: None,
            service: None,
            is_root: false,
        };
        assert_eq!(set.match_caller(&caller), PrincipalMatch::None);
        assert!(PrincipalSet::parse(&json!({"AWS": "AIDA-lowercase"})).is_err());
    }
}
