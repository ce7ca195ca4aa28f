//! The storage contract. Every method is one whole operation in one transaction, durable
//! when it returns. Backends: SQLite (embedded default) in `keyward-store`.

use uuid::Uuid;

use crate::alias::AliasRecord;
use crate::audit::{ChainedEvent, Checkpoint};
use crate::function::FunctionRecord;
use crate::grant::GrantRecord;
use crate::iam::{RoleRecord, UserRecord};
use crate::key::KeyRecord;
use crate::secret::SecretRecord;
use crate::UnixMillis;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A unique name is taken (alias, access key, secret, user, role, grant).
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    NotFound(String),
    /// The record changed since it was read; read it again and retry.
    #[error("concurrent modification")]
    Conflict,
    /// Stored bytes could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    #[error("storage backend: {0}")]
    Backend(String),
}

/// One version of a key's material, wrapped by the root key.
#[derive(Clone, PartialEq, Eq)]
pub struct MaterialRow {
    pub key_id: Uuid,
    pub version: u32,
    pub wrapped: Vec<u8>,
    pub created: UnixMillis,
}

impl std::fmt::Debug for MaterialRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaterialRow")
            .field("key_id", &self.key_id)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// An access key; the secret is wrapped by the root key.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKeyRow {
    pub access_key_id: String,
    pub wrapped_secret: Vec<u8>,
    pub account: String,
    pub principal_arn: String,
    pub created: UnixMillis,
    pub active: bool,
    /// The IAM user the key belongs to, as stored in the user's record; `None` for the
    /// account root's keys.
    pub user_name: Option<String>,
}

impl std::fmt::Debug for AccessKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyRow")
            .field("access_key_id", &self.access_key_id)
            .field("principal_arn", &self.principal_arn)
            .field("user_name", &self.user_name)
            .finish_non_exhaustive()
    }
}

/// The stored value of one secret version: the value encrypted under a data key, and the
/// data key encrypted under the secret's KMS key (a KMS ciphertext blob).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValueRow {
    pub secret_id: Uuid,
    pub version_id: String,
    pub encrypted_data_key: Vec<u8>,
    pub ciphertext: Vec<u8>,
    /// Whether the value is a `SecretBinary` (else a `SecretString`).
    pub binary: bool,
}

impl std::fmt::Debug for SecretValueRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretValueRow")
            .field("secret_id", &self.secret_id)
            .field("version_id", &self.version_id)
            .finish_non_exhaustive()
    }
}

/// Which events `lookup_audit` returns: one account and region, optionally one attribute,
/// a time range, newest first, before a sequence number (for pagination).
/// An order `list_secrets_page` reads secrets in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretOrder {
    /// By creation time, then id (for secrets created in the same millisecond).
    Created { descending: bool },
    /// By name (unique within an account and region), byte-wise.
    Name { descending: bool },
}

/// The place of a secret in a [`SecretOrder`]: a page starts after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretCursor {
    Created { created: UnixMillis, id: Uuid },
    Name(String),
}

impl SecretCursor {
    /// Where `secret` stands in `order`.
    pub fn of(secret: &SecretRecord, order: SecretOrder) -> Self {
        match order {
            SecretOrder::Created { .. } => SecretCursor::Created {
                created: secret.created,
                id: secret.id,
            },
            SecretOrder::Name { .. } => SecretCursor::Name(secret.name.clone()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    pub account: String,
    pub region: String,
    pub attribute: Option<(AuditAttribute, String)>,
    pub start: Option<UnixMillis>,
    pub end: Option<UnixMillis>,
    pub before_seq: Option<u64>,
    pub limit: usize,
}

/// CloudTrail's lookup attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAttribute {
    EventId,
    EventName,
    ReadOnly,
    Username,
    ResourceType,
    ResourceName,
    EventSource,
    AccessKeyId,
}

/// One committed change, as a [`ChangeFeed`] reports it: enough for a cache to drop (or
/// reload) the entries it makes stale.
///
/// A deleted key is announced as `Key(id)`, and each alias deleted with it as its own
/// `Alias`; its grants and material are covered by `Key`. A user renamed or deleted is
/// announced under every name it had, and every access key it took along (renamed with it
/// or deleted with it) as its own `AccessKey`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Change {
    /// A key's record, its material or its grants (created, changed or deleted).
    Key(Uuid),
    /// An alias (created, pointed at another key, or deleted), by its name as stored.
    Alias {
        account: String,
        region: String,
        name: String,
    },
    /// An access key (created, activated or deactivated, moved with its user, deleted).
    AccessKey(String),
    /// An IAM user. The name is folded to lower case (ASCII only, as the store compares
    /// IAM names; IAM allows only ASCII in them), so a cache keyed by the lowercase name
    /// can use it as it is.
    User { account: String, name: String },
    /// An IAM role; the name as for `User`.
    Role { account: String, name: String },
    /// A secret's record or the values of its versions (created, changed or deleted).
    Secret(Uuid),
    /// Something changed that the feed cannot name (a payload it could not read): the
    /// reader must treat every cache as stale.
    Unknown,
}

/// The changes committed to a shared store by any process, in commit order, as they
/// commit.
/// A reader must open its feed before it fills its caches (a change committed before the
/// feed was open is not reported), and read it steadily.
pub trait ChangeFeed: Send {
    /// Blocks up to `timeout` and returns the changes that arrived (empty on timeout).
    /// The same change may be reported more than once, and a process's own writes are
    /// reported too. An `Err` means the feed is broken (its connection is lost) and
    /// changes may have been missed: the reader must treat every cache as stale and open
    /// a new feed (before reloading anything).
    fn wait(&mut self, timeout: std::time::Duration) -> Result<Vec<Change>, StoreError>;
}

pub trait Store: Send + Sync + 'static {
    /// A feed of the changes committed to this store, for a backend that several
    /// processes share (PostgreSQL); `None` for a backend that only one process
    /// uses (SQLite), whose caches its own writes keep current. Each call opens a new
    /// feed.
    fn changes(&self) -> Result<Option<Box<dyn ChangeFeed>>, StoreError> {
        Ok(None)
    }

    /// Whether this process may run the background jobs now. Where several processes
    /// share the store, exactly one holds the right at a time and it passes to another
    /// when the holder goes away; a single-process backend always holds it.
    fn hold_job_lock(&self) -> Result<bool, StoreError> {
        Ok(true)
    }

    /// Installation-wide values (the root key check, the schema's owner, …).
    fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores `value` unless `name` is set; returns the value that is stored afterwards.
    fn put_meta_if_absent(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError>;
    /// Compare-and-swap: replaces `name`'s value with `value` (or removes it, for `None`)
    /// only if it is `expected` now, in one transaction. Returns whether it did, so two
    /// writers that read the same value cannot both replace it.
    fn replace_meta_if_equals(
        &self,
        name: &str,
        expected: &[u8],
        value: Option<&[u8]>,
    ) -> Result<bool, StoreError>;

    /// Stores a new key with its first material (none for a key awaiting imported
    /// material). Returns the stored revision.
    fn create_key(
        &self,
        key: &KeyRecord,
        material: Option<&MaterialRow>,
    ) -> Result<u64, StoreError>;
    fn get_key(&self, id: &Uuid) -> Result<Option<KeyRecord>, StoreError>;
    /// Replaces a key read at `key.revision` (else `Conflict`), optionally adding one new
    /// material version in the same transaction. Returns the new revision.
    fn update_key(
        &self,
        key: &KeyRecord,
        new_material: Option<&MaterialRow>,
    ) -> Result<u64, StoreError>;
    /// Replaces a key read at `key.revision` (else `Conflict`) and removes the given
    /// versions of its material in the same transaction, leaving the others
    /// (DeleteImportedKeyMaterial, expiry). A version the store lacks is no error. Returns
    /// the new revision.
    fn delete_key_material(&self, key: &KeyRecord, versions: &[u32]) -> Result<u64, StoreError>;
    /// Removes a key, all its material, every alias that points at it and its grants.
    fn delete_key(&self, id: &Uuid) -> Result<(), StoreError>;
    /// Keys of one account and region ordered by id, starting after `after`.
    fn list_keys(
        &self,
        account: &str,
        region: &str,
        after: Option<&Uuid>,
        limit: usize,
    ) -> Result<Vec<KeyRecord>, StoreError>;
    /// Keys whose deletion window or rotation is due at `now`.
    fn keys_due(&self, now: UnixMillis) -> Result<Vec<Uuid>, StoreError>;
    fn materials(&self, key_id: &Uuid) -> Result<Vec<MaterialRow>, StoreError>;

    fn create_alias(&self, alias: &AliasRecord) -> Result<(), StoreError>;
    /// Points an existing alias at another key (`NotFound` if there is no such alias).
    fn update_alias(&self, alias: &AliasRecord) -> Result<(), StoreError>;
    fn delete_alias(&self, account: &str, region: &str, name: &str) -> Result<(), StoreError>;
    fn get_alias(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<Option<AliasRecord>, StoreError>;
    /// Every alias of every account and region, ordered by account, region and name.
    fn all_aliases(&self) -> Result<Vec<AliasRecord>, StoreError>;

    /// Stores a new access key: `AlreadyExists(access_key_id)` if the id is taken, and
    /// `NotFound(user_name)` if it names a user the account does not have (checked in the
    /// same transaction, so a key cannot outlive its user).
    fn create_access_key(&self, row: &AccessKeyRow) -> Result<(), StoreError>;
    fn get_access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRow>, StoreError>;
    /// The access keys of one user of an account (its name in any case), or with `None` the
    /// account root's, ordered by creation and then id.
    fn list_access_keys(
        &self,
        account: &str,
        user_name: Option<&str>,
    ) -> Result<Vec<AccessKeyRow>, StoreError>;
    /// `NotFound(access_key_id)` if there is no such key.
    fn set_access_key_active(&self, access_key_id: &str, active: bool) -> Result<(), StoreError>;
    /// `NotFound(access_key_id)` if there is no such key.
    fn delete_access_key(&self, access_key_id: &str) -> Result<(), StoreError>;

    // IAM names are unique per account regardless of case and looked up regardless of
    // case; a record keeps the case it was stored with. Users and roles are separate
    // namespaces. Errors carry the bare name: `AlreadyExists(name)`, `NotFound(name)`.

    /// Stores a new user at revision 1 (returned). `AlreadyExists(name)` if the account
    /// has a user of that name in any case.
    fn create_user(&self, user: &UserRecord) -> Result<u64, StoreError>;
    fn get_user(&self, account: &str, name: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Replaces the user with `user.user_id` read at `user.revision`: `Conflict` if it has
    /// changed since, `NotFound(name)` if it is gone. A new name or path is carried to the
    /// user's access keys in the same transaction (a taken name is `AlreadyExists`).
    /// Returns the new revision.
    fn update_user(&self, user: &UserRecord) -> Result<u64, StoreError>;
    /// Removes a user and its access keys; `NotFound(name)` if there is no such user.
    fn delete_user(&self, account: &str, name: &str) -> Result<(), StoreError>;
    /// The users of an account ordered by name, without regard to case.
    fn list_users(&self, account: &str) -> Result<Vec<UserRecord>, StoreError>;

    /// As [`Store::create_user`], for roles.
    fn create_role(&self, role: &RoleRecord) -> Result<u64, StoreError>;
    fn get_role(&self, account: &str, name: &str) -> Result<Option<RoleRecord>, StoreError>;
    /// As [`Store::update_user`], for roles (matched by `role.role_id`).
    fn update_role(&self, role: &RoleRecord) -> Result<u64, StoreError>;
    fn delete_role(&self, account: &str, name: &str) -> Result<(), StoreError>;
    fn list_roles(&self, account: &str) -> Result<Vec<RoleRecord>, StoreError>;

    /// Stores a new grant: `NotFound(key_id)` if there is no such key, `AlreadyExists
    /// (grant_id)` if the key has a grant of that id.
    fn create_grant(&self, grant: &GrantRecord) -> Result<(), StoreError>;
    /// The grants of one key ordered by creation and then grant id.
    fn list_grants(&self, key_id: &Uuid) -> Result<Vec<GrantRecord>, StoreError>;
    fn get_grant(&self, key_id: &Uuid, grant_id: &str) -> Result<Option<GrantRecord>, StoreError>;
    /// `NotFound(grant_id)` if the key has no such grant.
    fn delete_grant(&self, key_id: &Uuid, grant_id: &str) -> Result<(), StoreError>;
    /// The grants of an account's keys that `principal` may retire, ordered by creation
    /// and then grant id.
    fn list_grants_by_retiring_principal(
        &self,
        account: &str,
        principal: &str,
    ) -> Result<Vec<GrantRecord>, StoreError>;
    /// Every grant, ordered by key, creation and grant id (to warm caches at start).
    fn all_grants(&self) -> Result<Vec<GrantRecord>, StoreError>;

    /// Stores a new secret and the values of its first versions. A secret of the same
    /// account, region and name is `AlreadyExists`.
    fn create_secret(
        &self,
        secret: &SecretRecord,
        values: &[SecretValueRow],
    ) -> Result<u64, StoreError>;
    fn get_secret(&self, id: &Uuid) -> Result<Option<SecretRecord>, StoreError>;
    fn get_secret_by_name(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<Option<SecretRecord>, StoreError>;
    /// Replaces a secret read at `secret.revision` (else `Conflict`), removes the values of
    /// `removed_versions` and then adds `new_values`, in one transaction (so a version's
    /// value can be replaced by naming it in both).
    fn update_secret(
        &self,
        secret: &SecretRecord,
        new_values: &[SecretValueRow],
        removed_versions: &[String],
    ) -> Result<u64, StoreError>;
    /// Removes a secret and all its values.
    fn delete_secret(&self, id: &Uuid) -> Result<(), StoreError>;
    /// Every secret of one account and region, ordered by name.
    fn list_secrets(&self, account: &str, region: &str) -> Result<Vec<SecretRecord>, StoreError>;
    /// Up to `limit` secrets of one account and region in `order`, starting after `after`
    /// (a secret of that order's last page), read through an index: a page costs the same
    /// however many secrets there are.
    fn list_secrets_page(
        &self,
        account: &str,
        region: &str,
        order: SecretOrder,
        after: Option<&SecretCursor>,
        limit: usize,
    ) -> Result<Vec<SecretRecord>, StoreError>;
    /// Secrets whose recovery window has ended at `now`.
    fn secrets_due(&self, now: UnixMillis) -> Result<Vec<Uuid>, StoreError>;
    fn get_secret_value(
        &self,
        secret_id: &Uuid,
        version_id: &str,
    ) -> Result<Option<SecretValueRow>, StoreError>;

    // Lambda functions. Not announced on the change feed: nothing caches them.
    /// A new function; `AlreadyExists` when the account and region have one of that name.
    fn create_function(&self, function: &FunctionRecord) -> Result<(), StoreError>;
    /// With its code.
    fn get_function(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<Option<FunctionRecord>, StoreError>;
    /// Replaces a function whose `revision_id` is still `expected_revision` (else
    /// `Conflict`; `NotFound` when it is gone).
    fn update_function(
        &self,
        function: &FunctionRecord,
        expected_revision: &str,
    ) -> Result<(), StoreError>;
    /// `NotFound` when there is none.
    fn delete_function(&self, account: &str, region: &str, name: &str) -> Result<(), StoreError>;
    /// By name, without their code.
    fn list_functions(
        &self,
        account: &str,
        region: &str,
    ) -> Result<Vec<FunctionRecord>, StoreError>;

    /// Appends events to the audit chain in one transaction. Their sequence numbers must
    /// follow the current head (else `Conflict`, and nothing is written).
    fn append_audit(&self, events: &[ChainedEvent]) -> Result<(), StoreError>;
    /// The last event of the chain, or the checkpoint of the last pruning, or the genesis.
    fn audit_head(&self) -> Result<Checkpoint, StoreError>;
    /// Events matching `query`, newest first.
    fn lookup_audit(&self, query: &AuditQuery) -> Result<Vec<ChainedEvent>, StoreError>;
    /// Events in chain order after `after_seq`, at most `limit` (for verify and export).
    fn audit_range(&self, after_seq: u64, limit: usize) -> Result<Vec<ChainedEvent>, StoreError>;
    /// Removes the events older than `before` from the start of the chain and records the
    /// last removed one as the checkpoint, in one transaction. Returns the checkpoint.
    fn prune_audit(&self, before: UnixMillis) -> Result<Checkpoint, StoreError>;
    /// Where verification starts: the checkpoint of the last pruning, or the genesis.
    fn audit_checkpoint(&self) -> Result<Checkpoint, StoreError>;
}
