//! KMS keys: found by their fixed key id or first alias, created (with a fixed id through
//! Keyward's `keyward:key-id` tag, and with material of one's own through the BYOK calls),
//! then description, key policy, aliases, rotation and tags brought up to date.

use std::collections::BTreeMap;
use std::path::Path;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    AlgorithmSpec, ExpirationModelType, KeyMetadata, KeySpec, KeyState, KeyUsageType, OriginType,
    Tag, WrappingKeySpec,
};
use serde_json::json;

use super::refs::{Kind, Values};
use super::report::{Entry, Report, Status};
use super::spec::{material_bytes, policy_value, Key};
use super::{error_code, same_json, sdk_error, Clients, NEW_KEY_ID};

/// The tag that asks Keyward's CreateKey for a key id (docs/kms.md).
const FIXED_KEY_ID_TAG: &str = "keyward:key-id";
const WRAPPING_ALGORITHM: &str = "RSAES_OAEP_SHA_256";

fn kms_tags(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>, String> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .tag_key(k)
                .tag_value(v)
                .build()
                .map_err(|e| e.to_string())
        })
        .collect()
}

async fn describe(
    clients: &Clients,
    path: &str,
    key_id: &str,
) -> Result<Option<KeyMetadata>, String> {
    match clients.kms.describe_key().key_id(key_id).send().await {
        Ok(out) => Ok(out.key_metadata),
        Err(e) if error_code(&e) == Some("NotFoundException") => Ok(None),
        Err(e) => Err(format!("{path}: DescribeKey {key_id}: {}", sdk_error(&e))),
    }
}

/// Whether the key carries the fixed-id tag with this id (a server that kept it as a tag).
async fn has_fixed_id_tag(clients: &Clients, key_id: &str, wanted: &str) -> bool {
    match clients.kms.list_resource_tags().key_id(key_id).send().await {
        Ok(out) => out
            .tags()
            .iter()
            .any(|t| t.tag_key == FIXED_KEY_ID_TAG && t.tag_value == wanted),
        Err(_) => false,
    }
}

/// Wraps the material with GetParametersForImport's public key and imports it, never to
/// expire.
async fn import_material(
    clients: &Clients,
    path: &str,
    key_id: &str,
    material: &[u8],
) -> Result<(), String> {
    let params = clients
        .kms
        .get_parameters_for_import()
        .key_id(key_id)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .map_err(|e| format!("{path}: GetParametersForImport: {}", sdk_error(&e)))?;
    let (Some(public_key), Some(token)) = (params.public_key, params.import_token) else {
        return Err(format!(
            "{path}: GetParametersForImport returned no public key or token"
        ));
    };
    let wrapped = keyward_crypto::rsa_encrypt_to_public_key(
        public_key.as_ref(),
        WRAPPING_ALGORITHM,
        material,
    )
    .map_err(|e| format!("{path}: cannot wrap the key material: {e}"))?;
    clients
        .kms
        .import_key_material()
        .key_id(key_id)
        .import_token(token)
        .encrypted_key_material(Blob::new(wrapped))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .map_err(|e| format!("{path}: ImportKeyMaterial: {}", sdk_error(&e)))?;
    Ok(())
}

/// The aliases that name `key_id` now.
async fn aliases_of(clients: &Clients, path: &str, key_id: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut marker = None;
    loop {
        let out = clients
            .kms
            .list_aliases()
            .key_id(key_id)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| format!("{path}: ListAliases: {}", sdk_error(&e)))?;
        names.extend(out.aliases().iter().filter_map(|a| a.alias_name.clone()));
        match out.next_marker {
            Some(next) if out.truncated => marker = Some(next),
            _ => return Ok(names),
        }
    }
}

/// Points `alias` at `key_id`, creating it or moving it from another key.
async fn set_alias(clients: &Clients, path: &str, alias: &str, key_id: &str) -> Result<(), String> {
    match clients
        .kms
        .create_alias()
        .alias_name(alias)
        .target_key_id(key_id)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if error_code(&e) == Some("AlreadyExistsException") => clients
            .kms
            .update_alias()
            .alias_name(alias)
            .target_key_id(key_id)
            .send()
            .await
            .map(drop)
            .map_err(|e| format!("{path}: UpdateAlias {alias}: {}", sdk_error(&e))),
        Err(e) => Err(format!("{path}: CreateAlias {alias}: {}", sdk_error(&e))),
    }
}

pub async fn apply_key(
    clients: &Clients,
    values: &mut Values,
    report: &mut Report,
    base: &Path,
    logical: &str,
    key: &Key,
) -> Result<(), String> {
    let path = format!("keys.{logical}");
    let policy = match &key.policy {
        Some(policy) => {
            let at = format!("{path}.policy");
            Some(values.resolve_value(&at, &policy_value(&at, policy)?)?)
        }
        None => None,
    };
    let material = key
        .material
        .as_ref()
        .map(|m| material_bytes(&format!("{path}.material"), m, base))
        .transpose()?;
    let found = match (&key.key_id, key.aliases.first()) {
        (Some(id), alias) => match describe(clients, &path, id).await? {
            Some(meta) => Some(meta),
            // A server without Keyward's fixed key ids (AWS) keeps the wish as a tag.
            None => match alias {
                Some(alias) => match describe(clients, &path, alias).await? {
                    Some(meta) if has_fixed_id_tag(clients, &meta.key_id, id).await => Some(meta),
                    _ => None,
                },
                None => None,
            },
        },
        (None, Some(alias)) => describe(clients, &path, alias).await?,
        (None, None) => None,
    };
    let mut changes = Vec::new();
    let (status, key_id, arn) = match found {
        None if clients.dry_run => {
            let id = key.key_id.as_deref().unwrap_or(NEW_KEY_ID);
            let arn = format!(
                "arn:aws:kms:{}:{}:key/{id}",
                values.region, values.account_id
            );
            (Status::Created, id.to_owned(), arn)
        }
        None => {
            let mut tags = kms_tags(&key.tags)?;
            if let Some(id) = &key.key_id {
                tags.extend(kms_tags(&BTreeMap::from([(
                    FIXED_KEY_ID_TAG.to_owned(),
                    id.clone(),
                )]))?);
            }
            let mut request = clients
                .kms
                .create_key()
                .set_description(key.description.clone())
                .key_spec(KeySpec::from(key.key_spec()))
                .key_usage(KeyUsageType::from(key.key_usage()))
                .set_policy(policy.as_ref().map(|p| p.to_string()))
                .set_tags(Some(tags).filter(|t| !t.is_empty()));
            if material.is_some() {
                request = request.origin(OriginType::External);
            }
            let created = request
                .send()
                .await
                .map_err(|e| format!("{path}: CreateKey: {}", sdk_error(&e)))?
                .key_metadata
                .ok_or_else(|| format!("{path}: CreateKey returned no key"))?;
            if let Some(id) = key.key_id.as_deref().filter(|id| *id != created.key_id) {
                eprintln!(
                    "warning: {path}: the server made key {} instead of {id}: fixed key ids are a Keyward extension",
                    created.key_id
                );
            }
            if let Some(material) = &material {
                import_material(clients, &path, &created.key_id, material).await?;
            }
            for alias in &key.aliases {
                set_alias(clients, &path, alias, &created.key_id).await?;
            }
            if key.enable_key_rotation == Some(true) {
                clients
                    .kms
                    .enable_key_rotation()
                    .key_id(&created.key_id)
                    .send()
                    .await
                    .map_err(|e| format!("{path}: EnableKeyRotation: {}", sdk_error(&e)))?;
            }
            let arn = created.arn.unwrap_or_default();
            (Status::Created, created.key_id, arn)
        }
        Some(meta) => {
            let material = material.as_ref().map(|m| m.as_slice());
            update_key(
                clients,
                &path,
                key,
                &meta,
                policy.as_ref(),
                material,
                &mut changes,
            )
            .await?;
            let status = if changes.is_empty() {
                Status::Unchanged
            } else {
                Status::Updated
            };
            (status, meta.key_id, meta.arn.unwrap_or_default())
        }
    };
    values.set(Kind::Key, logical, "arn", &arn);
    values.set(Kind::Key, logical, "id", &key_id);
    report.add(Entry {
        section: "keys",
        logical: logical.to_owned(),
        status,
        changes,
        arn,
        extra: vec![("key_id", json!(key_id)), ("aliases", json!(key.aliases))],
    });
    Ok(())
}

async fn update_key(
    clients: &Clients,
    path: &str,
    key: &Key,
    meta: &KeyMetadata,
    policy: Option<&serde_json::Value>,
    material: Option<&[u8]>,
    changes: &mut Vec<String>,
) -> Result<(), String> {
    let id = meta.key_id.as_str();
    let state = meta.key_state.clone();
    if matches!(
        state,
        Some(KeyState::PendingDeletion | KeyState::PendingReplicaDeletion)
    ) {
        return Err(format!(
            "{path}: key {id} is pending deletion: cancel its deletion (aws kms cancel-key-deletion) or take it out of the file"
        ));
    }
    let spec = meta
        .key_spec
        .as_ref()
        .map(|s| s.as_str())
        .unwrap_or_default();
    let usage = meta
        .key_usage
        .as_ref()
        .map(|u| u.as_str())
        .unwrap_or_default();
    if spec != key.key_spec() || usage != key.key_usage() {
        return Err(format!(
            "{path}: key {id} is {spec}/{usage}, the file says {}/{}: a key's spec and usage cannot change (make a new key under another name)",
            key.key_spec(),
            key.key_usage()
        ));
    }
    let external = meta.origin == Some(OriginType::External);
    if material.is_some() && !external {
        return Err(format!(
            "{path}: key {id} was not made for imported material (origin {}): it cannot take the file's material",
            meta.origin.as_ref().map(|o| o.as_str()).unwrap_or("unknown")
        ));
    }
    if let (Some(material), Some(KeyState::PendingImport)) = (material, &state) {
        if !clients.dry_run {
            import_material(clients, path, id, material).await?;
        }
        changes.push("material".to_owned());
    }
    if let Some(description) = &key.description {
        if meta.description.as_deref().unwrap_or_default() != description && !clients.dry_run {
            clients
                .kms
                .update_key_description()
                .key_id(id)
                .description(description)
                .send()
                .await
                .map_err(|e| format!("{path}: UpdateKeyDescription: {}", sdk_error(&e)))?;
        }
        if meta.description.as_deref().unwrap_or_default() != description {
            changes.push("description".to_owned());
        }
    }
    if let Some(policy) = policy {
        let current = clients
            .kms
            .get_key_policy()
            .key_id(id)
            .policy_name("default")
            .send()
            .await
            .map_err(|e| format!("{path}: GetKeyPolicy: {}", sdk_error(&e)))?
            .policy
            .unwrap_or_default();
        if !same_json(&current, policy) && !clients.dry_run {
            clients
                .kms
                .put_key_policy()
                .key_id(id)
                .policy_name("default")
                .policy(policy.to_string())
                .send()
                .await
                .map_err(|e| format!("{path}: PutKeyPolicy: {}", sdk_error(&e)))?;
        }
        if !same_json(&current, policy) {
            changes.push("policy".to_owned());
        }
    }
    let current_aliases = aliases_of(clients, path, id).await?;
    for alias in &key.aliases {
        if !current_aliases.contains(alias) {
            if !clients.dry_run {
                set_alias(clients, path, alias, id).await?;
            }
            changes.push(format!("alias {alias}"));
        }
    }
    for alias in current_aliases.iter().filter(|a| !key.aliases.contains(a)) {
        if !clients.dry_run {
            clients
                .kms
                .delete_alias()
                .alias_name(alias)
                .send()
                .await
                .map_err(|e| format!("{path}: DeleteAlias {alias}: {}", sdk_error(&e)))?;
        }
        changes.push(format!("alias {alias} removed"));
    }
    if let Some(wanted) = key.enable_key_rotation {
        let enabled = clients
            .kms
            .get_key_rotation_status()
            .key_id(id)
            .send()
            .await
            .map_err(|e| format!("{path}: GetKeyRotationStatus: {}", sdk_error(&e)))?
            .key_rotation_enabled;
        if enabled != wanted && !clients.dry_run {
            let result = if wanted {
                clients
                    .kms
                    .enable_key_rotation()
                    .key_id(id)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| sdk_error(&e))
            } else {
                clients
                    .kms
                    .disable_key_rotation()
                    .key_id(id)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| sdk_error(&e))
            };
            result.map_err(|e| format!("{path}: key rotation: {e}"))?;
        }
        if enabled != wanted {
            changes.push("enable_key_rotation".to_owned());
        }
    }
    if !key.tags.is_empty() {
        let current = clients
            .kms
            .list_resource_tags()
            .key_id(id)
            .send()
            .await
            .map_err(|e| format!("{path}: ListResourceTags: {}", sdk_error(&e)))?;
        let current: BTreeMap<&str, &str> = current
            .tags()
            .iter()
            .map(|t| (t.tag_key.as_str(), t.tag_value.as_str()))
            .collect();
        let missing: BTreeMap<String, String> = key
            .tags
            .iter()
            .filter(|(k, v)| current.get(k.as_str()) != Some(&v.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !missing.is_empty() && !clients.dry_run {
            clients
                .kms
                .tag_resource()
                .key_id(id)
                .set_tags(Some(kms_tags(&missing)?))
                .send()
                .await
                .map_err(|e| format!("{path}: TagResource: {}", sdk_error(&e)))?;
        }
        if !missing.is_empty() {
            changes.push("tags".to_owned());
        }
    }
    Ok(())
}
