//! Authorization of Secrets Manager requests: the caller's identity policies and the
//! secret's resource policy, either of which may allow (same account), an explicit deny in
//! either refusing.

use keyward_core::policy::{ConditionKeys, ResourceMode};
use keyward_core::secret::{SecretRecord, SecretsError};

use crate::auth::Caller;
use crate::state::AppState;

/// What a request asks of a secret: the action and the request's condition keys.
#[derive(Debug, Clone)]
pub(crate) struct SecretAccess {
    pub action: &'static str,
    pub keys: ConditionKeys,
}

impl SecretAccess {
    pub fn new(action: &'static str) -> Self {
        Self {
            action,
            keys: ConditionKeys::new(),
        }
    }

    pub fn key(mut self, name: &str, value: &str) -> Self {
        self.keys.insert(name, value);
        self
    }

    /// `secretsmanager:VersionId` and `secretsmanager:VersionStage` of a read.
    pub fn version(mut self, id: Option<&str>, stage: Option<&str>) -> Self {
        if let Some(id) = id {
            self = self.key("secretsmanager:VersionId", id);
        }
        if let Some(stage) = stage {
            self = self.key("secretsmanager:VersionStage", stage);
        }
        self
    }

    /// `aws:RequestTag/<key>` and `aws:TagKeys`.
    pub fn tags<'a>(mut self, tags: impl Iterator<Item = (&'a str, &'a str)>) -> Self {
        self.keys.insert_request_tags(tags);
        self
    }
}

impl AppState {
    /// Decides whether `caller` may do `access` with the secret `record`.
    pub(crate) async fn authorize_secret(
        &self,
        caller: &Caller,
        record: &SecretRecord,
        access: SecretAccess,
    ) -> Result<(), SecretsError> {
        let mut keys = access.keys;
        keys.insert("secretsmanager:Name", &record.name);
        keys.insert("secretsmanager:SecretId", &record.arn);
        if let Some(key) = &record.kms_key_id {
            keys.insert("secretsmanager:KmsKeyId", key);
        }
        for (tag, value) in &record.tags {
            keys.insert(&format!("secretsmanager:ResourceTag/{tag}"), value);
            keys.insert(&format!("aws:ResourceTag/{tag}"), value);
        }
        let effective = match &record.resource_policy {
            Some(text) => Some(
                self.effective_policy(&record.account, text, &record.policy_principals)
                    .await
                    .map_err(|e| SecretsError::Internal(e.to_string()))?,
            ),
            None => None,
        };
        let policy = match &effective {
            Some(text) => match self.resource_policy(text) {
                Ok(policy) => Some(policy),
                Err(err) => {
                    tracing::warn!(secret = %record.arn, error = %err, "stored resource policy does not parse; ignoring it");
                    None
                }
            },
            None => None,
        };
        self.authorize(
            caller,
            access.action,
            &record.arn,
            policy.as_deref(),
            ResourceMode::Optional,
            keys,
        )
        .await
        .map_err(SecretsError::from)
    }

    /// Identity-policy-only authorization, for requests on no existing secret
    /// (`CreateSecret`, `ListSecrets`, …).
    pub(crate) async fn authorize_secrets(
        &self,
        caller: &Caller,
        access: SecretAccess,
        resource: &str,
    ) -> Result<(), SecretsError> {
        self.authorize(
            caller,
            access.action,
            resource,
            None,
            ResourceMode::Optional,
            access.keys,
        )
        .await
        .map_err(SecretsError::from)
    }
}
