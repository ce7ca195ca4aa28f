//! Secrets Manager secrets: found by name, created, then description, KMS key, value,
//! tags and resource policy brought up to date. A new value (a new version) is written only
//! when the current one differs; values are compared here and never printed.

use aws_sdk_secretsmanager::types::Tag;
use serde_json::Value;
use zeroize::Zeroizing;

use super::refs::{Kind, Values};
use super::report::{Entry, Report, Status};
use super::spec::{policy_value, Secret, Stack};
use super::{error_code, same_json, sdk_error, Clients, NEW_KEY_ID};

/// The key ARN of any key identifier, for comparing what a secret names.
async fn key_arn(clients: &Clients, path: &str, key_id: &str) -> Result<String, String> {
    clients
        .kms
        .describe_key()
        .key_id(key_id)
        .send()
        .await
        .map_err(|e| format!("{path}: DescribeKey {key_id}: {}", sdk_error(&e)))?
        .key_metadata
        .and_then(|m| m.arn)
        .ok_or_else(|| format!("{path}: DescribeKey {key_id} returned no ARN"))
}

/// Whether the stored value is the file's: JSON compared as JSON, text as text.
fn same_value(current: &str, secret: &Secret, desired: &str) -> bool {
    match &secret.secret_json {
        Some(map) => serde_json::from_str::<Value>(current)
            .ok()
            .is_some_and(|v| v.as_object() == Some(map)),
        None => current == desired,
    }
}

pub async fn apply_secret(
    clients: &Clients,
    values: &mut Values,
    report: &mut Report,
    stack: &Stack,
    logical: &str,
    secret: &Secret,
) -> Result<(), String> {
    let path = format!("secrets.{logical}");
    let name = secret.name(logical);
    let kms_key = match &secret.kms_key {
        Some(key) if stack.keys.contains_key(key) => {
            Some(values.resolve_text(&path, &format!("${{keys.{key}.arn}}"))?)
        }
        Some(key) => Some(values.resolve_text(&format!("{path}.kms_key"), key)?),
        None => None,
    };
    let policy = match &secret.policy {
        Some(policy) => {
            let at = format!("{path}.policy");
            Some(values.resolve_value(&at, &policy_value(&at, policy)?)?)
        }
        None => None,
    };
    let value = secret.value();
    let tags: Vec<Tag> = secret
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let found = match clients.sm.describe_secret().secret_id(name).send().await {
        Ok(out) => Some(out),
        Err(e) if error_code(&e) == Some("ResourceNotFoundException") => None,
        Err(e) => return Err(format!("{path}: DescribeSecret {name}: {}", sdk_error(&e))),
    };
    let mut changes = Vec::new();
    let (status, arn) = match found {
        None if clients.dry_run => {
            let arn = format!(
                "arn:aws:secretsmanager:{}:{}:secret:{name}-??????",
                values.region, values.account_id
            );
            (Status::Created, arn)
        }
        None => {
            let created = clients
                .sm
                .create_secret()
                .name(name)
                .set_description(secret.description.clone())
                .set_kms_key_id(kms_key.clone())
                .set_secret_string(value.as_ref().map(|v| v.to_string()))
                .set_tags(Some(tags).filter(|t| !t.is_empty()))
                .send()
                .await
                .map_err(|e| format!("{path}: CreateSecret {name}: {}", sdk_error(&e)))?;
            let arn = created.arn.unwrap_or_default();
            if let Some(policy) = &policy {
                clients
                    .sm
                    .put_resource_policy()
                    .secret_id(&arn)
                    .resource_policy(policy.to_string())
                    .send()
                    .await
                    .map_err(|e| format!("{path}: PutResourcePolicy: {}", sdk_error(&e)))?;
            }
            (Status::Created, arn)
        }
        Some(current) => {
            let arn = current.arn.clone().unwrap_or_default();
            if current.deleted_date.is_some() {
                return Err(format!(
                    "{path}: secret {name} is scheduled for deletion: restore it (aws secretsmanager restore-secret) or take it out of the file"
                ));
            }
            let mut update = clients.sm.update_secret().secret_id(&arn);
            let mut update_needed = false;
            if let Some(description) = &secret.description {
                if current.description.as_deref().unwrap_or_default() != description {
                    update = update.description(description);
                    update_needed = true;
                    changes.push("description".to_owned());
                }
            }
            if let Some(desired) = &kms_key {
                // A key a dry run would create is not there to describe.
                let desired_arn = if clients.dry_run && desired.ends_with(NEW_KEY_ID) {
                    desired.clone()
                } else {
                    key_arn(clients, &path, desired).await?
                };
                let current_arn = match &current.kms_key_id {
                    Some(id) => Some(key_arn(clients, &path, id).await?),
                    None => None,
                };
                if current_arn.as_deref() != Some(desired_arn.as_str()) {
                    update = update.kms_key_id(desired_arn);
                    update_needed = true;
                    changes.push("kms_key".to_owned());
                }
            }
            if update_needed && !clients.dry_run {
                update
                    .send()
                    .await
                    .map_err(|e| format!("{path}: UpdateSecret: {}", sdk_error(&e)))?;
            }
            if let Some(value) = &value {
                let stored = match clients.sm.get_secret_value().secret_id(&arn).send().await {
                    Ok(out) => out.secret_string.map(Zeroizing::new),
                    Err(e) if error_code(&e) == Some("ResourceNotFoundException") => None,
                    Err(e) => return Err(format!("{path}: GetSecretValue: {}", sdk_error(&e))),
                };
                let same = stored
                    .as_ref()
                    .is_some_and(|stored| same_value(stored, secret, value));
                if !same && !clients.dry_run {
                    clients
                        .sm
                        .put_secret_value()
                        .secret_id(&arn)
                        .secret_string(value.to_string())
                        .send()
                        .await
                        .map_err(|e| format!("{path}: PutSecretValue: {}", sdk_error(&e)))?;
                }
                if !same {
                    changes.push("value".to_owned());
                }
            }
            let current_tags = current.tags.unwrap_or_default();
            let missing: Vec<Tag> = tags
                .into_iter()
                .filter(|t| {
                    !current_tags
                        .iter()
                        .any(|c| c.key == t.key && c.value == t.value)
                })
                .collect();
            let tags_differ = !missing.is_empty();
            if tags_differ && !clients.dry_run {
                clients
                    .sm
                    .tag_resource()
                    .secret_id(&arn)
                    .set_tags(Some(missing))
                    .send()
                    .await
                    .map_err(|e| format!("{path}: TagResource: {}", sdk_error(&e)))?;
            }
            if tags_differ {
                changes.push("tags".to_owned());
            }
            if let Some(policy) = &policy {
                let current_policy = clients
                    .sm
                    .get_resource_policy()
                    .secret_id(&arn)
                    .send()
                    .await
                    .map_err(|e| format!("{path}: GetResourcePolicy: {}", sdk_error(&e)))?
                    .resource_policy
                    .unwrap_or_default();
                if !same_json(&current_policy, policy) && !clients.dry_run {
                    clients
                        .sm
                        .put_resource_policy()
                        .secret_id(&arn)
                        .resource_policy(policy.to_string())
                        .send()
                        .await
                        .map_err(|e| format!("{path}: PutResourcePolicy: {}", sdk_error(&e)))?;
                }
                if !same_json(&current_policy, policy) {
                    changes.push("policy".to_owned());
                }
            }
            let status = if changes.is_empty() {
                Status::Unchanged
            } else {
                Status::Updated
            };
            (status, arn)
        }
    };
    values.set(Kind::Secret, logical, "arn", &arn);
    values.set(Kind::Secret, logical, "name", name);
    report.add(Entry {
        section: "secrets",
        logical: logical.to_owned(),
        status,
        changes,
        arn,
        extra: Vec::new(),
    });
    Ok(())
}
