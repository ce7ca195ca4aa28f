//! Imported key material (origin `EXTERNAL`): GetParametersForImport, ImportKeyMaterial,
//! DeleteImportedKeyMaterial, and the expiry of material imported with a `ValidTo`.
//!
//! The import token is self-contained: the wrapping private key, the algorithm and the
//! deadline, sealed under the root key with the key's ARN as AAD. Nothing is stored until
//! the material arrives, a token works only for the key it was made for, and a server
//! restart does not void it.

use std::collections::BTreeSet;

use keyward_core::key::{KeyRecord, KeyState};
use keyward_core::{KmsError, StoreError, UnixMillis};
use keyward_crypto::{WrappingAlgorithm, WrappingKeySpec};
use keyward_protocol::json::Blob;
use keyward_protocol::kms::*;
use zeroize::Zeroizing;

use super::access::Access;
use super::{key_material_id, key_not_found, wrap_material, write_key, KeyWrite, Naming};
use crate::auth::Caller;
use crate::state::{AppState, Inner};

/// How long GetParametersForImport's public key and token stay valid, as in AWS.
const PARAMETERS_VALID_MILLIS: i64 = 24 * 60 * 60 * 1000;
const TOKEN_VERSION: u8 = 1;
/// AWS accepts a `ValidTo` between 10 minutes and 365 days ahead.
const MIN_VALID_MILLIS: i64 = 10 * 60 * 1000;
const MAX_VALID_DAYS: u32 = 365;

fn token_aad(key_arn: &str) -> Vec<u8> {
    format!("keyward-import-token/v{TOKEN_VERSION}/{key_arn}").into_bytes()
}

/// Only the key-wrap algorithms can carry a private key: RSA-OAEP alone holds too little.
fn wraps_with_aes(algorithm: WrappingAlgorithm) -> bool {
    matches!(
        algorithm,
        WrappingAlgorithm::RsaAesKeyWrapSha1 | WrappingAlgorithm::RsaAesKeyWrapSha256
    )
}

/// The algorithm as the token records it: its place in [`WrappingAlgorithm::ALL`].
fn algorithm_code(algorithm: WrappingAlgorithm) -> u8 {
    WrappingAlgorithm::ALL
        .iter()
        .position(|a| *a == algorithm)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(u8::MAX)
}

fn check_external(record: &KeyRecord, operation: &str) -> Result<(), KmsError> {
    if record.is_external() {
        return Ok(());
    }
    Err(KmsError::UnsupportedOperation(format!(
        "{} has origin {}: {operation} applies only to KMS keys with origin EXTERNAL.",
        record.arn(),
        record.origin
    )))
}

pub(super) async fn get_parameters_for_import(
    state: &AppState,
    caller: &Caller,
    r: GetParametersForImportRequest,
) -> Result<GetParametersForImportResponse, KmsError> {
    let access = Access::new("kms:GetParametersForImport")
        .key("kms:WrappingAlgorithm", r.wrapping_algorithm.as_str())
        .key("kms:WrappingKeySpec", r.wrapping_key_spec.as_str());
    let key = state
        .resolve(caller, &r.key_id, Naming::KeyOnly, access)
        .await?;
    check_external(&key.record, "GetParametersForImport")?;
    key.record.check_not_pending_deletion()?;
    let spec = WrappingKeySpec::parse(r.wrapping_key_spec.as_str()).ok_or_else(|| {
        KmsError::UnsupportedOperation(format!(
            "WrappingKeySpec {} is not supported in this region.",
            r.wrapping_key_spec.as_str()
        ))
    })?;
    let algorithm = WrappingAlgorithm::parse(r.wrapping_algorithm.as_str())
        .filter(|a| a.is_supported())
        .ok_or_else(|| {
            KmsError::UnsupportedOperation(format!(
                "WrappingAlgorithm {} is not supported.",
                r.wrapping_algorithm.as_str()
            ))
        })?;
    if key.spec.is_asymmetric() && !wraps_with_aes(algorithm) {
        return Err(KmsError::Validation(format!(
            "WrappingAlgorithm {} cannot wrap {} key material; use RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256.",
            algorithm.as_str(),
            key.record.key_spec
        )));
    }
    let arn = key.record.arn();
    let (token, public_key, valid_to) = state
        .blocking(move |inner| {
            let (private_key, public_key) = keyward_crypto::generate_wrapping_key(spec)?;
            let valid_to = inner.clock.now().plus_millis(PARAMETERS_VALID_MILLIS);
            let mut payload = Zeroizing::new(Vec::with_capacity(private_key.len() + 16));
            payload.push(TOKEN_VERSION);
            payload.extend_from_slice(&valid_to.0.to_be_bytes());
            payload.push(algorithm_code(algorithm));
            payload.extend_from_slice(&private_key);
            let token = inner.root.wrap(&token_aad(&arn), &payload)?;
            Ok((token, public_key, valid_to))
        })
        .await?;
    Ok(GetParametersForImportResponse {
        key_id: Some(key.record.arn()),
        import_token: Some(Blob::from(token)),
        public_key: Some(Blob::from(public_key)),
        parameters_valid_to: Some(valid_to.as_epoch_seconds()),
    })
}

/// The wrapping private key and algorithm a token carries, once it is known to be this
/// key's and unexpired.
fn open_token(
    inner: &Inner,
    key_arn: &str,
    token: &[u8],
) -> Result<(WrappingAlgorithm, Zeroizing<Vec<u8>>), KmsError> {
    let invalid =
        || KmsError::InvalidImportToken("The import token is not valid for this KMS key.".into());
    let payload = inner
        .root
        .unwrap_material(&token_aad(key_arn), token)
        .map_err(|_| invalid())?;
    let (version, rest) = payload.split_first().ok_or_else(invalid)?;
    if *version != TOKEN_VERSION || rest.len() < 9 {
        return Err(invalid());
    }
    let mut deadline = [0u8; 8];
    deadline.copy_from_slice(&rest[..8]);
    if UnixMillis(i64::from_be_bytes(deadline)) < inner.clock.now() {
        return Err(KmsError::ExpiredImportToken(
            "The import token has expired: call GetParametersForImport again.".into(),
        ));
    }
    let algorithm = WrappingAlgorithm::ALL
        .get(usize::from(rest[8]))
        .copied()
        .ok_or_else(invalid)?;
    Ok((algorithm, Zeroizing::new(rest[9..].to_vec())))
}

/// `ValidTo` and `ExpirationModel` as AWS checks them: the material expires exactly when a
/// `ValidTo` is given.
fn expiry(r: &ImportKeyMaterialRequest, now: UnixMillis) -> Result<Option<UnixMillis>, KmsError> {
    let valid_to = r
        .valid_to
        .map(|seconds| UnixMillis((seconds * 1000.0).round() as i64));
    match (r.expiration_model, valid_to) {
        (Some(ExpirationModelType::KeyMaterialExpires), None) => Err(KmsError::Validation(
            "A ValidTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES".into(),
        )),
        (Some(ExpirationModelType::KeyMaterialDoesNotExpire), Some(_)) => {
            Err(KmsError::Validation(
                "A ValidTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE"
                    .into(),
            ))
        }
        (_, None) => Ok(None),
        (_, Some(when)) => {
            if when < now.plus_millis(MIN_VALID_MILLIS) || when > now.plus_days(MAX_VALID_DAYS) {
                return Err(KmsError::Validation(
                    "ValidTo must be between 10 minutes and 365 days from now.".into(),
                ));
            }
            Ok(Some(when))
        }
    }
}

pub(super) async fn import_key_material(
    state: &AppState,
    caller: &Caller,
    r: ImportKeyMaterialRequest,
) -> Result<ImportKeyMaterialResponse, KmsError> {
    let model = if r.valid_to.is_some() {
        "KEY_MATERIAL_EXPIRES"
    } else {
        r.expiration_model
            .map_or("KEY_MATERIAL_DOES_NOT_EXPIRE", |m| m.as_str())
    };
    let access = Access::new("kms:ImportKeyMaterial").key("kms:ExpirationModel", model);
    let key = state
        .resolve(caller, &r.key_id, Naming::KeyOnly, access)
        .await?;
    check_external(&key.record, "ImportKeyMaterial")?;
    key.record.check_not_pending_deletion()?;
    // AWS's default: new material for a key that never had any, else the same material.
    // (A replica made after its primary rotated knows the later versions, not yet the
    // first: it takes the same material.)
    let has_had_material = key.record.material_versions().next().is_some();
    let new_material = match r.import_type {
        Some(kind) => kind == ImportType::NewKeyMaterial,
        None => !has_had_material,
    };
    if r.key_material_id.is_some() {
        if key.record.key_spec != "SYMMETRIC_DEFAULT" {
            return Err(KmsError::Validation(
                "KeyMaterialId is supported only for symmetric encryption KMS keys.".into(),
            ));
        }
        if new_material {
            return Err(KmsError::Validation(
                "You cannot specify a KeyMaterialId when the ImportType is NEW_KEY_MATERIAL."
                    .into(),
            ));
        }
    }
    if new_material && has_had_material {
        if key.record.key_spec != "SYMMETRIC_DEFAULT" {
            return Err(KmsError::UnsupportedOperation(format!(
                "{} cannot take new key material: only symmetric encryption keys rotate to imported key material.",
                key.record.arn()
            )));
        }
        if key.record.is_replica() {
            return Err(new_material_on_replica(&key.record));
        }
    }
    let valid_to = expiry(&r, state.inner.clock.now())?;
    let spec = key.spec;
    let id = key.record.id;
    let token = r.import_token.as_bytes().to_vec();
    let encrypted = r.encrypted_key_material.as_bytes().to_vec();
    let material_id = r.key_material_id;
    let caller = caller.clone();
    let (version, record) = state
        .blocking(move |inner| {
            let arn = key.record.arn();
            let (algorithm, wrapping_key) = open_token(inner, &arn, &token)?;
            let material = keyward_crypto::unwrap_import(&wrapping_key, algorithm, &encrypted)
                .map_err(|_| KmsError::InvalidCiphertext)?;
            keyward_crypto::validate_material(spec, &material).map_err(|_| {
                KmsError::IncorrectKeyMaterial(format!(
                    "The key material is not valid {} key material.",
                    spec.as_str()
                ))
            })?;
            let context = fingerprint_context(&key.record);
            let fingerprint = hex::encode(inner.root.fingerprint(context.as_bytes(), &material)?);
            let import = Import {
                material: &material,
                fingerprint: &fingerprint,
                new_material,
                material_id: material_id.as_deref(),
                valid_to,
            };
            store_imported(inner, &caller, id, &import)
        })
        .await?;
    state.inner.keys.invalidate(&id);
    Ok(ImportKeyMaterialResponse {
        key_id: Some(record.arn()),
        key_material_id: Some(key_material_id(&record.public_uuid(), version)),
    })
}

/// What a material fingerprint is keyed to: the key's ARN, or, for a multi-Region key, the
/// id its copies share, so that every copy recognises the same material.
fn fingerprint_context(record: &KeyRecord) -> String {
    match &record.multi_region {
        Some(mr) => format!("keyward-mrk-material/{}", mr.public_id),
        None => record.arn(),
    }
}

/// AWS: "You cannot directly import new key material into the replica Region keys."
fn new_material_on_replica(record: &KeyRecord) -> KmsError {
    let primary = record
        .multi_region
        .as_ref()
        .map_or_else(|| record.arn(), |mr| record.arn_in(&mr.primary_region));
    KmsError::UnsupportedOperation(format!(
        "{} is a multi-Region replica key: import new key material into its primary key {primary} with ImportType NEW_KEY_MATERIAL, then the same key material into this key with ImportType EXISTING_KEY_MATERIAL.",
        record.arn()
    ))
}

/// One ImportKeyMaterial, its material unwrapped and checked against the key spec.
struct Import<'a> {
    material: &'a [u8],
    fingerprint: &'a str,
    /// `ImportType NEW_KEY_MATERIAL` (or the first import).
    new_material: bool,
    /// `KeyMaterialId`: the version the caller says this material is.
    material_id: Option<&'a str>,
    /// When this version of the material expires.
    valid_to: Option<UnixMillis>,
}

/// Records an import and returns the material version it concerns with the key:
/// - the first import makes version 1 current and the key usable;
/// - new material for a key that has some becomes the next version, pending until
///   RotateKeyOnDemand makes it current (or takes the place of material pending rotation
///   that was deleted or expired: that was never permanently the key's);
/// - material imported before (found by its fingerprint, and checked against
///   `KeyMaterialId` when given) comes back as its version, if the store lacks it;
/// - a multi-Region replica takes, as `EXISTING_KEY_MATERIAL`, the material its primary
///   has pending rotation: it becomes the replica's version of that number, pending
///   rotation too, until RotateKeyOnDemand on the primary makes it every copy's current.
///
/// The import's `ValidTo` becomes that version's. A key pending import becomes usable
/// once every version permanently associated with it is stored again.
fn store_imported(
    inner: &Inner,
    caller: &Caller,
    id: uuid::Uuid,
    import: &Import<'_>,
) -> Result<(u32, KeyRecord), KmsError> {
    let written = write_key(inner, &id, |record| {
        if !record.is_in(&caller.region, &caller.account) {
            return Err(key_not_found(caller, &id));
        }
        record.check_not_pending_deletion()?;
        let held: BTreeSet<u32> = inner
            .store
            .materials(&id)?
            .iter()
            .map(|row| row.version)
            .collect();
        let first = record.material_fingerprint.is_none();
        let version = match known_version(record, import.fingerprint) {
            Some(_) if import.new_material && !first => {
                return Err(KmsError::IncorrectKeyMaterial(
                    "This key material is already associated with this KMS key: import it with ImportType EXISTING_KEY_MATERIAL."
                        .into(),
                ))
            }
            Some(version) => version,
            None if first => {
                let sibling = super::multi_region::sibling_fingerprint(inner, record)?;
                if sibling.is_some_and(|known| known != import.fingerprint) {
                    return Err(KmsError::IncorrectKeyMaterial(
                        "The key material being imported is not the key material of the related multi-Region keys."
                            .into(),
                    ));
                }
                record.material_fingerprint = Some(import.fingerprint.to_owned());
                1
            }
            None if import.new_material => {
                if record.is_replica() {
                    return Err(new_material_on_replica(record));
                }
                new_version(record, &held, import.fingerprint)?
            }
            None => {
                let pending =
                    super::multi_region::primary_pending_version(inner, record, import.fingerprint)?
                        .filter(|version| !record.is_permanent_material(*version));
                let Some(version) = pending else {
                    return Err(KmsError::IncorrectKeyMaterial(
                        "The key material being imported is not the key material previously imported into this KMS key."
                            .into(),
                    ));
                };
                if held.contains(&version) {
                    return Err(KmsError::InvalidState(format!(
                        "{} holds other key material pending rotation as key material {}: delete it with DeleteImportedKeyMaterial first.",
                        record.arn(),
                        key_material_id(&record.public_uuid(), version)
                    )));
                }
                record
                    .material_fingerprints
                    .insert(version, import.fingerprint.to_owned());
                record.pending_material = Some(version);
                version
            }
        };
        if let Some(requested) = import.material_id {
            if key_material_id(&record.public_uuid(), version) != requested {
                return Err(KmsError::IncorrectKeyMaterial(format!(
                    "The key material being imported is not the key material with KeyMaterialId {requested}."
                )));
            }
        }
        let row = if held.contains(&version) {
            None
        } else {
            let now = inner.clock.now();
            Some(wrap_material(inner, record, version, import.material, now)?)
        };
        record.set_valid_to(version, import.valid_to);
        let complete = (1..=record.current_material).all(|v| v == version || held.contains(&v));
        if record.state == KeyState::PendingImport && complete {
            record.state = KeyState::Enabled;
        }
        Ok((version, KeyWrite::Update(row)))
    })?;
    written.ok_or_else(|| key_not_found(caller, &id))
}

/// The version `ImportType NEW_KEY_MATERIAL` gives material the key has never had: the
/// next one, pending rotation, or the place of material pending rotation that was deleted.
fn new_version(
    record: &mut KeyRecord,
    held: &BTreeSet<u32>,
    fingerprint: &str,
) -> Result<u32, KmsError> {
    if record.state == KeyState::PendingImport {
        return Err(KmsError::InvalidState(format!(
            "{} is pending import: import all of its key material before new key material.",
            record.arn()
        )));
    }
    let version = match record.pending_material {
        Some(pending) if !held.contains(&pending) => pending,
        Some(_) => {
            return Err(KmsError::InvalidState(format!(
                "{} already has key material pending rotation: rotate to it with RotateKeyOnDemand first.",
                record.arn()
            )))
        }
        None => record
            .current_material
            .checked_add(1)
            .ok_or_else(|| KmsError::Internal("material version overflow".into()))?,
    };
    record
        .material_fingerprints
        .insert(version, fingerprint.to_owned());
    record.set_valid_to(version, None);
    record.pending_material = Some(version);
    Ok(version)
}

/// The version of this key's imported material with `fingerprint`, if any.
fn known_version(record: &KeyRecord, fingerprint: &str) -> Option<u32> {
    if record.material_fingerprint.as_deref() == Some(fingerprint) {
        return Some(1);
    }
    record
        .material_fingerprints
        .iter()
        .find(|(_, known)| known.as_str() == fingerprint)
        .map(|(version, _)| *version)
}

pub(super) async fn delete_imported_key_material(
    state: &AppState,
    caller: &Caller,
    r: DeleteImportedKeyMaterialRequest,
) -> Result<DeleteImportedKeyMaterialResponse, KmsError> {
    let key = state
        .resolve(
            caller,
            &r.key_id,
            Naming::KeyOnly,
            Access::new("kms:DeleteImportedKeyMaterial"),
        )
        .await?;
    check_external(&key.record, "DeleteImportedKeyMaterial")?;
    let id = key.record.id;
    let requested = r.key_material_id;
    let (version, record) = state
        .blocking(move |inner| {
            let written = write_key(inner, &id, |record| {
                let version = match requested.as_deref() {
                    None => record.current_material,
                    Some(material_id) => version_of(record, material_id).ok_or_else(|| {
                        KmsError::NotFound(format!(
                            "Key material '{material_id}' is not associated with KMS key '{}'.",
                            record.arn()
                        ))
                    })?,
                };
                let held = inner
                    .store
                    .materials(&id)?
                    .iter()
                    .any(|row| row.version == version);
                if !held {
                    return Err(KmsError::InvalidState(match requested.as_deref() {
                        None => format!("{} is pending import.", record.arn()),
                        Some(material_id) => format!(
                            "Key material '{material_id}' of {} is pending import.",
                            record.arn()
                        ),
                    }));
                }
                let pending = !record.is_permanent_material(version);
                forget_material(record, version);
                Ok(((version, pending), KeyWrite::DeleteMaterial(vec![version])))
            })?;
            let ((version, pending), record) = written.ok_or_else(|| {
                KmsError::NotFound(format!("Key '{}' does not exist", key.record.arn()))
            })?;
            // As in AWS: deleting a primary key's material pending rotation deletes it
            // from the replicas too; a replica's deletion leaves the other copies.
            if pending && !record.is_replica() {
                super::multi_region::forget_pending_in_replicas(inner, &record, version)?;
            }
            Ok((version, record))
        })
        .await?;
    state.inner.keys.invalidate(&id);
    Ok(DeleteImportedKeyMaterialResponse {
        key_id: Some(record.arn()),
        key_material_id: Some(key_material_id(&record.public_uuid(), version)),
    })
}

/// The version of a key's imported material that `KeyMaterialId` names.
fn version_of(record: &KeyRecord, material_id: &str) -> Option<u32> {
    let public = record.public_uuid();
    record
        .material_versions()
        .find(|version| key_material_id(&public, *version) == material_id)
}

/// Forgets one version of a key's imported material, deleted or expired. Material
/// permanently associated with the key (current or not) leaves it unusable until that
/// material is imported again, unless the key is on its way out anyway; material pending
/// rotation was never the key's, and losing it changes nothing else.
fn forget_material(record: &mut KeyRecord, version: u32) {
    record.set_valid_to(version, None);
    if record.is_permanent_material(version) && !record.is_pending_deletion() {
        record.state = KeyState::PendingImport;
    }
}

/// The expiry job's work on one key with a version of imported material whose `ValidTo`
/// has passed: it deletes those versions, and only those. Returns whether it did.
pub(crate) fn expire_material(
    inner: &Inner,
    mut record: KeyRecord,
    now: UnixMillis,
) -> Result<bool, KmsError> {
    let expired = record.expired_materials(now);
    if !record.is_external() || expired.is_empty() {
        return Ok(false);
    }
    for version in &expired {
        forget_material(&mut record, *version);
    }
    match inner.store.delete_key_material(&record, &expired) {
        Ok(_) => {
            tracing::info!(key = %record.arn(), versions = ?expired, "deleted expired imported key material");
            Ok(true)
        }
        // Another writer changed the key; the next pass sees its new state.
        Err(StoreError::Conflict) => Ok(false),
        Err(other) => Err(other.into()),
    }
}

/// Whether the store holds every version of material permanently associated with the key
/// (for a key of origin `AWS_KMS`: any material at all, which it always has).
pub(crate) fn holds_all_material(inner: &Inner, record: &KeyRecord) -> Result<bool, KmsError> {
    let held: BTreeSet<u32> = inner
        .store
        .materials(&record.id)?
        .iter()
        .map(|row| row.version)
        .collect();
    if !record.is_external() {
        return Ok(!held.is_empty());
    }
    Ok((1..=record.current_material).all(|version| held.contains(&version)))
}

/// DescribeKey's `ExpirationModel`: whether any material permanently associated with the
/// key expires.
pub(crate) fn expiration_model(record: &KeyRecord) -> Option<ExpirationModelType> {
    if !record.is_external() || record.material_fingerprint.is_none() {
        return None;
    }
    Some(model_of(record.permanent_valid_to()))
}

/// DescribeKey's `ValidTo`: the earliest expiry of material permanently associated with
/// the key (AWS: "the earliest time at which any imported key material permanently
/// associated with this KMS key expires").
pub(crate) fn valid_to(record: &KeyRecord) -> Option<UnixMillis> {
    if !record.is_external() {
        return None;
    }
    record.permanent_valid_to()
}

/// The `ExpirationModel` of material with this `ValidTo`.
pub(crate) fn model_of(valid_to: Option<UnixMillis>) -> ExpirationModelType {
    match valid_to {
        Some(_) => ExpirationModelType::KeyMaterialExpires,
        None => ExpirationModelType::KeyMaterialDoesNotExpire,
    }
}
