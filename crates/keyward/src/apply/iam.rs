//! IAM users and roles: created with their tags (and a role with its trust policy), then,
//! once keys and secrets exist, their inline policies, exactly as the file lists them.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_iam::types::Tag;
use serde_json::Value;

use super::refs::{Kind, Values};
use super::report::{Entry, Report, Status};
use super::spec::{policy_value, Role, User};
use super::{error_code, parse_document, same_json, sdk_error, Clients};

fn iam_tags(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>, String> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// The tags of `desired` that `current` lacks or holds with another value. Tags the file
/// does not name are left alone.
fn missing_tags(current: &[Tag], desired: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let current: BTreeMap<&str, &str> = current.iter().map(|t| (t.key(), t.value())).collect();
    desired
        .iter()
        .filter(|(k, v)| current.get(k.as_str()) != Some(&v.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

pub async fn apply_user(
    clients: &Clients,
    values: &mut Values,
    report: &mut Report,
    logical: &str,
    user: &User,
) -> Result<(), String> {
    let name = user.name(logical);
    let found = match clients.iam.get_user().user_name(name).send().await {
        Ok(out) => out.user,
        Err(e) if error_code(&e) == Some("NoSuchEntity") => None,
        Err(e) => {
            return Err(format!(
                "users.{logical}: GetUser {name}: {}",
                sdk_error(&e)
            ))
        }
    };
    let (status, changes, arn) = match found {
        None if clients.dry_run => {
            let arn = format!(
                "arn:aws:iam::{}:user{}{name}",
                values.account_id,
                user.path.as_deref().unwrap_or("/")
            );
            (Status::Created, Vec::new(), arn)
        }
        None => {
            let created = clients
                .iam
                .create_user()
                .user_name(name)
                .set_path(user.path.clone())
                .set_tags(Some(iam_tags(&user.tags)?).filter(|t| !t.is_empty()))
                .send()
                .await
                .map_err(|e| format!("users.{logical}: CreateUser {name}: {}", sdk_error(&e)))?;
            let arn = created.user.map(|u| u.arn).unwrap_or_default();
            (Status::Created, Vec::new(), arn)
        }
        Some(current) => {
            let mut changes = Vec::new();
            let tags = clients
                .iam
                .list_user_tags()
                .user_name(name)
                .send()
                .await
                .map_err(|e| format!("users.{logical}: ListUserTags: {}", sdk_error(&e)))?;
            let missing = missing_tags(tags.tags(), &user.tags);
            if !missing.is_empty() && !clients.dry_run {
                clients
                    .iam
                    .tag_user()
                    .user_name(name)
                    .set_tags(Some(iam_tags(&missing)?))
                    .send()
                    .await
                    .map_err(|e| format!("users.{logical}: TagUser: {}", sdk_error(&e)))?;
            }
            if !missing.is_empty() {
                changes.push("tags".to_owned());
            }
            let status = if changes.is_empty() {
                Status::Unchanged
            } else {
                Status::Updated
            };
            (status, changes, current.arn)
        }
    };
    values.set(Kind::User, logical, "arn", &arn);
    values.set(Kind::User, logical, "name", name);
    report.add(Entry {
        section: "users",
        logical: logical.to_owned(),
        status,
        changes,
        arn,
        extra: Vec::new(),
    });
    Ok(())
}

pub async fn apply_role(
    clients: &Clients,
    values: &mut Values,
    report: &mut Report,
    logical: &str,
    role: &Role,
) -> Result<(), String> {
    let name = role.name(logical);
    let at = format!("roles.{logical}.assume_role_policy");
    let trust = values.resolve_value(&at, &policy_value(&at, &role.assume_role_policy)?)?;
    let found = match clients.iam.get_role().role_name(name).send().await {
        Ok(out) => out.role,
        Err(e) if error_code(&e) == Some("NoSuchEntity") => None,
        Err(e) => {
            return Err(format!(
                "roles.{logical}: GetRole {name}: {}",
                sdk_error(&e)
            ))
        }
    };
    let (status, changes, arn) = match found {
        None if clients.dry_run => {
            let arn = format!(
                "arn:aws:iam::{}:role{}{name}",
                values.account_id,
                role.path.as_deref().unwrap_or("/")
            );
            (Status::Created, Vec::new(), arn)
        }
        None => {
            let created = clients
                .iam
                .create_role()
                .role_name(name)
                .set_path(role.path.clone())
                .set_description(role.description.clone())
                .assume_role_policy_document(trust.to_string())
                .set_tags(Some(iam_tags(&role.tags)?).filter(|t| !t.is_empty()))
                .send()
                .await
                .map_err(|e| format!("roles.{logical}: CreateRole {name}: {}", sdk_error(&e)))?;
            let arn = created.role.map(|r| r.arn).unwrap_or_default();
            (Status::Created, Vec::new(), arn)
        }
        Some(current) => {
            let mut changes = Vec::new();
            let current_trust = current.assume_role_policy_document().unwrap_or_default();
            if !same_json(current_trust, &trust) && !clients.dry_run {
                clients
                    .iam
                    .update_assume_role_policy()
                    .role_name(name)
                    .policy_document(trust.to_string())
                    .send()
                    .await
                    .map_err(|e| {
                        format!("roles.{logical}: UpdateAssumeRolePolicy: {}", sdk_error(&e))
                    })?;
                changes.push("assume_role_policy".to_owned());
            }
            let tags = clients
                .iam
                .list_role_tags()
                .role_name(name)
                .send()
                .await
                .map_err(|e| format!("roles.{logical}: ListRoleTags: {}", sdk_error(&e)))?;
            let missing = missing_tags(tags.tags(), &role.tags);
            if !missing.is_empty() && !clients.dry_run {
                clients
                    .iam
                    .tag_role()
                    .role_name(name)
                    .set_tags(Some(iam_tags(&missing)?))
                    .send()
                    .await
                    .map_err(|e| format!("roles.{logical}: TagRole: {}", sdk_error(&e)))?;
            }
            if !missing.is_empty() {
                changes.push("tags".to_owned());
            }
            let status = if changes.is_empty() {
                Status::Unchanged
            } else {
                Status::Updated
            };
            (status, changes, current.arn)
        }
    };
    values.set(Kind::Role, logical, "arn", &arn);
    values.set(Kind::Role, logical, "name", name);
    report.add(Entry {
        section: "roles",
        logical: logical.to_owned(),
        status,
        changes,
        arn,
        extra: Vec::new(),
    });
    Ok(())
}

/// The inline policies of one user or role, with the calls that read and write them.
enum Principal<'a> {
    User(&'a str),
    Role(&'a str),
}

impl Principal<'_> {
    async fn names(&self, clients: &Clients) -> Result<BTreeSet<String>, String> {
        let mut names = BTreeSet::new();
        let mut marker = None;
        loop {
            let (page, truncated, next) = match self {
                Principal::User(user) => {
                    let out = clients
                        .iam
                        .list_user_policies()
                        .user_name(*user)
                        .set_marker(marker.take())
                        .send()
                        .await
                        .map_err(|e| format!("ListUserPolicies: {}", sdk_error(&e)))?;
                    (out.policy_names, out.is_truncated, out.marker)
                }
                Principal::Role(role) => {
                    let out = clients
                        .iam
                        .list_role_policies()
                        .role_name(*role)
                        .set_marker(marker.take())
                        .send()
                        .await
                        .map_err(|e| format!("ListRolePolicies: {}", sdk_error(&e)))?;
                    (out.policy_names, out.is_truncated, out.marker)
                }
            };
            names.extend(page);
            match next {
                Some(next) if truncated => marker = Some(next),
                _ => return Ok(names),
            }
        }
    }

    async fn get(&self, clients: &Clients, policy: &str) -> Result<String, String> {
        match self {
            Principal::User(user) => clients
                .iam
                .get_user_policy()
                .user_name(*user)
                .policy_name(policy)
                .send()
                .await
                .map(|out| out.policy_document)
                .map_err(|e| format!("GetUserPolicy {policy}: {}", sdk_error(&e))),
            Principal::Role(role) => clients
                .iam
                .get_role_policy()
                .role_name(*role)
                .policy_name(policy)
                .send()
                .await
                .map(|out| out.policy_document)
                .map_err(|e| format!("GetRolePolicy {policy}: {}", sdk_error(&e))),
        }
    }

    async fn put(&self, clients: &Clients, policy: &str, document: &Value) -> Result<(), String> {
        match self {
            Principal::User(user) => clients
                .iam
                .put_user_policy()
                .user_name(*user)
                .policy_name(policy)
                .policy_document(document.to_string())
                .send()
                .await
                .map(drop)
                .map_err(|e| format!("PutUserPolicy {policy}: {}", sdk_error(&e))),
            Principal::Role(role) => clients
                .iam
                .put_role_policy()
                .role_name(*role)
                .policy_name(policy)
                .policy_document(document.to_string())
                .send()
                .await
                .map(drop)
                .map_err(|e| format!("PutRolePolicy {policy}: {}", sdk_error(&e))),
        }
    }

    async fn delete(&self, clients: &Clients, policy: &str) -> Result<(), String> {
        match self {
            Principal::User(user) => clients
                .iam
                .delete_user_policy()
                .user_name(*user)
                .policy_name(policy)
                .send()
                .await
                .map(drop)
                .map_err(|e| format!("DeleteUserPolicy {policy}: {}", sdk_error(&e))),
            Principal::Role(role) => clients
                .iam
                .delete_role_policy()
                .role_name(*role)
                .policy_name(policy)
                .send()
                .await
                .map(drop)
                .map_err(|e| format!("DeleteRolePolicy {policy}: {}", sdk_error(&e))),
        }
    }
}

/// Makes the inline policies exactly those of the file; returns what changed.
async fn sync_policies(
    clients: &Clients,
    values: &Values,
    path: &str,
    principal: Principal<'_>,
    desired: &BTreeMap<String, Value>,
) -> Result<Vec<String>, String> {
    let current = principal
        .names(clients)
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    let mut changes = Vec::new();
    for (name, policy) in desired {
        let at = format!("{path}.policies.{name}");
        let document = values.resolve_value(&at, &policy_value(&at, policy)?)?;
        if current.contains(name) {
            let text = principal
                .get(clients, name)
                .await
                .map_err(|e| format!("{at}: {e}"))?;
            if parse_document(&text).as_ref() == Some(&document) {
                continue;
            }
        }
        if !clients.dry_run {
            principal
                .put(clients, name, &document)
                .await
                .map_err(|e| format!("{at}: {e}"))?;
        }
        changes.push(format!("policy {name}"));
    }
    for name in current.iter().filter(|n| !desired.contains_key(*n)) {
        if !clients.dry_run {
            principal
                .delete(clients, name)
                .await
                .map_err(|e| format!("{path}: {e}"))?;
        }
        changes.push(format!("policy {name} removed"));
    }
    Ok(changes)
}

pub async fn apply_user_policies(
    clients: &Clients,
    values: &Values,
    report: &mut Report,
    logical: &str,
    user: &User,
) -> Result<(), String> {
    if report.dry_run() && report.status_of("users", logical) == Some(Status::Created) {
        return Ok(());
    }
    let path = format!("users.{logical}");
    let principal = Principal::User(user.name(logical));
    for change in sync_policies(clients, values, &path, principal, &user.policies).await? {
        report.changed_later("users", logical, change);
    }
    Ok(())
}

pub async fn apply_role_policies(
    clients: &Clients,
    values: &Values,
    report: &mut Report,
    logical: &str,
    role: &Role,
) -> Result<(), String> {
    if report.dry_run() && report.status_of("roles", logical) == Some(Status::Created) {
        return Ok(());
    }
    let path = format!("roles.{logical}");
    let principal = Principal::Role(role.name(logical));
    for change in sync_policies(clients, values, &path, principal, &role.policies).await? {
        report.changed_later("roles", logical, change);
    }
    Ok(())
}
