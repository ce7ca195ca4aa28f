//! KMS used by other services on a caller's behalf (Secrets Manager's envelope
//! encryption), and the AWS managed keys those services create on first use.

use std::collections::BTreeMap;

use keyward_core::alias::AliasRecord;
use keyward_core::key::{KeyManager, KeyRecord, KeyState};
use keyward_core::{KmsError, StoreError};
use serde_json::json;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::access::Access;
use super::new_material;
use crate::auth::Caller;
use crate::state::AppState;

/// A data key of `length` bytes under `key_id`, and its ciphertext blob. Returns the ARN of
/// the key that was used.
pub(crate) async fn generate_data_key(
    state: &AppState,
    caller: &Caller,
    invoked_by: &str,
    key_id: &str,
    length: usize,
    context: &BTreeMap<String, String>,
) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>, String), KmsError> {
    let bytes = i32::try_from(length).map_err(|_| KmsError::Internal("data key length".into()))?;
    let access = Access::new("kms:GenerateDataKey").via(invoked_by_service(invoked_by), caller);
    let result = super::crypto::data_key(
        state,
        caller,
        key_id,
        Some(bytes),
        None,
        context,
        access,
        "GenerateDataKey",
    )
    .await;
    let key_arn = result.as_ref().ok().map(|(key, _, _)| key.record.arn());
    let parameters =
        json!({"keyId": key_id, "encryptionContext": context, "numberOfBytes": length});
    let error = result.as_ref().err().map(crate::errors::kms_to_wire);
    state
        .audit_service_call(
            caller,
            invoked_by,
            "GenerateDataKey",
            parameters,
            key_arn.as_deref(),
            error.as_ref(),
        )
        .await
        .map_err(|_| KmsError::Internal("the audit event could not be written".into()))?;
    let (key, plaintext, blob) = result?;
    Ok((plaintext, blob, key.record.arn()))
}

/// Encrypts `plaintext` (a data key) under `key_id`, as a service does when it moves a
/// data key to another key. Returns the blob and the key's ARN.
pub(crate) async fn encrypt(
    state: &AppState,
    caller: &Caller,
    invoked_by: &str,
    key_id: &str,
    plaintext: &[u8],
    context: &BTreeMap<String, String>,
) -> Result<(Vec<u8>, String), KmsError> {
    let result = async {
        let access = Access::new("kms:Encrypt")
            .context(context)
            .key("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT")
            .via(invoked_by_service(invoked_by), caller);
        let key = state
            .resolve(caller, key_id, super::Naming::KeyOrAlias, access)
            .await?;
        let blob = super::crypto::seal(&key, context, plaintext, "Encrypt")?;
        Ok::<_, KmsError>((blob, key.record.arn()))
    }
    .await;
    let key_arn = result.as_ref().ok().map(|(_, arn)| arn.clone());
    let parameters = json!({"keyId": key_id, "encryptionContext": context, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"});
    let error = result.as_ref().err().map(crate::errors::kms_to_wire);
    state
        .audit_service_call(
            caller,
            invoked_by,
            "Encrypt",
            parameters,
            key_arn.as_deref(),
            error.as_ref(),
        )
        .await
        .map_err(|_| KmsError::Internal("the audit event could not be written".into()))?;
    result
}

/// Decrypts a blob made by [`generate_data_key`], with the key it names.
pub(crate) async fn decrypt(
    state: &AppState,
    caller: &Caller,
    invoked_by: &str,
    blob: &[u8],
    context: &BTreeMap<String, String>,
) -> Result<Zeroizing<Vec<u8>>, KmsError> {
    let access = Access::new("kms:Decrypt").via(invoked_by_service(invoked_by), caller);
    let result = super::crypto::open(state, caller, blob, None, context, access, "Decrypt").await;
    let key_arn = match &result {
        Ok((key, _, _)) => Some(key.record.arn()),
        // Name the key the blob claims, so a refused decrypt shows which key it concerned.
        Err(_) => keyward_crypto::parse_header(blob).ok().map(|h| {
            format!(
                "arn:aws:kms:{}:{}:key/{}",
                caller.region,
                caller.account,
                Uuid::from_bytes(h.key_id)
            )
        }),
    };
    let parameters =
        json!({"encryptionContext": context, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"});
    let error = result.as_ref().err().map(crate::errors::kms_to_wire);
    state
        .audit_service_call(
            caller,
            invoked_by,
            "Decrypt",
            parameters,
            key_arn.as_deref(),
            error.as_ref(),
        )
        .await
        .map_err(|_| KmsError::Internal("the audit event could not be written".into()))?;
    let (_, _, plaintext) = result?;
    Ok(plaintext)
}

/// The ARN of the account's AWS managed key for `service` (`alias/aws/<service>`) in the
/// caller's region, created on first use as AWS does.
pub(crate) async fn managed_key_arn(
    state: &AppState,
    caller: &Caller,
    service: &str,
) -> Result<String, KmsError> {
    let alias_name = format!("alias/aws/{service}");
    let (account, region) = (caller.account.to_string(), caller.region.to_string());
    if let Some(alias) = state.inner.aliases.get(&account, &region, &alias_name) {
        return Ok(format!(
            "arn:aws:kms:{region}:{account}:key/{}",
            alias.target
        ));
    }
    let _creating = state.inner.managed_keys.lock().await;
    if let Some(alias) = state.inner.aliases.get(&account, &region, &alias_name) {
        return Ok(format!(
            "arn:aws:kms:{region}:{account}:key/{}",
            alias.target
        ));
    }
    let now = state.inner.clock.now();
    let record = KeyRecord {
        id: Uuid::new_v4(),
        account: account.clone(),
        region: region.clone(),
        description: format!(
            "Default key that protects my {} when no other key is defined",
            describe(service)
        ),
        created: now,
        state: KeyState::Enabled,
        deletion_date: None,
        pending_window_days: None,
        key_usage: "ENCRYPT_DECRYPT".into(),
        key_spec: "SYMMETRIC_DEFAULT".into(),
        origin: "AWS_KMS".into(),
        manager: KeyManager::Aws,
        policy: managed_key_policy(&caller.account, &caller.region, service),
        policy_principals: Default::default(),
        tags: BTreeMap::new(),
        auto_rotation: Some(keyward_core::key::AutoRotation {
            period_days: 365,
            next_rotation: now.plus_days(365),
        }),
        rotations: Vec::new(),
        current_material: 1,
        valid_to: None,
        material_valid_to: Default::default(),
        material_fingerprint: None,
        material_fingerprints: Default::default(),
        pending_material: None,
        multi_region: None,
        revision: 0,
    };
    let alias = AliasRecord {
        account,
        region,
        name: alias_name,
        target: record.id,
        created: now,
        updated: now,
    };
    let stored_alias = alias.clone();
    let arn = record.arn();
    let result = state
        .blocking(move |inner| {
            let material = new_material(inner, &record, 1, now)?;
            inner.store.create_key(&record, Some(&material))?;
            match inner.store.create_alias(&stored_alias) {
                Ok(()) => Ok(None),
                // Made elsewhere first: use that one and drop ours.
                Err(StoreError::AlreadyExists(_)) => {
                    inner.store.delete_key(&record.id)?;
                    Ok(inner.store.all_aliases()?.into_iter().find(|a| {
                        a.account == stored_alias.account
                            && a.region == stored_alias.region
                            && a.name == stored_alias.name
                    }))
                }
                Err(other) => Err(other.into()),
            }
        })
        .await?;
    match result {
        None => {
            state.inner.aliases.put(alias);
            tracing::info!(key = %arn, service, "created the AWS managed key");
            Ok(arn)
        }
        Some(existing) => {
            let arn = format!(
                "arn:aws:kms:{}:{}:key/{}",
                existing.region, existing.account, existing.target
            );
            state.inner.aliases.put(existing);
            Ok(arn)
        }
    }
}

/// `secretsmanager` for `secretsmanager.amazonaws.com`, as `kms:ViaService` names it.
fn invoked_by_service(invoked_by: &str) -> &str {
    invoked_by
        .strip_suffix(".amazonaws.com")
        .unwrap_or(invoked_by)
}

fn describe(service: &str) -> &str {
    match service {
        "secretsmanager" => "Secrets Manager secrets",
        "lambda" => "Lambda functions",
        other => other,
    }
}

/// The key policy of an AWS managed key, as AWS writes it: every principal of the account
/// may use the key through the service that owns it, and the account may read its metadata.
fn managed_key_policy(
    account: &keyward_core::AccountId,
    region: &keyward_core::Region,
    service: &str,
) -> String {
    let via = format!("{service}.{region}.amazonaws.com");
    serde_json::to_string_pretty(&json!({
        "Version": "2012-10-17",
        "Id": format!("auto-{service}-2"),
        "Statement": [
            {
                "Sid": format!("Allow access through {} for all principals in the account that are authorized to use it", describe_service(service)),
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:CallerAccount": account.as_str(), "kms:ViaService": via}}
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
                "Resource": "*"
            }
        ]
    }))
    .unwrap_or_default()
}

fn describe_service(service: &str) -> &str {
    match service {
        "secretsmanager" => "AWS Secrets Manager",
        "lambda" => "AWS Lambda",
        other => other,
    }
}
