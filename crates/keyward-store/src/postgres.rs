//! The PostgreSQL backend, for installations that outgrow one machine: several stateless
//! `keyward server` nodes share one database (or a PostgreSQL-compatible cluster, which
//! brings its own replication and failover). The database is the source of truth: every
//! write is one transaction, and the optimistic revisions that make read-modify-write safe
//! within one process make it safe across nodes too.
//!
//! The `Store` trait is synchronous (the server calls it on its blocking pool), so this
//! backend uses the synchronous `postgres` client with an r2d2 connection pool. Each
//! method borrows one pooled connection for its transaction.
//!
//! Every write that changes what a node caches (a key, its material or grants, an alias,
//! an access key, a user, a role, a secret) announces it with `pg_notify` on
//! [`CHANGES_CHANNEL`] inside its own transaction, so the notification goes out exactly
//! when the change commits and never for one rolled back. [`PostgresStore::changes`]
//! listens on a connection of its own and reads them back as [`Change`]s. The payload is
//! a JSON array of strings, a tag and then the change's fields (see [`payload`]).

use std::time::{Duration, Instant};

use keyward_core::alias::AliasRecord;
use keyward_core::audit::{ChainedEvent, Checkpoint};
use keyward_core::function::FunctionRecord;
use keyward_core::grant::GrantRecord;
use keyward_core::iam::{RoleRecord, UserRecord};
use keyward_core::key::KeyRecord;
use keyward_core::secret::SecretRecord;
use keyward_core::store::{
    AccessKeyRow, AuditQuery, Change, ChangeFeed, MaterialRow, SecretCursor, SecretOrder,
    SecretValueRow,
};
use keyward_core::{Store, StoreError, UnixMillis};
use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::Type;
use postgres::{NoTls, Transaction};
use r2d2::{Pool, PooledConnection};
use r2d2_postgres::PostgresConnectionManager;
use uuid::Uuid;

use crate::postgres_schema::{JOBS_LOCK, MIGRATIONS, MIGRATION_LOCK};
use crate::{
    postgres_audit, postgres_functions, postgres_grants, postgres_iam, postgres_keys,
    postgres_secrets,
};

type Manager = PostgresConnectionManager<NoTls>;

/// How many connections one node keeps at most.
const POOL_SIZE: u32 = 16;
/// How long a request waits for a free connection before failing.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct PostgresStore {
    /// Always `Some` until the store is dropped (see its `Drop`).
    pool: Option<Pool<Manager>>,
    /// The session that holds the jobs lock, while this process holds it
    /// ([`Store::hold_job_lock`]).
    jobs_lock: std::sync::Mutex<Option<postgres::Client>>,
    config: postgres::Config,
}

/// A synchronous `postgres::Client` closes its connection by blocking on its own runtime,
/// which panics on a thread that drives a tokio runtime — where a server drops its state.
/// So the pool and the jobs-lock session are closed on a thread of their own.
impl Drop for PostgresStore {
    fn drop(&mut self) {
        let pool = self.pool.take();
        let held = self.jobs_lock.get_mut().ok().and_then(Option::take);
        let closing = std::thread::Builder::new()
            .name("keyward-pg-close".into())
            .spawn(move || drop((pool, held)));
        if let Err(err) = closing {
            tracing::warn!(error = %err, "cannot start a thread to close PostgreSQL connections");
        }
    }
}

pub(crate) fn backend(err: postgres::Error) -> StoreError {
    StoreError::Backend(err.to_string())
}

pub(crate) fn is_unique_violation(err: &postgres::Error) -> bool {
    err.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// The channel every change is announced on.
pub(crate) const CHANGES_CHANNEL: &str = "keyward_changes";

/// PostgreSQL refuses a payload of this many bytes or more (in its default build).
const PAYLOAD_LIMIT: usize = 8000;

/// The payload of [`Change::Unknown`], sent instead of one that would be too long.
const UNKNOWN_PAYLOAD: &str = r#"["*"]"#;

/// How long a feed goes without hearing from its connection before it checks that the
/// connection still works (a connection can die silently, and then no notification ever
/// arrives), and how long that check may take.
const FEED_CHECK_INTERVAL: Duration = Duration::from_secs(10);
const FEED_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The notification payload of `change`: a JSON array of strings, its tag first, so that
/// no name (alias names hold `/`) can be read as another:
///
/// | change | payload |
/// |---|---|
/// | `Key(id)` | `["k","<uuid>"]` |
/// | `Alias { account, region, name }` | `["a","<account>","<region>","<name>"]` |
/// | `AccessKey(id)` | `["ak","<access key id>"]` |
/// | `User { account, name }` | `["u","<account>","<name in ASCII lower case>"]` |
/// | `Role { account, name }` | `["r","<account>","<name in ASCII lower case>"]` |
/// | `Secret(id)` | `["s","<uuid>"]` |
/// | `Unknown` | `["*"]` |
///
/// A payload that would reach PostgreSQL's limit (8000 bytes; no valid name comes near)
/// is sent as `["*"]` instead, which tells readers to drop everything.
pub(crate) fn payload(change: &Change) -> String {
    let (id, folded);
    let parts: Vec<&str> = match change {
        Change::Key(key) => {
            id = key.to_string();
            vec!["k", &id]
        }
        Change::Alias {
            account,
            region,
            name,
        } => vec!["a", account, region, name],
        Change::AccessKey(access_key_id) => vec!["ak", access_key_id],
        Change::User { account, name } => {
            folded = name.to_ascii_lowercase();
            vec!["u", account, &folded]
        }
        Change::Role { account, name } => {
            folded = name.to_ascii_lowercase();
            vec!["r", account, &folded]
        }
        Change::Secret(secret) => {
            id = secret.to_string();
            vec!["s", &id]
        }
        Change::Unknown => return UNKNOWN_PAYLOAD.to_owned(),
    };
    match serde_json::to_string(&parts) {
        Ok(text) if text.len() < PAYLOAD_LIMIT => text,
        _ => UNKNOWN_PAYLOAD.to_owned(),
    }
}

/// The change a payload announces; `Unknown` for one this version cannot read.
pub(crate) fn parse_payload(payload: &str) -> Change {
    let Ok(parts) = serde_json::from_str::<Vec<String>>(payload) else {
        return Change::Unknown;
    };
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let owned = |s: &str| s.to_owned();
    match parts.as_slice() {
        ["k", id] => Uuid::parse_str(id).map_or(Change::Unknown, Change::Key),
        ["a", account, region, name] => Change::Alias {
            account: owned(account),
            region: owned(region),
            name: owned(name),
        },
        ["ak", id] => Change::AccessKey(owned(id)),
        ["u", account, name] => Change::User {
            account: owned(account),
            name: name.to_ascii_lowercase(),
        },
        ["r", account, name] => Change::Role {
            account: owned(account),
            name: name.to_ascii_lowercase(),
        },
        ["s", id] => Uuid::parse_str(id).map_or(Change::Unknown, Change::Secret),
        _ => Change::Unknown,
    }
}

/// Announces `changes` on [`CHANGES_CHANNEL`] as part of `tx`: listeners hear of them when
/// (and only if) it commits. One round trip, however many there are. Call it last, after
/// every check of the write has passed.
pub(crate) fn notify(tx: &mut Transaction<'_>, changes: &[Change]) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut payloads: Vec<String> = changes.iter().map(payload).collect();
    payloads.dedup();
    tx.execute_typed(
        "SELECT pg_notify($1, p) FROM unnest($2) AS p",
        &[
            (&CHANGES_CHANNEL, Type::TEXT),
            (&payloads, Type::TEXT_ARRAY),
        ],
    )
    .map_err(backend)?;
    Ok(())
}

/// A [`ChangeFeed`] on a connection of its own that listens on [`CHANGES_CHANNEL`]. A
/// connection can die without a word (a peer gone from the network), and then no
/// notification ever arrives: after [`FEED_CHECK_INTERVAL`] without one, `wait` checks the
/// connection with an empty query, which may hold it up to [`FEED_CHECK_TIMEOUT`] longer
/// before it reports the feed broken.
struct PostgresFeed {
    client: postgres::Client,
    /// When the connection last proved alive (a notification, or a check).
    last_heard: Instant,
    /// Set once the connection has failed: it is not polled again.
    broken: bool,
}

impl std::fmt::Debug for PostgresFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresFeed").finish_non_exhaustive()
    }
}

fn feed_broken(err: postgres::Error) -> StoreError {
    StoreError::Backend(format!("change feed connection lost: {err}"))
}

impl PostgresFeed {
    /// Moves the notifications already received (or waiting unread on the socket, without
    /// blocking) into `out`.
    fn drain(&mut self, out: &mut Vec<Change>) -> Result<(), StoreError> {
        let mut notifications = self.client.notifications();
        let mut pending = notifications.iter();
        while let Some(notification) = pending.next().map_err(feed_broken)? {
            if notification.channel() == CHANGES_CHANNEL {
                out.push(parse_payload(notification.payload()));
            }
        }
        Ok(())
    }

    fn closed(&self) -> Result<(), StoreError> {
        if self.client.is_closed() {
            return Err(StoreError::Backend("change feed connection closed".into()));
        }
        Ok(())
    }

    /// [`ChangeFeed::wait`] on a connection not known to be broken.
    fn wait_inner(&mut self, timeout: Duration) -> Result<Vec<Change>, StoreError> {
        let mut changes = Vec::new();
        let first = self
            .client
            .notifications()
            .timeout_iter(timeout)
            .next()
            .map_err(feed_broken)?;
        if let Some(notification) = first {
            if notification.channel() == CHANGES_CHANNEL {
                changes.push(parse_payload(notification.payload()));
            }
        }
        // `None` is a timeout or a closed connection: tell them apart.
        self.closed()?;
        self.drain(&mut changes)?;
        self.closed()?;
        if !changes.is_empty() {
            self.last_heard = Instant::now();
        } else if self.last_heard.elapsed() >= FEED_CHECK_INTERVAL {
            self.client
                .is_valid(FEED_CHECK_TIMEOUT)
                .map_err(feed_broken)?;
            self.last_heard = Instant::now();
            // Anything that arrived during the check.
            self.drain(&mut changes)?;
        }
        Ok(changes)
    }
}

impl ChangeFeed for PostgresFeed {
    fn wait(&mut self, timeout: Duration) -> Result<Vec<Change>, StoreError> {
        if self.broken {
            return Err(StoreError::Backend("change feed connection lost".into()));
        }
        let result = self.wait_inner(timeout);
        self.broken = result.is_err();
        result
    }
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
            pool: Some(pool),
            jobs_lock: std::sync::Mutex::new(None),
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

    /// A new feed of the changes committed to this database by any node (this one
    /// included), on a connection of its own; see [`Store::changes`].
    fn open_feed(&self) -> Result<PostgresFeed, StoreError> {
        let mut client = self.config.connect(NoTls).map_err(|e| {
            StoreError::Backend(format!("cannot connect to PostgreSQL for changes: {e}"))
        })?;
        client
            .batch_execute(&format!("LISTEN {CHANGES_CHANNEL}"))
            .map_err(backend)?;
        Ok(PostgresFeed {
            client,
            last_heard: Instant::now(),
            broken: false,
        })
    }

    pub(crate) fn conn(&self) -> Result<PooledConnection<Manager>, StoreError> {
        self.pool
            .as_ref()
            .ok_or_else(|| StoreError::Backend("the store is closed".into()))?
            .get()
            .map_err(|e| StoreError::Backend(format!("no PostgreSQL connection: {e}")))
    }
}

impl Store for PostgresStore {
    /// A session-level advisory lock on a connection of its own: held until that session
    /// ends, which PostgreSQL notices when the process dies or its connection breaks.
    /// Each call checks that the session is still alive (a lost session lost the lock)
    /// and otherwise tries to take the lock, without waiting.
    fn hold_job_lock(&self) -> Result<bool, StoreError> {
        let mut held = self
            .jobs_lock
            .lock()
            .map_err(|_| StoreError::Backend("jobs lock poisoned".into()))?;
        if let Some(client) = held.as_mut() {
            if !client.is_closed() && client.simple_query("SELECT 1").is_ok() {
                return Ok(true);
            }
            tracing::warn!("lost the connection that held the jobs lock");
            *held = None;
        }
        let mut client = self.config.connect(NoTls).map_err(backend)?;
        let claimed: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&JOBS_LOCK])
            .map_err(backend)?
            .get(0);
        if claimed {
            *held = Some(client);
        }
        Ok(claimed)
    }

    fn changes(&self) -> Result<Option<Box<dyn ChangeFeed>>, StoreError> {
        Ok(Some(Box::new(self.open_feed()?)))
    }

    fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        postgres_keys::get_meta(&mut *self.conn()?, name)
    }

    fn put_meta_if_absent(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        postgres_keys::put_meta_if_absent(&mut *self.conn()?, name, value)
    }

    fn replace_meta_if_equals(
        &self,
        name: &str,
        expected: &[u8],
        value: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        postgres_keys::replace_meta_if_equals(&mut *self.conn()?, name, expected, value)
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

    fn get_alias(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<Option<AliasRecord>, StoreError> {
        postgres_keys::get_alias(&mut *self.conn()?, account, region, name)
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

    fn create_function(&self, function: &FunctionRecord) -> Result<(), StoreError> {
        postgres_functions::create(&mut *self.conn()?, function)
    }

    fn get_function(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<Option<FunctionRecord>, StoreError> {
        postgres_functions::get(&mut *self.conn()?, account, region, name)
    }

    fn update_function(
        &self,
        function: &FunctionRecord,
        expected_revision: &str,
    ) -> Result<(), StoreError> {
        postgres_functions::update(&mut *self.conn()?, function, expected_revision)
    }

    fn delete_function(&self, account: &str, region: &str, name: &str) -> Result<(), StoreError> {
        postgres_functions::delete(&mut *self.conn()?, account, region, name)
    }

    fn list_functions(
        &self,
        account: &str,
        region: &str,
    ) -> Result<Vec<FunctionRecord>, StoreError> {
        postgres_functions::list(&mut *self.conn()?, account, region)
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn payloads_read_back_as_the_change_they_announce() {
        let changes = [
            Change::Key(Uuid::new_v4()),
            Change::Alias {
                account: "111122223333".into(),
                region: "us-east-1".into(),
                name: "alias/a/b\"c\\d/ü".into(),
            },
            Change::AccessKey("AKIAEXAMPLE".into()),
            Change::User {
                account: "111122223333".into(),
                name: "alice+ops@example.com".into(),
            },
            Change::Role {
                account: "111122223333".into(),
                name: "app/role".into(),
            },
            Change::Secret(Uuid::new_v4()),
            Change::Unknown,
        ];
        for change in changes {
            assert_eq!(parse_payload(&payload(&change)), change, "{change:?}");
        }
        assert_eq!(
            payload(&Change::Alias {
                account: "1".into(),
                region: "r".into(),
                name: "alias/x".into()
            }),
            r#"["a","1","r","alias/x"]"#
        );
    }

    #[test]
    fn iam_names_are_folded_to_lower_case() {
        let user = Change::User {
            account: "111122223333".into(),
            name: "Alice".into(),
        };
        assert_eq!(payload(&user), r#"["u","111122223333","alice"]"#);
        assert_eq!(
            parse_payload(r#"["r","111122223333","AppRole"]"#),
            Change::Role {
                account: "111122223333".into(),
                name: "approle".into()
            }
        );
    }

    #[test]
    fn what_cannot_be_read_or_sent_is_unknown() {
        for garbage in [
            "",
            "k:00000000-0000-0000-0000-000000000000",
            "[]",
            r#"["k"]"#,
            r#"["k","not-a-uuid"]"#,
            r#"["s","1","2"]"#,
            r#"["x","y"]"#,
            r#"{"k":"v"}"#,
            r#"["a","1","r"]"#,
        ] {
            assert_eq!(parse_payload(garbage), Change::Unknown, "{garbage}");
        }
        let huge = Change::Alias {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            name: "x".repeat(PAYLOAD_LIMIT),
        };
        assert_eq!(payload(&huge), UNKNOWN_PAYLOAD);
        let just_fits = Change::AccessKey("x".repeat(PAYLOAD_LIMIT - 10));
        assert_eq!(payload(&just_fits).len(), PAYLOAD_LIMIT - 1);
        assert_eq!(parse_payload(&payload(&just_fits)), just_fits);
    }
}
