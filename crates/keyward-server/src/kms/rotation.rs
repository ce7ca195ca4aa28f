//! Key rotation: automatic schedules, on-demand rotation, and the rotation history.

use keyward_core::error::validation_error;
use std::collections::BTreeSet;

use keyward_core::key::{
    check_rotation_period, Rotation as CoreRotation, RotationType as CoreRotationType,
};
use keyward_core::KmsError;
use keyward_protocol::kms::*;

use super::access::Access;
use super::{key_material_id, new_material, page_limit, Naming};
use crate::auth::Caller;
use crate::state::AppState;

pub(super) async fn enable_key_rotation(
    state: &AppState,
    caller: &Caller,
    r: EnableKeyRotationRequest,
) -> Result<(), KmsError> {
    let period = match r.rotation_period_in_days {
        Some(days) => {
            let days = u32::try_from(days).map_err(|_| {
                validation_error(
                    &days.to_string(),
                    "rotationPeriodInDays",
                    "Member must have value greater than or equal to 90",
                )
            })?;
            check_rotation_period(days)?;
            Some(days)
        }
        None => None,
    };
    state
        .update_key(
            caller,
            &r.key_id,
            Naming::KeyOnly,
            Access::new("kms:EnableKeyRotation"),
            move |key, now, _| Ok((key.enable_rotation(now, period)?, None)),
        )
        .await?;
    Ok(())
}

pub(super) async fn disable_key_rotation(
    state: &AppState,
    caller: &Caller,
    r: DisableKeyRotationRequest,
) -> Result<(), KmsError> {
    state
        .update_key(
            caller,
            &r.key_id,
            Naming::KeyOnly,
            Access::new("kms:DisableKeyRotation"),
            |key, _, _| Ok((key.disable_rotation()?, None)),
        )
        .await?;
    Ok(())
}

pub(super) async fn get_key_rotation_status(
    state: &AppState,
    caller: &Caller,
    r: GetKeyRotationStatusRequest,
) -> Result<GetKeyRotationStatusResponse, KmsError> {
    let key = state
        .resolve(
            caller,
            &r.key_id,
            Naming::KeyOnly,
            Access::new("kms:GetKeyRotationStatus"),
        )
        .await?;
    key.record.check_not_pending_deletion()?;
    // A replica shows the rotation status of its primary, as in AWS.
    let schedule = super::multi_region::rotation_schedule(state, &key.record).await?;
    let auto = schedule.as_ref();
    Ok(GetKeyRotationStatusResponse {
        key_rotation_enabled: Some(auto.is_some()),
        key_id: Some(key.record.arn()),
        rotation_period_in_days: auto.and_then(|a| i32::try_from(a.period_days).ok()),
        next_rotation_date: auto.map(|a| a.next_rotation.as_epoch_seconds()),
        on_demand_rotation_start_date: None,
    })
}

pub(super) async fn rotate_key_on_demand(
    state: &AppState,
    caller: &Caller,
    r: RotateKeyOnDemandRequest,
) -> Result<RotateKeyOnDemandResponse, KmsError> {
    let (_, record) = state
        .update_key(
            caller,
            &r.key_id,
            Naming::KeyOnly,
            Access::new("kms:RotateKeyOnDemand"),
            |key, now, inner| {
                let version = key.rotate(now, CoreRotationType::OnDemand)?;
                // Imported material is in the store already, since its import, unless it
                // was deleted or expired while pending rotation.
                if key.is_external() {
                    let held = inner
                        .store
                        .materials(&key.id)?
                        .iter()
                        .any(|row| row.version == version);
                    if !held {
                        return Err(KmsError::InvalidState(format!(
                            "{} cannot rotate: its key material pending rotation is pending import.",
                            key.arn()
                        )));
                    }
                    // A multi-Region key rotates once every replica has imported the same
                    // material (AWS's PENDING_MULTI_REGION_IMPORT_AND_ROTATION until then).
                    let lacking = super::multi_region::replicas_lacking(inner, key, version)?;
                    if !lacking.is_empty() {
                        return Err(KmsError::InvalidState(format!(
                            "{} cannot rotate: its key material pending rotation ({}) is not yet imported into the replica keys in {}.",
                            key.arn(),
                            key_material_id(&key.public_uuid(), version),
                            lacking.join(", ")
                        )));
                    }
                    return Ok(((), None));
                }
                Ok(((), Some(new_material(inner, key, version, now)?)))
            },
        )
        .await?;
    let primary = record.clone();
    state
        .blocking(move |inner| super::multi_region::sync_replicas(inner, &primary))
        .await?;
    Ok(RotateKeyOnDemandResponse {
        key_id: Some(record.key_id_string()),
    })
}

pub(super) async fn list_key_rotations(
    state: &AppState,
    caller: &Caller,
    r: ListKeyRotationsRequest,
) -> Result<ListKeyRotationsResponse, KmsError> {
    let key = state
        .resolve(
            caller,
            &r.key_id,
            Naming::KeyOnly,
            Access::new("kms:ListKeyRotations"),
        )
        .await?;
    key.record.check_not_pending_deletion()?;
    let after = match r.marker.as_deref() {
        Some(m) => Some(
            m.parse::<u32>()
                .map_err(|_| KmsError::InvalidMarker("Invalid marker".into()))?,
        ),
        None => None,
    };
    let limit = page_limit(r.limit, 100);
    let record = &key.record;
    // AWS lists the materials rotations made; ALL_KEY_MATERIAL adds the first material and
    // imported material pending rotation. Versions ascend in that order, so the marker is
    // the last version listed.
    let all = r.include_key_material == Some(IncludeKeyMaterial::AllKeyMaterial);
    let mut versions: Vec<(u32, Option<&CoreRotation>)> = Vec::new();
    if all {
        versions.push((1, None));
    }
    versions.extend(
        record
            .rotations
            .iter()
            .map(|rot| (rot.material_version, Some(rot))),
    );
    if all {
        versions.extend(record.pending_material.map(|v| (v, None)));
    }
    let mut page: Vec<_> = versions
        .into_iter()
        .filter(|(version, _)| after.is_none_or(|a| *version > a))
        .take(limit + 1)
        .collect();
    let truncated = page.len() > limit;
    page.truncate(limit);
    // Which versions of imported material the store holds (the others await reimport),
    // and, for a multi-Region primary key, whether its material pending rotation still
    // waits for a replica to import it.
    let (stored, awaits_replicas): (Option<BTreeSet<u32>>, bool) = if record.is_external() {
        let primary = record.clone();
        let (stored, awaits) = state
            .blocking(move |inner| {
                let stored: BTreeSet<u32> = inner
                    .store
                    .materials(&primary.id)?
                    .iter()
                    .map(|row| row.version)
                    .collect();
                let awaits = match primary.pending_material {
                    Some(version) if primary.multi_region.is_some() && !primary.is_replica() => {
                        !super::multi_region::replicas_lacking(inner, &primary, version)?.is_empty()
                    }
                    _ => false,
                };
                Ok((stored, awaits))
            })
            .await?;
        (Some(stored), awaits)
    } else {
        (None, false)
    };
    Ok(ListKeyRotationsResponse {
        next_marker: if truncated {
            page.last().map(|(version, _)| version.to_string())
        } else {
            None
        },
        rotations: Some(
            page.iter()
                .map(|(version, rot)| {
                    let imported = stored.as_ref().map(|s| s.contains(version));
                    RotationsListEntry {
                        key_id: Some(record.key_id_string()),
                        key_material_id: Some(key_material_id(&record.public_uuid(), *version)),
                        rotation_date: rot.map(|rot| rot.date.as_epoch_seconds()),
                        rotation_type: rot
                            .and_then(|rot| RotationType::from_wire(rot.kind.as_str())),
                        key_material_state: Some(if *version == record.current_material {
                            KeyMaterialState::Current
                        } else if record.pending_material == Some(*version) {
                            if awaits_replicas {
                                KeyMaterialState::PendingMultiRegionImportAndRotation
                            } else {
                                KeyMaterialState::PendingRotation
                            }
                        } else {
                            KeyMaterialState::NonCurrent
                        }),
                        import_state: imported.map(|held| {
                            if held {
                                ImportState::Imported
                            } else {
                                ImportState::PendingImport
                            }
                        }),
                        // Each version's own expiry, while it is imported.
                        expiration_model: imported
                            .filter(|held| *held)
                            .map(|_| super::import::model_of(record.valid_to_of(*version))),
                        valid_to: record
                            .valid_to_of(*version)
                            .filter(|_| imported == Some(true))
                            .map(|t| t.as_epoch_seconds()),
                        ..RotationsListEntry::default()
                    }
                })
                .collect(),
        ),
        truncated: Some(truncated),
    })
}
