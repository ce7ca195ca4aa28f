//! Sealing and opening secret values: a fresh data key from KMS per version, the value
//! encrypted under it with AES-256-GCM, bound to the secret's ARN and the version id.

use std::collections::BTreeMap;

use keyward_core::secret::{SecretRecord, SecretsError};
use keyward_core::store::SecretValueRow;
use keyward_core::KmsError;
use keyward_crypto::SealingKey;
use zeroize::Zeroizing;

use crate::auth::Caller;
use crate::kms::internal;
use crate::state::AppState;

/// How Secrets Manager appears in the KMS events it causes.
const SECRETS_MANAGER: &str = "secretsmanager.amazonaws.com";

/// A secret's value: text or bytes, never printed.
pub(crate) enum SecretValue {
    Text(Zeroizing<String>),
    Binary(Zeroizing<Vec<u8>>),
}

impl SecretValue {
    fn bytes(&self) -> &[u8] {
        match self {
            SecretValue::Text(text) => text.as_bytes(),
            SecretValue::Binary(bytes) => bytes,
        }
    }

    fn is_binary(&self) -> bool {
        matches!(self, SecretValue::Binary(_))
    }

    /// Constant-time comparison, for the idempotent-retry check.
    pub fn same_as(&self, other: &SecretValue) -> bool {
        use subtle::ConstantTimeEq;
        self.is_binary() == other.is_binary() && bool::from(self.bytes().ct_eq(other.bytes()))
    }
}

/// The encryption context Secrets Manager puts on a version's data key.
fn context(secret_arn: &str, version_id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("SecretARN".to_owned(), secret_arn.to_owned()),
        ("SecretVersionId".to_owned(), version_id.to_owned()),
    ])
}

fn aad(secret_arn: &str, version_id: &str) -> Vec<u8> {
    format!("{secret_arn}#{version_id}").into_bytes()
}

/// AWS quotes the KMS error inside Secrets Manager's, e.g. "Secrets Manager can't decrypt
/// the secret value: <key ARN> is disabled. (Service: AWSKMS; Status Code: 400; Error Code:
/// DisabledException; …)".
fn kms_reason(err: &KmsError) -> String {
    let wire = crate::errors::kms_to_wire(err);
    let message = if wire.message.is_empty() {
        wire.code.to_owned()
    } else {
        wire.message
    };
    format!(
        "{message} (Service: AWSKMS; Status Code: 400; Error Code: {}; Request ID: {})",
        wire.code,
        uuid::Uuid::new_v4()
    )
}

pub(crate) fn encryption_failure(err: KmsError) -> SecretsError {
    match err {
        KmsError::Internal(detail) => SecretsError::Internal(detail),
        KmsError::NotFound(_) => SecretsError::ResourceNotFound(
            "Secrets Manager can't find the specified KMS key. Check that the KMS key exists and is in this Region.".into(),
        ),
        other => SecretsError::EncryptionFailure(format!(
            "Secrets Manager can't encrypt the secret value: {}",
            kms_reason(&other)
        )),
    }
}

fn decryption_failure(err: KmsError) -> SecretsError {
    match err {
        KmsError::Internal(detail) => SecretsError::Internal(detail),
        other => SecretsError::DecryptionFailure(format!(
            "Secrets Manager can't decrypt the secret value: {}",
            kms_reason(&other)
        )),
    }
}

/// The KMS key new versions of `record` are encrypted under: its own, or the account's
/// `aws/secretsmanager` key in the record's region.
pub(crate) async fn key_for(
    state: &AppState,
    caller: &Caller,
    kms_key_id: Option<&str>,
) -> Result<String, SecretsError> {
    match kms_key_id {
        Some(key) => Ok(key.to_owned()),
        None => internal::managed_key_arn(state, caller, "secretsmanager")
            .await
            .map_err(encryption_failure),
    }
}

/// Encrypts one version's value; returns the stored row and the ARN of the key used.
pub(crate) async fn seal(
    state: &AppState,
    caller: &Caller,
    record: &SecretRecord,
    kms_key_id: Option<&str>,
    version_id: &str,
    value: &SecretValue,
) -> Result<(SecretValueRow, String), SecretsError> {
    let key = key_for(state, caller, kms_key_id).await?;
    let (data_key, encrypted_data_key, key_arn) = internal::generate_data_key(
        state,
        caller,
        SECRETS_MANAGER,
        &key,
        32,
        &context(&record.arn, version_id),
    )
    .await
    .map_err(encryption_failure)?;
    let sealing =
        SealingKey::from_bytes(&data_key).map_err(|e| SecretsError::Internal(e.to_string()))?;
    let ciphertext = sealing
        .seal(&aad(&record.arn, version_id), value.bytes())
        .map_err(|e| SecretsError::Internal(e.to_string()))?;
    let row = SecretValueRow {
        secret_id: record.id,
        version_id: version_id.to_owned(),
        encrypted_data_key,
        ciphertext,
        binary: value.is_binary(),
    };
    Ok((row, key_arn))
}

/// Decrypts a stored value. A key that is disabled or pending deletion makes this fail
/// with `DecryptionFailure` and changes nothing: enabling the key brings the value back.
pub(crate) async fn open(
    state: &AppState,
    caller: &Caller,
    record: &SecretRecord,
    row: &SecretValueRow,
) -> Result<SecretValue, SecretsError> {
    let data_key = internal::decrypt(
        state,
        caller,
        SECRETS_MANAGER,
        &row.encrypted_data_key,
        &context(&record.arn, &row.version_id),
    )
    .await
    .map_err(decryption_failure)?;
    let sealing =
        SealingKey::from_bytes(&data_key).map_err(|e| SecretsError::Internal(e.to_string()))?;
    let bytes = sealing
        .open(&aad(&record.arn, &row.version_id), &row.ciphertext)
        .map_err(|_| {
            SecretsError::Internal(format!("stored value of {} is damaged", record.arn))
        })?;
    if row.binary {
        return Ok(SecretValue::Binary(bytes));
    }
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| SecretsError::Internal("stored secret string is not UTF-8".into()))?;
    Ok(SecretValue::Text(Zeroizing::new(text)))
}
