//! Multi-Region keys: `ReplicateKey`, `UpdatePrimaryRegion`, and keeping the copies of a key
//! in step — the material versions a rotation of the primary adds, and the configuration
//! (primary and replica regions) every copy shows.
//!
//! Keys with imported material (origin `EXTERNAL`) get no material from another copy, as
//! in AWS: each copy imports the same material itself. New material is imported into the
//! primary (`NEW_KEY_MATERIAL`, pending rotation) and then into every replica
//! (`EXISTING_KEY_MATERIAL`, [`primary_pending_version`]); `RotateKeyOnDemand` on the
//! primary waits for all of them ([`replicas_lacking`]) and then makes every copy follow
//! ([`follow_external`]).
//!
//! Each copy is an ordinary stored key under its own id, derived from the public `mrk-` id
//! and its region ([`mrk_copy_id`]). The store has no transaction across keys, so writes
//! that touch several copies are done copy by copy, each one an optimistic read-modify-write;
//! [`sync_replica`] is idempotent, so a later rotation or `ReplicateKey` repairs a copy a
//! crash left behind.

use std::collections::{BTreeMap, BTreeSet};

use keyward_core::ids::mrk_copy_id;
use keyward_core::key::{KeyRecord, KeyState, MultiRegionInfo};
use keyward_core::policy::default_key_policy;
use keyward_core::{KmsError, Region, StoreError};
use keyward_protocol::kms::*;
use uuid::Uuid;

use super::access::Access;
use super::keys::{check_tags, key_metadata};
use super::{wrap_material, write_key, KeyWrite, Naming};
use crate::auth::Caller;
use crate::cache::material_aad;
use crate::state::{AppState, Inner};

/// Attempts of one optimistic write before giving up.
const RETRIES: usize = 16;

fn too_many_writers(id: &Uuid) -> KmsError {
    KmsError::Internal(format!("key {id}: too many concurrent writers"))
}

fn not_multi_region(record: &KeyRecord, operation: &str) -> KmsError {
    KmsError::UnsupportedOperation(format!(
        "{} is not a multi-Region key. {operation} is supported only on multi-Region primary keys.",
        record.arn()
    ))
}

fn not_primary(record: &KeyRecord, mr: &MultiRegionInfo, operation: &str) -> KmsError {
    KmsError::UnsupportedOperation(format!(
        "{} is a multi-Region replica key. {operation} is supported only on its primary key {}.",
        record.arn(),
        record.arn_in(&mr.primary_region)
    ))
}

/// The caller as seen in another region of its account (authorization there).
fn caller_in(caller: &Caller, region: &Region) -> Caller {
    let mut there = caller.clone();
    there.region = region.clone();
    there
}

pub(super) async fn replicate_key(
    state: &AppState,
    caller: &Caller,
    r: ReplicateKeyRequest,
) -> Result<ReplicateKeyResponse, KmsError> {
    let access = Access::new("kms:ReplicateKey").key("kms:ReplicaRegion", &r.replica_region);
    let primary = state
        .resolve(caller, &r.key_id, Naming::KeyOnly, access)
        .await?;
    let record = &primary.record;
    let mr = record
        .multi_region
        .clone()
        .ok_or_else(|| not_multi_region(record, "ReplicateKey"))?;
    if record.is_replica() {
        return Err(not_primary(record, &mr, "ReplicateKey"));
    }
    // The model's pattern has been checked; this only gives the name its type.
    let region = Region::parse(&r.replica_region)
        .ok_or_else(|| KmsError::Validation(format!("Invalid region {}", r.replica_region)))?;
    if region == caller.region {
        return Err(KmsError::Validation(format!(
            "The replica region {region} must be different from the region of the primary key {}.",
            record.arn()
        )));
    }
    if mr.replica_regions.iter().any(|r| r == region.as_str()) {
        return Err(KmsError::AlreadyExists(format!(
            "Replica key {} already exists",
            record.arn_in(region.as_str())
        )));
    }
    record.check_not_pending_deletion()?;
    let tags = r.tags.unwrap_or_default();
    check_tags(&tags)?;
    // AWS requires kms:CreateKey in the replica's region as well.
    let there = caller_in(caller, &region);
    let bypass = r.bypass_policy_lockout_safety_check == Some(true);
    let create = Access::new("kms:CreateKey")
        .tags(
            tags.iter()
                .map(|t| (t.tag_key.as_str(), t.tag_value.as_str())),
        )
        .key("kms:KeySpec", &record.key_spec)
        .key("kms:KeyUsage", &record.key_usage)
        .key("kms:KeyOrigin", &record.origin)
        .key("kms:MultiRegion", "true")
        .key("kms:MultiRegionKeyType", "REPLICA")
        .key(
            "kms:BypassPolicyLockoutSafetyCheck",
            if bypass { "true" } else { "false" },
        );
    state.authorize_kms(&there, &create, "*").await?;
    let (policy, policy_principals) = match r.policy {
        Some(policy) => {
            let principals = state.bind_key_policy(&there, &policy).await?;
            state
                .check_new_key_policy(&there, &policy, &record.arn_in(region.as_str()), bypass)
                .await?;
            (policy, principals)
        }
        None => (default_key_policy(&caller.account), BTreeMap::new()),
    };
    let template = Replica {
        region: region.to_string(),
        description: r.description.unwrap_or_default(),
        policy,
        policy_principals,
        tags: tags.into_iter().map(|t| (t.tag_key, t.tag_value)).collect(),
    };
    let primary_id = record.id;
    let replica = state
        .blocking(move |inner| create_replica(inner, &primary_id, template))
        .await?;
    Ok(ReplicateKeyResponse {
        replica_key_metadata: Some(key_metadata(&replica)),
        replica_policy: Some(replica.policy.clone()),
        replica_tags: Some(
            replica
                .tags
                .iter()
                .map(|(k, v)| Tag {
                    tag_key: k.clone(),
                    tag_value: v.clone(),
                })
                .collect(),
        ),
    })
}

/// What `ReplicateKey` sets on the new copy; the rest comes from the primary.
struct Replica {
    region: String,
    description: String,
    policy: String,
    policy_principals: BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
}

/// Stores the replica with every material version of the primary, then adds its region to
/// the primary and to every other copy.
fn create_replica(
    inner: &Inner,
    primary_id: &Uuid,
    template: Replica,
) -> Result<KeyRecord, KmsError> {
    let gone = || KmsError::NotFound(format!("Key '{primary_id}' does not exist"));
    let primary = inner.store.get_key(primary_id)?.ok_or_else(gone)?;
    let mr = primary.multi_region.clone().ok_or_else(gone)?;
    let now = inner.clock.now();
    let id = mrk_copy_id(&mr.public_id, &template.region);
    let external = primary.is_external();
    let mut replica_regions = mr.replica_regions.clone();
    replica_regions.push(template.region.clone());
    let mut replica = KeyRecord {
        id,
        account: primary.account.clone(),
        region: template.region.clone(),
        description: template.description,
        created: now,
        // A replica of a key with imported material gets none from its primary: as in
        // AWS, the same material is imported into each copy.
        state: if external {
            KeyState::PendingImport
        } else {
            KeyState::Enabled
        },
        deletion_date: None,
        pending_window_days: None,
        key_usage: primary.key_usage.clone(),
        key_spec: primary.key_spec.clone(),
        origin: primary.origin.clone(),
        manager: primary.manager,
        policy: template.policy,
        policy_principals: template.policy_principals,
        tags: template.tags,
        // Rotation is scheduled on the primary, which writes each new version to its
        // replicas.
        auto_rotation: None,
        rotations: Vec::new(),
        current_material: 1,
        valid_to: None,
        material_valid_to: Default::default(),
        material_fingerprint: None,
        material_fingerprints: Default::default(),
        pending_material: None,
        multi_region: Some(MultiRegionInfo {
            public_id: mr.public_id,
            primary_region: mr.primary_region.clone(),
            replica_regions,
        }),
        revision: 0,
    };
    if external {
        // No material, but the versions a rotation made permanent: the replica is usable
        // once it has imported every one of them, as its primary was.
        replica.current_material = primary.current_material;
        replica.rotations = primary.rotations.clone();
        replica.material_fingerprints = primary
            .material_fingerprints
            .range(..=primary.current_material)
            .map(|(version, fingerprint)| (*version, fingerprint.clone()))
            .collect();
    }
    let row = if external {
        None
    } else {
        let first = inner
            .store
            .materials(primary_id)?
            .into_iter()
            .min_by_key(|row| row.version)
            .ok_or_else(|| KmsError::Internal(format!("key {primary_id} has no material")))?;
        replica.current_material = first.version;
        let material = inner
            .root
            .unwrap_material(&material_aad(&primary.arn(), first.version), &first.wrapped)?;
        Some(wrap_material(
            inner,
            &replica,
            first.version,
            &material,
            first.created,
        )?)
    };
    inner
        .store
        .create_key(&replica, row.as_ref())
        .map_err(|e| match e {
            StoreError::AlreadyExists(_) => {
                KmsError::AlreadyExists(format!("Replica key {} already exists", replica.arn()))
            }
            other => other.into(),
        })?;
    // List the new region on the primary, copying first whatever versions the primary has
    // by then: once the primary lists the region, every later rotation writes to it.
    // A primary scheduled for deletion since ReplicateKey checked it takes no new replica
    // (this write and ScheduleKeyDeletion's are ordered by the primary's revision), so a
    // primary pending deletion never has one: the new copy is removed again.
    let listed = write_key(inner, primary_id, |current| {
        if let Err(pending) = current.check_not_pending_deletion() {
            return Ok((Some(pending), KeyWrite::Unchanged));
        }
        if external {
            follow_external(inner, current, &id)?;
        } else {
            sync_replica(inner, current, &id)?;
        }
        let info = current.multi_region.as_mut().ok_or_else(gone)?;
        if !info.replica_regions.contains(&template.region) {
            info.replica_regions.push(template.region.clone());
        }
        Ok((None, KeyWrite::Update(None)))
    })?;
    if let Some((Some(pending), _)) = listed {
        inner.store.delete_key(&id)?;
        inner.keys.invalidate(&id);
        return Err(pending);
    }
    let info = listed
        .and_then(|(_, record)| record.multi_region)
        .ok_or_else(gone)?;
    propagate(inner, &info)?;
    inner
        .store
        .get_key(&id)?
        .ok_or_else(|| KmsError::Internal(format!("replica {id} vanished")))
}

/// The fingerprint of the material imported into any other copy of the multi-Region key
/// `record`, if one has had material: every copy must be given the same.
pub(crate) fn sibling_fingerprint(
    inner: &Inner,
    record: &KeyRecord,
) -> Result<Option<String>, KmsError> {
    let Some(mr) = &record.multi_region else {
        return Ok(None);
    };
    for region in mr.regions().filter(|region| *region != record.region) {
        let sibling = inner.store.get_key(&mrk_copy_id(&mr.public_id, region))?;
        if let Some(fingerprint) = sibling.and_then(|s| s.material_fingerprint) {
            return Ok(Some(fingerprint));
        }
    }
    Ok(None)
}

/// For a replica: the version of its primary's imported material pending rotation that
/// has this fingerprint, if any. That is the material a replica takes with
/// `EXISTING_KEY_MATERIAL` although it never had it: AWS imports new material into the
/// primary, then the same into each replica.
pub(crate) fn primary_pending_version(
    inner: &Inner,
    record: &KeyRecord,
    fingerprint: &str,
) -> Result<Option<u32>, KmsError> {
    let Some(mr) = record.multi_region.as_ref().filter(|_| record.is_replica()) else {
        return Ok(None);
    };
    let Some(primary) = inner
        .store
        .get_key(&mrk_copy_id(&mr.public_id, &mr.primary_region))?
    else {
        return Ok(None);
    };
    Ok(primary.pending_material.filter(|version| {
        primary
            .material_fingerprints
            .get(version)
            .map(String::as_str)
            == Some(fingerprint)
    }))
}

/// The regions of the replicas of the primary key `primary` that do not hold its imported
/// material `version` (the same material: the fingerprints agree). While there is one,
/// that version is `PENDING_MULTI_REGION_IMPORT_AND_ROTATION` and the primary does not
/// rotate to it. A replica pending deletion is not waited for: it is made to follow the
/// rotation like the others, and needs the material imported if its deletion is cancelled.
pub(crate) fn replicas_lacking(
    inner: &Inner,
    primary: &KeyRecord,
    version: u32,
) -> Result<Vec<String>, KmsError> {
    let Some(mr) = primary
        .multi_region
        .as_ref()
        .filter(|_| !primary.is_replica())
    else {
        return Ok(Vec::new());
    };
    let fingerprint = primary.material_fingerprints.get(&version);
    let mut lacking = Vec::new();
    for region in &mr.replica_regions {
        let id = mrk_copy_id(&mr.public_id, region);
        let Some(replica) = inner.store.get_key(&id)? else {
            continue;
        };
        if replica.is_pending_deletion() {
            continue;
        }
        let same =
            fingerprint.is_some() && replica.material_fingerprints.get(&version) == fingerprint;
        let holds = same
            && inner
                .store
                .materials(&id)?
                .iter()
                .any(|row| row.version == version);
        if !holds {
            lacking.push(region.clone());
        }
    }
    Ok(lacking)
}

/// After DeleteImportedKeyMaterial of the primary key's material pending rotation: every
/// replica forgets that version too (its material, fingerprint and expiry), as AWS deletes
/// it from the replicas. The primary keeps its own record of it, as any key does of
/// deleted material pending rotation.
pub(crate) fn forget_pending_in_replicas(
    inner: &Inner,
    primary: &KeyRecord,
    version: u32,
) -> Result<(), KmsError> {
    let Some(mr) = primary
        .multi_region
        .as_ref()
        .filter(|_| !primary.is_replica())
    else {
        return Ok(());
    };
    for region in &mr.replica_regions {
        write_key(inner, &mrk_copy_id(&mr.public_id, region), |replica| {
            let knows = replica.material_fingerprints.contains_key(&version)
                || replica.pending_material == Some(version);
            if replica.is_permanent_material(version) || !knows {
                return Ok(((), KeyWrite::Unchanged));
            }
            replica.material_fingerprints.remove(&version);
            replica.set_valid_to(version, None);
            if replica.pending_material == Some(version) {
                replica.pending_material = None;
            }
            Ok(((), KeyWrite::DeleteMaterial(vec![version])))
        })?;
    }
    Ok(())
}

/// Makes the replica `replica_id` of a primary key with imported material follow it: the
/// primary's current version and rotation history, and the fingerprint of each version
/// permanently associated with the key that the replica does not hold (so that it
/// recognises that material on import). No material is copied: a replica that lacks a
/// version that is now permanently the key's waits in `PendingImport` until it imports it.
/// Idempotent.
fn follow_external(inner: &Inner, primary: &KeyRecord, replica_id: &Uuid) -> Result<(), KmsError> {
    update_copy(inner, replica_id, |replica| {
        let before = replica.clone();
        let held: BTreeSet<u32> = inner
            .store
            .materials(replica_id)?
            .into_iter()
            .map(|row| row.version)
            .collect();
        for (version, fingerprint) in primary
            .material_fingerprints
            .range(..=primary.current_material)
        {
            if !held.contains(version) {
                replica
                    .material_fingerprints
                    .insert(*version, fingerprint.clone());
            }
        }
        replica.current_material = replica.current_material.max(primary.current_material);
        if replica
            .pending_material
            .is_some_and(|pending| replica.is_permanent_material(pending))
        {
            replica.pending_material = None;
        }
        replica.rotations = primary.rotations.clone();
        let complete = (1..=replica.current_material).all(|version| held.contains(&version));
        if !complete && !replica.is_pending_deletion() {
            replica.state = KeyState::PendingImport;
        }
        Ok(*replica != before)
    })?;
    Ok(())
}

/// Read-modify-write of one copy, retried when another writer got there first. `change`
/// says whether it changed anything. `None` when the copy does not exist.
fn update_copy<F>(inner: &Inner, id: &Uuid, change: F) -> Result<Option<KeyRecord>, KmsError>
where
    F: Fn(&mut KeyRecord) -> Result<bool, KmsError>,
{
    let written = write_key(inner, id, |record| {
        let write = if change(record)? {
            KeyWrite::Update(None)
        } else {
            KeyWrite::Unchanged
        };
        Ok(((), write))
    })?;
    Ok(written.map(|(_, record)| record))
}

/// Writes `info` to every copy it names.
fn propagate(inner: &Inner, info: &MultiRegionInfo) -> Result<(), KmsError> {
    for region in info.regions() {
        update_copy(inner, &mrk_copy_id(&info.public_id, region), |record| {
            if record.multi_region.as_ref() == Some(info) {
                return Ok(false);
            }
            record.multi_region = Some(info.clone());
            Ok(true)
        })?;
    }
    Ok(())
}

/// Copies to the replica `replica_id` the material versions of `primary` it lacks, and
/// the primary's current version and rotation history. Idempotent.
fn sync_replica(inner: &Inner, primary: &KeyRecord, replica_id: &Uuid) -> Result<(), KmsError> {
    let mut rows = inner.store.materials(&primary.id)?;
    rows.sort_by_key(|row| row.version);
    let primary_arn = primary.arn();
    let target = primary.current_material;
    'attempt: for _ in 0..RETRIES {
        let Some(mut replica) = inner.store.get_key(replica_id)? else {
            return Ok(());
        };
        let have: BTreeSet<u32> = inner
            .store
            .materials(replica_id)?
            .into_iter()
            .map(|row| row.version)
            .collect();
        replica.rotations = primary.rotations.clone();
        for row in rows.iter().filter(|row| !have.contains(&row.version)) {
            let material = inner
                .root
                .unwrap_material(&material_aad(&primary_arn, row.version), &row.wrapped)?;
            // A version is made current only once it is stored, so a reader never finds
            // a current version without its material.
            if row.version <= target {
                replica.current_material = replica.current_material.max(row.version);
            }
            let wrapped = wrap_material(inner, &replica, row.version, &material, row.created)?;
            match inner.store.update_key(&replica, Some(&wrapped)) {
                Ok(revision) => {
                    inner.keys.invalidate(replica_id);
                    replica.revision = revision;
                }
                Err(StoreError::Conflict) => continue 'attempt,
                Err(other) => return Err(other.into()),
            }
        }
        let stored = inner.store.get_key(replica_id)?;
        let in_step = stored
            .as_ref()
            .is_some_and(|s| s.current_material == target && s.rotations == primary.rotations);
        if in_step || stored.is_none() {
            return Ok(());
        }
        let has_target = have.contains(&target) || rows.iter().any(|r| r.version == target);
        if !has_target {
            return Ok(());
        }
        replica.current_material = target;
        match inner.store.update_key(&replica, None) {
            Ok(_) => {
                inner.keys.invalidate(replica_id);
                return Ok(());
            }
            Err(StoreError::Conflict) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(too_many_writers(replica_id))
}

/// After a rotation of a primary key: writes the new version to every replica. Imported
/// material is never copied between copies: each imported its own before the primary
/// rotated, and the replicas only follow the primary's current version.
pub(crate) fn sync_replicas(inner: &Inner, primary: &KeyRecord) -> Result<(), KmsError> {
    let Some(mr) = &primary.multi_region else {
        return Ok(());
    };
    if primary.is_replica() {
        return Ok(());
    }
    for region in &mr.replica_regions {
        let id = mrk_copy_id(&mr.public_id, region);
        if primary.is_external() {
            follow_external(inner, primary, &id)?;
        } else {
            sync_replica(inner, primary, &id)?;
        }
    }
    Ok(())
}

/// After a replica was deleted: every other copy stops listing it. A primary key waiting
/// in `PendingReplicaDeletion` whose last replica this was enters `PendingDeletion` in the
/// same write, its window starting now.
pub(crate) fn forget_copy(inner: &Inner, deleted: &KeyRecord) -> Result<(), KmsError> {
    let Some(mr) = &deleted.multi_region else {
        return Ok(());
    };
    // The primary's configuration is the one that counts: it is updated first by every
    // change of the set of copies.
    let primary_id = mrk_copy_id(&mr.public_id, &mr.primary_region);
    let written = write_key(inner, &primary_id, |record| {
        let Some(info) = record.multi_region.as_mut() else {
            return Ok((false, KeyWrite::Unchanged));
        };
        let before = info.replica_regions.len();
        info.replica_regions.retain(|r| r != &deleted.region);
        let forgotten = info.replica_regions.len() != before;
        // Checked even when the region was gone already: whatever last removed a replica,
        // a primary with none left does not stay in PendingReplicaDeletion.
        let started = record.replicas_deleted(inner.clock.now());
        let write = if forgotten || started {
            KeyWrite::Update(None)
        } else {
            KeyWrite::Unchanged
        };
        Ok((started, write))
    })?;
    let Some((started, primary)) = written else {
        return Ok(());
    };
    if started {
        tracing::info!(
            key = %primary.arn(),
            "last replica deleted: the multi-Region primary key's deletion window begins"
        );
    }
    match &primary.multi_region {
        Some(info) => propagate(inner, info),
        None => Ok(()),
    }
}

pub(super) async fn update_primary_region(
    state: &AppState,
    caller: &Caller,
    r: UpdatePrimaryRegionRequest,
) -> Result<(), KmsError> {
    let access = Access::new("kms:UpdatePrimaryRegion").key("kms:PrimaryRegion", &r.primary_region);
    let primary = state
        .resolve(caller, &r.key_id, Naming::KeyOnly, access.clone())
        .await?;
    let record = &primary.record;
    let mr = record
        .multi_region
        .clone()
        .ok_or_else(|| not_multi_region(record, "UpdatePrimaryRegion"))?;
    if record.is_replica() {
        return Err(not_primary(record, &mr, "UpdatePrimaryRegion"));
    }
    let region = Region::parse(&r.primary_region)
        .ok_or_else(|| KmsError::Validation(format!("Invalid region {}", r.primary_region)))?;
    if region == caller.region {
        // Already the primary: nothing to change.
        return Ok(());
    }
    if !mr.replica_regions.iter().any(|r| r == region.as_str()) {
        return Err(KmsError::NotFound(format!(
            "Key '{}' does not exist",
            record.arn_in(region.as_str())
        )));
    }
    // AWS requires kms:UpdatePrimaryRegion on the new primary as well.
    let there = caller_in(caller, &region);
    let new_primary = state
        .load_key(mrk_copy_id(&mr.public_id, region.as_str()))
        .await?
        .ok_or_else(|| {
            KmsError::NotFound(format!(
                "Key '{}' does not exist",
                record.arn_in(region.as_str())
            ))
        })?;
    state.authorize_key(&there, &new_primary, &access).await?;
    new_primary.record.check_not_pending_deletion()?;
    record.check_not_pending_deletion()?;
    let new_region = region.to_string();
    // The old primary first: its configuration is the one every later change starts from.
    let ((auto_rotation, info), _) = state
        .update_key(
            caller,
            &r.key_id,
            Naming::KeyOnly,
            Access::new("kms:UpdatePrimaryRegion"),
            move |key, _, _| {
                let old_region = key.region.clone();
                let Some(info) = key.multi_region.as_mut() else {
                    return Err(KmsError::Internal("not a multi-Region key".into()));
                };
                if info.primary_region != old_region || !info.replica_regions.contains(&new_region)
                {
                    return Err(KmsError::InvalidState(format!(
                        "The multi-Region configuration of {} changed meanwhile; try again.",
                        key.arn()
                    )));
                }
                info.replica_regions.retain(|r| r != &new_region);
                info.replica_regions.push(old_region);
                info.primary_region = new_region.clone();
                let info = info.clone();
                // The rotation schedule belongs to the primary key.
                Ok(((key.auto_rotation.take(), info), None))
            },
        )
        .await?;
    let new_id = new_primary.record.id;
    state
        .blocking(move |inner| {
            update_copy(inner, &new_id, |record| {
                record.multi_region = Some(info.clone());
                if auto_rotation.is_some() {
                    record.auto_rotation = auto_rotation.clone();
                }
                Ok(true)
            })?;
            propagate(inner, &info)
        })
        .await
}

/// The rotation schedule of a key's set of copies: the primary's.
pub(super) async fn rotation_schedule(
    state: &AppState,
    record: &KeyRecord,
) -> Result<Option<keyward_core::key::AutoRotation>, KmsError> {
    match &record.multi_region {
        Some(mr) if record.is_replica() => Ok(state
            .load_key(mrk_copy_id(&mr.public_id, &mr.primary_region))
            .await?
            .and_then(|primary| primary.record.auto_rotation.clone())),
        _ => Ok(record.auto_rotation.clone()),
    }
}
