//! What both backends (SQLite and PostgreSQL) share, whatever the database: the JSON
//! documents records are stored as (keys, grants, users and roles, secrets) and how a row's
//! revision joins them, the errors those records give (a corrupt document, a taken secret
//! name, a value row of another secret, a cursor of another order, AWS's messages for
//! aliases), and the audit chain's places in `meta` with their encoding (8-byte big-endian
//! seq ‖ 32-byte hash). Neither backend's SQL is here: each reads and writes its own rows
//! and hands the columns to these.

use keyward_core::alias::AliasRecord;
use keyward_core::audit::Checkpoint;
use keyward_core::function::{function_arn, FunctionRecord};
use keyward_core::grant::GrantRecord;
use keyward_core::iam::{RoleRecord, UserRecord};
use keyward_core::key::KeyRecord;
use keyward_core::secret::SecretRecord;
use keyward_core::store::{Change, SecretValueRow};
use keyward_core::StoreError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

/// A record as the JSON document it is stored as.
fn encode<T: Serialize>(record: &T) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The record a stored JSON document holds.
fn decode<T: DeserializeOwned>(doc: &str) -> Result<T, StoreError> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A row's revision (a signed 64-bit column in both databases) as the record's `u64`.
pub(crate) fn revision_of(revision: i64) -> Result<u64, StoreError> {
    u64::try_from(revision).map_err(|_| StoreError::Corrupt("negative revision".into()))
}

/// A UUID stored as text.
pub(crate) fn parse_uuid(s: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

// Lambda functions: the configuration as a document, the code in a column of its own.

pub(crate) fn encode_function(function: &FunctionRecord) -> Result<String, StoreError> {
    encode(function)
}

/// The function in a stored document, with the code read beside it (empty in listings).
pub(crate) fn decode_function(doc: &str, code: Vec<u8>) -> Result<FunctionRecord, StoreError> {
    let mut function: FunctionRecord = decode(doc)?;
    function.code = code;
    Ok(function)
}

/// Lambda's words for a name that is taken.
pub(crate) fn function_exists(function: &FunctionRecord) -> StoreError {
    StoreError::AlreadyExists(format!("Function already exist: {}", function.name))
}

/// Lambda's words for a function that is not there.
pub(crate) fn function_not_found(account: &str, region: &str, name: &str) -> StoreError {
    StoreError::NotFound(format!(
        "Function not found: {}",
        function_arn(region, account, name)
    ))
}

// KMS keys.

pub(crate) fn encode_key(key: &KeyRecord) -> Result<String, StoreError> {
    encode(key)
}

/// The key in a stored document, at the row's revision.
pub(crate) fn decode_key(doc: &str, revision: i64) -> Result<KeyRecord, StoreError> {
    let mut key: KeyRecord = decode(doc)?;
    key.revision = revision_of(revision)?;
    Ok(key)
}

// Aliases: stored as columns, not a document; these are the errors AWS gives for them.

/// Another alias of the account and region has the name.
pub(crate) fn alias_exists(alias: &AliasRecord) -> StoreError {
    StoreError::AlreadyExists(format!(
        "An alias with the name {} already exists",
        alias.arn()
    ))
}

/// The key an alias is made for does not exist.
pub(crate) fn alias_target_missing(alias: &AliasRecord) -> StoreError {
    StoreError::NotFound(format!("Key '{}' does not exist", alias.target))
}

/// No alias to update.
pub(crate) fn alias_not_found(alias: &AliasRecord) -> StoreError {
    StoreError::NotFound(format!("Alias {} is not found.", alias.arn()))
}

/// No alias of that name to delete.
pub(crate) fn alias_name_not_found(account: &str, region: &str, name: &str) -> StoreError {
    StoreError::NotFound(format!(
        "Alias arn:aws:kms:{region}:{account}:{name} is not found."
    ))
}

// Grants.

pub(crate) fn encode_grant(grant: &GrantRecord) -> Result<String, StoreError> {
    encode(grant)
}

pub(crate) fn decode_grant(doc: &str) -> Result<GrantRecord, StoreError> {
    decode(doc)
}

// IAM users and roles.

/// The `kind` of a user's row in `iam_principals`.
pub(crate) const USER: &str = "user";
/// The `kind` of a role's row in `iam_principals`.
const ROLE: &str = "role";

/// What users and roles share in storage.
pub(crate) trait Principal: Serialize + DeserializeOwned {
    const KIND: &'static str;
    fn id(&self) -> &str;
    fn account(&self) -> &str;
    fn name(&self) -> &str;
    fn revision(&self) -> u64;
    fn set_revision(&mut self, revision: u64);
    /// The change that announces the principal of this kind named `name`.
    fn change(account: &str, name: &str) -> Change;
}

/// Implements [`Principal`] for a record whose id is the field `$id`, stored as `$kind`
/// and announced as `Change::$change`.
macro_rules! principal {
    ($record:ty, $id:ident, $kind:expr, $change:ident) => {
        impl Principal for $record {
            const KIND: &'static str = $kind;
            fn id(&self) -> &str {
                &self.$id
            }
            fn account(&self) -> &str {
                self.account.as_str()
            }
            fn name(&self) -> &str {
                &self.name
            }
            fn revision(&self) -> u64 {
                self.revision
            }
            fn set_revision(&mut self, revision: u64) {
                self.revision = revision;
            }
            fn change(account: &str, name: &str) -> Change {
                Change::$change {
                    account: account.to_owned(),
                    name: name.to_ascii_lowercase(),
                }
            }
        }
    };
}

principal!(UserRecord, user_id, USER, User);
principal!(RoleRecord, role_id, ROLE, Role);

pub(crate) fn encode_principal<P: Principal>(record: &P) -> Result<String, StoreError> {
    encode(record)
}

/// The user or role in a stored document, at the row's revision.
pub(crate) fn decode_principal<P: Principal>(doc: &str, revision: i64) -> Result<P, StoreError> {
    let mut record: P = decode(doc)?;
    record.set_revision(revision_of(revision)?);
    Ok(record)
}

// Secrets.

fn encode_secret(secret: &SecretRecord) -> Result<String, StoreError> {
    encode(secret)
}

/// The secret in a stored document, at the row's revision.
pub(crate) fn decode_secret(doc: &str, revision: i64) -> Result<SecretRecord, StoreError> {
    let mut secret: SecretRecord = decode(doc)?;
    secret.revision = revision_of(revision)?;
    Ok(secret)
}

/// The message of AWS's `ResourceExistsException` for a taken name.
pub(crate) fn name_taken(secret: &SecretRecord) -> StoreError {
    StoreError::AlreadyExists(format!(
        "The operation failed because the secret {} already exists.",
        secret.name
    ))
}

/// A value row names its secret itself; one naming another secret would silently land
/// there, so it is refused.
fn check_owner(secret: &SecretRecord, row: &SecretValueRow) -> Result<(), StoreError> {
    if row.secret_id != secret.id {
        return Err(StoreError::Backend(format!(
            "value of version {} belongs to secret {}, not {}",
            row.version_id, row.secret_id, secret.id
        )));
    }
    Ok(())
}

/// The document a new secret is stored as, once each of its value rows is checked to be
/// its own.
pub(crate) fn secret_doc(
    secret: &SecretRecord,
    values: &[SecretValueRow],
) -> Result<String, StoreError> {
    let doc = encode_secret(secret)?;
    for row in values {
        check_owner(secret, row)?;
    }
    Ok(doc)
}

/// The document an update of `secret` stores and the revision the stored row must still
/// be at (one no column can hold is a `Conflict`), once each new value row is checked to
/// be the secret's.
pub(crate) fn secret_update(
    secret: &SecretRecord,
    new_values: &[SecretValueRow],
) -> Result<(String, i64), StoreError> {
    let doc = encode_secret(secret)?;
    let revision = i64::try_from(secret.revision).map_err(|_| StoreError::Conflict)?;
    for row in new_values {
        check_owner(secret, row)?;
    }
    Ok((doc, revision))
}

/// A page of secrets asked for in one order after a cursor of the other.
pub(crate) fn wrong_cursor() -> StoreError {
    StoreError::Backend("a secret cursor of another order".into())
}

// The audit chain.

/// The `meta` entry of the last pruning, in [`encode_checkpoint`]'s form.
pub(crate) const AUDIT_CHECKPOINT: &str = "audit-checkpoint";
/// The `meta` entry of the newest event, written with every append in the same form: a
/// chain whose newest events were deleted no longer reaches it.
pub(crate) const AUDIT_HEAD: &str = "audit-head";

/// An audit sequence number as the signed 64-bit column it is stored in.
pub(crate) fn to_sql_seq(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq)
        .map_err(|_| StoreError::Backend(format!("audit sequence number {seq} is out of range")))
}

/// A stored audit sequence number.
pub(crate) fn from_sql_seq(seq: i64) -> Result<u64, StoreError> {
    u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("audit sequence number {seq}")))
}

/// A stored audit hash, which must be 32 bytes.
pub(crate) fn to_hash(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes)
        .map_err(|b| StoreError::Corrupt(format!("audit hash of {} bytes", b.len())))
}

/// A page of the chain after `after_seq` of at most `limit` events, as the column values
/// `(after, limit)`: `None` where it can hold no event (`after_seq` past any stored
/// sequence number, or no room).
pub(crate) fn range_bounds(after_seq: u64, limit: usize) -> Option<(i64, i64)> {
    let after = i64::try_from(after_seq).ok()?;
    if limit == 0 {
        return None;
    }
    Some((after, i64::try_from(limit).unwrap_or(i64::MAX)))
}

/// 8-byte big-endian seq ‖ 32-byte hash.
pub(crate) fn encode_checkpoint(checkpoint: &Checkpoint) -> Vec<u8> {
    let mut out = Vec::with_capacity(40);
    out.extend_from_slice(&checkpoint.seq.to_be_bytes());
    out.extend_from_slice(&checkpoint.hash);
    out
}

pub(crate) fn decode_checkpoint(bytes: &[u8]) -> Result<Checkpoint, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("audit checkpoint of {} bytes", bytes.len()));
    if bytes.len() != 40 {
        return Err(corrupt());
    }
    let (seq, hash) = bytes.split_at(8);
    Ok(Checkpoint {
        seq: u64::from_be_bytes(seq.try_into().map_err(|_| corrupt())?),
        hash: hash.try_into().map_err(|_| corrupt())?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_round_trips_and_a_bad_one_is_corrupt() {
        let cp = Checkpoint {
            seq: 0x0102_0304_0506_0708,
            hash: [9; 32],
        };
        let bytes = encode_checkpoint(&cp);
        assert_eq!(&bytes[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(decode_checkpoint(&bytes).unwrap(), cp);
        assert!(matches!(
            decode_checkpoint(&bytes[..39]),
            Err(StoreError::Corrupt(_))
        ));
    }
}
