//! Authorization of KMS requests: the key policy (which must allow, directly or by
//! delegating to the account's IAM policies), the caller's identity policies, and grants.

use std::collections::BTreeMap;

use keyward_core::grant::{GrantConstraints, GrantRecord};
use keyward_core::policy::{ConditionKeys, Outcome, ResourceMode};
use keyward_core::KmsError;

use crate::auth::Caller;
use crate::authz::{denial_message, Denied};
use crate::cache::LoadedKey;
use crate::state::AppState;

/// What a request asks of a key: the action and the request's condition keys.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    pub action: &'static str,
    pub keys: ConditionKeys,
    /// The request's encryption context, for grant constraints.
    context: Option<BTreeMap<String, String>>,
    /// For `CreateGrant`: the grant asked for. A grant that gives `CreateGrant` allows
    /// only grants no wider than itself.
    new_grant: Option<NewGrant>,
    /// For `RetireGrant`: the grant to retire. The `RetireGrant` operation in a grant
    /// lets its grantee retire that grant and no other.
    target_grant: Option<String>,
}

/// The operations and constraints of a grant being created.
#[derive(Debug, Clone)]
struct NewGrant {
    operations: Vec<String>,
    constraints: Option<GrantConstraints>,
}

impl Access {
    pub fn new(action: &'static str) -> Self {
        Self {
            action,
            keys: ConditionKeys::new(),
            context: None,
            new_grant: None,
            target_grant: None,
        }
    }

    /// `CreateGrant` of a grant with these operations and constraints.
    pub fn creating_grant(
        mut self,
        operations: &[String],
        constraints: Option<&GrantConstraints>,
    ) -> Self {
        self.new_grant = Some(NewGrant {
            operations: operations.to_vec(),
            constraints: constraints.cloned(),
        });
        self
    }

    /// `RetireGrant` of the grant `grant_id`.
    pub fn retiring_grant(mut self, grant_id: &str) -> Self {
        self.target_grant = Some(grant_id.to_owned());
        self
    }

    /// `kms:EncryptionContext:<key>` and `kms:EncryptionContextKeys`.
    pub fn context(mut self, context: &BTreeMap<String, String>) -> Self {
        for (key, value) in context {
            self.keys
                .insert(&format!("kms:EncryptionContext:{key}"), value);
        }
        self.keys
            .insert_many("kms:EncryptionContextKeys", context.keys().cloned());
        self.context = Some(context.clone());
        self
    }

    /// `aws:RequestTag/<key>` and `aws:TagKeys` of the tags a request sets.
    pub fn tags<'a>(mut self, tags: impl Iterator<Item = (&'a str, &'a str)>) -> Self {
        self.keys.insert_request_tags(tags);
        self
    }

    /// `aws:TagKeys` of the tags a request removes.
    pub fn tag_keys<'a>(mut self, keys: impl Iterator<Item = &'a str>) -> Self {
        self.keys
            .insert_many("aws:TagKeys", keys.map(str::to_owned));
        self
    }

    pub fn key(mut self, name: &str, value: &str) -> Self {
        self.keys.insert(name, value);
        self
    }

    /// A call Secrets Manager (or another service) makes for the caller.
    pub fn via(self, service: &str, caller: &Caller) -> Self {
        let value = format!("{service}.{}.amazonaws.com", caller.region);
        self.key("kms:ViaService", &value)
    }

    /// `kms:RequestAlias` when the request named the key by an alias.
    pub fn named(self, key_id: &str) -> Self {
        match key_id.find("alias/") {
            Some(at) if key_id.starts_with("alias/") || key_id.starts_with("arn:") => {
                let alias = key_id[at..].to_owned();
                self.key("kms:RequestAlias", &alias)
            }
            _ => self,
        }
    }

    /// The operation name a grant lists (`Decrypt` for `kms:Decrypt`).
    fn grant_operation(&self) -> &str {
        self.action.strip_prefix("kms:").unwrap_or(self.action)
    }
}

/// Whether `grant` names `caller` as its grantee: by the caller's own ARN or, for a role
/// session, by the role's.
fn names_grantee(grant: &GrantRecord, caller: &Caller) -> bool {
    let grantee = grant.grantee_principal.as_str();
    grantee == caller.principal_arn || grantee == caller.policy_principal_arn()
}

/// Whether `grant` gives `caller` the access asked for by naming the caller itself.
fn grant_allows(grant: &GrantRecord, caller: &Caller, access: &Access) -> bool {
    names_grantee(grant, caller) && grant_covers(grant, access)
}

/// Whether the operations and constraints of `grant` cover `access`, whoever asks.
fn grant_covers(grant: &GrantRecord, access: &Access) -> bool {
    let operation = access.grant_operation();
    if !grant.operations.iter().any(|op| op == operation) {
        return false;
    }
    match operation {
        // Encryption context constraints do not apply to these (AWS's GrantConstraints).
        "DescribeKey" => true,
        "RetireGrant" => access.target_grant.as_deref() == Some(grant.grant_id.as_str()),
        "CreateGrant" => access
            .new_grant
            .as_ref()
            .is_some_and(|new| no_wider(new, grant)),
        _ => context_satisfies(grant.constraints.as_ref(), access.context.as_ref()),
    }
}

/// Whether a request's encryption context meets a grant's constraints.
fn context_satisfies(
    constraints: Option<&GrantConstraints>,
    context: Option<&BTreeMap<String, String>>,
) -> bool {
    let Some(constraints) = constraints else {
        return true;
    };
    let empty = BTreeMap::new();
    let context = context.unwrap_or(&empty);
    if let Some(equals) = &constraints.encryption_context_equals {
        if equals.len() != context.len() || !contains_pairs(context, equals) {
            return false;
        }
    }
    if let Some(subset) = &constraints.encryption_context_subset {
        if !contains_pairs(context, subset) {
            return false;
        }
    }
    true
}

/// Whether `context` has every pair of `pairs`. In a grant constraint the keys are not
/// case sensitive and the values are, as AWS documents.
fn contains_pairs(context: &BTreeMap<String, String>, pairs: &BTreeMap<String, String>) -> bool {
    pairs.iter().all(|(key, value)| {
        let key = key.to_lowercase();
        context
            .iter()
            .any(|(k, v)| v == value && k.to_lowercase() == key)
    })
}

/// Whether a grant created through `parent`'s `CreateGrant` permission stays within it:
/// no operation `parent` lacks, and constraints at least as strict as `parent`'s.
fn no_wider(new: &NewGrant, parent: &GrantRecord) -> bool {
    if !new
        .operations
        .iter()
        .all(|op| parent.operations.contains(op))
    {
        return false;
    }
    let Some(required) = &parent.constraints else {
        return true;
    };
    let Some(offered) = &new.constraints else {
        return false;
    };
    if let Some(equals) = &required.encryption_context_equals {
        let same = offered
            .encryption_context_equals
            .as_ref()
            .is_some_and(|e| e.len() == equals.len() && contains_pairs(e, equals));
        if !same {
            return false;
        }
    }
    if let Some(subset) = &required.encryption_context_subset {
        let within = [
            &offered.encryption_context_subset,
            &offered.encryption_context_equals,
        ]
        .into_iter()
        .flatten()
        .any(|pairs| contains_pairs(pairs, subset));
        if !within {
            return false;
        }
    }
    true
}

/// The ARN of an account's root, as a grant names the whole account.
fn account_root(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
}

impl AppState {
    /// Decides whether `caller` may do `access` with `key`.
    pub(crate) async fn authorize_key(
        &self,
        caller: &Caller,
        key: &LoadedKey,
        access: &Access,
    ) -> Result<(), KmsError> {
        let record = &key.record;
        let arn = record.arn();
        let mut keys = access.keys.clone();
        keys.insert("kms:KeySpec", &record.key_spec);
        keys.insert("kms:KeyUsage", &record.key_usage);
        keys.insert("kms:KeyOrigin", &record.origin);
        keys.insert(
            "kms:MultiRegion",
            if record.multi_region.is_some() {
                "true"
            } else {
                "false"
            },
        );
        if record.multi_region.is_some() {
            keys.insert(
                "kms:MultiRegionKeyType",
                if record.is_replica() {
                    "REPLICA"
                } else {
                    "PRIMARY"
                },
            );
        }
        keys.insert_many(
            "kms:ResourceAliases",
            self.inner
                .aliases
                .names_for_key(&record.account, &record.region, &record.id),
        );
        for (tag, value) in &record.tags {
            keys.insert(&format!("aws:ResourceTag/{tag}"), value);
        }
        let outcome = self
            .evaluate(
                caller,
                access.action,
                &arn,
                key.policy.as_ref(),
                ResourceMode::Required,
                keys.clone(),
            )
            .await
            .map_err(KmsError::from)?;
        match outcome {
            Outcome::Allow => Ok(()),
            Outcome::ExplicitDenyIdentity | Outcome::ExplicitDenyResource => {
                Err(KmsError::AccessDenied(denial_message(
                    &caller.principal_arn,
                    access.action,
                    &arn,
                    outcome,
                )))
            }
            _ if self.grants_allow(caller, key, access, &arn, keys).await? => Ok(()),
            _ => Err(KmsError::from(Denied::Policy(denial_message(
                &caller.principal_arn,
                access.action,
                &arn,
                outcome,
            )))),
        }
    }

    /// Whether a grant of `key` allows what the policies did not. A grant whose grantee
    /// is the caller's account (its root) delegates to the account as a key policy does:
    /// the caller's identity policies must then allow the action on the key.
    async fn grants_allow(
        &self,
        caller: &Caller,
        key: &LoadedKey,
        access: &Access,
        arn: &str,
        keys: ConditionKeys,
    ) -> Result<bool, KmsError> {
        if key.grants.iter().any(|g| grant_allows(g, caller, access)) {
            return Ok(true);
        }
        let root = account_root(caller.account.as_str());
        let via_account = !caller.is_root()
            && key
                .grants
                .iter()
                .any(|g| g.grantee_principal == root && grant_covers(g, access));
        if !via_account {
            return Ok(false);
        }
        let outcome = self
            .evaluate(
                caller,
                access.action,
                arn,
                None,
                ResourceMode::Optional,
                keys,
            )
            .await
            .map_err(KmsError::from)?;
        Ok(outcome == Outcome::Allow)
    }

    /// Identity-policy-only authorization, for operations on no key (`CreateKey`,
    /// `ListKeys`, …) and for aliases.
    pub(crate) async fn authorize_kms(
        &self,
        caller: &Caller,
        access: &Access,
        resource: &str,
    ) -> Result<(), KmsError> {
        self.authorize(
            caller,
            access.action,
            resource,
            None,
            ResourceMode::Optional,
            access.keys.clone(),
        )
        .await
        .map_err(KmsError::from)
    }
}

impl AppState {
    /// The unique ids of the users and roles a new key policy names; one that does not
    /// exist makes the policy malformed, as in AWS.
    pub(crate) async fn bind_key_policy(
        &self,
        caller: &Caller,
        text: &str,
    ) -> Result<std::collections::BTreeMap<String, String>, KmsError> {
        self.bind_principals(&caller.account, text)
            .await?
            .map_err(|_| {
                KmsError::MalformedPolicyDocument(
                    "Policy contains a statement with one or more invalid principals.".into(),
                )
            })
    }

    /// The checks KMS makes on a new key policy: it parses as a resource policy, and —
    /// unless the caller bypasses the lockout safety check — it still lets the caller
    /// change the policy later.
    pub(crate) async fn check_new_key_policy(
        &self,
        caller: &Caller,
        text: &str,
        key_arn: &str,
        bypass: bool,
    ) -> Result<(), KmsError> {
        keyward_core::policy::check_key_policy(text)?;
        let policy = keyward_core::policy::PolicyDocument::parse(
            text,
            keyward_core::policy::PolicyKind::Resource,
        )
        .map_err(|e| KmsError::MalformedPolicyDocument(e.to_string()))?;
        if bypass {
            return Ok(());
        }
        let outcome = self
            .evaluate(
                caller,
                "kms:PutKeyPolicy",
                key_arn,
                Some(&policy),
                ResourceMode::Required,
                ConditionKeys::new(),
            )
            .await
            .map_err(KmsError::from)?;
        if outcome != Outcome::Allow {
            return Err(KmsError::MalformedPolicyDocument(
                "The new key policy will not allow you to update the key policy in the future."
                    .into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use keyward_core::{AccountId, Region, UnixMillis};
    use uuid::Uuid;

    use super::*;

    fn pairs(items: &[(&str, &str)]) -> BTreeMap<String, String> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn grant(operations: &[&str], constraints: Option<GrantConstraints>) -> GrantRecord {
        GrantRecord {
            key_id: Uuid::nil(),
            grant_id: "a".repeat(64),
            name: None,
            account: AccountId::parse("111122223333").unwrap(),
            region: Region::parse("us-east-1").unwrap(),
            grantee_principal: "arn:aws:iam::111122223333:role/app".into(),
            retiring_principal: None,
            issuing_account: "arn:aws:iam::111122223333:root".into(),
            operations: operations.iter().map(|op| (*op).to_owned()).collect(),
            constraints,
            created: UnixMillis(0),
        }
    }

    fn subset(items: &[(&str, &str)]) -> Option<GrantConstraints> {
        Some(GrantConstraints {
            encryption_context_subset: Some(pairs(items)),
            encryption_context_equals: None,
        })
    }

    fn equals(items: &[(&str, &str)]) -> Option<GrantConstraints> {
        Some(GrantConstraints {
            encryption_context_subset: None,
            encryption_context_equals: Some(pairs(items)),
        })
    }

    #[test]
    fn a_grant_covers_only_its_operations() {
        let g = grant(&["Decrypt", "GenerateDataKey"], None);
        assert!(grant_covers(&g, &Access::new("kms:Decrypt")));
        assert!(grant_covers(&g, &Access::new("kms:GenerateDataKey")));
        assert!(!grant_covers(&g, &Access::new("kms:Encrypt")));
        assert!(!grant_covers(
            &g,
            &Access::new("kms:GenerateDataKeyWithoutPlaintext")
        ));
        assert!(!grant_covers(&g, &Access::new("kms:DescribeKey")));
    }

    #[test]
    fn constraints_bind_the_encryption_context() {
        let g = grant(&["Decrypt", "DescribeKey"], subset(&[("Department", "IT")]));
        let with = |items: &[(&str, &str)]| Access::new("kms:Decrypt").context(&pairs(items));
        assert!(grant_covers(&g, &with(&[("Department", "IT")])));
        assert!(grant_covers(&g, &with(&[("Department", "IT"), ("x", "y")])));
        // Keys are compared without regard to case, values exactly.
        assert!(grant_covers(&g, &with(&[("department", "IT")])));
        assert!(!grant_covers(&g, &with(&[("Department", "it")])));
        assert!(!grant_covers(&g, &with(&[])));
        assert!(!grant_covers(&g, &Access::new("kms:Decrypt")));
        // DescribeKey takes no context: the constraint does not apply.
        assert!(grant_covers(&g, &Access::new("kms:DescribeKey")));

        let g = grant(&["Decrypt"], equals(&[("a", "1"), ("b", "2")]));
        let with = |items: &[(&str, &str)]| Access::new("kms:Decrypt").context(&pairs(items));
        assert!(grant_covers(&g, &with(&[("a", "1"), ("b", "2")])));
        assert!(!grant_covers(&g, &with(&[("a", "1")])));
        assert!(!grant_covers(
            &g,
            &with(&[("a", "1"), ("b", "2"), ("c", "3")])
        ));
    }

    #[test]
    fn retire_grant_in_a_grant_retires_that_grant_only() {
        let g = grant(&["Decrypt", "RetireGrant"], subset(&[("a", "1")]));
        let this = Access::new("kms:RetireGrant").retiring_grant(&g.grant_id);
        let other = Access::new("kms:RetireGrant").retiring_grant(&"b".repeat(64));
        assert!(grant_covers(&g, &this));
        assert!(!grant_covers(&g, &other));
        assert!(!grant_covers(&g, &Access::new("kms:RetireGrant")));
    }

    #[test]
    fn create_grant_in_a_grant_makes_no_wider_grants() {
        let ops = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let parent = grant(&["Decrypt", "CreateGrant"], None);
        let asks = |list: &[&str], constraints: Option<GrantConstraints>| {
            Access::new("kms:CreateGrant").creating_grant(&ops(list), constraints.as_ref())
        };
        assert!(grant_covers(&parent, &asks(&["Decrypt"], None)));
        assert!(grant_covers(
            &parent,
            &asks(&["Decrypt", "CreateGrant"], None)
        ));
        assert!(!grant_covers(&parent, &asks(&["Decrypt", "Encrypt"], None)));
        assert!(!grant_covers(&parent, &Access::new("kms:CreateGrant")));

        let parent = grant(&["Decrypt", "CreateGrant"], subset(&[("a", "1")]));
        assert!(!grant_covers(&parent, &asks(&["Decrypt"], None)));
        assert!(grant_covers(
            &parent,
            &asks(&["Decrypt"], subset(&[("a", "1")]))
        ));
        assert!(grant_covers(
            &parent,
            &asks(&["Decrypt"], subset(&[("a", "1"), ("b", "2")]))
        ));
        assert!(grant_covers(
            &parent,
            &asks(&["Decrypt"], equals(&[("a", "1"), ("b", "2")]))
        ));
        assert!(!grant_covers(
            &parent,
            &asks(&["Decrypt"], subset(&[("b", "2")]))
        ));

        let parent = grant(&["Decrypt", "CreateGrant"], equals(&[("a", "1")]));
        assert!(grant_covers(
            &parent,
            &asks(&["Decrypt"], equals(&[("a", "1")]))
        ));
        assert!(!grant_covers(
            &parent,
            &asks(&["Decrypt"], subset(&[("a", "1")]))
        ));
        assert!(!grant_covers(
            &parent,
            &asks(&["Decrypt"], equals(&[("a", "1"), ("b", "2")]))
        ));
    }
}
