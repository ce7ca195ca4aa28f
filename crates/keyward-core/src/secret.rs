//! Secrets Manager's domain: a secret, its versions, and the staging labels that move
//! between them. Values are stored apart from this record, envelope-encrypted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::UnixMillis;

pub const AWSCURRENT: &str = "AWSCURRENT";
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";
pub const AWSPENDING: &str = "AWSPENDING";
/// Secrets Manager keeps at most this many versions; the oldest versions without a
/// staging label are pruned beyond it.
pub const MAX_VERSIONS: usize = 100;
/// Staging labels one version may carry.
pub const MAX_STAGES_PER_VERSION: usize = 20;
pub const DEFAULT_RECOVERY_WINDOW_DAYS: u32 = 30;
pub const MIN_RECOVERY_WINDOW_DAYS: u32 = 7;
pub const MAX_RECOVERY_WINDOW_DAYS: u32 = 30;

/// Errors of Secrets Manager's domain, one variant per AWS exception.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    #[error("{0}")]
    ResourceNotFound(String),
    /// A policy refused the request: AWS's `AccessDeniedException`.
    #[error("{0}")]
    AccessDenied(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    ResourceExists(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    EncryptionFailure(String),
    #[error("{0}")]
    DecryptionFailure(String),
    #[error("{0}")]
    MalformedPolicyDocument(String),
    #[error("{0}")]
    PreconditionNotMet(String),
    #[error("{0}")]
    PublicPolicy(String),
    #[error("{0}")]
    InvalidNextToken(String),
    #[error("{0}")]
    Validation(String),
    /// Storage or cryptographic failure inside the server: a 500 with no detail.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<crate::StoreError> for SecretsError {
    fn from(err: crate::StoreError) -> Self {
        match err {
            crate::StoreError::AlreadyExists(what) => SecretsError::ResourceExists(what),
            crate::StoreError::NotFound(what) => SecretsError::ResourceNotFound(what),
            other => SecretsError::Internal(other.to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    pub id: String,
    pub created: UnixMillis,
    /// Staging labels, in the order they were attached.
    pub stages: Vec<String>,
    pub last_accessed: Option<UnixMillis>,
    /// The KMS key ARN the value of this version is encrypted under.
    pub kms_key_arn: String,
    /// Keys it was encrypted under before the secret's key changed; it still reads with
    /// them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_kms_keys: Vec<String>,
    /// A version without a value: the `AWSPENDING` version a rotation starts with, until
    /// the rotation function puts its value.
    #[serde(default, skip_serializing_if = "is_false")]
    pub empty: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRecord {
    pub id: Uuid,
    pub account: String,
    pub region: String,
    pub name: String,
    /// `arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 random characters>`.
    pub arn: String,
    pub description: Option<String>,
    /// The key as the caller named it; `None` means the account's `aws/secretsmanager` key.
    pub kms_key_id: Option<String>,
    pub created: UnixMillis,
    pub last_changed: UnixMillis,
    pub last_accessed: Option<UnixMillis>,
    /// When the secret was scheduled for deletion, and when the deletion happens.
    pub deleted: Option<UnixMillis>,
    pub deletion_date: Option<UnixMillis>,
    pub tags: Vec<(String, String)>,
    pub resource_policy: Option<String>,
    /// The unique ids of the users and roles the resource policy names (ARN → id).
    #[serde(default)]
    pub policy_principals: std::collections::BTreeMap<String, String>,
    pub versions: Vec<VersionInfo>,
    #[serde(default)]
    pub replicas: Vec<Replica>,
    /// Set on a replica: the region of its primary secret.
    #[serde(default)]
    pub primary_region: Option<String>,
    /// Rotation, once `RotateSecret` configured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<crate::rotation::RotationConfig>,
    #[serde(skip)]
    pub revision: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replica {
    pub region: String,
    pub kms_key_id: Option<String>,
    pub status: String,
    pub status_message: Option<String>,
    pub last_accessed: Option<UnixMillis>,
}

/// What changing versions did: which versions lost their values (pruned).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StageChange {
    pub pruned: Vec<String>,
}

impl SecretRecord {
    pub fn arn_for(region: &str, account: &str, name: &str, suffix: &str) -> String {
        format!("arn:aws:secretsmanager:{region}:{account}:secret:{name}-{suffix}")
    }

    pub fn version(&self, id: &str) -> Option<&VersionInfo> {
        self.versions.iter().find(|v| v.id == id)
    }

    pub fn version_with_stage(&self, stage: &str) -> Option<&VersionInfo> {
        self.versions
            .iter()
            .find(|v| v.stages.iter().any(|s| s == stage))
    }

    pub fn is_scheduled_for_deletion(&self) -> bool {
        self.deleted.is_some()
    }

    /// The error every read or change of a secret scheduled for deletion gets.
    pub fn check_not_deleted(&self) -> Result<(), SecretsError> {
        if self.is_scheduled_for_deletion() {
            return Err(SecretsError::InvalidRequest(
                "You can't perform this operation on the secret because it was marked for deletion.".into(),
            ));
        }
        Ok(())
    }

    /// Versions and their labels as `DescribeSecret` shows them (labelled versions only).
    pub fn versions_to_stages(&self) -> BTreeMap<String, Vec<String>> {
        self.versions
            .iter()
            .filter(|v| !v.stages.is_empty())
            .map(|v| (v.id.clone(), v.stages.clone()))
            .collect()
    }

    fn detach(&mut self, stage: &str) -> Option<String> {
        let mut holder = None;
        for version in &mut self.versions {
            if let Some(index) = version.stages.iter().position(|s| s == stage) {
                version.stages.remove(index);
                holder = Some(version.id.clone());
            }
        }
        holder
    }

    fn attach(&mut self, version_id: &str, stage: &str) -> Result<(), SecretsError> {
        let version = self
            .versions
            .iter_mut()
            .find(|v| v.id == version_id)
            .ok_or_else(|| {
                SecretsError::ResourceNotFound(format!(
                    "Secrets Manager can't find the specified secret version {version_id}."
                ))
            })?;
        if !version.stages.iter().any(|s| s == stage) {
            if version.stages.len() >= MAX_STAGES_PER_VERSION {
                return Err(SecretsError::LimitExceeded(format!(
                    "A version can have at most {MAX_STAGES_PER_VERSION} staging labels."
                )));
            }
            version.stages.push(stage.to_owned());
        }
        Ok(())
    }

    /// Moves `stage` onto `version_id`. Moving `AWSCURRENT` hands `AWSPREVIOUS` to the
    /// version that had it, as Secrets Manager does.
    fn move_stage(&mut self, stage: &str, version_id: &str) -> Result<(), SecretsError> {
        let previous = self.version_with_stage(stage).map(|v| v.id.clone());
        if previous.as_deref() == Some(version_id) {
            return Ok(());
        }
        self.detach(stage);
        self.attach(version_id, stage)?;
        if stage == AWSCURRENT {
            if let Some(old) = previous {
                self.detach(AWSPREVIOUS);
                self.attach(&old, AWSPREVIOUS)?;
            }
        }
        Ok(())
    }

    /// When the background jobs must next look at this secret: its deletion, or the next
    /// rotation of a secret with rotation on.
    pub fn due_at(&self) -> Option<UnixMillis> {
        if self.deletion_date.is_some() {
            return self.deletion_date;
        }
        self.rotation
            .as_ref()
            .filter(|r| r.enabled)
            .and_then(|r| r.next)
    }

    /// The version of a rotation in progress: the one labelled `AWSPENDING` but not
    /// `AWSCURRENT`.
    pub fn pending_rotation(&self) -> Option<&VersionInfo> {
        self.version_with_stage(AWSPENDING)
            .filter(|v| !v.stages.iter().any(|s| s == AWSCURRENT))
    }

    /// Starts a rotation: an empty version `id` labelled `AWSPENDING`.
    pub fn add_pending(
        &mut self,
        id: &str,
        created: UnixMillis,
        kms_key_arn: String,
    ) -> Result<StageChange, SecretsError> {
        let version = VersionInfo {
            id: id.to_owned(),
            created,
            stages: Vec::new(),
            last_accessed: None,
            kms_key_arn,
            earlier_kms_keys: Vec::new(),
            empty: true,
        };
        if self.version(id).is_some() {
            return Err(SecretsError::ResourceExists(format!(
                "A resource with the ID you requested already exists: version {id}"
            )));
        }
        // Not through add_version: an empty version never becomes a first AWSCURRENT.
        self.versions.push(version);
        self.move_stage(AWSPENDING, id)?;
        Ok(self.prune())
    }

    /// Gives the empty version `id` its value (sealed under `kms_key_arn`) and `stages`.
    pub fn fill_version(
        &mut self,
        id: &str,
        kms_key_arn: String,
        stages: &[String],
    ) -> Result<StageChange, SecretsError> {
        let version = self
            .versions
            .iter_mut()
            .find(|v| v.id == id && v.empty)
            .ok_or_else(|| {
                SecretsError::ResourceExists(
                    "You can't modify an existing version, you can only create new versions."
                        .into(),
                )
            })?;
        version.empty = false;
        version.kms_key_arn = kms_key_arn;
        for stage in stages {
            self.move_stage(stage, id)?;
        }
        Ok(self.prune())
    }

    /// Adds a new version carrying `stages` (default `AWSCURRENT`), then prunes the oldest
    /// unlabelled versions beyond [`MAX_VERSIONS`].
    pub fn add_version(
        &mut self,
        version: VersionInfo,
        stages: &[String],
    ) -> Result<StageChange, SecretsError> {
        if self.version(&version.id).is_some() {
            return Err(SecretsError::ResourceExists(format!(
                "A resource with the ID you requested already exists: version {}",
                version.id
            )));
        }
        let id = version.id.clone();
        let is_first = self.versions.is_empty();
        self.versions.push(VersionInfo {
            stages: Vec::new(),
            ..version
        });
        for stage in stages {
            self.move_stage(stage, &id)?;
        }
        // The first version of a secret is always current.
        if is_first && self.version_with_stage(AWSCURRENT).is_none() {
            self.attach(&id, AWSCURRENT)?;
        }
        Ok(self.prune())
    }

    fn prune(&mut self) -> StageChange {
        let mut change = StageChange::default();
        while self.versions.len() > MAX_VERSIONS {
            let Some(index) = self.versions.iter().position(|v| v.stages.is_empty()) else {
                break;
            };
            change.pruned.push(self.versions.remove(index).id);
        }
        change
    }

    /// `UpdateSecretVersionStage`, with Secrets Manager's rules.
    pub fn update_version_stage(
        &mut self,
        stage: &str,
        move_to: Option<&str>,
        remove_from: Option<&str>,
    ) -> Result<StageChange, SecretsError> {
        let holder = self.version_with_stage(stage).map(|v| v.id.clone());
        if let Some(from) = remove_from {
            if self.version(from).is_none() {
                return Err(SecretsError::ResourceNotFound(format!(
                    "Secrets Manager can't find the specified secret version {from}."
                )));
            }
            if holder.as_deref() != Some(from) {
                return Err(SecretsError::InvalidParameter(format!(
                    "The parameter RemoveFromVersionId can't be {from} because the staging label {stage} isn't attached to that version."
                )));
            }
        }
        match move_to {
            Some(to) => {
                let Some(target) = self.version(to) else {
                    return Err(SecretsError::ResourceNotFound(format!(
                        "Secrets Manager can't find the specified secret version {to}."
                    )));
                };
                // The current value must be readable: never an empty rotation version.
                if target.empty && stage == AWSCURRENT {
                    return Err(SecretsError::InvalidRequest(format!(
                        "You can't move the staging label AWSCURRENT to version {to} because that version has no secret value yet."
                    )));
                }
                if let Some(current) = &holder {
                    if current != to && remove_from != Some(current.as_str()) {
                        return Err(SecretsError::InvalidParameter(format!(
                            "The parameter RemoveFromVersionId can't be empty. Staging label {stage} is currently attached to version {current}, so you must explicitly reference that version in RemoveFromVersionId."
                        )));
                    }
                }
                self.move_stage(stage, to)?;
            }
            None => {
                if remove_from.is_none() {
                    return Err(SecretsError::InvalidParameter(
                        "You must specify MoveToVersionId, RemoveFromVersionId, or both.".into(),
                    ));
                }
                if stage == AWSCURRENT {
                    return Err(SecretsError::InvalidParameter(
                        "You can only move staging label AWSCURRENT to a different secret version. It can't be completely removed.".into(),
                    ));
                }
                self.detach(stage);
            }
        }
        Ok(self.prune())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secret() -> SecretRecord {
        SecretRecord {
            id: Uuid::new_v4(),
            account: "000000000000".into(),
            region: "us-east-1".into(),
            name: "student".into(),
            arn: SecretRecord::arn_for("us-east-1", "000000000000", "student", "AbCdEf"),
            description: None,
            kms_key_id: None,
            created: UnixMillis(0),
            last_changed: UnixMillis(0),
            last_accessed: None,
            deleted: None,
            deletion_date: None,
            tags: Vec::new(),
            resource_policy: None,
            policy_principals: Default::default(),
            versions: Vec::new(),
            replicas: Vec::new(),
            primary_region: None,
            rotation: None,
            revision: 0,
        }
    }

    fn version(id: &str) -> VersionInfo {
        VersionInfo {
            id: id.into(),
            created: UnixMillis(0),
            stages: Vec::new(),
            last_accessed: None,
            kms_key_arn: String::new(),
            earlier_kms_keys: Vec::new(),
            empty: false,
        }
    }

    fn current() -> Vec<String> {
        vec![AWSCURRENT.to_owned()]
    }

    #[test]
    fn new_values_move_current_and_previous() {
        let mut s = secret();
        s.add_version(version("v1"), &current()).unwrap();
        s.add_version(version("v2"), &current()).unwrap();
        s.add_version(version("v3"), &current()).unwrap();
        assert_eq!(s.version("v3").unwrap().stages, current());
        assert_eq!(
            s.version("v2").unwrap().stages,
            vec![AWSPREVIOUS.to_owned()]
        );
        assert!(s.version("v1").unwrap().stages.is_empty());
        assert_eq!(s.versions_to_stages().len(), 2);
        assert!(matches!(
            s.add_version(version("v3"), &current()),
            Err(SecretsError::ResourceExists(_))
        ));
    }

    #[test]
    fn pending_versions_do_not_take_current() {
        let mut s = secret();
        s.add_version(version("v1"), &current()).unwrap();
        s.add_version(version("v2"), &[AWSPENDING.to_owned()])
            .unwrap();
        assert_eq!(s.version_with_stage(AWSCURRENT).unwrap().id, "v1");
        assert!(matches!(
            s.update_version_stage(AWSCURRENT, Some("v2"), None),
            Err(SecretsError::InvalidParameter(_))
        ));
        s.update_version_stage(AWSCURRENT, Some("v2"), Some("v1"))
            .unwrap();
        assert_eq!(s.version_with_stage(AWSCURRENT).unwrap().id, "v2");
        assert_eq!(s.version_with_stage(AWSPREVIOUS).unwrap().id, "v1");
        assert!(matches!(
            s.update_version_stage(AWSCURRENT, None, Some("v2")),
            Err(SecretsError::InvalidParameter(_))
        ));
        s.update_version_stage(AWSPENDING, None, Some("v2"))
            .unwrap();
        assert!(s.version_with_stage(AWSPENDING).is_none());
    }

    #[test]
    fn a_rotation_version_is_empty_until_filled() {
        let mut s = secret();
        s.add_version(version("v1"), &current()).unwrap();
        s.add_pending("t1", UnixMillis(5), String::new()).unwrap();
        assert_eq!(s.pending_rotation().map(|v| v.id.as_str()), Some("t1"));
        assert!(s.version("t1").unwrap().empty);
        // AWSCURRENT never lands on a version without a value.
        assert!(matches!(
            s.update_version_stage(AWSCURRENT, Some("t1"), Some("v1")),
            Err(SecretsError::InvalidRequest(_))
        ));
        s.fill_version("t1", "key".into(), &[AWSPENDING.to_owned()])
            .unwrap();
        assert!(!s.version("t1").unwrap().empty);
        // A filled version is not filled again.
        assert!(matches!(
            s.fill_version("t1", "key".into(), &[]),
            Err(SecretsError::ResourceExists(_))
        ));
        s.update_version_stage(AWSCURRENT, Some("t1"), Some("v1"))
            .unwrap();
        assert!(s.pending_rotation().is_none());
        // A secret with no value yet: the empty version does not become current.
        let mut bare = secret();
        bare.add_pending("t2", UnixMillis(5), String::new())
            .unwrap();
        assert!(bare.version_with_stage(AWSCURRENT).is_none());
    }

    #[test]
    fn due_is_deletion_or_an_enabled_rotation() {
        let mut s = secret();
        assert_eq!(s.due_at(), None);
        s.rotation = Some(crate::rotation::RotationConfig {
            enabled: true,
            next: Some(UnixMillis(100)),
            ..Default::default()
        });
        assert_eq!(s.due_at(), Some(UnixMillis(100)));
        s.deletion_date = Some(UnixMillis(50));
        assert_eq!(s.due_at(), Some(UnixMillis(50)));
        s.deletion_date = None;
        if let Some(r) = &mut s.rotation {
            r.enabled = false;
        }
        assert_eq!(s.due_at(), None);
    }

    #[test]
    fn unlabelled_versions_are_pruned_beyond_the_limit() {
        let mut s = secret();
        let mut pruned = Vec::new();
        for i in 0..MAX_VERSIONS + 5 {
            pruned.extend(
                s.add_version(version(&format!("v{i}")), &current())
                    .unwrap()
                    .pruned,
            );
        }
        assert_eq!(s.versions.len(), MAX_VERSIONS);
        assert_eq!(pruned, (0..5).map(|i| format!("v{i}")).collect::<Vec<_>>());
    }

    #[derive(Debug, Clone)]
    enum Step {
        Put(Vec<usize>),
        Move {
            stage: usize,
            to: usize,
            from_holder: bool,
        },
        Remove {
            stage: usize,
        },
    }

    const STAGES: [&str; 4] = [AWSCURRENT, AWSPREVIOUS, AWSPENDING, "CUSTOM"];

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            proptest::collection::vec(0..STAGES.len(), 0..3).prop_map(Step::Put),
            (0..STAGES.len(), 0..8usize, any::<bool>()).prop_map(|(stage, to, from_holder)| {
                Step::Move {
                    stage,
                    to,
                    from_holder,
                }
            }),
            (0..STAGES.len()).prop_map(|stage| Step::Remove { stage }),
        ]
    }

    proptest! {
        #[test]
        fn exactly_one_current_and_at_most_one_of_each_stage(steps in proptest::collection::vec(step(), 1..40)) {
            let mut s = secret();
            s.add_version(version("v0"), &current()).unwrap();
            let mut next = 1;
            for step in steps {
                match step {
                    Step::Put(stages) => {
                        let stages: Vec<String> = stages.into_iter().map(|i| STAGES[i].to_owned()).collect();
                        let _ = s.add_version(version(&format!("v{next}")), &stages);
                        next += 1;
                    }
                    Step::Move { stage, to, from_holder } => {
                        let stage = STAGES[stage];
                        let to = format!("v{}", to % next);
                        let holder = s.version_with_stage(stage).map(|v| v.id.clone());
                        let from = if from_holder { holder.as_deref() } else { None };
                        let _ = s.update_version_stage(stage, Some(&to), from);
                    }
                    Step::Remove { stage } => {
                        let stage = STAGES[stage];
                        let holder = s.version_with_stage(stage).map(|v| v.id.clone());
                        let _ = s.update_version_stage(stage, None, holder.as_deref());
                    }
                }
                let currents = s.versions.iter().filter(|v| v.stages.iter().any(|x| x == AWSCURRENT)).count();
                prop_assert_eq!(currents, 1);
                for stage in STAGES {
                    let holders = s.versions.iter().filter(|v| v.stages.iter().any(|x| x == stage)).count();
                    prop_assert!(holders <= 1, "{} on {} versions", stage, holders);
                }
                for v in &s.versions {
                    let mut unique = v.stages.clone();
                    unique.sort();
                    unique.dedup();
                    prop_assert_eq!(unique.len(), v.stages.len());
                }
            }
        }
    }
}
