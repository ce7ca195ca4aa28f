//! The PostgreSQL backend, for installations that outgrow one machine: several stateless
//! `keyward server` nodes share one database (or a PostgreSQL-compatible cluster, which
//! brings its own replication and failover). The database is the source of truth: every
//! write is one transaction, and the optimistic revisions that make read-modify-write safe
//! within one process make it safe across nodes too.
//!
//! The `Store` trait is synchronous (the server calls it on its blocking pool), so this
//! backend uses the synchronous `postgres` client with an r2d2 connection pool. Each
//! method borrows one pooled connection for its transaction.

use std::time::Duration;

use keyward_core::alias::AliasRecord;
use keyward_core::audit::{ChainedEvent, Checkpoint};
use keyward_core::grant::GrantRecord;
use keyward_core::iam::{RoleRecord, UserRecord};
use keyward_core::key::KeyRecord;
use keyward_core::secret::SecretRecord;
use keyward_core::store::{
    AccessKeyRow, AuditQuery, MaterialRow, SecretCursor, SecretOrder, SecretValueRow,
};
use keyward_core::{Store, StoreError, UnixMillis};
use postgres::error::SqlState;
use postgres::NoTls;
use r2d2::{Pool, PooledConnection};
use r2d2_postgres::PostgresConnectionManager;
use uuid::Uuid;

use crate::postgres_schema::{MIGRATIONS, MIGRATION_LOCK, NODE_LOCK};
use crate::{postgres_audit, postgres_grants, postgres_iam, postgres_keys, postgres_secrets};

type Manager = PostgresConnectionManager<NoTls>;

/// How many connections one node keeps at most.
const POOL_SIZE: u32 = 16;
/// How long a request waits for a free connection before failing.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct PostgresStore {
    pool: Pool<Manager>,
    /// The session that holds the single-node lock, once claimed ([`Self::claim_single_node`]).
    node_lock: std::sync::Mutex<Option<postgres::Client>>,
    config: postgres::Config,
}

pub(crate) fn backend(err: postgres::Error) -> StoreError {
    StoreError::Backend(err.to_string())
}

pub(crate) fn is_unique_violation(err: &postgres::Error) -> bool {
    err.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// A row's `BIGINT` revision as the record's `u64`.
pub(crate) fn revision_of(revision: i64) -> Result<u64, StoreError> {
    u64::try_from(revision).map_err(|_| StoreError::Corrupt("negative revision".into()))
}

pub(crate) fn parse_uuid(s: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: never print it.
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`, or the
    /// key=value form) and brings its schema up to date. Safe when several nodes start at
    /// once: migrations run under one advisory lock, each node applying only what no other
    /// has applied.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let config: postgres::Config = url.parse().map_err(|e: postgres::Error| {
            StoreError::Backend(format!("invalid PostgreSQL URL: {e}"))
        })?;
        let manager = PostgresConnectionManager::new(config.clone(), NoTls);
        let pool = Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(CHECKOUT_TIMEOUT)
            .build(manager)
            .map_err(|e| StoreError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
        let store = Self {
            pool,
            node_lock: std::sync::Mutex::new(None),
            config,
        };
        store.migrate()?;
        Ok(store)
    }

    /// Applies the migrations this database lacks, in one transaction under the migration
    /// lock. Returns how many it applied.
    pub fn migrate(&self) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(backend)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(backend)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS keyward_schema (version BIGINT NOT NULL); \
             INSERT INTO keyward_schema (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM keyward_schema);",
        )
        .map_err(backend)?;
        let version: i64 = tx
            .query_one("SELECT version FROM keyward_schema", &[])
            .map_err(backend)?
            .get(0);
        let known = MIGRATIONS.len();
        let applied = usize::try_from(version)
            .map_err(|_| StoreError::Corrupt(format!("schema version {version}")))?;
        if applied > known {
            return Err(StoreError::Backend(format!(
                "database schema version {applied} is newer than this keyward understands ({known})"
            )));
        }
        for migration in &MIGRATIONS[applied..] {
            tx.batch_execute(migration).map_err(backend)?;
        }
        let now = i64::try_from(known).map_err(|_| StoreError::Corrupt("schema version".into()))?;
        tx.execute("UPDATE keyward_schema SET version = $1", &[&now])
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(known - applied)
    }

    /// Makes this process the only server node on the database, for as long as it runs:
    /// a session-level advisory lock on a connection of its own. Until changes made on
    /// one node reach the caches of the others, a second node would serve stale keys,
    /// grants and policies, so it is refused at start instead.
    pub fn claim_single_node(&self) -> Result<(), StoreError> {
        let mut held = self
            .node_lock
            .lock()
            .map_err(|_| StoreError::Backend("node lock poisoned".into()))?;
        if held.is_some() {
            return Ok(());
        }
        let mut client = self.config.connect(NoTls).map_err(backend)?;
        let claimed: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&NODE_LOCK])
            .map_err(backend)?
            .get(0);
        if !claimed {
            return Err(StoreError::Backend(
                "another keyward server is already using this PostgreSQL database; \
                 several nodes on one database are not supported yet"
                    .into(),
            ));
        }
        *held = Some(client);
        Ok(())
    }

    pub(crate) fn conn(&self) -> Result<PooledConnection<Manager>, StoreError> {
        self.pool
            .get()
            .map_err(|e| StoreError::Backend(format!("no PostgreSQL connection: {e}")))
    }
}

impl Store for PostgresStore {
    fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        postgres_keys::get_meta(&mut *self.conn()?, name)
    }

    fn put_meta_if_absent(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        postgres_keys::put_meta_if_absent(&mut *self.conn()?, name, value)
    }

    fn create_key(
        &self,
        key: &KeyRecord,
        material: Option<&MaterialRow>,
    ) -> Result<u64, StoreError> {
        postgres_keys::create_key(&mut *self.conn()?, key, material)
    }

    fn get_key(&self, id: &Uuid) -> Result<Option<KeyRecord>, StoreError> {
        postgres_keys::get_key(&mut *self.conn()?, id)
    }

    fn update_key(
        &self,
        key: &KeyRecord,
        new_material: Option<&MaterialRow>,
    ) -> Result<u64, StoreError> {
        postgres_keys::update_key(&mut *self.conn()?, key, new_material)
    }

    fn delete_key_material(&self, key: &KeyRecord, versions: &[u32]) -> Result<u64, StoreError> {
        postgres_keys::delete_key_material(&mut *self.conn()?, key, versions)
    }

    fn delete_key(&self, id: &Uuid) -> Result<(), StoreError> {
        postgres_keys::delete_key(&mut *self.conn()?, id)
    }

    fn list_keys(
        &self,
        account: &str,
        region: &str,
        after: Option<&Uuid>,
        limit: usize,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        postgres_keys::list_keys(&mut *self.conn()?, account, region, after, limit)
    }

    fn keys_due(&self, now: UnixMillis) -> Result<Vec<Uuid>, StoreError> {
        postgres_keys::keys_due(&mut *self.conn()?, now)
    }

    fn materials(&self, key_id: &Uuid) -> Result<Vec<MaterialRow>, StoreError> {
        postgres_keys::materials(&mut *self.conn()?, key_id)
    }

    fn create_alias(&self, alias: &AliasRecord) -> Result<(), StoreError> {
        postgres_keys::create_alias(&mut *self.conn()?, alias)
    }

    fn update_alias(&self, alias: &AliasRecord) -> Result<(), StoreError> {
        postgres_keys::update_alias(&mut *self.conn()?, alias)
    }

    fn delete_alias(&self, account: &str, region: &str, name: &str) -> Result<(), StoreError> {
        postgres_keys::delete_alias(&mut *self.conn()?, account, region, name)
    }

    fn all_aliases(&self) -> Result<Vec<AliasRecord>, StoreError> {
        postgres_keys::all_aliases(&mut *self.conn()?)
    }

    fn create_access_key(&self, row: &AccessKeyRow) -> Result<(), StoreError> {
        postgres_iam::create_access_key(&mut *self.conn()?, row)
    }

    fn get_access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRow>, StoreError> {
        postgres_iam::get_access_key(&mut *self.conn()?, access_key_id)
    }

    fn list_access_keys(
        &self,
        account: &str,
        user_name: Option<&str>,
    ) -> Result<Vec<AccessKeyRow>, StoreError> {
        postgres_iam::list_access_keys(&mut *self.conn()?, account, user_name)
    }

    fn set_access_key_active(&self, access_key_id: &str, active: bool) -> Result<(), StoreError> {
        postgres_iam::set_access_key_active(&mut *self.conn()?, access_key_id, active)
    }

    fn delete_access_key(&self, access_key_id: &str) -> Result<(), StoreError> {
        postgres_iam::delete_access_key(&mut *self.conn()?, access_key_id)
    }

    fn create_user(&self, user: &UserRecord) -> Result<u64, StoreError> {
        postgres_iam::create_user(&mut *self.conn()?, user)
    }

    fn get_user(&self, account: &str, name: &str) -> Result<Option<UserRecord>, StoreError> {
        postgres_iam::get_user(&mut *self.conn()?, account, name)
    }

    fn update_user(&self, user: &UserRecord) -> Result<u64, StoreError> {
        postgres_iam::update_user(&mut *self.conn()?, user)
    }

    fn delete_user(&self, account: &str, name: &str) -> Result<(), StoreError> {
        postgres_iam::delete_user(&mut *self.conn()?, account, name)
    }

    fn list_users(&self, account: &str) -> Result<Vec<UserRecord>, StoreError> {
        postgres_iam::list_users(&mut *self.conn()?, account)
    }

    fn create_role(&self, role: &RoleRecord) -> Result<u64, StoreError> {
        postgres_iam::create_role(&mut *self.conn()?, role)
    }

    fn get_role(&self, account: &str, name: &str) -> Result<Option<RoleRecord>, StoreError> {
        postgres_iam::get_role(&mut *self.conn()?, account, name)
    }

    fn update_role(&self, role: &RoleRecord) -> Result<u64, StoreError> {
        postgres_iam::update_role(&mut *self.conn()?, role)
    }

    fn delete_role(&self, account: &str, name: &str) -> Result<(), StoreError> {
        postgres_iam::delete_role(&mut *self.conn()?, account, name)
    }

    fn list_roles(&self, account: &str) -> Result<Vec<RoleRecord>, StoreError> {
        postgres_iam::list_roles(&mut *self.conn()?, account)
    }

    fn create_grant(&self, grant: &GrantRecord) -> Result<(), StoreError> {
        postgres_grants::create(&mut *self.conn()?, grant)
    }

    fn list_grants(&self, key_id: &Uuid) -> Result<Vec<GrantRecord>, StoreError> {
        postgres_grants::list(&mut *self.conn()?, key_id)
    }

    fn get_grant(&self, key_id: &Uuid, grant_id: &str) -> Result<Option<GrantRecord>, StoreError> {
        postgres_grants::get(&mut *self.conn()?, key_id, grant_id)
    }

    fn delete_grant(&self, key_id: &Uuid, grant_id: &str) -> Result<(), StoreError> {
        postgres_grants::delete(&mut *self.conn()?, key_id, grant_id)
    }

    fn list_grants_by_retiring_principal(
        &self,
        account: &str,
        principal: &str,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        postgres_grants::by_retiring_principal(&mut *self.conn()?, account, principal)
    }

    fn all_grants(&self) -> Result<Vec<GrantRecord>, StoreError> {
        postgres_grants::all(&mut *self.conn()?)
    }

    fn create_secret(
        &self,
        secret: &SecretRecord,
        values: &[SecretValueRow],
    ) -> Result<u64, StoreError> {
        postgres_secrets::create(&mut *self.conn()?, secret, values)
    }

    fn get_secret(&self, id: &Uuid) -> Result<Option<SecretRecord>, StoreError> {
        postgres_secrets::get(&mut *self.conn()?, id)
    }

    fn get_secret_by_name(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<Option<SecretRecord>, StoreError> {
        postgres_secrets::get_by_name(&mut *self.conn()?, account, region, name)
    }

    fn update_secret(
        &self,
        secret: &SecretRecord,
        new_values: &[SecretValueRow],
        removed_versions: &[String],
    ) -> Result<u64, StoreError> {
        postgres_secrets::update(&mut *self.conn()?, secret, new_values, removed_versions)
    }

    fn delete_secret(&self, id: &Uuid) -> Result<(), StoreError> {
        postgres_secrets::delete(&mut *self.conn()?, id)
    }

    fn list_secrets(&self, account: &str, region: &str) -> Result<Vec<SecretRecord>, StoreError> {
        postgres_secrets::list(&mut *self.conn()?, account, region)
    }

    fn list_secrets_page(
        &self,
        account: &str,
        region: &str,
        order: SecretOrder,
        after: Option<&SecretCursor>,
        limit: usize,
    ) -> Result<Vec<SecretRecord>, StoreError> {
        postgres_secrets::page(&mut *self.conn()?, account, region, order, after, limit)
    }

    fn secrets_due(&self, now: UnixMillis) -> Result<Vec<Uuid>, StoreError> {
        postgres_secrets::due(&mut *self.conn()?, now)
    }

    fn get_secret_value(
        &self,
        secret_id: &Uuid,
        version_id: &str,
    ) -> Result<Option<SecretValueRow>, StoreError> {
        postgres_secrets::value(&mut *self.conn()?, secret_id, version_id)
    }

    fn append_audit(&self, events: &[ChainedEvent]) -> Result<(), StoreError> {
        postgres_audit::append(&mut *self.conn()?, events)
    }

    fn audit_head(&self) -> Result<Checkpoint, StoreError> {
        postgres_audit::head(&mut *self.conn()?)
    }

    fn lookup_audit(&self, query: &AuditQuery) -> Result<Vec<ChainedEvent>, StoreError> {
        postgres_audit::lookup(&mut *self.conn()?, query)
    }

    fn audit_range(&self, after_seq: u64, limit: usize) -> Result<Vec<ChainedEvent>, StoreError> {
        postgres_audit::range(&mut *self.conn()?, after_seq, limit)
    }

    fn prune_audit(&self, before: UnixMillis) -> Result<Checkpoint, StoreError> {
        postgres_audit::prune(&mut *self.conn()?, before)
    }

    fn audit_checkpoint(&self) -> Result<Checkpoint, StoreError> {
        postgres_audit::checkpoint(&mut *self.conn()?)
    }
}
