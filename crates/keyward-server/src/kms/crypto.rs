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
use super::asymmetric::{public_decrypt, public_encrypt};
use super::{key_material_id, require_symmetric, Naming};
use crate::auth::Caller;
use crate::cache::LoadedKey;
use crate::state::AppState;

const SYMMETRIC_DEFAULT: &str = "SYMMETRIC_DEFAULT";

/// Nitro Enclaves attestation (`Recipient`) is AWS-hardware specific: refused everywhere.
pub(super) fn no_recipient(recipient: Option<&RecipientInfo>) -> Result<(), KmsError> {
    match recipient {
        Some(_) => Err(KmsError::UnsupportedOperation(
            "Recipient (Nitro Enclaves attestation) is not supported.".into(),
        )),
        None => Ok(()),
    }
}

pub(super) fn dry_run(flag: Option<bool>) -> Result<(), KmsError> {
    if flag == Some(true) {
        return Err(KmsError::DryRun);
    }
    Ok(())
}

pub(super) fn seal(
    key: &LoadedKey,
    context: &BTreeMap<String, String>,
    plaintext: &[u8],
    operation: &str,
) -> Result<Vec<u8>, KmsError> {
    require_symmetric(key, operation)?;
    key.record.check_usable()?;
    let material = key.current_material()?;
    Ok(keyward_crypto::encrypt(
        material,
        // The id every copy of a multi-Region key shares, so any copy can open the blob.
        *key.record.public_uuid().as_bytes(),
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
    operation: &str,
) -> Result<(Arc<LoadedKey>, u32, Zeroizing<Vec<u8>>), KmsError> {
    let access = access
        .context(context)
        .key("kms:EncryptionAlgorithm", SYMMETRIC_DEFAULT);
    let key = match key_id {
        Some(requested) => {
            let key = state
                .resolve(caller, requested, Naming::KeyOrAlias, access)
                .await?;
            require_symmetric(&key, operation)?;
            let header = keyward_crypto::parse_header(blob)?;
            if key.record.public_uuid() != Uuid::from_bytes(header.key_id) {
                return Err(KmsError::IncorrectKey);
            }
            key
        }
        None => {
            let named = Uuid::from_bytes(keyward_crypto::parse_header(blob)?.key_id);
            let key = match key_named_by_blob(state, caller, named).await? {
                Some(key) => key,
                None => return Err(KmsError::InvalidCiphertext),
            };
            state.authorize_key(caller, &key, &access).await?;
            key
        }
    };
    key.record.check_usable()?;
    let header = keyward_crypto::parse_header(blob)?;
    let material = key
        .material(header.material_version)
        .ok_or(KmsError::InvalidCiphertext)?;
    let plaintext = keyward_crypto::decrypt(material, blob, context)?;
    Ok((key, header.material_version, plaintext))
}

/// The key of the caller's account and region a blob's header names: a single-Region key
/// by its id, or the local copy of a multi-Region key by its public id.
async fn key_named_by_blob(
    state: &AppState,
    caller: &Caller,
    named: Uuid,
) -> Result<Option<Arc<LoadedKey>>, KmsError> {
    if let Some(key) = state.load_key(named).await? {
        // The store id of a multi-Region copy is never written into a blob.
        if key.record.multi_region.is_none() && key.record.is_in(&caller.region, &caller.account) {
            return Ok(Some(key));
        }
    }
    let copy = keyward_core::ids::mrk_copy_id(&named, caller.region.as_str());
    Ok(state.load_key(copy).await?.filter(|key| {
        key.record.public_uuid() == named && key.record.is_in(&caller.region, &caller.account)
    }))
}

pub(super) async fn encrypt(
    state: &AppState,
    caller: &Caller,
    r: EncryptRequest,
) -> Result<EncryptResponse, KmsError> {
    let algorithm = algorithm_name(r.encryption_algorithm.as_ref());
    let context = r.encryption_context.unwrap_or_default();
    let access = Access::new("kms:Encrypt")
        .context(&context)
        .key("kms:EncryptionAlgorithm", algorithm);
    let key = state
        .resolve(caller, &r.key_id, Naming::KeyOrAlias, access)
        .await?;
    let blob = seal_with(&key, algorithm, &context, r.plaintext.as_bytes(), "Encrypt").await?;
    dry_run(r.dry_run)?;
    Ok(EncryptResponse {
        ciphertext_blob: Some(Blob::from(blob)),
        key_id: Some(key.record.arn()),
        encryption_algorithm: EncryptionAlgorithmSpec::from_wire(algorithm),
    })
}

fn algorithm_name(algorithm: Option<&EncryptionAlgorithmSpec>) -> &'static str {
    algorithm.map_or(SYMMETRIC_DEFAULT, |a| a.as_str())
}

/// Encrypts under `key` with `algorithm`: Keyward's symmetric format, or RSAES-OAEP.
async fn seal_with(
    key: &Arc<LoadedKey>,
    algorithm: &'static str,
    context: &BTreeMap<String, String>,
    plaintext: &[u8],
    operation: &str,
) -> Result<Vec<u8>, KmsError> {
    if algorithm == SYMMETRIC_DEFAULT {
        seal(key, context, plaintext, operation)
    } else {
        public_encrypt(key, algorithm, context, plaintext, operation).await
    }
}

/// What a decryption found: the key, the material version of a symmetric blob, and the
/// plaintext.
type Opened = (Arc<LoadedKey>, Option<u32>, Zeroizing<Vec<u8>>);

/// Decrypts a blob made by [`seal_with`]. An RSAES-OAEP ciphertext carries no key id, so
/// it needs `KeyId`.
#[allow(clippy::too_many_arguments)]
async fn open_with(
    state: &AppState,
    caller: &Caller,
    blob: &[u8],
    key_id: Option<&str>,
    algorithm: &'static str,
    context: &BTreeMap<String, String>,
    access: Access,
    operation: &str,
) -> Result<Opened, KmsError> {
    if algorithm == SYMMETRIC_DEFAULT {
        let (key, version, plaintext) =
            open(state, caller, blob, key_id, context, access, operation).await?;
        return Ok((key, Some(version), plaintext));
    }
    let key_id = key_id.ok_or(KmsError::InvalidCiphertext)?;
    let access = access
        .context(context)
        .key("kms:EncryptionAlgorithm", algorithm);
    let key = state
        .resolve(caller, key_id, Naming::KeyOrAlias, access)
        .await?;
    let plaintext = public_decrypt(&key, algorithm, context, blob, operation).await?;
    Ok((key, None, plaintext))
}

fn blob_required(blob: Option<Blob>, member: &str) -> Result<Blob, KmsError> {
    blob.ok_or_else(|| {
        KmsError::Validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

pub(super) async fn decrypt(
    state: &AppState,
    caller: &Caller,
    r: DecryptRequest,
) -> Result<DecryptResponse, KmsError> {
    let algorithm = algorithm_name(r.encryption_algorithm.as_ref());
    no_recipient(r.recipient.as_ref())?;
    let blob = blob_required(r.ciphertext_blob, "ciphertextBlob")?;
    let context = r.encryption_context.unwrap_or_default();
    let (key, version, plaintext) = open_with(
        state,
        caller,
        blob.as_bytes(),
        r.key_id.as_deref(),
        algorithm,
        &context,
        Access::new("kms:Decrypt"),
        "Decrypt",
    )
    .await?;
    dry_run(r.dry_run)?;
    Ok(DecryptResponse {
        key_id: Some(key.record.arn()),
        plaintext: Some(Blob::from(plaintext)),
        encryption_algorithm: EncryptionAlgorithmSpec::from_wire(algorithm),
        key_material_id: version.map(|v| key_material_id(&key.record.public_uuid(), v)),
        ..DecryptResponse::default()
    })
}

pub(super) async fn re_encrypt(
    state: &AppState,
    caller: &Caller,
    r: ReEncryptRequest,
) -> Result<ReEncryptResponse, KmsError> {
    let source_algorithm = algorithm_name(r.source_encryption_algorithm.as_ref());
    let destination_algorithm = algorithm_name(r.destination_encryption_algorithm.as_ref());
    let blob = blob_required(r.ciphertext_blob, "ciphertextBlob")?;
    let source_context = r.source_encryption_context.unwrap_or_default();
    let (source, source_version, plaintext) = open_with(
        state,
        caller,
        blob.as_bytes(),
        r.source_key_id.as_deref(),
        source_algorithm,
        &source_context,
        Access::new("kms:ReEncryptFrom"),
        "ReEncrypt",
    )
    .await?;
    let destination_context = r.destination_encryption_context.unwrap_or_default();
    let access = Access::new("kms:ReEncryptTo")
        .context(&destination_context)
        .key("kms:EncryptionAlgorithm", destination_algorithm);
    let destination = state
        .resolve(caller, &r.destination_key_id, Naming::KeyOrAlias, access)
        .await?;
    let sealed = seal_with(
        &destination,
        destination_algorithm,
        &destination_context,
        &plaintext,
        "ReEncrypt",
    )
    .await?;
    dry_run(r.dry_run)?;
    let symmetric_destination = destination_algorithm == SYMMETRIC_DEFAULT;
    Ok(ReEncryptResponse {
        ciphertext_blob: Some(Blob::from(sealed)),
        source_key_id: Some(source.record.arn()),
        key_id: Some(destination.record.arn()),
        source_encryption_algorithm: EncryptionAlgorithmSpec::from_wire(source_algorithm),
        destination_encryption_algorithm: EncryptionAlgorithmSpec::from_wire(destination_algorithm),
        source_key_material_id: source_version
            .map(|v| key_material_id(&source.record.public_uuid(), v)),
        destination_key_material_id: Some(key_material_id(
            &destination.record.public_uuid(),
            destination.record.current_material,
        ))
        .filter(|_| symmetric_destination),
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
#[allow(clippy::too_many_arguments)] // each is one member of the request or its audit
pub(super) async fn data_key(
    state: &AppState,
    caller: &Caller,
    key_id: &str,
    number_of_bytes: Option<i32>,
    key_spec: Option<&DataKeySpec>,
    context: &BTreeMap<String, String>,
    access: Access,
    operation: &str,
) -> Result<(Arc<LoadedKey>, Zeroizing<Vec<u8>>, Vec<u8>), KmsError> {
    let length = data_key_length(number_of_bytes, key_spec)?;
    let key = state
        .resolve(caller, key_id, Naming::KeyOrAlias, access.context(context))
        .await?;
    require_symmetric(&key, operation)?;
    key.record.check_usable()?;
    let plaintext = keyward_crypto::random_bytes(length)?;
    let blob = seal(&key, context, &plaintext, operation)?;
    Ok((key, plaintext, blob))
}

pub(super) async fn generate_data_key(
    state: &AppState,
    caller: &Caller,
    r: GenerateDataKeyRequest,
) -> Result<GenerateDataKeyResponse, KmsError> {
    no_recipient(r.recipient.as_ref())?;
    let context = r.encryption_context.unwrap_or_default();
    let (key, plaintext, blob) = data_key(
        state,
        caller,
        &r.key_id,
        r.number_of_bytes,
        r.key_spec.as_ref(),
        &context,
        Access::new("kms:GenerateDataKey"),
        "GenerateDataKey",
    )
    .await?;
    dry_run(r.dry_run)?;
    Ok(GenerateDataKeyResponse {
        ciphertext_blob: Some(Blob::from(blob)),
        plaintext: Some(Blob::from(plaintext)),
        key_id: Some(key.record.arn()),
        key_material_id: Some(key_material_id(
            &key.record.public_uuid(),
            key.record.current_material,
        )),
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
        "GenerateDataKeyWithoutPlaintext",
    )
    .await?;
    dry_run(r.dry_run)?;
    Ok(GenerateDataKeyWithoutPlaintextResponse {
        ciphertext_blob: Some(Blob::from(blob)),
        key_id: Some(key.record.arn()),
        key_material_id: Some(key_material_id(
            &key.record.public_uuid(),
            key.record.current_material,
        )),
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
    no_recipient(r.recipient.as_ref())?;
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
