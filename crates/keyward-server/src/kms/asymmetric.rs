//! Asymmetric, HMAC and key-agreement operations: Sign and Verify, GetPublicKey, RSAES-OAEP
//! Encrypt and Decrypt, GenerateMac and VerifyMac, DeriveSharedSecret, and data key pairs.
//!
//! RSA and ML-DSA private-key operations take milliseconds, so they run on the blocking
//! pool, never on the executor that serves Encrypt and GetSecretValue.

use std::collections::BTreeMap;
use std::sync::Arc;

use keyward_core::KmsError;
use keyward_crypto::{CryptoError, DataKeyPairSpec, KeySpec, MessageType as CryptoMessageType};
use keyward_protocol::json::Blob;
use keyward_protocol::kms::*;
use zeroize::Zeroizing;

use super::access::Access;
use super::crypto::{dry_run, no_recipient, seal};
use super::keys::algorithms;
use super::{key_material_id, require_symmetric, require_usage, Naming};
use crate::auth::Caller;
use crate::cache::LoadedKey;
use crate::state::AppState;

const SIGN_VERIFY: &str = "SIGN_VERIFY";
const ENCRYPT_DECRYPT: &str = "ENCRYPT_DECRYPT";
const GENERATE_VERIFY_MAC: &str = "GENERATE_VERIFY_MAC";
const KEY_AGREEMENT: &str = "KEY_AGREEMENT";

/// Whether a private-key operation with this spec is slow enough to leave the executor.
fn is_slow(spec: KeySpec) -> bool {
    matches!(
        spec,
        KeySpec::Rsa2048
            | KeySpec::Rsa3072
            | KeySpec::Rsa4096
            | KeySpec::MlDsa44
            | KeySpec::MlDsa65
            | KeySpec::MlDsa87
    )
}

/// Runs `work` with the key's current private material, on the blocking pool when the
/// operation is slow.
async fn with_private<T, F>(key: &Arc<LoadedKey>, work: F) -> Result<T, KmsError>
where
    T: Send + 'static,
    F: FnOnce(KeySpec, &[u8]) -> Result<T, KmsError> + Send + 'static,
{
    if !is_slow(key.spec) {
        return work(key.spec, key.private_material()?);
    }
    let key = key.clone();
    tokio::task::spawn_blocking(move || work(key.spec, key.private_material()?))
        .await
        .map_err(|e| KmsError::Internal(format!("blocking task failed: {e}")))?
}

/// The wire errors of a refused cryptographic operation, in AWS's words.
fn refused(key: &LoadedKey, algorithm: &str, err: CryptoError) -> KmsError {
    match err {
        CryptoError::AlgorithmNotForKey => KmsError::InvalidKeyUsage(format!(
            "Algorithm {algorithm} is incompatible with key spec {}.",
            key.record.key_spec
        )),
        CryptoError::InvalidDigestLength => KmsError::Validation(format!(
            "Digest is invalid length for algorithm {algorithm}."
        )),
        CryptoError::MessageTypeNotForAlgorithm => KmsError::Validation(format!(
            "The message type is not supported for signing algorithm {algorithm}."
        )),
        CryptoError::Unsupported => KmsError::UnsupportedOperation(format!(
            "{algorithm} with this message type is not supported by this server."
        )),
        CryptoError::PlaintextTooLong => KmsError::Validation(format!(
            "Plaintext is too long for encryption algorithm {algorithm} with key spec {}.",
            key.record.key_spec
        )),
        CryptoError::InvalidKey => KmsError::Validation(format!(
            "PublicKey is not a valid {} public key.",
            key.record.key_spec
        )),
        other => other.into(),
    }
}

fn usable(key: &LoadedKey, usage: &str, operation: &str) -> Result<(), KmsError> {
    require_usage(key, usage, operation)?;
    key.record.check_usable()
}

pub(super) async fn public_encrypt(
    key: &Arc<LoadedKey>,
    algorithm: &'static str,
    context: &BTreeMap<String, String>,
    plaintext: &[u8],
    operation: &str,
) -> Result<Vec<u8>, KmsError> {
    if key.spec == KeySpec::SymmetricDefault {
        return Err(KmsError::InvalidKeyUsage(format!(
            "The encryption algorithm {algorithm} is not valid for a symmetric encryption KMS key."
        )));
    }
    usable(key, ENCRYPT_DECRYPT, operation)?;
    no_context(context)?;
    let plaintext = Zeroizing::new(plaintext.to_vec());
    let checked = key.clone();
    with_private(key, move |_, material| {
        keyward_crypto::rsa_encrypt(material, algorithm, &plaintext)
            .map_err(|e| refused(&checked, algorithm, e))
    })
    .await
}

pub(super) async fn public_decrypt(
    key: &Arc<LoadedKey>,
    algorithm: &'static str,
    context: &BTreeMap<String, String>,
    ciphertext: &[u8],
    operation: &str,
) -> Result<Zeroizing<Vec<u8>>, KmsError> {
    if key.spec == KeySpec::SymmetricDefault {
        return Err(KmsError::InvalidKeyUsage(format!(
            "The encryption algorithm {algorithm} is not valid for a symmetric encryption KMS key."
        )));
    }
    usable(key, ENCRYPT_DECRYPT, operation)?;
    no_context(context)?;
    let ciphertext = ciphertext.to_vec();
    let checked = key.clone();
    with_private(key, move |_, material| {
        keyward_crypto::rsa_decrypt(material, algorithm, &ciphertext)
            .map_err(|e| refused(&checked, algorithm, e))
    })
    .await
}

/// RSAES-OAEP has nowhere to bind an encryption context, so AWS refuses one.
fn no_context(context: &BTreeMap<String, String>) -> Result<(), KmsError> {
    if context.is_empty() {
        Ok(())
    } else {
        Err(KmsError::InvalidKeyUsage(
            "EncryptionContext is not supported with asymmetric KMS keys.".into(),
        ))
    }
}

fn message_type(wire: Option<&MessageType>) -> CryptoMessageType {
    match wire {
        None | Some(MessageType::Raw) => CryptoMessageType::Raw,
        Some(MessageType::Digest) => CryptoMessageType::Digest,
        Some(MessageType::ExternalMu) => CryptoMessageType::ExternalMu,
    }
}

pub(super) async fn sign(
    state: &AppState,
    caller: &Caller,
    r: SignRequest,
) -> Result<SignResponse, KmsError> {
    let algorithm = r.signing_algorithm.as_str();
    let kind = message_type(r.message_type.as_ref());
    let access = Access::new("kms:Sign")
        .key("kms:SigningAlgorithm", algorithm)
        .key("kms:MessageType", kind.as_str());
    let key = state
        .resolve(caller, &r.key_id, Naming::KeyOrAlias, access)
        .await?;
    usable(&key, SIGN_VERIFY, "Sign")?;
    let message = Zeroizing::new(r.message.as_bytes().to_vec());
    let checked = key.clone();
    let signature = with_private(&key, move |spec, material| {
        keyward_crypto::sign(spec, material, algorithm, kind, &message)
            .map_err(|e| refused(&checked, algorithm, e))
    })
    .await?;
    dry_run(r.dry_run)?;
    Ok(SignResponse {
        key_id: Some(key.record.arn()),
        signature: Some(Blob::from(signature)),
        signing_algorithm: Some(r.signing_algorithm),
    })
}

pub(super) async fn verify(
    state: &AppState,
    caller: &Caller,
    r: VerifyRequest,
) -> Result<VerifyResponse, KmsError> {
    let algorithm = r.signing_algorithm.as_str();
    let kind = message_type(r.message_type.as_ref());
    let access = Access::new("kms:Verify")
        .key("kms:SigningAlgorithm", algorithm)
        .key("kms:MessageType", kind.as_str());
    let key = state
        .resolve(caller, &r.key_id, Naming::KeyOrAlias, access)
        .await?;
    usable(&key, SIGN_VERIFY, "Verify")?;
    let message = Zeroizing::new(r.message.as_bytes().to_vec());
    let signature = r.signature.as_bytes().to_vec();
    let checked = key.clone();
    let valid = with_private(&key, move |spec, material| {
        keyward_crypto::verify(spec, material, algorithm, kind, &message, &signature)
            .map_err(|e| refused(&checked, algorithm, e))
    })
    .await?;
    if !valid {
        return Err(KmsError::InvalidSignature);
    }
    dry_run(r.dry_run)?;
    Ok(VerifyResponse {
        key_id: Some(key.record.arn()),
        signature_valid: Some(true),
        signing_algorithm: Some(r.signing_algorithm),
    })
}

pub(super) async fn get_public_key(
    state: &AppState,
    caller: &Caller,
    r: GetPublicKeyRequest,
) -> Result<GetPublicKeyResponse, KmsError> {
    let key = state
        .resolve(
            caller,
            &r.key_id,
            Naming::KeyOrAlias,
            Access::new("kms:GetPublicKey"),
        )
        .await?;
    if !key.spec.is_asymmetric() {
        return Err(KmsError::UnsupportedOperation(format!(
            "{} is not an asymmetric KMS key: it has no public key.",
            key.record.arn()
        )));
    }
    key.record.check_usable()?;
    let public_key = keyward_crypto::public_key_der(key.spec, key.private_material()?)?;
    let algorithms = algorithms(&key.record);
    Ok(GetPublicKeyResponse {
        key_id: Some(key.record.arn()),
        public_key: Some(Blob::from(public_key)),
        customer_master_key_spec: CustomerMasterKeySpec::from_wire(&key.record.key_spec),
        key_spec: keyward_protocol::kms::KeySpec::from_wire(&key.record.key_spec),
        key_usage: KeyUsage::from_wire(&key.record.key_usage),
        encryption_algorithms: algorithms.encryption,
        signing_algorithms: algorithms.signing,
        key_agreement_algorithms: algorithms.key_agreement,
    })
}

pub(super) async fn generate_mac(
    state: &AppState,
    caller: &Caller,
    r: GenerateMacRequest,
) -> Result<GenerateMacResponse, KmsError> {
    let algorithm = r.mac_algorithm.as_str();
    let access = Access::new("kms:GenerateMac").key("kms:MacAlgorithm", algorithm);
    let key = state
        .resolve(caller, &r.key_id, Naming::KeyOrAlias, access)
        .await?;
    usable(&key, GENERATE_VERIFY_MAC, "GenerateMac")?;
    let mac = keyward_crypto::generate_mac(
        key.spec,
        key.private_material()?,
        algorithm,
        r.message.as_bytes(),
    )
    .map_err(|e| refused(&key, algorithm, e))?;
    dry_run(r.dry_run)?;
    Ok(GenerateMacResponse {
        mac: Some(Blob::from(mac)),
        mac_algorithm: Some(r.mac_algorithm),
        key_id: Some(key.record.arn()),
    })
}

pub(super) async fn verify_mac(
    state: &AppState,
    caller: &Caller,
    r: VerifyMacRequest,
) -> Result<VerifyMacResponse, KmsError> {
    let algorithm = r.mac_algorithm.as_str();
    let access = Access::new("kms:VerifyMac").key("kms:MacAlgorithm", algorithm);
    let key = state
        .resolve(caller, &r.key_id, Naming::KeyOrAlias, access)
        .await?;
    usable(&key, GENERATE_VERIFY_MAC, "VerifyMac")?;
    let valid = keyward_crypto::verify_mac(
        key.spec,
        key.private_material()?,
        algorithm,
        r.message.as_bytes(),
        r.mac.as_bytes(),
    )
    .map_err(|e| refused(&key, algorithm, e))?;
    if !valid {
        return Err(KmsError::InvalidMac);
    }
    dry_run(r.dry_run)?;
    Ok(VerifyMacResponse {
        key_id: Some(key.record.arn()),
        mac_valid: Some(true),
        mac_algorithm: Some(r.mac_algorithm),
    })
}

pub(super) async fn derive_shared_secret(
    state: &AppState,
    caller: &Caller,
    r: DeriveSharedSecretRequest,
) -> Result<DeriveSharedSecretResponse, KmsError> {
    no_recipient(r.recipient.as_ref())?;
    let algorithm = r.key_agreement_algorithm.as_str();
    let access = Access::new("kms:DeriveSharedSecret").key("kms:KeyAgreementAlgorithm", algorithm);
    let key = state
        .resolve(caller, &r.key_id, Naming::KeyOrAlias, access)
        .await?;
    usable(&key, KEY_AGREEMENT, "DeriveSharedSecret")?;
    let secret = keyward_crypto::derive_shared_secret(
        key.spec,
        key.private_material()?,
        r.public_key.as_bytes(),
    )
    .map_err(|e| refused(&key, algorithm, e))?;
    dry_run(r.dry_run)?;
    Ok(DeriveSharedSecretResponse {
        key_id: Some(key.record.arn()),
        shared_secret: Some(Blob::from(secret)),
        key_agreement_algorithm: Some(r.key_agreement_algorithm),
        key_origin: OriginType::from_wire(&key.record.origin),
        ..DeriveSharedSecretResponse::default()
    })
}

/// A fresh key pair whose private key is encrypted under a symmetric key, as
/// GenerateDataKeyPair makes it.
struct DataKeyPair {
    key: Arc<LoadedKey>,
    private_key: Zeroizing<Vec<u8>>,
    blob: Vec<u8>,
    public_key: Vec<u8>,
}

async fn data_key_pair(
    state: &AppState,
    caller: &Caller,
    key_id: &str,
    spec: &keyward_protocol::kms::DataKeyPairSpec,
    context: &BTreeMap<String, String>,
    action: &'static str,
    operation: &str,
) -> Result<DataKeyPair, KmsError> {
    let pair_spec = DataKeyPairSpec::parse(spec.as_str()).ok_or_else(|| {
        KmsError::UnsupportedOperation(format!(
            "KeyPairSpec {} is not supported in this region.",
            spec.as_str()
        ))
    })?;
    let access = Access::new(action)
        .context(context)
        .key("kms:DataKeyPairSpec", spec.as_str());
    let key = state
        .resolve(caller, key_id, Naming::KeyOrAlias, access)
        .await?;
    require_symmetric(&key, operation)?;
    key.record.check_usable()?;
    let (private_key, public_key) =
        tokio::task::spawn_blocking(move || keyward_crypto::generate_key_pair(pair_spec))
            .await
            .map_err(|e| KmsError::Internal(format!("blocking task failed: {e}")))??;
    let blob = seal(&key, context, &private_key, operation)?;
    Ok(DataKeyPair {
        key,
        private_key,
        blob,
        public_key,
    })
}

pub(super) async fn generate_data_key_pair(
    state: &AppState,
    caller: &Caller,
    r: GenerateDataKeyPairRequest,
) -> Result<GenerateDataKeyPairResponse, KmsError> {
    no_recipient(r.recipient.as_ref())?;
    let context = r.encryption_context.unwrap_or_default();
    let pair = data_key_pair(
        state,
        caller,
        &r.key_id,
        &r.key_pair_spec,
        &context,
        "kms:GenerateDataKeyPair",
        "GenerateDataKeyPair",
    )
    .await?;
    dry_run(r.dry_run)?;
    Ok(GenerateDataKeyPairResponse {
        private_key_ciphertext_blob: Some(Blob::from(pair.blob)),
        private_key_plaintext: Some(Blob::from(pair.private_key)),
        public_key: Some(Blob::from(pair.public_key)),
        key_id: Some(pair.key.record.arn()),
        key_pair_spec: Some(r.key_pair_spec),
        key_material_id: Some(key_material_id(
            &pair.key.record.public_uuid(),
            pair.key.record.current_material,
        )),
        ..GenerateDataKeyPairResponse::default()
    })
}

pub(super) async fn generate_data_key_pair_without_plaintext(
    state: &AppState,
    caller: &Caller,
    r: GenerateDataKeyPairWithoutPlaintextRequest,
) -> Result<GenerateDataKeyPairWithoutPlaintextResponse, KmsError> {
    let context = r.encryption_context.unwrap_or_default();
    let pair = data_key_pair(
        state,
        caller,
        &r.key_id,
        &r.key_pair_spec,
        &context,
        "kms:GenerateDataKeyPairWithoutPlaintext",
        "GenerateDataKeyPairWithoutPlaintext",
    )
    .await?;
    dry_run(r.dry_run)?;
    Ok(GenerateDataKeyPairWithoutPlaintextResponse {
        private_key_ciphertext_blob: Some(Blob::from(pair.blob)),
        public_key: Some(Blob::from(pair.public_key)),
        key_id: Some(pair.key.record.arn()),
        key_pair_spec: Some(r.key_pair_spec),
        key_material_id: Some(key_material_id(
            &pair.key.record.public_uuid(),
            pair.key.record.current_material,
        )),
    })
}
