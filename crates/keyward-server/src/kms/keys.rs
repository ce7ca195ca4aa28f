//! Key lifecycle: create, describe, list, describe, enable and disable, deletion, tags and
//! key policies.

use std::collections::BTreeMap;

use keyward_core::error::validation_error;
use keyward_core::ids::{mrk_copy_id, mrk_key_id};
use keyward_core::key::{KeyManager, KeyRecord, KeyState as CoreKeyState, MultiRegionInfo};
use keyward_core::policy::{default_key_policy, DEFAULT_POLICY_NAME};
use keyward_core::KmsError;
use keyward_protocol::kms::*;

use super::access::Access;
use super::wire::{wire_key_state, wire_manager};
use uuid::Uuid;

use super::{key_material_id, new_material, page_limit, Naming};
use crate::auth::Caller;
use crate::state::AppState;

const SYMMETRIC_DEFAULT: &str = "SYMMETRIC_DEFAULT";
const ENCRYPT_DECRYPT: &str = "ENCRYPT_DECRYPT";
const MAX_TAGS: usize = 50;
/// Keyward's one extension of CreateKey: a tag of this key asks for the new key's id
/// (docs/kms.md, "Choosing a key id"). It is consumed, not stored as a tag.
pub(crate) const FIXED_KEY_ID_TAG: &str = "keyward:key-id";

/// The key id the reserved tag asks for, if any, removing the tag: a lowercase or uppercase
/// UUID in its hyphenated form, not the nil UUID, and at most one such tag.
fn take_fixed_key_id(tags: &mut Vec<Tag>) -> Result<Option<Uuid>, KmsError> {
    let mut fixed = None;
    let mut kept = Vec::with_capacity(tags.len());
    for tag in tags.drain(..) {
        if tag.tag_key != FIXED_KEY_ID_TAG {
            kept.push(tag);
            continue;
        }
        if fixed.is_some() {
            return Err(KmsError::Validation(format!(
                "The tag {FIXED_KEY_ID_TAG} may be given only once."
            )));
        }
        let value = tag.tag_value.as_str();
        let id = Uuid::parse_str(value)
            .ok()
            .filter(|id| value.len() == 36 && !id.is_nil())
            .ok_or_else(|| {
                KmsError::Validation(format!(
                    "The value of the tag {FIXED_KEY_ID_TAG} must be a key id: a UUID such as 1234abcd-12ab-34cd-56ef-1234567890ab."
                ))
            })?;
        fixed = Some(id);
    }
    *tags = kept;
    Ok(fixed)
}

pub(crate) fn key_metadata(record: &KeyRecord) -> KeyMetadata {
    // A key in PendingReplicaDeletion shows its window but has no deletion date yet.
    let pending = record.is_pending_deletion();
    let algorithms = algorithms(record);
    KeyMetadata {
        aws_account_id: Some(record.account.clone()),
        key_id: record.key_id_string(),
        arn: Some(record.arn()),
        creation_date: Some(record.created.as_epoch_seconds()),
        enabled: Some(record.state == CoreKeyState::Enabled),
        description: Some(record.description.clone()),
        key_usage: KeyUsage::from_wire(&record.key_usage),
        key_state: Some(wire_key_state(record.state)),
        deletion_date: record
            .deletion_date
            .filter(|_| record.state == CoreKeyState::PendingDeletion)
            .map(|d| d.as_epoch_seconds()),
        origin: OriginType::from_wire(&record.origin),
        key_manager: Some(wire_manager(record.manager)),
        customer_master_key_spec: CustomerMasterKeySpec::from_wire(&record.key_spec),
        key_spec: KeySpec::from_wire(&record.key_spec),
        encryption_algorithms: algorithms.encryption,
        signing_algorithms: algorithms.signing,
        mac_algorithms: algorithms.mac,
        key_agreement_algorithms: algorithms.key_agreement,
        multi_region: Some(record.multi_region.is_some()),
        multi_region_configuration: record.multi_region.as_ref().map(|mr| {
            MultiRegionConfiguration {
                multi_region_key_type: Some(if record.is_replica() {
                    MultiRegionKeyType::Replica
                } else {
                    MultiRegionKeyType::Primary
                }),
                primary_key: Some(MultiRegionKey {
                    arn: Some(record.arn_in(&mr.primary_region)),
                    region: Some(mr.primary_region.clone()),
                }),
                replica_keys: Some(
                    mr.replica_regions
                        .iter()
                        .map(|region| MultiRegionKey {
                            arn: Some(record.arn_in(region)),
                            region: Some(region.clone()),
                        })
                        .collect(),
                ),
            }
        }),
        pending_deletion_window_in_days: record
            .pending_window_days
            .filter(|_| pending)
            .map(i32::try_from)
            .and_then(Result::ok),
        current_key_material_id: Some(key_material_id(
            &record.public_uuid(),
            record.current_material,
        ))
        .filter(|_| record.key_spec == SYMMETRIC_DEFAULT),
        expiration_model: super::import::expiration_model(record),
        valid_to: super::import::valid_to(record).map(|t| t.as_epoch_seconds()),
        ..KeyMetadata::default()
    }
}

/// AWS's rules for which key specs this server makes and which usages each allows.
fn check_spec_and_usage(spec: &str, usage: &str, usage_given: bool) -> Result<(), KmsError> {
    let Some(parsed) = keyward_crypto::KeySpec::parse(spec) else {
        // SM2 is the one spec in the model without a crate to back it: AWS offers it only
        // in its China regions.
        return Err(KmsError::UnsupportedOperation(format!(
            "KeySpec {spec} is not supported in this region."
        )));
    };
    if parsed.key_usage_required() && !usage_given {
        return Err(KmsError::Validation(
            "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."
                .into(),
        ));
    }
    if !parsed.key_usages().contains(&usage) {
        return Err(KmsError::Validation(format!(
            "KeyUsage {usage} is not compatible with KeySpec {spec}"
        )));
    }
    Ok(())
}

/// The algorithms a key offers, as DescribeKey and GetPublicKey list them: only those of
/// the key's usage.
pub(crate) struct Algorithms {
    pub encryption: Option<Vec<EncryptionAlgorithmSpec>>,
    pub signing: Option<Vec<SigningAlgorithmSpec>>,
    pub mac: Option<Vec<MacAlgorithmSpec>>,
    pub key_agreement: Option<Vec<KeyAgreementAlgorithmSpec>>,
}

pub(crate) fn algorithms(record: &KeyRecord) -> Algorithms {
    let spec = keyward_crypto::KeySpec::parse(&record.key_spec);
    fn wire<T>(names: &[&str], from: fn(&str) -> Option<T>) -> Option<Vec<T>> {
        Some(names.iter().filter_map(|n| from(n)).collect())
    }
    let mut out = Algorithms {
        encryption: None,
        signing: None,
        mac: None,
        key_agreement: None,
    };
    let Some(spec) = spec else { return out };
    match record.key_usage.as_str() {
        "ENCRYPT_DECRYPT" => {
            out.encryption = wire(
                spec.encryption_algorithms(),
                EncryptionAlgorithmSpec::from_wire,
            )
        }
        "SIGN_VERIFY" => {
            out.signing = wire(spec.signing_algorithms(), SigningAlgorithmSpec::from_wire)
        }
        "GENERATE_VERIFY_MAC" => out.mac = wire(spec.mac_algorithms(), MacAlgorithmSpec::from_wire),
        "KEY_AGREEMENT" => {
            out.key_agreement = wire(
                spec.key_agreement_algorithms(),
                KeyAgreementAlgorithmSpec::from_wire,
            )
        }
        _ => {}
    }
    out
}

pub(super) fn check_tags(tags: &[Tag]) -> Result<(), KmsError> {
    for tag in tags {
        if tag.tag_key.starts_with("aws:") {
            return Err(KmsError::Tag(
                "Tags beginning with aws: are reserved".into(),
            ));
        }
    }
    Ok(())
}

pub(super) async fn create_key(
    state: &AppState,
    caller: &Caller,
    r: CreateKeyRequest,
) -> Result<CreateKeyResponse, KmsError> {
    let spec = match (&r.key_spec, &r.customer_master_key_spec) {
        (Some(_), Some(_)) => {
            return Err(KmsError::Validation(
                "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.".into(),
            ))
        }
        (Some(spec), None) => spec.as_str().to_owned(),
        (None, Some(spec)) => spec.as_str().to_owned(),
        (None, None) => SYMMETRIC_DEFAULT.to_owned(),
    };
    let usage = r
        .key_usage
        .as_ref()
        .map(|u| u.as_str().to_owned())
        .unwrap_or_else(|| ENCRYPT_DECRYPT.to_owned());
    check_spec_and_usage(&spec, &usage, r.key_usage.is_some())?;
    let origin = r.origin.map_or("AWS_KMS", |o| o.as_str());
    if origin != "AWS_KMS" && origin != "EXTERNAL" {
        return Err(KmsError::UnsupportedOperation(format!(
            "Origin {origin} is not supported by this server yet."
        )));
    }
    if let Some(store_id) = &r.custom_key_store_id {
        return Err(KmsError::CustomKeyStoreNotFound(format!(
            "Custom key store {store_id} does not exist"
        )));
    }
    if r.xks_key_id.is_some() {
        return Err(KmsError::Validation(
            "XksKeyId is valid only with Origin EXTERNAL_KEY_STORE".into(),
        ));
    }
    let multi_region = r.multi_region == Some(true);
    if multi_region && origin != "AWS_KMS" && origin != "EXTERNAL" {
        return Err(KmsError::UnsupportedOperation(format!(
            "Multi-Region keys of origin {origin} are not supported by this server yet."
        )));
    }
    let mut tags = r.tags.unwrap_or_default();
    check_tags(&tags)?;
    let mut access = Access::new("kms:CreateKey")
        .tags(
            tags.iter()
                .map(|t| (t.tag_key.as_str(), t.tag_value.as_str())),
        )
        .key("kms:KeySpec", &spec)
        .key("kms:KeyUsage", &usage)
        .key("kms:KeyOrigin", origin)
        .key(
            "kms:MultiRegion",
            if multi_region { "true" } else { "false" },
        );
    if multi_region {
        access = access.key("kms:MultiRegionKeyType", "PRIMARY");
    }
    let bypass = r.bypass_policy_lockout_safety_check == Some(true);
    access = access.key(
        "kms:BypassPolicyLockoutSafetyCheck",
        if bypass { "true" } else { "false" },
    );
    state.authorize_kms(caller, &access, "*").await?;
    // The reserved tag is part of the request as policies see it (aws:RequestTag,
    // aws:TagKeys), but not of the key.
    let fixed_id = take_fixed_key_id(&mut tags)?;
    if fixed_id.is_some() && multi_region {
        return Err(KmsError::Validation(format!(
            "The tag {FIXED_KEY_ID_TAG} cannot name the id of a multi-Region key."
        )));
    }
    // A multi-Region key is named by a random public id; each copy is stored under an id
    // derived from it and its region.
    let public = fixed_id.unwrap_or_else(Uuid::new_v4);
    let (id, mr_info) = if multi_region {
        let info = MultiRegionInfo {
            public_id: public,
            primary_region: caller.region.to_string(),
            replica_regions: Vec::new(),
        };
        (mrk_copy_id(&public, caller.region.as_str()), Some(info))
    } else {
        (public, None)
    };
    let (policy, policy_principals) = match r.policy {
        Some(policy) => {
            let name = match &mr_info {
                Some(_) => mrk_key_id(&public),
                None => id.to_string(),
            };
            let arn = format!(
                "arn:aws:kms:{}:{}:key/{name}",
                caller.region, caller.account
            );
            let principals = state.bind_key_policy(caller, &policy).await?;
            state
                .check_new_key_policy(caller, &policy, &arn, bypass)
                .await?;
            (policy, principals)
        }
        None => (default_key_policy(&caller.account), Default::default()),
    };
    let now = state.inner.clock.now();
    let record = KeyRecord {
        id,
        account: caller.account.to_string(),
        region: caller.region.to_string(),
        description: r.description.unwrap_or_default(),
        created: now,
        state: if origin == "EXTERNAL" {
            CoreKeyState::PendingImport
        } else {
            CoreKeyState::Enabled
        },
        deletion_date: None,
        pending_window_days: None,
        key_usage: usage,
        key_spec: spec,
        origin: origin.into(),
        manager: KeyManager::Customer,
        policy,
        policy_principals,
        tags: tags.into_iter().map(|t| (t.tag_key, t.tag_value)).collect(),
        auto_rotation: None,
        rotations: Vec::new(),
        current_material: 1,
        valid_to: None,
        material_valid_to: Default::default(),
        material_fingerprint: None,
        material_fingerprints: Default::default(),
        pending_material: None,
        multi_region: mr_info,
        revision: 0,
    };
    let record = state
        .blocking(move |inner| {
            // A key of origin EXTERNAL gets its material from ImportKeyMaterial.
            let material = match record.state {
                CoreKeyState::PendingImport => None,
                _ => Some(new_material(inner, &record, 1, now)?),
            };
            match inner.store.create_key(&record, material.as_ref()) {
                Err(keyward_core::StoreError::AlreadyExists(_)) if fixed_id.is_some() => {
                    return Err(KmsError::AlreadyExists(format!(
                        "A KMS key with id {} already exists.",
                        record.id
                    )))
                }
                other => other?,
            };
            Ok(record)
        })
        .await?;
    Ok(CreateKeyResponse {
        key_metadata: Some(key_metadata(&record)),
    })
}

pub(super) async fn describe_key(
    state: &AppState,
    caller: &Caller,
    r: DescribeKeyRequest,
) -> Result<DescribeKeyResponse, KmsError> {
    let key = state
        .resolve(
            caller,
            &r.key_id,
            Naming::KeyOrAlias,
            Access::new("kms:DescribeKey"),
        )
        .await?;
    Ok(DescribeKeyResponse {
        key_metadata: Some(key_metadata(&key.record)),
    })
}

pub(super) async fn list_keys(
    state: &AppState,
    caller: &Caller,
    r: ListKeysRequest,
) -> Result<ListKeysResponse, KmsError> {
    state
        .authorize_kms(caller, &Access::new("kms:ListKeys"), "*")
        .await?;
    let limit = page_limit(r.limit, 100);
    let after = match &r.marker {
        Some(marker) => Some(
            Uuid::parse_str(marker)
                .map_err(|_| KmsError::InvalidMarker("Invalid marker".into()))?,
        ),
        None => None,
    };
    let (account, region) = (caller.account.to_string(), caller.region.to_string());
    let mut page = state
        .blocking(move |inner| {
            Ok(inner
                .store
                .list_keys(&account, &region, after.as_ref(), limit + 1)?)
        })
        .await?;
    let truncated = page.len() > limit;
    page.truncate(limit);
    Ok(ListKeysResponse {
        next_marker: if truncated {
            page.last().map(|k| k.id.to_string())
        } else {
            None
        },
        keys: Some(
            page.iter()
                .map(|k| KeyListEntry {
                    key_id: Some(k.key_id_string()),
                    key_arn: Some(k.arn()),
                })
                .collect(),
        ),
        truncated: Some(truncated),
    })
}

pub(super) async fn update_key_description(
    state: &AppState,
    caller: &Caller,
    r: UpdateKeyDescriptionRequest,
) -> Result<(), KmsError> {
    let description = r.description;
    state
        .update_key(
            caller,
            &r.key_id,
            Naming::KeyOnly,
            Access::new("kms:UpdateKeyDescription"),
            move |key, _, _| {
                key.check_not_pending_deletion()?;
                key.description = description.clone();
                Ok(((), None))
            },
        )
        .await?;
    Ok(())
}

pub(super) async fn enable_key(
    state: &AppState,
    caller: &Caller,
    r: EnableKeyRequest,
) -> Result<(), KmsError> {
    state
        .update_key(
            caller,
            &r.key_id,
            Naming::KeyOnly,
            Access::new("kms:EnableKey"),
            |key, _, _| Ok((key.enable()?, None)),
        )
        .await?;
    Ok(())
}

pub(super) async fn disable_key(
    state: &AppState,
    caller: &Caller,
    r: DisableKeyRequest,
) -> Result<(), KmsError> {
    state
        .update_key(
            caller,
            &r.key_id,
            Naming::KeyOnly,
            Access::new("kms:DisableKey"),
            |key, _, _| Ok((key.disable()?, None)),
        )
        .await?;
    Ok(())
}

pub(super) async fn schedule_key_deletion(
    state: &AppState,
    caller: &Caller,
    r: ScheduleKeyDeletionRequest,
) -> Result<ScheduleKeyDeletionResponse, KmsError> {
    let window = match r.pending_window_in_days {
        Some(days) => Some(u32::try_from(days).map_err(|_| {
            validation_error(
                &days.to_string(),
                "pendingWindowInDays",
                "Member must have value greater than or equal to 7",
            )
        })?),
        None => None,
    };
    let (when, record) = state
        .update_key(
            caller,
            &r.key_id,
            Naming::KeyOnly,
            Access::new("kms:ScheduleKeyDeletion"),
            move |key, now, _| Ok((key.schedule_deletion(now, window)?, None)),
        )
        .await?;
    Ok(ScheduleKeyDeletionResponse {
        key_id: Some(record.arn()),
        // None for a multi-Region primary key with replicas: AWS answers KeyState
        // PendingReplicaDeletion and the window, and no date until the replicas are gone.
        deletion_date: when.map(|d| d.as_epoch_seconds()),
        key_state: Some(wire_key_state(record.state)),
        pending_window_in_days: record
            .pending_window_days
            .and_then(|d| i32::try_from(d).ok()),
    })
}

pub(super) async fn cancel_key_deletion(
    state: &AppState,
    caller: &Caller,
    r: CancelKeyDeletionRequest,
) -> Result<CancelKeyDeletionResponse, KmsError> {
    let (_, record) = state
        .update_key(
            caller,
            &r.key_id,
            Naming::KeyOnly,
            Access::new("kms:CancelKeyDeletion"),
            |key, _, inner| {
                let has_material = super::import::holds_all_material(inner, key)?;
                Ok((key.cancel_deletion(has_material)?, None))
            },
        )
        .await?;
    Ok(CancelKeyDeletionResponse {
        key_id: Some(record.arn()),
    })
}

pub(super) async fn tag_resource(
    state: &AppState,
    caller: &Caller,
    r: TagResourceRequest,
) -> Result<(), KmsError> {
    check_tags(&r.tags)?;
    let access = Access::new("kms:TagResource").tags(
        r.tags
            .iter()
            .map(|t| (t.tag_key.as_str(), t.tag_value.as_str())),
    );
    let tags = r.tags;
    state
        .update_key(
            caller,
            &r.key_id,
            Naming::KeyOnly,
            access,
            move |key, _, _| {
                key.check_not_pending_deletion()?;
                let mut merged = key.tags.clone();
                merged.extend(
                    tags.iter()
                        .map(|t| (t.tag_key.clone(), t.tag_value.clone())),
                );
                if merged.len() > MAX_TAGS {
                    return Err(KmsError::LimitExceeded(format!(
                        "A key can have at most {MAX_TAGS} tags."
                    )));
                }
                key.tags = merged;
                Ok(((), None))
            },
        )
        .await?;
    Ok(())
}

pub(super) async fn untag_resource(
    state: &AppState,
    caller: &Caller,
    r: UntagResourceRequest,
) -> Result<(), KmsError> {
    let keys = r.tag_keys;
    let access = Access::new("kms:UntagResource").tag_keys(keys.iter().map(String::as_str));
    state
        .update_key(
            caller,
            &r.key_id,
            Naming::KeyOnly,
            access,
            move |key, _, _| {
                key.check_not_pending_deletion()?;
                for tag_key in &keys {
                    key.tags.remove(tag_key);
                }
                Ok(((), None))
            },
        )
        .await?;
    Ok(())
}

pub(super) async fn list_resource_tags(
    state: &AppState,
    caller: &Caller,
    r: ListResourceTagsRequest,
) -> Result<ListResourceTagsResponse, KmsError> {
    let key = state
        .resolve(
            caller,
            &r.key_id,
            Naming::KeyOnly,
            Access::new("kms:ListResourceTags"),
        )
        .await?;
    let limit = page_limit(r.limit, 50);
    let (page, next) = page_after(&key.record.tags, r.marker.as_deref(), limit)?;
    Ok(ListResourceTagsResponse {
        tags: Some(
            page.into_iter()
                .map(|(k, v)| Tag {
                    tag_key: k.clone(),
                    tag_value: v.clone(),
                })
                .collect(),
        ),
        truncated: Some(next.is_some()),
        next_marker: next,
    })
}

/// A page of a sorted map after the key named by `marker`; the marker of the next page is
/// the last key returned.
type Page<'a, V> = (Vec<(&'a String, &'a V)>, Option<String>);

fn page_after<'a, V>(
    map: &'a BTreeMap<String, V>,
    marker: Option<&str>,
    limit: usize,
) -> Result<Page<'a, V>, KmsError> {
    let range: Box<dyn Iterator<Item = (&String, &V)>> = match marker {
        Some(m) => Box::new(
            map.range::<str, _>((std::ops::Bound::Excluded(m), std::ops::Bound::Unbounded)),
        ),
        None => Box::new(map.iter()),
    };
    let mut page: Vec<_> = range.take(limit + 1).collect();
    let next = if page.len() > limit {
        page.truncate(limit);
        page.last().map(|(k, _)| (*k).clone())
    } else {
        None
    };
    Ok((page, next))
}

fn check_policy_name(name: Option<&str>) -> Result<(), KmsError> {
    match name {
        None | Some(DEFAULT_POLICY_NAME) => Ok(()),
        Some(other) => Err(KmsError::NotFound(format!(
            "No such policy exists: {other}"
        ))),
    }
}

pub(super) async fn get_key_policy(
    state: &AppState,
    caller: &Caller,
    r: GetKeyPolicyRequest,
) -> Result<GetKeyPolicyResponse, KmsError> {
    let key = state
        .resolve(
            caller,
            &r.key_id,
            Naming::KeyOnly,
            Access::new("kms:GetKeyPolicy"),
        )
        .await?;
    check_policy_name(r.policy_name.as_deref())?;
    Ok(GetKeyPolicyResponse {
        policy: Some(key.policy_text.clone()),
        policy_name: Some(DEFAULT_POLICY_NAME.to_owned()),
    })
}

pub(super) async fn put_key_policy(
    state: &AppState,
    caller: &Caller,
    r: PutKeyPolicyRequest,
) -> Result<(), KmsError> {
    check_policy_name(r.policy_name.as_deref())?;
    let bypass = r.bypass_policy_lockout_safety_check == Some(true);
    let key = state
        .resolve(
            caller,
            &r.key_id,
            Naming::KeyOnly,
            Access::new("kms:PutKeyPolicy").key(
                "kms:BypassPolicyLockoutSafetyCheck",
                if bypass { "true" } else { "false" },
            ),
        )
        .await?;
    let principals = state.bind_key_policy(caller, &r.policy).await?;
    state
        .check_new_key_policy(caller, &r.policy, &key.record.arn(), bypass)
        .await?;
    let policy = r.policy;
    state
        .update_key(
            caller,
            &r.key_id,
            Naming::KeyOnly,
            Access::new("kms:PutKeyPolicy"),
            move |key, _, _| {
                key.check_not_pending_deletion()?;
                key.policy = policy.clone();
                key.policy_principals = principals.clone();
                Ok(((), None))
            },
        )
        .await?;
    Ok(())
}

pub(super) async fn list_key_policies(
    state: &AppState,
    caller: &Caller,
    r: ListKeyPoliciesRequest,
) -> Result<ListKeyPoliciesResponse, KmsError> {
    state
        .resolve(
            caller,
            &r.key_id,
            Naming::KeyOnly,
            Access::new("kms:ListKeyPolicies"),
        )
        .await?;
    let names = match r.marker.as_deref() {
        None => vec![DEFAULT_POLICY_NAME.to_owned()],
        Some(DEFAULT_POLICY_NAME) => Vec::new(),
        Some(_) => return Err(KmsError::InvalidMarker("Invalid marker".into())),
    };
    Ok(ListKeyPoliciesResponse {
        policy_names: Some(names),
        next_marker: None,
        truncated: Some(false),
    })
}
