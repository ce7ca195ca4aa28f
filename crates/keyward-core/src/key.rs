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
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
            KeyState::PendingImport => "PendingImport",
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
    /// Origin `EXTERNAL`: when the imported material expires (`None`: it does not).
    #[serde(default)]
    pub valid_to: Option<UnixMillis>,
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

    /// The instant a background job must act on this key: end of the deletion window or
    /// the next automatic rotation.
    pub fn next_due(&self) -> Option<UnixMillis> {
        let rotation = match self.state {
            KeyState::PendingDeletion => return self.deletion_date,
            KeyState::PendingImport => return None,
            KeyState::Enabled => self.auto_rotation.as_ref().map(|r| r.next_rotation),
            KeyState::Disabled => None,
        };
        match (rotation, self.valid_to) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn is_external(&self) -> bool {
        self.origin == "EXTERNAL"
    }

    /// Cryptographic operations need an enabled key.
    pub fn check_usable(&self) -> Result<(), KmsError> {
        match self.state {
            KeyState::Enabled => Ok(()),
            KeyState::Disabled => Err(KmsError::Disabled(format!("{} is disabled.", self.arn()))),
            KeyState::PendingDeletion => Err(self.pending_deletion_error()),
            KeyState::PendingImport => Err(KmsError::InvalidState(format!(
                "{} is pending import.",
                self.arn()
            ))),
        }
    }

    /// Management operations work on any key not pending deletion.
    pub fn check_not_pending_deletion(&self) -> Result<(), KmsError> {
        match self.state {
            KeyState::PendingDeletion => Err(self.pending_deletion_error()),
            _ => Ok(()),
        }
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
        KmsError::InvalidState(format!("{} is pending deletion.", self.arn()))
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
        // beforehand with ImportType NEW_KEY_MATERIAL; it never rotates automatically.
        if self.is_external()
            && operation == "RotateKeyOnDemand"
            && self.key_spec == "SYMMETRIC_DEFAULT"
            && self.multi_region.is_none()
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

    pub fn schedule_deletion(
        &mut self,
        now: UnixMillis,
        window_days: Option<u32>,
    ) -> Result<UnixMillis, KmsError> {
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
        // AWS puts such a key in PendingReplicaDeletion until its replicas are gone;
        // Keyward asks for the replicas to be deleted first.
        if let Some(mr) = &self.multi_region {
            if !self.is_replica() && !mr.replica_regions.is_empty() {
                return Err(KmsError::InvalidState(format!(
                    "{} is a multi-Region primary key with replicas in {}: schedule the deletion of its replica keys first.",
                    self.arn(),
                    mr.replica_regions.join(", ")
                )));
            }
        }
        let when = now.plus_days(days);
        self.state = KeyState::PendingDeletion;
        self.deletion_date = Some(when);
        self.pending_window_days = Some(days);
        Ok(when)
    }

    /// A key whose deletion is cancelled comes back disabled, as in AWS (or pending import,
    /// when its imported material was deleted meanwhile).
    pub fn cancel_deletion(&mut self, has_material: bool) -> Result<(), KmsError> {
        if self.state != KeyState::PendingDeletion {
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
        assert_eq!(when, UnixMillis(0).plus_days(30));
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
