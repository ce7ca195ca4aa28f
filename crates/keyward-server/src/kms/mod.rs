//! KMS handlers: resolve the key, act through core, persist through the store.

pub(crate) mod access;
mod aliases;
mod asymmetric;
mod crypto;
mod grants;
pub(crate) mod import;
pub(crate) mod internal;
mod keys;
pub(crate) mod multi_region;
mod rotation;
mod wire;

use std::sync::Arc;

use keyward_core::key::KeyRecord;
use keyward_core::store::MaterialRow;
use keyward_core::{KeyRef, KmsError, StoreError, UnixMillis};
use keyward_protocol::json::encode;
use keyward_protocol::kms::KmsOperation;
use uuid::Uuid;

use crate::auth::Caller;
use crate::cache::{material_aad, LoadedKey};
use crate::state::{AppState, Inner};
use access::Access;

pub(crate) async fn handle(
    state: &AppState,
    caller: &Caller,
    operation: KmsOperation,
) -> Result<Vec<u8>, KmsError> {
    use KmsOperation as Op;
    Ok(match operation {
        Op::CreateKey(r) => encode(&keys::create_key(state, caller, r).await?),
        Op::DescribeKey(r) => encode(&keys::describe_key(state, caller, r).await?),
        Op::ListKeys(r) => encode(&keys::list_keys(state, caller, r).await?),
        Op::UpdateKeyDescription(r) => empty(keys::update_key_description(state, caller, r).await?),
        Op::EnableKey(r) => empty(keys::enable_key(state, caller, r).await?),
        Op::DisableKey(r) => empty(keys::disable_key(state, caller, r).await?),
        Op::ScheduleKeyDeletion(r) => encode(&keys::schedule_key_deletion(state, caller, r).await?),
        Op::CancelKeyDeletion(r) => encode(&keys::cancel_key_deletion(state, caller, r).await?),
        Op::TagResource(r) => empty(keys::tag_resource(state, caller, r).await?),
        Op::UntagResource(r) => empty(keys::untag_resource(state, caller, r).await?),
        Op::ListResourceTags(r) => encode(&keys::list_resource_tags(state, caller, r).await?),
        Op::GetKeyPolicy(r) => encode(&keys::get_key_policy(state, caller, r).await?),
        Op::PutKeyPolicy(r) => empty(keys::put_key_policy(state, caller, r).await?),
        Op::ListKeyPolicies(r) => encode(&keys::list_key_policies(state, caller, r).await?),
        Op::CreateAlias(r) => empty(aliases::create_alias(state, caller, r).await?),
        Op::UpdateAlias(r) => empty(aliases::update_alias(state, caller, r).await?),
        Op::DeleteAlias(r) => empty(aliases::delete_alias(state, caller, r).await?),
        Op::ListAliases(r) => encode(&aliases::list_aliases(state, caller, r).await?),
        Op::Encrypt(r) => encode(&crypto::encrypt(state, caller, r).await?),
        Op::Decrypt(r) => encode(&crypto::decrypt(state, caller, r).await?),
        Op::ReEncrypt(r) => encode(&crypto::re_encrypt(state, caller, r).await?),
        Op::GenerateDataKey(r) => encode(&crypto::generate_data_key(state, caller, r).await?),
        Op::GenerateDataKeyWithoutPlaintext(r) => {
            encode(&crypto::generate_data_key_without_plaintext(state, caller, r).await?)
        }
        Op::GenerateRandom(r) => {
            state
                .authorize_kms(caller, &Access::new("kms:GenerateRandom"), "*")
                .await?;
            encode(&crypto::generate_random(r)?)
        }
        Op::EnableKeyRotation(r) => empty(rotation::enable_key_rotation(state, caller, r).await?),
        Op::DisableKeyRotation(r) => empty(rotation::disable_key_rotation(state, caller, r).await?),
        Op::GetKeyRotationStatus(r) => {
            encode(&rotation::get_key_rotation_status(state, caller, r).await?)
        }
        Op::RotateKeyOnDemand(r) => {
            encode(&rotation::rotate_key_on_demand(state, caller, r).await?)
        }
        Op::ListKeyRotations(r) => encode(&rotation::list_key_rotations(state, caller, r).await?),
        Op::CreateGrant(r) => encode(&grants::create_grant(state, caller, r).await?),
        Op::ListGrants(r) => encode(&grants::list_grants(state, caller, r).await?),
        Op::ListRetirableGrants(r) => {
            encode(&grants::list_retirable_grants(state, caller, r).await?)
        }
        Op::RetireGrant(r) => empty(grants::retire_grant(state, caller, r).await?),
        Op::RevokeGrant(r) => empty(grants::revoke_grant(state, caller, r).await?),
        Op::Sign(r) => encode(&asymmetric::sign(state, caller, r).await?),
        Op::Verify(r) => encode(&asymmetric::verify(state, caller, r).await?),
        Op::GetPublicKey(r) => encode(&asymmetric::get_public_key(state, caller, r).await?),
        Op::GenerateMac(r) => encode(&asymmetric::generate_mac(state, caller, r).await?),
        Op::VerifyMac(r) => encode(&asymmetric::verify_mac(state, caller, r).await?),
        Op::GenerateDataKeyPair(r) => {
            encode(&asymmetric::generate_data_key_pair(state, caller, r).await?)
        }
        Op::GenerateDataKeyPairWithoutPlaintext(r) => {
            encode(&asymmetric::generate_data_key_pair_without_plaintext(state, caller, r).await?)
        }
        Op::DeriveSharedSecret(r) => {
            encode(&asymmetric::derive_shared_secret(state, caller, r).await?)
        }
        Op::GetParametersForImport(r) => {
            encode(&import::get_parameters_for_import(state, caller, r).await?)
        }
        Op::ImportKeyMaterial(r) => encode(&import::import_key_material(state, caller, r).await?),
        Op::DeleteImportedKeyMaterial(r) => {
            encode(&import::delete_imported_key_material(state, caller, r).await?)
        }
        Op::ReplicateKey(r) => encode(&multi_region::replicate_key(state, caller, r).await?),
        Op::UpdatePrimaryRegion(r) => {
            empty(multi_region::update_primary_region(state, caller, r).await?)
        }
    })
}

/// AWS's answer when a key's usage does not allow an operation.
pub(crate) fn wrong_usage(key: &LoadedKey, operation: &str) -> KmsError {
    KmsError::InvalidKeyUsage(format!(
        "{} key usage is {} which is not valid for {operation}.",
        key.record.arn(),
        key.record.key_usage
    ))
}

/// Refuses `operation` unless `key` has `usage`.
pub(crate) fn require_usage(key: &LoadedKey, usage: &str, operation: &str) -> Result<(), KmsError> {
    if key.record.key_usage == usage {
        Ok(())
    } else {
        Err(wrong_usage(key, operation))
    }
}

/// Symmetric encryption operations (data keys, the symmetric ciphertext format) need a
/// `SYMMETRIC_DEFAULT` key.
pub(crate) fn require_symmetric(key: &LoadedKey, operation: &str) -> Result<(), KmsError> {
    if key.spec == keyward_crypto::KeySpec::SymmetricDefault {
        return Ok(());
    }
    if key.record.key_usage != "ENCRYPT_DECRYPT" {
        return Err(wrong_usage(key, operation));
    }
    Err(KmsError::InvalidKeyUsage(format!(
        "{} key spec is {} which is not valid for {operation}.",
        key.record.arn(),
        key.record.key_spec
    )))
}

/// Operations whose output shape is empty answer with an empty body, as AWS does.
fn empty(_: ()) -> Vec<u8> {
    Vec::new()
}

fn key_not_found(caller: &Caller, id: &Uuid) -> KmsError {
    KmsError::NotFound(format!(
        "Key 'arn:aws:kms:{}:{}:key/{id}' does not exist",
        caller.region, caller.account
    ))
}

fn names_mrk(key_id: &str) -> bool {
    key_id.starts_with(keyward_core::ids::MRK_PREFIX) || key_id.contains(":key/mrk-")
}

/// A copy of a multi-Region key answers to its `mrk-` id and its aliases only: the store id
/// derived for it is internal, and naming it is `NotFoundException` as for any unknown key.
fn check_public_name(caller: &Caller, key_id: &str, record: &KeyRecord) -> Result<(), KmsError> {
    let by_alias = key_id.starts_with("alias/") || key_id.contains(":alias/");
    if record.multi_region.is_some() && !by_alias && !names_mrk(key_id) {
        return Err(named_key_not_found(caller, key_id));
    }
    Ok(())
}

/// Not found, naming the key as the request named it (a store id derived for a
/// multi-Region copy means nothing to the caller).
fn named_key_not_found(caller: &Caller, key_id: &str) -> KmsError {
    if key_id.starts_with("arn:") {
        return KmsError::NotFound(format!("Key '{key_id}' does not exist"));
    }
    KmsError::NotFound(format!(
        "Key 'arn:aws:kms:{}:{}:key/{key_id}' does not exist",
        caller.region, caller.account
    ))
}

fn alias_not_found(caller: &Caller, name: &str) -> KmsError {
    KmsError::NotFound(format!(
        "Alias arn:aws:kms:{}:{}:{name} is not found.",
        caller.region, caller.account
    ))
}

/// Whether a `KeyId` parameter may name an alias. Management operations take only a key
/// id or key ARN, as AWS's do.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Naming {
    KeyOrAlias,
    KeyOnly,
}

/// An opaque identifier of one material version, shaped as AWS's `KeyMaterialId` (64 hex
/// characters). Derived from public values only.
pub(crate) fn key_material_id(key_id: &Uuid, version: u32) -> String {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("keyward-key-material/{key_id}/{version}").as_bytes(),
    );
    hex::encode(digest.as_ref())
}

impl AppState {
    pub(crate) async fn load_key(&self, id: Uuid) -> Result<Option<Arc<LoadedKey>>, KmsError> {
        if let Some(hit) = self.inner.keys.get_cached(&id) {
            return Ok(Some(hit));
        }
        self.blocking(move |inner| inner.keys.load(inner.store.as_ref(), &inner.root, &id))
            .await
    }

    /// A key of the caller's account and region, by id.
    async fn key_by_id(&self, caller: &Caller, id: Uuid) -> Result<Arc<LoadedKey>, KmsError> {
        match self.load_key(id).await? {
            Some(key) if key.record.is_in(&caller.region, &caller.account) => Ok(key),
            _ => Err(key_not_found(caller, &id)),
        }
    }

    fn key_id_for(&self, caller: &Caller, key_id: &str, naming: Naming) -> Result<Uuid, KmsError> {
        match KeyRef::parse(key_id, &caller.region, &caller.account)? {
            KeyRef::Key(id) => Ok(id),
            KeyRef::MultiRegion(public) => Ok(keyward_core::ids::mrk_copy_id(
                &public,
                caller.region.as_str(),
            )),
            KeyRef::Alias(name) if naming == Naming::KeyOrAlias => self
                .inner
                .aliases
                .get(caller.account.as_str(), caller.region.as_str(), &name)
                .map(|alias| alias.target)
                .ok_or_else(|| alias_not_found(caller, &name)),
            KeyRef::Alias(_) => Err(KmsError::NotFound(format!("Invalid keyId '{key_id}'"))),
        }
    }

    /// The key `key_id` names, once `caller` is allowed `access` to it.
    async fn resolve(
        &self,
        caller: &Caller,
        key_id: &str,
        naming: Naming,
        access: Access,
    ) -> Result<Arc<LoadedKey>, KmsError> {
        let id = self.key_id_for(caller, key_id, naming)?;
        let key = self.key_by_id(caller, id).await.map_err(|e| match e {
            KmsError::NotFound(_) if names_mrk(key_id) => named_key_not_found(caller, key_id),
            other => other,
        })?;
        check_public_name(caller, key_id, &key.record)?;
        self.authorize_key(caller, &key, &access.named(key_id))
            .await?;
        Ok(key)
    }

    /// Read-modify-write of one key, retried when another writer got there first. `change`
    /// may return new material to store in the same transaction.
    async fn update_key<T, F>(
        &self,
        caller: &Caller,
        key_id: &str,
        naming: Naming,
        access: Access,
        change: F,
    ) -> Result<(T, KeyRecord), KmsError>
    where
        T: Send + 'static,
        F: Fn(&mut KeyRecord, UnixMillis, &Inner) -> Result<(T, Option<MaterialRow>), KmsError>
            + Send
            + 'static,
    {
        let id = self.key_id_for(caller, key_id, naming)?;
        let current = self.key_by_id(caller, id).await.map_err(|e| match e {
            KmsError::NotFound(_) if names_mrk(key_id) => named_key_not_found(caller, key_id),
            other => other,
        })?;
        check_public_name(caller, key_id, &current.record)?;
        self.authorize_key(caller, &current, &access).await?;
        let caller = caller.clone();
        self.blocking(move |inner| {
            write_key(inner, &id, |record| {
                if !record.is_in(&caller.region, &caller.account) {
                    return Err(key_not_found(&caller, &id));
                }
                let (value, material) = change(record, inner.clock.now(), inner)?;
                Ok((value, KeyWrite::Update(material)))
            })?
            .ok_or_else(|| key_not_found(&caller, &id))
        })
        .await
    }
}

/// What one attempt of [`write_key`] stores.
pub(crate) enum KeyWrite {
    /// Nothing: the key is as it should be.
    Unchanged,
    /// The changed record, with one new material version or none.
    Update(Option<MaterialRow>),
    /// The changed record, without these versions of its imported material (deleted or
    /// expired); the other versions stay.
    DeleteMaterial(Vec<u32>),
}

/// Read-modify-write of one stored key, retried when another writer got there first: every
/// change to a key goes through the store's optimistic revision check. `change` sees the
/// stored record and says what to write. `None` when there is no key `id`.
pub(crate) fn write_key<T>(
    inner: &Inner,
    id: &Uuid,
    mut change: impl FnMut(&mut KeyRecord) -> Result<(T, KeyWrite), KmsError>,
) -> Result<Option<(T, KeyRecord)>, KmsError> {
    for _ in 0..16 {
        let Some(mut record) = inner.store.get_key(id)? else {
            return Ok(None);
        };
        // A record stored with one `valid_to` for the whole key gets it per version before
        // anything (a rotation) can change which version it meant.
        record.adopt_legacy_valid_to();
        let (value, write) = change(&mut record)?;
        let written = match &write {
            KeyWrite::Unchanged => return Ok(Some((value, record))),
            KeyWrite::Update(material) => inner.store.update_key(&record, material.as_ref()),
            KeyWrite::DeleteMaterial(versions) => {
                inner.store.delete_key_material(&record, versions)
            }
        };
        match written {
            Ok(revision) => {
                inner.keys.invalidate(id);
                record.revision = revision;
                return Ok(Some((value, record)));
            }
            Err(StoreError::Conflict) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(KmsError::Internal(format!(
        "key {id}: too many concurrent writers"
    )))
}

/// Generates and wraps a new version of a key's material.
pub(crate) fn new_material(
    inner: &Inner,
    record: &KeyRecord,
    version: u32,
    now: UnixMillis,
) -> Result<MaterialRow, KmsError> {
    let spec = keyward_crypto::KeySpec::parse(&record.key_spec)
        .ok_or_else(|| KmsError::Internal(format!("unknown key spec {}", record.key_spec)))?;
    let material = keyward_crypto::generate_material(spec)?;
    wrap_material(inner, record, version, &material, now)
}

/// Wraps one version of a key's material under the root key, for the store.
pub(crate) fn wrap_material(
    inner: &Inner,
    record: &KeyRecord,
    version: u32,
    material: &[u8],
    now: UnixMillis,
) -> Result<MaterialRow, KmsError> {
    let wrapped = inner
        .root
        .wrap(&material_aad(&record.arn(), version), material)?;
    Ok(MaterialRow {
        key_id: record.id,
        version,
        wrapped,
        created: now,
    })
}

/// `Limit` with a default and the model's bounds already checked by the codec.
fn page_limit(limit: Option<i32>, default: usize) -> usize {
    limit
        .and_then(|l| usize::try_from(l).ok())
        .filter(|l| *l > 0)
        .unwrap_or(default)
}
