//! Aliases: create, repoint, delete, list.

use keyward_core::alias::{check_customer_alias_name, AliasRecord};
use keyward_core::key::KeyManager;
use keyward_core::KmsError;
use keyward_protocol::kms::*;

use super::access::Access;
use super::{alias_not_found, page_limit, Naming};
use crate::auth::Caller;
use crate::state::AppState;

/// The key an alias may point at: customer managed, in this account and region, not
/// pending deletion.
async fn alias_target(
    state: &AppState,
    caller: &Caller,
    target_key_id: &str,
    action: &'static str,
) -> Result<uuid::Uuid, KmsError> {
    let key = state
        .resolve(caller, target_key_id, Naming::KeyOnly, Access::new(action))
        .await?;
    key.record.check_not_pending_deletion()?;
    if key.record.manager == KeyManager::Aws {
        return Err(KmsError::NotAuthorized(
            "Cannot point an alias at an AWS managed key.".into(),
        ));
    }
    Ok(key.record.id)
}

/// Aliases are authorized twice, as in AWS: the alias by the caller's IAM policies, the
/// key by its key policy.
async fn authorize_alias(
    state: &AppState,
    caller: &Caller,
    action: &'static str,
    alias_name: &str,
) -> Result<(), KmsError> {
    let arn = format!(
        "arn:aws:kms:{}:{}:{alias_name}",
        caller.region, caller.account
    );
    state
        .authorize_kms(caller, &Access::new(action), &arn)
        .await
}

pub(super) async fn create_alias(
    state: &AppState,
    caller: &Caller,
    r: CreateAliasRequest,
) -> Result<(), KmsError> {
    check_customer_alias_name(&r.alias_name)?;
    authorize_alias(state, caller, "kms:CreateAlias", &r.alias_name).await?;
    let target = alias_target(state, caller, &r.target_key_id, "kms:CreateAlias").await?;
    let now = state.inner.clock.now();
    let alias = AliasRecord {
        account: caller.account.to_string(),
        region: caller.region.to_string(),
        name: r.alias_name,
        target,
        created: now,
        updated: now,
    };
    let stored = alias.clone();
    state
        .blocking(move |inner| Ok(inner.store.create_alias(&stored)?))
        .await?;
    state.inner.aliases.put(alias);
    Ok(())
}

pub(super) async fn update_alias(
    state: &AppState,
    caller: &Caller,
    r: UpdateAliasRequest,
) -> Result<(), KmsError> {
    check_customer_alias_name(&r.alias_name)?;
    let (account, region) = (caller.account.to_string(), caller.region.to_string());
    let mut alias = state
        .inner
        .aliases
        .get(&account, &region, &r.alias_name)
        .ok_or_else(|| alias_not_found(caller, &r.alias_name))?;
    authorize_alias(state, caller, "kms:UpdateAlias", &r.alias_name).await?;
    if let Some(old) = state.load_key(alias.target).await? {
        state
            .authorize_key(caller, &old, &Access::new("kms:UpdateAlias"))
            .await?;
    }
    alias.target = alias_target(state, caller, &r.target_key_id, "kms:UpdateAlias").await?;
    alias.updated = state.inner.clock.now();
    let stored = alias.clone();
    state
        .blocking(move |inner| Ok(inner.store.update_alias(&stored)?))
        .await?;
    state.inner.aliases.put(alias);
    Ok(())
}

pub(super) async fn delete_alias(
    state: &AppState,
    caller: &Caller,
    r: DeleteAliasRequest,
) -> Result<(), KmsError> {
    check_customer_alias_name(&r.alias_name)?;
    let (account, region, name) = (
        caller.account.to_string(),
        caller.region.to_string(),
        r.alias_name,
    );
    let Some(alias) = state.inner.aliases.get(&account, &region, &name) else {
        return Err(alias_not_found(caller, &name));
    };
    authorize_alias(state, caller, "kms:DeleteAlias", &name).await?;
    if let Some(key) = state.load_key(alias.target).await? {
        state
            .authorize_key(caller, &key, &Access::new("kms:DeleteAlias"))
            .await?;
    }
    let (a, g, n) = (account.clone(), region.clone(), name.clone());
    state
        .blocking(move |inner| Ok(inner.store.delete_alias(&a, &g, &n)?))
        .await?;
    state.inner.aliases.remove(&account, &region, &name);
    Ok(())
}

pub(super) async fn list_aliases(
    state: &AppState,
    caller: &Caller,
    r: ListAliasesRequest,
) -> Result<ListAliasesResponse, KmsError> {
    state
        .authorize_kms(caller, &Access::new("kms:ListAliases"), "*")
        .await?;
    let filter = match &r.key_id {
        Some(key_id) => {
            let id = state.key_id_for(caller, key_id, Naming::KeyOnly)?;
            Some(state.key_by_id(caller, id).await?.record.id)
        }
        None => None,
    };
    let limit = page_limit(r.limit, 50);
    let mut page: Vec<AliasRecord> = state
        .inner
        .aliases
        .list(caller.account.as_str(), caller.region.as_str())
        .into_iter()
        .filter(|a| filter.is_none_or(|id| a.target == id))
        .filter(|a| r.marker.as_deref().is_none_or(|m| a.name.as_str() > m))
        .take(limit + 1)
        .collect();
    let truncated = page.len() > limit;
    page.truncate(limit);
    let mut aliases = Vec::with_capacity(page.len());
    for a in &page {
        // A multi-Region key is answered by its public `mrk-` id, not its store id.
        let target = match state.load_key(a.target).await? {
            Some(key) => key.record.key_id_string(),
            None => a.target.to_string(),
        };
        aliases.push(AliasListEntry {
            alias_name: Some(a.name.clone()),
            alias_arn: Some(a.arn()),
            target_key_id: Some(target),
            creation_date: Some(a.created.as_epoch_seconds()),
            last_updated_date: Some(a.updated.as_epoch_seconds()),
        });
    }
    Ok(ListAliasesResponse {
        next_marker: if truncated {
            page.last().map(|a| a.name.clone())
        } else {
            None
        },
        aliases: Some(aliases),
        truncated: Some(truncated),
    })
}
