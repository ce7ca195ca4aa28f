//! Encrypt, Decrypt, ReEncrypt, data keys and random bytes: the hot path. Keys come from
//! the in-memory cache; nothing here touches the database once a key is loaded.

use std::collections::BTreeMap;
use std::sync::Arc;

use keyward_core::KmsError;
use keyward_protocol::json::Blob;
use keyward_protocol::kms::*;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::access::Access;
use super::{key_material_id, Naming};
use crate::auth::Caller;
use crate::cache::LoadedKey;
use crate::state::AppState;

const SYMMETRIC_DEFAULT: &str = "SYMMETRIC_DEFAULT";

fn check_algorithm(algorithm: Option<&EncryptionAlgorithmSpec>) -> Result<(), KmsError> {
    match algorithm {
        None => Ok(()),
        Some(a) if a.as_str() == SYMMETRIC_DEFAULT => Ok(()),
        Some(a) => Err(KmsError::InvalidKeyUsage(format!(
            "The encryption algorithm {} is not valid for a symmetric encryption KMS key.",
            a.as_str()
        ))),
    }
}

fn dry_run(flag: Option<bool>) -> Result<(), KmsError> {
    if flag == Some(true) {
        return Err(KmsError::DryRun);
    }
    Ok(())
}

pub(super) fn seal(
    key: &LoadedKey,
    context: &BTreeMap<String, String>,
    plaintext: &[u8],
) -> Result<Vec<u8>, KmsError> {
    key.record.check_usable()?;
    let material = key.current_material()?;
    Ok(keyward_crypto::encrypt(
        material,
        *key.record.id.as_bytes(),
        key.record.current_material,
        context,
        plaintext,
    )?)
}

/// Finds the key a blob names and opens it. With a `KeyId`, the blob must belong to that
/// key (`IncorrectKeyException` otherwise); a blob naming no key here is
/// `InvalidCiphertextException`, indistinguishable from a damaged one.
pub(super) async fn open(
    state: &AppState,
    caller: &Caller,
    blob: &[u8],
    key_id: Option<&str>,
    context: &BTreeMap<String, String>,
    access: Access,
) -> Result<(Arc<LoadedKey>, u32, Zeroizing<Vec<u8>>), KmsError> {
    let header = keyward_crypto::parse_header(blob)?;
    let blob_key = Uuid::from_bytes(header.key_id);
    let access = access
        .context(context)
        .key("kms:EncryptionAlgorithm", SYMMETRIC_DEFAULT);
    let key = match key_id {
        Some(requested) => {
            let key = state
                .resolve(caller, requested, Naming::KeyOrAlias, access)
                .await?;
            if key.record.id != blob_key {
                return Err(KmsError::IncorrectKey);
            }
            key
        }
        None => match state.load_key(blob_key).await? {
            Some(key) if key.record.is_in(&caller.region, &caller.account) => {
                state.authorize_key(caller, &key, &access).await?;
                key
            }
            _ => return Err(KmsError::InvalidCiphertext),
        },
    };
    key.record.check_usable()?;
    let material = key
        .material(header.material_version)
        .ok_or(KmsError::InvalidCiphertext)?;
    let plaintext = keyward_crypto::decrypt(material, blob, context)?;
    Ok((key, header.material_version, plaintext))
}

fn blob_required(blob: Option<Blob>, member: &str) -> Result<Blob, KmsError> {
    blob.ok_or_else(|| {
        KmsError::Validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

pub(super) async fn encrypt(
    state: &AppState,
    caller: &Caller,
    r: EncryptRequest,
) -> Result<EncryptResponse, KmsError> {
    check_algorithm(r.encryption_algorithm.as_ref())?;
    let context = r.encryption_context.unwrap_or_default();
    let access = Access::new("kms:Encrypt")
        .context(&context)
        .key("kms:EncryptionAlgorithm", SYMMETRIC_DEFAULT);
    let key = state
        .resolve(caller, &r.key_id, Naming::KeyOrAlias, access)
        .await?;
    let blob = seal(&key, &context, r.plaintext.as_bytes())?;
    dry_run(r.dry_run)?;
    Ok(EncryptResponse {
        ciphertext_blob: Some(Blob::from(blob)),
        key_id: Some(key.record.arn()),
        encryption_algorithm: Some(EncryptionAlgorithmSpec::SymmetricDefault),
    })
}

pub(super) async fn decrypt(
    state: &AppState,
    caller: &Caller,
    r: DecryptRequest,
) -> Result<DecryptResponse, KmsError> {
    check_algorithm(r.encryption_algorithm.as_ref())?;
    if r.recipient.is_some() {
        return Err(KmsError::UnsupportedOperation(
            "Recipient (Nitro Enclaves attestation) is not supported.".into(),
        ));
    }
    let blob = blob_required(r.ciphertext_blob, "ciphertextBlob")?;
    let context = r.encryption_context.unwrap_or_default();
    let (key, version, plaintext) = open(
        state,
        caller,
        blob.as_bytes(),
        r.key_id.as_deref(),
        &context,
        Access::new("kms:Decrypt"),
    )
    .await?;
    dry_run(r.dry_run)?;
    Ok(DecryptResponse {
        key_id: Some(key.record.arn()),
        plaintext: Some(Blob::from(plaintext)),
        encryption_algorithm: Some(EncryptionAlgorithmSpec::SymmetricDefault),
        key_material_id: Some(key_material_id(&key.record.id, version)),
        ..DecryptResponse::default()
    })
}

pub(super) async fn re_encrypt(
    state: &AppState,
    caller: &Caller,
    r: ReEncryptRequest,
) -> Result<ReEncryptResponse, KmsError> {
    check_algorithm(r.source_encryption_algorithm.as_ref())?;
    check_algorithm(r.destination_encryption_algorithm.as_ref())?;
    let blob = blob_required(r.ciphertext_blob, "ciphertextBlob")?;
    let source_context = r.source_encryption_context.unwrap_or_default();
    let (source, source_version, plaintext) = open(
        state,
        caller,
        blob.as_bytes(),
        r.source_key_id.as_deref(),
        &source_context,
        Access::new("kms:ReEncryptFrom"),
    )
    .await?;
    let destination_context = r.destination_encryption_context.unwrap_or_default();
    let access = Access::new("kms:ReEncryptTo")
        .context(&destination_context)
        .key("kms:EncryptionAlgorithm", SYMMETRIC_DEFAULT);
    let destination = state
        .resolve(caller, &r.destination_key_id, Naming::KeyOrAlias, access)
        .await?;
    let sealed = seal(&destination, &destination_context, &plaintext)?;
    dry_run(r.dry_run)?;
    Ok(ReEncryptResponse {
        ciphertext_blob: Some(Blob::from(sealed)),
        source_key_id: Some(source.record.arn()),
        key_id: Some(destination.record.arn()),
        source_encryption_algorithm: Some(EncryptionAlgorithmSpec::SymmetricDefault),
        destination_encryption_algorithm: Some(EncryptionAlgorithmSpec::SymmetricDefault),
        source_key_material_id: Some(key_material_id(&source.record.id, source_version)),
        destination_key_material_id: Some(key_material_id(
            &destination.record.id,
            destination.record.current_material,
        )),
    })
}

fn data_key_length(
    number_of_bytes: Option<i32>,
    key_spec: Option<&DataKeySpec>,
) -> Result<usize, KmsError> {
    let either =
        || KmsError::Validation("Please specify either number of bytes or key spec.".into());
    match (number_of_bytes, key_spec) {
        (Some(n), None) => usize::try_from(n).map_err(|_| either()),
        (None, Some(spec)) => Ok(if spec.as_str() == "AES_128" { 16 } else { 32 }),
        _ => Err(either()),
    }
}

/// A fresh data key and its ciphertext under `key`.
pub(super) async fn data_key(
    state: &AppState,
    caller: &Caller,
    key_id: &str,
    number_of_bytes: Option<i32>,
    key_spec: Option<&DataKeySpec>,
    context: &BTreeMap<String, String>,
    access: Access,
) -> Result<(Arc<LoadedKey>, Zeroizing<Vec<u8>>, Vec<u8>), KmsError> {
    let length = data_key_length(number_of_bytes, key_spec)?;
    let key = state
        .resolve(caller, key_id, Naming::KeyOrAlias, access.context(context))
        .await?;
    key.record.check_usable()?;
    let plaintext = keyward_crypto::random_bytes(length)?;
    let blob = seal(&key, context, &plaintext)?;
    Ok((key, plaintext, blob))
}

pub(super) async fn generate_data_key(
    state: &AppState,
    caller: &Caller,
    r: GenerateDataKeyRequest,
) -> Result<GenerateDataKeyResponse, KmsError> {
    if r.recipient.is_some() {
        return Err(KmsError::UnsupportedOperation(
            "Recipient (Nitro Enclaves attestation) is not supported.".into(),
        ));
    }
    let context = r.encryption_context.unwrap_or_default();
    let (key, plaintext, blob) = data_key(
        state,
        caller,
        &r.key_id,
        r.number_of_bytes,
        r.key_spec.as_ref(),
        &context,
        Access::new("kms:GenerateDataKey"),
    )
    .await?;
    dry_run(r.dry_run)?;
    Ok(GenerateDataKeyResponse {
        ciphertext_blob: Some(Blob::from(blob)),
        plaintext: Some(Blob::from(plaintext)),
        key_id: Some(key.record.arn()),
        key_material_id: Some(key_material_id(&key.record.id, key.record.current_material)),
        ..GenerateDataKeyResponse::default()
    })
}

pub(super) async fn generate_data_key_without_plaintext(
    state: &AppState,
    caller: &Caller,
    r: GenerateDataKeyWithoutPlaintextRequest,
) -> Result<GenerateDataKeyWithoutPlaintextResponse, KmsError> {
    let context = r.encryption_context.unwrap_or_default();
    let (key, _, blob) = data_key(
        state,
        caller,
        &r.key_id,
        r.number_of_bytes,
        r.key_spec.as_ref(),
        &context,
        Access::new("kms:GenerateDataKeyWithoutPlaintext"),
    )
    .await?;
    dry_run(r.dry_run)?;
    Ok(GenerateDataKeyWithoutPlaintextResponse {
        ciphertext_blob: Some(Blob::from(blob)),
        key_id: Some(key.record.arn()),
        key_material_id: Some(key_material_id(&key.record.id, key.record.current_material)),
    })
}

pub(super) fn generate_random(
    r: GenerateRandomRequest,
) -> Result<GenerateRandomResponse, KmsError> {
    if let Some(store) = r.custom_key_store_id {
        return Err(KmsError::CustomKeyStoreNotFound(format!(
            "Custom key store {store} does not exist"
        )));
    }
    if r.recipient.is_some() {
        return Err(KmsError::UnsupportedOperation(
            "Recipient (Nitro Enclaves attestation) is not supported.".into(),
        ));
    }
    let n = r
        .number_of_bytes
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| KmsError::Validation("Please specify number of bytes.".into()))?;
    let bytes = keyward_crypto::random_bytes(n)?;
    Ok(GenerateRandomResponse {
        plaintext: Some(Blob::from(bytes)),
        ..GenerateRandomResponse::default()
    })
}
