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

/// A stored data key is one KMS blob, or — after the secret's key changed — several, each
/// the same data key under another KMS key: `0xFE ‖ count ‖ (length u16 ‖ blob)…`, newest
/// first. KMS blobs begin with version 1, so the two forms never collide.
const BLOB_LIST: u8 = 0xFE;

fn data_key_blobs(stored: &[u8]) -> Vec<&[u8]> {
    let Some((&BLOB_LIST, rest)) = stored.split_first() else {
        return vec![stored];
    };
    let Some((&count, mut rest)) = rest.split_first() else {
        return Vec::new();
    };
    let mut blobs = Vec::new();
    for _ in 0..count {
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            break;
        };
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            break;
        }
        let (blob, tail) = tail.split_at(len);
        blobs.push(blob);
        rest = tail;
    }
    blobs
}

fn encode_blobs(blobs: &[&[u8]]) -> Result<Vec<u8>, SecretsError> {
    let count = u8::try_from(blobs.len())
        .map_err(|_| SecretsError::Internal("too many data key blobs".into()))?;
    let mut out = vec![BLOB_LIST, count];
    for blob in blobs {
        let len = u16::try_from(blob.len())
            .map_err(|_| SecretsError::Internal("data key blob too long".into()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(blob);
    }
    Ok(out)
}

/// The version's data key, from the first of its blobs KMS will open.
async fn open_data_key(
    state: &AppState,
    caller: &Caller,
    record: &SecretRecord,
    row: &SecretValueRow,
) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
    let context = context(&record.arn, &row.version_id);
    let mut first_error = None;
    for blob in data_key_blobs(&row.encrypted_data_key) {
        match internal::decrypt(state, caller, SECRETS_MANAGER, blob, &context).await {
            Ok(key) => return Ok(key),
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    Err(decryption_failure(
        first_error.unwrap_or(KmsError::InvalidCiphertext),
    ))
}

/// Adds an encryption of the version's data key under `key_id` (the secret's new key) in
/// front of the ones it has, so the value reads with the new key or any older one. Returns
/// the new row and the key as `KmsKeyIds` shows it.
pub(crate) async fn add_key(
    state: &AppState,
    caller: &Caller,
    record: &SecretRecord,
    row: &SecretValueRow,
    kms_key_id: Option<&str>,
) -> Result<(SecretValueRow, String), SecretsError> {
    let data_key = open_data_key(state, caller, record, row).await?;
    let key = key_for(state, caller, kms_key_id).await?;
    let context = context(&record.arn, &row.version_id);
    let (blob, key_arn) =
        internal::encrypt(state, caller, SECRETS_MANAGER, &key, &data_key, &context)
            .await
            .map_err(encryption_failure)?;
    let mut blobs = vec![blob.as_slice()];
    blobs.extend(data_key_blobs(&row.encrypted_data_key));
    let row = SecretValueRow {
        encrypted_data_key: encode_blobs(&blobs)?,
        ..row.clone()
    };
    let shown = if kms_key_id.is_some() {
        key_arn
    } else {
        "DefaultEncryptionKey".to_owned()
    };
    Ok((row, shown))
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

/// Secrets Manager's answer when the caller may not use the secret's KMS key.
const KMS_NOT_ALLOWED: &str = "Access to KMS is not allowed";

pub(crate) fn encryption_failure(err: KmsError) -> SecretsError {
    match err {
        KmsError::Internal(detail) => SecretsError::Internal(detail),
        KmsError::AccessDenied(_) => SecretsError::AccessDenied(KMS_NOT_ALLOWED.into()),
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
        KmsError::AccessDenied(_) => SecretsError::AccessDenied(KMS_NOT_ALLOWED.into()),
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

/// Encrypts one version's value; returns the stored row and the key as `KmsKeyIds` shows
/// it: the key's ARN, or `DefaultEncryptionKey` for the AWS managed key, as AWS lists it.
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
    let shown = if kms_key_id.is_some() {
        key_arn
    } else {
        "DefaultEncryptionKey".to_owned()
    };
    Ok((row, shown))
}

/// Decrypts a stored value. A key that is disabled or pending deletion makes this fail
/// with `DecryptionFailure` and changes nothing: enabling the key brings the value back.
pub(crate) async fn open(
    state: &AppState,
    caller: &Caller,
    record: &SecretRecord,
    row: &SecretValueRow,
) -> Result<SecretValue, SecretsError> {
    let data_key = open_data_key(state, caller, record, row).await?;
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
