//! Policies name users and roles by ARN, but mean the principal that had that ARN when the
//! policy was stored. As in AWS, the unique id (`AIDA…`, `AROA…`) of every user and role a
//! resource or trust policy names is recorded with it; a principal deleted and recreated
//! under the same name is another principal, and the policy then shows — and matches — the
//! old unique id, which names no one.

use std::borrow::Cow;
use std::collections::BTreeMap;

use keyward_core::{AccountId, KmsError, Store, StoreError};
use serde_json::Value;

use crate::state::AppState;

/// A user or role ARN of `account`: (is a role, name). The path must match too, which the
/// callers check against the record's ARN.
fn parse_principal_arn<'a>(arn: &'a str, account: &str) -> Option<(bool, &'a str)> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (acct, resource) = rest.split_once(':')?;
    if acct != account {
        return None;
    }
    let (kind, path_and_name) = resource.split_once('/')?;
    let name = path_and_name.rsplit('/').next()?;
    match kind {
        "user" => Some((false, name)),
        "role" => Some((true, name)),
        _ => None,
    }
}

/// The `AWS` entries of every statement's `Principal` and `NotPrincipal`.
fn principal_entries(value: &mut Value) -> Vec<&mut Value> {
    let statements: Vec<&mut Value> = match value.get_mut("Statement") {
        Some(Value::Array(list)) => list.iter_mut().collect(),
        Some(single @ Value::Object(_)) => vec![single],
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for statement in statements {
        let Value::Object(map) = statement else {
            continue;
        };
        for (key, element) in map.iter_mut() {
            if key != "Principal" && key != "NotPrincipal" {
                continue;
            }
            if let Some(aws) = element.get_mut("AWS") {
                match aws {
                    Value::Array(list) => out.extend(list.iter_mut()),
                    other => out.push(other),
                }
            }
        }
    }
    out
}

/// The ARNs of `account`'s users and roles a policy names as principals.
fn named_principals(text: &str, account: &str) -> Vec<String> {
    let Ok(mut value) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    let mut arns: Vec<String> = principal_entries(&mut value)
        .into_iter()
        .filter_map(|v| v.as_str())
        .filter(|arn| parse_principal_arn(arn, account).is_some())
        .map(str::to_owned)
        .collect();
    arns.sort();
    arns.dedup();
    arns
}

/// `text` with each stale ARN replaced by the unique id it was bound to; `text` itself
/// when none is stale.
fn with_ids<'a>(text: &'a str, stale: &BTreeMap<&str, &str>) -> Cow<'a, str> {
    if stale.is_empty() {
        return Cow::Borrowed(text);
    }
    let Ok(mut value) = serde_json::from_str::<Value>(text) else {
        return Cow::Borrowed(text);
    };
    for entry in principal_entries(&mut value) {
        if let Some(id) = entry.as_str().and_then(|arn| stale.get(arn)) {
            *entry = Value::String((*id).to_owned());
        }
    }
    serde_json::to_string_pretty(&value).map_or(Cow::Borrowed(text), Cow::Owned)
}

/// The unique id of the user or role that has `arn` now, read from the store.
fn current_id_in(
    store: &dyn Store,
    account: &str,
    arn: &str,
) -> Result<Option<String>, StoreError> {
    let Some((is_role, name)) = parse_principal_arn(arn, account) else {
        return Ok(None);
    };
    Ok(if is_role {
        store
            .get_role(account, name)?
            .filter(|r| r.arn() == arn)
            .map(|r| r.role_id)
    } else {
        store
            .get_user(account, name)?
            .filter(|u| u.arn() == arn)
            .map(|u| u.user_id)
    })
}

/// The policy as it is in force now (blocking: reads the store).
pub(crate) fn effective_in<'a>(
    store: &dyn Store,
    account: &str,
    text: &'a str,
    bindings: &BTreeMap<String, String>,
) -> Result<Cow<'a, str>, StoreError> {
    let mut stale = BTreeMap::new();
    for (arn, id) in bindings {
        if current_id_in(store, account, arn)?.as_deref() != Some(id.as_str()) {
            stale.insert(arn.as_str(), id.as_str());
        }
    }
    Ok(with_ids(text, &stale))
}

impl AppState {
    /// The unique id of the user or role that has `arn` now (cached).
    async fn current_id(&self, account: &str, arn: &str) -> Result<Option<String>, KmsError> {
        let Some((is_role, name)) = parse_principal_arn(arn, account) else {
            return Ok(None);
        };
        let principal = if is_role {
            self.principal_role(account, name).await?
        } else {
            self.principal_user(account, name).await?
        };
        Ok(principal.filter(|p| p.arn == arn).map(|p| p.id.clone()))
    }

    /// The unique ids of the users and roles `text` names, to store with it. `Err(arn)`
    /// names the first that does not exist: AWS refuses such a policy.
    pub(crate) async fn bind_principals(
        &self,
        account: &AccountId,
        text: &str,
    ) -> Result<Result<BTreeMap<String, String>, String>, KmsError> {
        let mut bindings = BTreeMap::new();
        for arn in named_principals(text, account.as_str()) {
            match self.current_id(account.as_str(), &arn).await? {
                Some(id) => {
                    bindings.insert(arn, id);
                }
                None => return Ok(Err(arn)),
            }
        }
        Ok(Ok(bindings))
    }

    /// The policy as it is in force now: principals that are gone show their unique id.
    pub(crate) async fn effective_policy<'a>(
        &self,
        account: &str,
        text: &'a str,
        bindings: &BTreeMap<String, String>,
    ) -> Result<Cow<'a, str>, KmsError> {
        let mut stale = BTreeMap::new();
        for (arn, id) in bindings {
            if self.current_id(account, arn).await?.as_deref() != Some(id.as_str()) {
                stale.insert(arn.as_str(), id.as_str());
            }
        }
        Ok(with_ids(text, &stale))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_accounts_users_and_roles_are_bound() {
        let text = r#"{"Statement":[
            {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:user/dev/alice","arn:aws:iam::111122223333:root","arn:aws:iam::444455556666:user/bob"]},"Action":"*","Resource":"*"},
            {"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:role/loadtest"},"Action":"*","Resource":"*","Condition":{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/carol"}}}]}"#;
        assert_eq!(
            named_principals(text, "111122223333"),
            vec![
                "arn:aws:iam::111122223333:role/loadtest".to_owned(),
                "arn:aws:iam::111122223333:user/dev/alice".to_owned(),
            ]
        );
    }

    #[test]
    fn stale_principals_show_their_unique_id_and_nothing_else_changes() {
        let text = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/alice"}}}}"#;
        let stale = BTreeMap::from([(
            "arn:aws:iam::111122223333:user/alice",
            "AIDAQ3EGRAB7NXF4UPKZ2",
        )]);
        let shown: Value = serde_json::from_str(&with_ids(text, &stale)).unwrap();
        assert_eq!(
            shown["Statement"]["Principal"]["AWS"],
            "AIDAQ3EGRAB7NXF4UPKZ2"
        );
        assert_eq!(
            shown["Statement"]["Condition"]["StringEquals"]["aws:PrincipalArn"],
            "arn:aws:iam::111122223333:user/alice"
        );
    }
}
