//! Replicas: read-only copies of a secret in other regions of the same account, each
//! encrypted under a key of its own region, kept in step with the primary on every write.

use keyward_core::secret::{Replica, SecretRecord, SecretsError, VersionInfo};
use keyward_core::Region;
use keyward_protocol::secretsmanager::*;
use uuid::Uuid;

use super::access::SecretAccess;
use super::check_not_replica;
use super::envelope;
use crate::auth::Caller;
use crate::state::AppState;

const IN_SYNC: &str = "InSync";
const FAILED: &str = "Failed";

pub(super) fn wire_status(replica: &Replica) -> ReplicationStatusType {
    ReplicationStatusType {
        region: Some(replica.region.clone()),
        kms_key_id: Some(
            replica
                .kms_key_id
                .clone()
                .unwrap_or_else(|| "alias/aws/secretsmanager".to_owned()),
        ),
        status: StatusType::from_wire(&replica.status),
        status_message: replica.status_message.clone(),
        last_accessed_date: replica.last_accessed.map(|d| d.as_epoch_seconds()),
    }
}

fn in_region(caller: &Caller, region: &str) -> Result<Caller, SecretsError> {
    let region = Region::parse(region).ok_or_else(|| {
        SecretsError::InvalidParameter(format!("Invalid replica region: {region}"))
    })?;
    Ok(Caller {
        region,
        ..caller.clone()
    })
}

/// The replica's copy of the primary's metadata, keeping the replica's own identity.
fn mirror(primary: &SecretRecord, replica: &mut SecretRecord) {
    replica.name = primary.name.clone();
    replica.description = primary.description.clone();
    replica.tags = primary.tags.clone();
    replica.resource_policy = primary.resource_policy.clone();
    replica.policy_principals = primary.policy_principals.clone();
    replica.last_changed = primary.last_changed;
    replica.deleted = primary.deleted;
    replica.deletion_date = primary.deletion_date;
    let keep_arn: std::collections::HashMap<String, String> = replica
        .versions
        .iter()
        .map(|v| (v.id.clone(), v.kms_key_arn.clone()))
        .collect();
    replica.versions = primary
        .versions
        .iter()
        .map(|v| VersionInfo {
            kms_key_arn: keep_arn.get(&v.id).cloned().unwrap_or_default(),
            earlier_kms_keys: Vec::new(),
            last_accessed: None,
            ..v.clone()
        })
        .collect();
}

/// Seals, under the replica's key, the values of the primary's versions the replica lacks.
async fn copy_missing_values(
    state: &AppState,
    caller: &Caller,
    replica_caller: &Caller,
    primary: &SecretRecord,
    replica: &mut SecretRecord,
    have: &[String],
) -> Result<Vec<keyward_core::store::SecretValueRow>, SecretsError> {
    let mut rows = Vec::new();
    for version in &primary.versions {
        if have.contains(&version.id) {
            continue;
        }
        let (secret, vid) = (primary.id, version.id.clone());
        let Some(row) = state
            .blocking_secrets(move |inner| Ok(inner.secret_value(&secret, &vid)?))
            .await?
        else {
            continue;
        };
        let value = envelope::open(state, caller, primary, &row).await?;
        let (sealed, key_arn) = envelope::seal(
            state,
            replica_caller,
            replica,
            replica.kms_key_id.as_deref(),
            &version.id,
            &value,
        )
        .await?;
        if let Some(v) = replica.versions.iter_mut().find(|v| v.id == version.id) {
            v.kms_key_arn = key_arn;
        }
        rows.push(sealed);
    }
    Ok(rows)
}

/// Creates replicas of the secret `name` (in the caller's region) in `regions`.
pub(super) async fn replicate(
    state: &AppState,
    caller: &Caller,
    name: &str,
    regions: Vec<ReplicaRegionType>,
    force: bool,
) -> Result<Vec<ReplicationStatusType>, SecretsError> {
    let primary = state.find_secret_async(caller, name).await?;
    check_not_replica(&primary)?;
    let mut added = Vec::new();
    for spec in regions {
        let region = spec.region.clone().ok_or_else(|| {
            SecretsError::InvalidParameter("A replica Region is required.".into())
        })?;
        if region == primary.region || primary.replicas.iter().any(|r| r.region == region) {
            return Err(SecretsError::InvalidParameter(format!(
                "Invalid replica region: {region}. The secret is already in that Region."
            )));
        }
        let replica_caller = in_region(caller, &region)?;
        let existing = {
            let (a, g, n) = (
                primary.account.clone(),
                region.clone(),
                primary.name.clone(),
            );
            state
                .blocking_secrets(move |inner| Ok(inner.secret_by_name(&a, &g, &n)?))
                .await?
        };
        if let Some(existing) = existing {
            if !force {
                added.push(Replica {
                    region,
                    kms_key_id: spec.kms_key_id,
                    status: FAILED.into(),
                    status_message: Some(
                        "Replication failed: Secret name already exists in Region.".into(),
                    ),
                    last_accessed: None,
                });
                continue;
            }
            let id = existing.id;
            state
                .blocking_secrets(move |inner| Ok(inner.delete_secret(&id)?))
                .await?;
        }
        let suffix = primary
            .arn
            .rsplit('-')
            .next()
            .unwrap_or_default()
            .to_owned();
        let mut replica = SecretRecord {
            id: Uuid::new_v4(),
            arn: SecretRecord::arn_for(&region, &primary.account, &primary.name, &suffix),
            region: region.clone(),
            kms_key_id: spec.kms_key_id.clone(),
            replicas: Vec::new(),
            primary_region: Some(primary.region.clone()),
            rotation: None,
            versions: Vec::new(),
            last_accessed: None,
            revision: 0,
            ..primary.clone()
        };
        mirror(&primary, &mut replica);
        let rows = copy_missing_values(state, caller, &replica_caller, &primary, &mut replica, &[])
            .await?;
        let stored = replica.clone();
        state
            .blocking_secrets(move |inner| Ok(inner.create_secret(&stored, &rows)?))
            .await?;
        added.push(Replica {
            region,
            kms_key_id: spec.kms_key_id,
            status: IN_SYNC.into(),
            status_message: Some("Replication succeeded".into()),
            last_accessed: None,
        });
    }
    let new = added.clone();
    let (_, updated) = state
        .update_secret(primary.id, Vec::new(), move |secret, _| {
            secret
                .replicas
                .retain(|r| !new.iter().any(|n| n.region == r.region));
            secret.replicas.extend(new.iter().cloned());
            Ok(((), Vec::new()))
        })
        .await?;
    Ok(updated.replicas.iter().map(wire_status).collect())
}

/// Brings every in-sync replica of `primary` up to date after a write to the primary.
pub(super) async fn sync_replicas(
    state: &AppState,
    caller: &Caller,
    primary: &SecretRecord,
) -> Result<(), SecretsError> {
    for replica_entry in primary.replicas.iter().filter(|r| r.status == IN_SYNC) {
        let replica_caller = in_region(caller, &replica_entry.region)?;
        let found = {
            let (a, g, n) = (
                primary.account.clone(),
                replica_entry.region.clone(),
                primary.name.clone(),
            );
            state
                .blocking_secrets(move |inner| Ok(inner.secret_by_name(&a, &g, &n)?))
                .await?
        };
        let Some(mut replica) = found else { continue };
        // Versions whose values the replica has (an empty rotation version has none yet).
        let have: Vec<String> = replica
            .versions
            .iter()
            .filter(|v| !v.empty)
            .map(|v| v.id.clone())
            .collect();
        mirror(primary, &mut replica);
        let rows =
            copy_missing_values(state, caller, &replica_caller, primary, &mut replica, &have)
                .await?;
        let removed: Vec<String> = have
            .iter()
            .filter(|id| replica.version(id).is_none())
            .cloned()
            .collect();
        let target = replica.clone();
        state
            .update_secret(replica.id, rows, move |stored, _| {
                let keep = (
                    stored.id,
                    stored.arn.clone(),
                    stored.region.clone(),
                    stored.revision,
                );
                *stored = target.clone();
                (stored.id, stored.arn, stored.region, stored.revision) = keep;
                Ok(((), removed.clone()))
            })
            .await?;
    }
    Ok(())
}

pub(super) async fn replicate_secret_to_regions(
    state: &AppState,
    caller: &Caller,
    r: ReplicateSecretToRegionsRequest,
) -> Result<ReplicateSecretToRegionsResponse, SecretsError> {
    let primary = state
        .resolve_secret(
            caller,
            &r.secret_id,
            SecretAccess::new("secretsmanager:ReplicateSecretToRegions"),
        )
        .await?;
    primary.check_not_deleted()?;
    let status = replicate(
        state,
        caller,
        &primary.name,
        r.add_replica_regions,
        r.force_overwrite_replica_secret.unwrap_or(false),
    )
    .await?;
    Ok(ReplicateSecretToRegionsResponse {
        arn: Some(primary.arn),
        replication_status: Some(status),
    })
}

pub(super) async fn remove_regions_from_replication(
    state: &AppState,
    caller: &Caller,
    r: RemoveRegionsFromReplicationRequest,
) -> Result<RemoveRegionsFromReplicationResponse, SecretsError> {
    let primary = state
        .resolve_secret(
            caller,
            &r.secret_id,
            SecretAccess::new("secretsmanager:RemoveRegionsFromReplication"),
        )
        .await?;
    check_not_replica(&primary)?;
    for region in &r.remove_replica_regions {
        if !primary.replicas.iter().any(|rep| &rep.region == region) {
            return Err(SecretsError::InvalidParameter(format!(
                "The secret isn't replicated to Region {region}."
            )));
        }
        let (a, g, n) = (
            primary.account.clone(),
            region.clone(),
            primary.name.clone(),
        );
        state
            .blocking_secrets(move |inner| {
                if let Some(replica) = inner.secret_by_name(&a, &g, &n)? {
                    if replica.primary_region.is_some() {
                        inner.delete_secret(&replica.id)?;
                    }
                }
                Ok(())
            })
            .await?;
    }
    let removed = r.remove_replica_regions;
    let (_, updated) = state
        .update_secret(primary.id, Vec::new(), move |secret, _| {
            secret.replicas.retain(|rep| !removed.contains(&rep.region));
            Ok(((), Vec::new()))
        })
        .await?;
    Ok(RemoveRegionsFromReplicationResponse {
        arn: Some(updated.arn.clone()),
        replication_status: Some(updated.replicas.iter().map(wire_status).collect()),
    })
}

pub(super) async fn stop_replication_to_replica(
    state: &AppState,
    caller: &Caller,
    r: StopReplicationToReplicaRequest,
) -> Result<StopReplicationToReplicaResponse, SecretsError> {
    let replica = state
        .resolve_secret(
            caller,
            &r.secret_id,
            SecretAccess::new("secretsmanager:StopReplicationToReplica"),
        )
        .await?;
    let Some(primary_region) = replica.primary_region.clone() else {
        return Err(SecretsError::InvalidRequest(
            "The secret is not a replica.".into(),
        ));
    };
    let (_, promoted) = state
        .update_secret(replica.id, Vec::new(), |secret, _| {
            secret.primary_region = None;
            Ok(((), Vec::new()))
        })
        .await?;
    let primary_caller = in_region(caller, &primary_region)?;
    if let Ok(primary) = state
        .find_secret_async(&primary_caller, &replica.name)
        .await
    {
        let region = replica.region.clone();
        state
            .update_secret(primary.id, Vec::new(), move |secret, _| {
                secret.replicas.retain(|rep| rep.region != region);
                Ok(((), Vec::new()))
            })
            .await?;
    }
    Ok(StopReplicationToReplicaResponse {
        arn: Some(promoted.arn),
    })
}
