//! A KMS key and its state machine: which states allow which operations, and how
//! deletion and rotation change a key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::validation_error;
use crate::{AccountId, KmsError, Region, UnixMillis};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
    /// A key of origin `EXTERNAL` without key material: imported material makes it usable.
    PendingImport,
    /// A multi-Region primary key scheduled for deletion while it still has replicas: it
    /// waits, unusable, until the last replica is deleted, and then its deletion window
    /// (`pending_window_days`) begins in [`KeyState::PendingDeletion`].
    PendingReplicaDeletion,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
            KeyState::PendingImport => "PendingImport",
            KeyState::PendingReplicaDeletion => "PendingReplicaDeletion",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyManager {
    Customer,
    Aws,
}

impl KeyManager {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyManager::Customer => "CUSTOMER",
            KeyManager::Aws => "AWS",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RotationType {
    Automatic,
    OnDemand,
}

impl RotationType {
    pub fn as_str(self) -> &'static str {
        match self {
            RotationType::Automatic => "AUTOMATIC",
            RotationType::OnDemand => "ON_DEMAND",
        }
    }
}

/// One completed rotation: the material version it created and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    pub material_version: u32,
    pub date: UnixMillis,
    pub kind: RotationType,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoRotation {
    pub period_days: u32,
    pub next_rotation: UnixMillis,
}

pub const DEFAULT_ROTATION_PERIOD_DAYS: u32 = 365;
pub const MIN_ROTATION_PERIOD_DAYS: u32 = 90;
pub const MAX_ROTATION_PERIOD_DAYS: u32 = 2560;
pub const DEFAULT_PENDING_WINDOW_DAYS: u32 = 30;
pub const MIN_PENDING_WINDOW_DAYS: u32 = 7;
pub const MAX_PENDING_WINDOW_DAYS: u32 = 30;
/// AWS allows at most this many on-demand rotations of one key.
pub const MAX_ON_DEMAND_ROTATIONS: usize = 25;

/// What makes a key one copy of a multi-Region key. Every copy carries the same
/// configuration: which region holds the primary and which hold replicas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiRegionInfo {
    /// The id every copy shares (`mrk-<this in simple hex>`); each copy is stored under an
    /// id derived from it and its region ([`crate::ids::mrk_copy_id`]).
    pub public_id: Uuid,
    pub primary_region: String,
    pub replica_regions: Vec<String>,
}

impl MultiRegionInfo {
    /// Every region that holds a copy, the primary's first.
    pub fn regions(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.primary_region.as_str())
            .chain(self.replica_regions.iter().map(String::as_str))
    }
}

/// Everything about a key but its material, which is stored wrapped beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub id: Uuid,
    pub account: String,
    pub region: String,
    pub description: String,
    pub created: UnixMillis,
    pub state: KeyState,
    pub deletion_date: Option<UnixMillis>,
    pub pending_window_days: Option<u32>,
    pub key_usage: String,
    pub key_spec: String,
    pub origin: String,
    pub manager: KeyManager,
    pub policy: String,
    /// The unique ids of the users and roles the policy names, as they were when it was
    /// stored (ARN → `AIDA…`/`AROA…`): a principal deleted and recreated under the same
    /// name is not the one the policy meant.
    #[serde(default)]
    pub policy_principals: std::collections::BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub auto_rotation: Option<AutoRotation>,
    pub rotations: Vec<Rotation>,
    /// The material version new ciphertexts use; older versions stay for decryption.
    pub current_material: u32,
    /// Origin `EXTERNAL`, as records stored before expiry was kept per material version
    /// have it: when the material current then expires. Nothing sets it any more: read
    /// expiry through [`KeyRecord::valid_to_of`]; the next write moves it into
    /// `material_valid_to` ([`KeyRecord::adopt_legacy_valid_to`]).
    #[serde(default)]
    pub valid_to: Option<UnixMillis>,
    /// Origin `EXTERNAL`: when each version of the imported material expires (its
    /// `ValidTo`), by version. A version that does not expire, or is not imported, has none.
    #[serde(default)]
    pub material_valid_to: BTreeMap<u32, UnixMillis>,
    /// Origin `EXTERNAL`: a keyed fingerprint of the first material imported, so a reimport
    /// can be checked against it after the material itself was deleted.
    #[serde(default)]
    pub material_fingerprint: Option<String>,
    /// Origin `EXTERNAL`: fingerprints of the material versions imported after the first
    /// (`ImportType NEW_KEY_MATERIAL`), by version.
    #[serde(default)]
    pub material_fingerprints: BTreeMap<u32, String>,
    /// Origin `EXTERNAL`: the version of imported material waiting for `RotateKeyOnDemand`
    /// to make it current (AWS's `PENDING_ROTATION`).
    #[serde(default)]
    pub pending_material: Option<u32>,
    /// Set on every copy of a multi-Region key.
    #[serde(default)]
    pub multi_region: Option<MultiRegionInfo>,
    /// Bumped by the store on every write; a stale write is refused.
    #[serde(skip)]
    pub revision: u64,
}

impl KeyRecord {
    pub fn arn(&self) -> String {
        self.arn_in(&self.region)
    }

    /// The ARN of this key's copy in `region` (its own ARN for a single-Region key).
    pub fn arn_in(&self, region: &str) -> String {
        format!(
            "arn:aws:kms:{region}:{}:key/{}",
            self.account,
            self.key_id_string()
        )
    }

    /// The `KeyId` AWS answers: `mrk-…` for a multi-Region key, else the store id.
    pub fn key_id_string(&self) -> String {
        match &self.multi_region {
            Some(mr) => crate::ids::mrk_key_id(&mr.public_id),
            None => self.id.to_string(),
        }
    }

    /// The id shared by every copy of the key (the store id of a single-Region key): what
    /// a ciphertext names, so that it decrypts with any copy.
    pub fn public_uuid(&self) -> Uuid {
        self.multi_region
            .as_ref()
            .map_or(self.id, |mr| mr.public_id)
    }

    /// A copy of a multi-Region key that is not the primary.
    pub fn is_replica(&self) -> bool {
        self.multi_region
            .as_ref()
            .is_some_and(|mr| mr.primary_region != self.region)
    }

    /// Rotation is a property of the primary key: a replica gets its material from it.
    fn check_not_replica(&self, operation: &str) -> Result<(), KmsError> {
        if self.is_replica() {
            return Err(KmsError::UnsupportedOperation(format!(
                "{} is a multi-Region replica key; {operation} is supported only on its primary key.",
                self.arn()
            )));
        }
        Ok(())
    }

    pub fn is_in(&self, region: &Region, account: &AccountId) -> bool {
        self.region == region.as_str() && self.account == account.as_str()
    }

    /// The instant a background job must act on this key: end of the deletion window, the
    /// next automatic rotation, or the earliest expiry of a version of imported material.
    pub fn next_due(&self) -> Option<UnixMillis> {
        let rotation = match self.state {
            KeyState::PendingDeletion => return self.deletion_date,
            KeyState::Enabled => self.auto_rotation.as_ref().map(|r| r.next_rotation),
            // No deletion date until the last replica is deleted (`replicas_deleted`).
            KeyState::Disabled | KeyState::PendingImport | KeyState::PendingReplicaDeletion => None,
        };
        [rotation, self.next_expiry()].into_iter().flatten().min()
    }

    pub fn is_external(&self) -> bool {
        self.origin == "EXTERNAL"
    }

    /// Origin `EXTERNAL`: when material `version` expires, if it does.
    pub fn valid_to_of(&self, version: u32) -> Option<UnixMillis> {
        self.material_valid_to
            .get(&version)
            .copied()
            .or_else(|| self.valid_to.filter(|_| version == self.current_material))
    }

    /// Origin `EXTERNAL`: sets when material `version` expires (`None`: it does not).
    pub fn set_valid_to(&mut self, version: u32, when: Option<UnixMillis>) {
        self.adopt_legacy_valid_to();
        match when {
            Some(when) => self.material_valid_to.insert(version, when),
            None => self.material_valid_to.remove(&version),
        };
    }

    /// Moves the single `valid_to` of a record stored before expiry was kept per version
    /// onto the version it meant, the current one. Call before changing the current
    /// version.
    pub fn adopt_legacy_valid_to(&mut self) {
        if let Some(when) = self.valid_to.take() {
            self.material_valid_to
                .entry(self.current_material)
                .or_insert(when);
        }
    }

    /// The earliest expiry of any version of imported material.
    pub fn next_expiry(&self) -> Option<UnixMillis> {
        self.material_valid_to
            .values()
            .copied()
            .chain(self.valid_to)
            .min()
    }

    /// The versions of imported material whose `ValidTo` is at or before `now`.
    pub fn expired_materials(&self, now: UnixMillis) -> Vec<u32> {
        let mut versions: Vec<u32> = self
            .material_valid_to
            .iter()
            .filter(|(_, when)| **when <= now)
            .map(|(version, _)| *version)
            .collect();
        if self.valid_to.is_some_and(|when| when <= now)
            && !self.material_valid_to.contains_key(&self.current_material)
        {
            versions.push(self.current_material);
            versions.sort_unstable();
        }
        versions
    }

    /// Whether material `version` is permanently associated with the key: the current
    /// version and every earlier one (AWS's `CURRENT` and `NON_CURRENT`), not material
    /// pending rotation. A key is usable only with all of them.
    pub fn is_permanent_material(&self, version: u32) -> bool {
        (1..=self.current_material).contains(&version)
    }

    /// Origin `EXTERNAL`: the material versions associated with the key, ascending: the
    /// first import and each `NEW_KEY_MATERIAL` import (including one pending rotation).
    pub fn material_versions(&self) -> impl Iterator<Item = u32> + '_ {
        self.material_fingerprint
            .iter()
            .map(|_| 1)
            .chain(self.material_fingerprints.keys().copied())
    }

    /// DescribeKey's `ValidTo`: the earliest time any material permanently associated with
    /// the key expires.
    pub fn permanent_valid_to(&self) -> Option<UnixMillis> {
        self.material_valid_to
            .range(..=self.current_material)
            .map(|(_, when)| *when)
            .chain(self.valid_to)
            .min()
    }

    /// Cryptographic operations need an enabled key.
    pub fn check_usable(&self) -> Result<(), KmsError> {
        match self.state {
            KeyState::Enabled => Ok(()),
            KeyState::Disabled => Err(KmsError::Disabled(format!("{} is disabled.", self.arn()))),
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion => {
                Err(self.pending_deletion_error())
            }
            KeyState::PendingImport => Err(KmsError::InvalidState(format!(
                "{} is pending import.",
                self.arn()
            ))),
        }
    }

    /// Scheduled for deletion: waiting for the end of its window, or for its replicas to
    /// be deleted first.
    pub fn is_pending_deletion(&self) -> bool {
        matches!(
            self.state,
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
        )
    }

    /// Management operations work on any key not pending deletion (nor pending the
    /// deletion of its replicas).
    pub fn check_not_pending_deletion(&self) -> Result<(), KmsError> {
        if self.is_pending_deletion() {
            return Err(self.pending_deletion_error());
        }
        Ok(())
    }

    fn check_not_pending_import(&self) -> Result<(), KmsError> {
        match self.state {
            KeyState::PendingImport => Err(KmsError::InvalidState(format!(
                "{} is pending import.",
                self.arn()
            ))),
            _ => Ok(()),
        }
    }

    fn pending_deletion_error(&self) -> KmsError {
        match self.state {
            KeyState::PendingReplicaDeletion => {
                KmsError::InvalidState(format!("{} is pending replica deletion.", self.arn()))
            }
            _ => KmsError::InvalidState(format!("{} is pending deletion.", self.arn())),
        }
    }

    fn check_customer_managed(&self, operation: &str) -> Result<(), KmsError> {
        match self.manager {
            KeyManager::Customer => Ok(()),
            KeyManager::Aws => Err(KmsError::UnsupportedOperation(format!(
                "{} is an AWS managed key; {operation} is not supported on it.",
                self.arn()
            ))),
        }
    }

    /// Only symmetric encryption keys rotate: asymmetric and HMAC keys keep their material
    /// for life, as in AWS.
    fn check_rotatable(&self, operation: &str) -> Result<(), KmsError> {
        self.check_not_replica(operation)?;
        // A symmetric key with imported material rotates on demand, into material imported
        // beforehand with ImportType NEW_KEY_MATERIAL; it never rotates automatically. A
        // multi-Region one rotates on its primary (a replica was refused above), once each
        // replica has imported the same material: the server checks that.
        if self.is_external()
            && operation == "RotateKeyOnDemand"
            && self.key_spec == "SYMMETRIC_DEFAULT"
        {
            return match self.pending_material {
                Some(_) => Ok(()),
                None => Err(KmsError::InvalidState(format!(
                    "{} has no imported key material pending rotation: import new key material with ImportType NEW_KEY_MATERIAL first.",
                    self.arn()
                ))),
            };
        }
        if self.is_external() {
            return Err(KmsError::UnsupportedOperation(format!(
                "{} has imported key material: {operation} is not supported for it.",
                self.arn()
            )));
        }
        if self.key_spec == "SYMMETRIC_DEFAULT" {
            return Ok(());
        }
        Err(KmsError::UnsupportedOperation(format!(
            "{} has key spec {}: {operation} is supported only for symmetric encryption KMS keys.",
            self.arn(),
            self.key_spec
        )))
    }

    pub fn enable(&mut self) -> Result<(), KmsError> {
        self.check_not_pending_deletion()?;
        self.check_not_pending_import()?;
        self.state = KeyState::Enabled;
        Ok(())
    }

    pub fn disable(&mut self) -> Result<(), KmsError> {
        self.check_customer_managed("DisableKey")?;
        self.check_not_pending_deletion()?;
        self.check_not_pending_import()?;
        self.state = KeyState::Disabled;
        Ok(())
    }

    /// Schedules the deletion of the key: `Some(deletion date)`, or `None` for a
    /// multi-Region primary key that still has replicas. That one goes to
    /// `PendingReplicaDeletion`, as in AWS, and keeps the window for when the last replica
    /// is deleted ([`KeyRecord::replicas_deleted`]).
    pub fn schedule_deletion(
        &mut self,
        now: UnixMillis,
        window_days: Option<u32>,
    ) -> Result<Option<UnixMillis>, KmsError> {
        self.check_customer_managed("ScheduleKeyDeletion")?;
        let days = window_days.unwrap_or(DEFAULT_PENDING_WINDOW_DAYS);
        if days < MIN_PENDING_WINDOW_DAYS {
            return Err(validation_error(
                &days.to_string(),
                "pendingWindowInDays",
                "Member must have value greater than or equal to 7",
            ));
        }
        if days > MAX_PENDING_WINDOW_DAYS {
            return Err(validation_error(
                &days.to_string(),
                "pendingWindowInDays",
                "Member must have value less than or equal to 30",
            ));
        }
        self.check_not_pending_deletion()?;
        self.pending_window_days = Some(days);
        if self.has_replicas() {
            self.state = KeyState::PendingReplicaDeletion;
            self.deletion_date = None;
            return Ok(None);
        }
        let when = now.plus_days(days);
        self.state = KeyState::PendingDeletion;
        self.deletion_date = Some(when);
        Ok(Some(when))
    }

    /// A multi-Region primary key that lists replica keys.
    fn has_replicas(&self) -> bool {
        !self.is_replica()
            && self
                .multi_region
                .as_ref()
                .is_some_and(|mr| !mr.replica_regions.is_empty())
    }

    /// After a replica was deleted: a primary key in `PendingReplicaDeletion` that has no
    /// replica left enters `PendingDeletion`, its window starting now. Says whether it did.
    pub fn replicas_deleted(&mut self, now: UnixMillis) -> bool {
        if self.state != KeyState::PendingReplicaDeletion || self.has_replicas() {
            return false;
        }
        let days = self
            .pending_window_days
            .unwrap_or(DEFAULT_PENDING_WINDOW_DAYS);
        self.state = KeyState::PendingDeletion;
        self.deletion_date = Some(now.plus_days(days));
        self.pending_window_days = Some(days);
        true
    }

    /// A key whose deletion is cancelled comes back disabled, as in AWS (or pending import,
    /// when its imported material was deleted meanwhile), whether it was waiting for its
    /// window to end or for its replicas to be deleted.
    pub fn cancel_deletion(&mut self, has_material: bool) -> Result<(), KmsError> {
        if !self.is_pending_deletion() {
            return Err(KmsError::InvalidState(format!(
                "{} is not pending deletion.",
                self.arn()
            )));
        }
        self.state = if has_material {
            KeyState::Disabled
        } else {
            KeyState::PendingImport
        };
        self.deletion_date = None;
        self.pending_window_days = None;
        Ok(())
    }

    pub fn enable_rotation(
        &mut self,
        now: UnixMillis,
        period_days: Option<u32>,
    ) -> Result<(), KmsError> {
        let days = period_days.unwrap_or(DEFAULT_ROTATION_PERIOD_DAYS);
        check_rotation_period(days)?;
        self.check_customer_managed("EnableKeyRotation")?;
        self.check_rotatable("EnableKeyRotation")?;
        self.check_usable()?;
        self.auto_rotation = Some(AutoRotation {
            period_days: days,
            next_rotation: now.plus_days(days),
        });
        Ok(())
    }

    pub fn disable_rotation(&mut self) -> Result<(), KmsError> {
        self.check_customer_managed("DisableKeyRotation")?;
        self.check_rotatable("DisableKeyRotation")?;
        self.check_usable()?;
        self.auto_rotation = None;
        Ok(())
    }

    /// Makes a new material version current and records the rotation. The caller stores
    /// the new material in the same transaction.
    pub fn rotate(&mut self, now: UnixMillis, kind: RotationType) -> Result<u32, KmsError> {
        if kind == RotationType::OnDemand {
            self.check_customer_managed("RotateKeyOnDemand")?;
            self.check_rotatable("RotateKeyOnDemand")?;
            self.check_usable()?;
            let done = self
                .rotations
                .iter()
                .filter(|r| r.kind == RotationType::OnDemand)
                .count();
            if done >= MAX_ON_DEMAND_ROTATIONS {
                return Err(KmsError::LimitExceeded(format!(
                    "The on-demand rotations limit has been reached for the given key: {}",
                    self.arn()
                )));
            }
        }
        let version = self
            .current_material
            .checked_add(1)
            .ok_or_else(|| KmsError::Internal("material version overflow".into()))?;
        self.current_material = version;
        // check_rotatable let an imported key through only with material pending, which
        // is always the next version.
        self.pending_material = None;
        self.rotations.push(Rotation {
            material_version: version,
            date: now,
            kind,
        });
        if let Some(auto) = self.auto_rotation.as_mut() {
            if kind == RotationType::Automatic {
                auto.next_rotation = now.plus_days(auto.period_days);
            }
        }
        Ok(version)
    }
}

pub fn check_rotation_period(days: u32) -> Result<(), KmsError> {
    if days < MIN_ROTATION_PERIOD_DAYS {
        return Err(validation_error(
            &days.to_string(),
            "rotationPeriodInDays",
            "Member must have value greater than or equal to 90",
        ));
    }
    if days > MAX_ROTATION_PERIOD_DAYS {
        return Err(validation_error(
            &days.to_string(),
            "rotationPeriodInDays",
            "Member must have value less than or equal to 2560",
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key() -> KeyRecord {
        KeyRecord {
            id: Uuid::new_v4(),
            account: "000000000000".into(),
            region: "us-east-1".into(),
            description: String::new(),
            created: UnixMillis(0),
            state: KeyState::Enabled,
            deletion_date: None,
            pending_window_days: None,
            key_usage: "ENCRYPT_DECRYPT".into(),
            key_spec: "SYMMETRIC_DEFAULT".into(),
            origin: "AWS_KMS".into(),
            manager: KeyManager::Customer,
            policy: String::new(),
            policy_principals: Default::default(),
            tags: BTreeMap::new(),
            auto_rotation: None,
            rotations: Vec::new(),
            current_material: 1,
            valid_to: None,
            material_valid_to: BTreeMap::new(),
            material_fingerprint: None,
            material_fingerprints: BTreeMap::new(),
            pending_material: None,
            multi_region: None,
            revision: 0,
        }
    }

    #[test]
    fn deletion_window_bounds_and_cancel_leaves_disabled() {
        let mut k = key();
        assert!(matches!(
            k.schedule_deletion(UnixMillis(0), Some(6)),
            Err(KmsError::Validation(_))
        ));
        assert!(matches!(
            k.schedule_deletion(UnixMillis(0), Some(31)),
            Err(KmsError::Validation(_))
        ));
        let when = k.schedule_deletion(UnixMillis(0), None).unwrap();
        assert_eq!(when, Some(UnixMillis(0).plus_days(30)));
        assert!(matches!(k.check_usable(), Err(KmsError::InvalidState(_))));
        assert!(matches!(
            k.schedule_deletion(UnixMillis(0), Some(7)),
            Err(KmsError::InvalidState(_))
        ));
        assert!(matches!(k.enable(), Err(KmsError::InvalidState(_))));
        k.cancel_deletion(true).unwrap();
        assert_eq!(k.state, KeyState::Disabled);
        assert!(matches!(
            k.cancel_deletion(true),
            Err(KmsError::InvalidState(_))
        ));
        assert!(matches!(k.check_usable(), Err(KmsError::Disabled(_))));
    }

    fn multi_region_primary(replicas: &[&str]) -> KeyRecord {
        let mut k = key();
        k.multi_region = Some(MultiRegionInfo {
            public_id: Uuid::new_v4(),
            primary_region: k.region.clone(),
            replica_regions: replicas.iter().map(|r| (*r).to_owned()).collect(),
        });
        k
    }

    #[test]
    fn primary_with_replicas_waits_for_their_deletion() {
        let mut k = multi_region_primary(&["eu-west-1"]);
        let now = UnixMillis(0);
        assert_eq!(k.schedule_deletion(now, Some(7)).unwrap(), None);
        assert_eq!(k.state, KeyState::PendingReplicaDeletion);
        assert_eq!(k.state.as_str(), "PendingReplicaDeletion");
        assert_eq!(k.deletion_date, None);
        assert_eq!(k.pending_window_days, Some(7));
        // The jobs have nothing to do with it: it waits indefinitely.
        assert_eq!(k.next_due(), None);
        assert!(matches!(k.check_usable(), Err(KmsError::InvalidState(_))));
        assert!(matches!(k.enable(), Err(KmsError::InvalidState(_))));
        assert!(matches!(k.disable(), Err(KmsError::InvalidState(_))));
        assert!(matches!(
            k.enable_rotation(now, None),
            Err(KmsError::InvalidState(_))
        ));
        assert!(matches!(
            k.schedule_deletion(now, Some(7)),
            Err(KmsError::InvalidState(_))
        ));
        // A replica deleted while another remains changes nothing.
        assert!(!k.replicas_deleted(now));
        k.cancel_deletion(true).unwrap();
        assert_eq!(k.state, KeyState::Disabled);
        assert_eq!(k.pending_window_days, None);

        k.schedule_deletion(now, Some(10)).unwrap();
        assert_eq!(k.state, KeyState::PendingReplicaDeletion);
        if let Some(mr) = k.multi_region.as_mut() {
            mr.replica_regions.clear();
        }
        let later = now.plus_days(3);
        assert!(k.replicas_deleted(later));
        assert_eq!(k.state, KeyState::PendingDeletion);
        assert_eq!(k.deletion_date, Some(later.plus_days(10)));
        assert_eq!(k.pending_window_days, Some(10));
        assert_eq!(k.next_due(), Some(later.plus_days(10)));
        // Once is enough.
        assert!(!k.replicas_deleted(later.plus_days(1)));
        assert_eq!(k.deletion_date, Some(later.plus_days(10)));

        // Cancelled without material, it waits for an import.
        let mut k = multi_region_primary(&["eu-west-1"]);
        k.schedule_deletion(now, None).unwrap();
        k.cancel_deletion(false).unwrap();
        assert_eq!(k.state, KeyState::PendingImport);
    }

    #[test]
    fn primary_without_replicas_and_replicas_are_deleted_after_their_window() {
        let mut primary = multi_region_primary(&[]);
        assert_eq!(
            primary.schedule_deletion(UnixMillis(0), Some(7)).unwrap(),
            Some(UnixMillis(0).plus_days(7))
        );
        assert_eq!(primary.state, KeyState::PendingDeletion);
        let mut replica = multi_region_primary(&[]);
        replica.region = "eu-west-1".into();
        if let Some(mr) = replica.multi_region.as_mut() {
            mr.primary_region = "us-east-1".into();
            mr.replica_regions = vec!["eu-west-1".into()];
        }
        assert_eq!(
            replica.schedule_deletion(UnixMillis(0), Some(7)).unwrap(),
            Some(UnixMillis(0).plus_days(7))
        );
        assert_eq!(replica.state, KeyState::PendingDeletion);
    }

    #[test]
    fn imported_material_expires_per_version() {
        let mut k = key();
        k.origin = "EXTERNAL".into();
        k.material_fingerprint = Some("one".into());
        k.material_fingerprints.insert(2, "two".into());
        k.material_fingerprints.insert(3, "three".into());
        k.current_material = 2;
        k.pending_material = Some(3);
        assert_eq!(k.material_versions().collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(k.is_permanent_material(1) && k.is_permanent_material(2));
        assert!(!k.is_permanent_material(3) && !k.is_permanent_material(0));
        k.set_valid_to(1, Some(UnixMillis(3_000)));
        k.set_valid_to(2, Some(UnixMillis(5_000)));
        k.set_valid_to(3, Some(UnixMillis(1_000)));
        assert_eq!(k.valid_to_of(2), Some(UnixMillis(5_000)));
        // Pending material is not the key's yet: DescribeKey shows the permanent ones'.
        assert_eq!(k.permanent_valid_to(), Some(UnixMillis(3_000)));
        assert_eq!(k.next_due(), Some(UnixMillis(1_000)));
        assert_eq!(k.expired_materials(UnixMillis(3_000)), vec![1, 3]);
        k.set_valid_to(3, None);
        k.set_valid_to(1, None);
        assert_eq!(k.next_due(), Some(UnixMillis(5_000)));
        // Material still expires while the key waits for another version's import.
        k.state = KeyState::PendingImport;
        assert_eq!(k.next_due(), Some(UnixMillis(5_000)));
        k.state = KeyState::PendingDeletion;
        k.deletion_date = Some(UnixMillis(9_000));
        assert_eq!(k.next_due(), Some(UnixMillis(9_000)));
    }

    #[test]
    fn a_record_with_one_valid_to_means_the_current_material() {
        let mut k = key();
        k.origin = "EXTERNAL".into();
        k.current_material = 2;
        let mut doc = serde_json::to_value(&k).unwrap();
        let fields = doc.as_object_mut().unwrap();
        fields.remove("material_valid_to");
        fields.insert("valid_to".into(), serde_json::json!(7_000));
        let mut old: KeyRecord = serde_json::from_value(doc).unwrap();
        assert_eq!(old.valid_to_of(2), Some(UnixMillis(7_000)));
        assert_eq!(old.valid_to_of(1), None);
        assert_eq!(old.permanent_valid_to(), Some(UnixMillis(7_000)));
        assert_eq!(old.next_due(), Some(UnixMillis(7_000)));
        assert_eq!(old.expired_materials(UnixMillis(7_000)), vec![2]);
        // Adopted before a rotation, the expiry stays with the version it meant.
        old.adopt_legacy_valid_to();
        old.current_material = 3;
        assert_eq!(old.valid_to, None);
        assert_eq!(old.valid_to_of(2), Some(UnixMillis(7_000)));
        assert_eq!(old.valid_to_of(3), None);
        // Setting another version's expiry adopts it too.
        let mut old: KeyRecord = serde_json::from_str(&serde_json::to_string(&k).unwrap()).unwrap();
        old.valid_to = Some(UnixMillis(7_000));
        old.set_valid_to(1, Some(UnixMillis(4_000)));
        assert_eq!(old.valid_to, None);
        assert_eq!(old.valid_to_of(2), Some(UnixMillis(7_000)));
        assert_eq!(old.valid_to_of(1), Some(UnixMillis(4_000)));
    }

    #[test]
    fn a_multi_region_key_with_imported_material_rotates_on_its_primary() {
        let mut primary = multi_region_primary(&["eu-west-1"]);
        primary.origin = "EXTERNAL".into();
        primary.material_fingerprint = Some("one".into());
        let now = UnixMillis(0);
        assert!(matches!(
            primary.rotate(now, RotationType::OnDemand),
            Err(KmsError::InvalidState(_))
        ));
        primary.material_fingerprints.insert(2, "two".into());
        primary.pending_material = Some(2);
        let mut replica = primary.clone();
        replica.region = "eu-west-1".into();
        assert!(matches!(
            replica.rotate(now, RotationType::OnDemand),
            Err(KmsError::UnsupportedOperation(_))
        ));
        assert_eq!(primary.rotate(now, RotationType::OnDemand).unwrap(), 2);
        assert_eq!(primary.current_material, 2);
        assert_eq!(primary.pending_material, None);
        // Never automatically.
        assert!(matches!(
            primary.enable_rotation(now, None),
            Err(KmsError::UnsupportedOperation(_))
        ));
    }

    #[test]
    fn rotation_rules() {
        let mut k = key();
        assert!(matches!(
            k.enable_rotation(UnixMillis(0), Some(89)),
            Err(KmsError::Validation(_))
        ));
        assert!(matches!(
            k.enable_rotation(UnixMillis(0), Some(2561)),
            Err(KmsError::Validation(_))
        ));
        k.enable_rotation(UnixMillis(0), Some(90)).unwrap();
        assert_eq!(k.next_due(), Some(UnixMillis(0).plus_days(90)));
        let now = UnixMillis(0).plus_days(90);
        assert_eq!(k.rotate(now, RotationType::Automatic).unwrap(), 2);
        assert_eq!(k.next_due(), Some(now.plus_days(90)));
        for _ in 0..MAX_ON_DEMAND_ROTATIONS {
            k.rotate(now, RotationType::OnDemand).unwrap();
        }
        assert!(matches!(
            k.rotate(now, RotationType::OnDemand),
            Err(KmsError::LimitExceeded(_))
        ));
        k.disable().unwrap();
        assert!(matches!(
            k.enable_rotation(now, None),
            Err(KmsError::Disabled(_))
        ));
    }
}
