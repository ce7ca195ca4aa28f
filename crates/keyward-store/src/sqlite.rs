use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use keyward_core::alias::AliasRecord;
use keyward_core::audit::{ChainedEvent, Checkpoint};
use keyward_core::function::FunctionRecord;
use keyward_core::grant::GrantRecord;
use keyward_core::iam::{RoleRecord, UserRecord};
use keyward_core::key::KeyRecord;
use keyward_core::secret::SecretRecord;
use keyward_core::store::{
    AccessKeyRow, AuditQuery, MaterialRow, SecretCursor, SecretOrder, SecretValueRow,
};
use keyward_core::{Store, StoreError, UnixMillis};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use uuid::Uuid;

use crate::records::{
    alias_exists, alias_name_not_found, alias_not_found, alias_target_missing, decode_key,
    encode_key, parse_uuid,
};
use crate::sqlite_schema::MIGRATIONS;
use crate::{sqlite_audit, sqlite_functions, sqlite_grants, sqlite_iam, sqlite_secrets};

pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// Copies the write-ahead log into the database file off the commit path; `None` for
    /// an in-memory database.
    checkpointer: Option<Checkpointer>,
}

/// How often the checkpointer copies committed pages from the write-ahead log into the
/// database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// Log frames (pages) past which the checkpointer restarts the log: 32 MiB of 4 KiB pages.
const RESTART_AFTER_FRAMES: i64 = 8192;

/// Log frames a restart may have to copy with the store locked, at most (after up to four
/// passive passes).
const LEFT_UNDER_LOCK: i64 = 512;

/// A thread with its own connection that checkpoints the write-ahead log. SQLite would
/// otherwise do it inside whichever commit crossed 1000 pages of log: that commit (often
/// the audit writer's, which every waiting request depends on) then also wrote megabytes
/// into the database file and waited for them to reach the disk. A passive checkpoint runs
/// beside writers and readers without blocking them; commits stay as durable as before,
/// since each is on disk in the log when it returns.
struct Checkpointer {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(
        path: &Path,
        store: Arc<Mutex<Connection>>,
        every: std::time::Duration,
        restart_after: i64,
    ) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(backend)?;
        conn.execute_batch("PRAGMA busy_timeout = 5000;")
            .map_err(backend)?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("keyward-checkpoint".into())
            .spawn(move || {
                let mut restarted_at: Option<i64> = None;
                // Ends when the store is dropped (the sender goes with it).
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(every)
                {
                    // A checkpoint that could not finish is taken up again next time.
                    let passive = || {
                        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                        })
                        .unwrap_or((0, 0))
                    };
                    let (mut log_frames, mut copied) = passive();
                    // Under steady writes a passive checkpoint never finds the log idle, so
                    // the log is never started again from its beginning and grows without
                    // end. Past a bound, the store's own connection, with every writer of
                    // this process held off by its lock, copies the few frames the passive
                    // checkpoint left and has the next commit start the log afresh.
                    // Once restarted, the log keeps its length until the next commit starts
                    // it again: nothing to do until then.
                    if log_frames > restart_after && restarted_at != Some(log_frames) {
                        // What was committed while the passive checkpoint ran is copied
                        // passively too, so that little is left to copy under the lock.
                        for _ in 0..4 {
                            if log_frames - copied < LEFT_UNDER_LOCK {
                                break;
                            }
                            (log_frames, copied) = passive();
                        }
                        if let Ok(main) = store.lock() {
                            restarted_at = main
                                .query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get(1))
                                .ok();
                        }
                    }
                }
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the checkpointer: {e}")))?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub(crate) fn backend(err: rusqlite::Error) -> StoreError {
    StoreError::Backend(err.to_string())
}

pub(crate) fn is_unique_violation(err: &rusqlite::Error) -> bool {
    matches!(err, rusqlite::Error::SqliteFailure(e, _)
        if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_checkpointed(path, CHECKPOINT_EVERY, RESTART_AFTER_FRAMES)
    }

    fn open_checkpointed(
        path: &Path,
        every: std::time::Duration,
        restart_after: i64,
    ) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(backend)?;
        let mut store = Self::init(conn)?;
        store
            .conn()?
            .execute_batch("PRAGMA wal_autocheckpoint = 0;")
            .map_err(backend)?;
        let checkpointer =
            Checkpointer::start(path, Arc::clone(&store.conn), every, restart_after)?;
        store.checkpointer = Some(checkpointer);
        Ok(store)
    }

    /// A private in-memory database, for tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(backend)?)
    }

    fn init(mut conn: Connection) -> Result<Self, StoreError> {
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
        )
        .map_err(backend)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(backend)?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::Backend(format!(
                "database schema version {version} is newer than this keyward understands ({known})"
            )));
        }
        for (index, migration) in MIGRATIONS
            .iter()
            .enumerate()
            .skip(usize::try_from(version).unwrap_or(0))
        {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            tx.execute_batch(migration).map_err(backend)?;
            tx.pragma_update(None, "user_version", index as i64 + 1)
                .map_err(backend)?;
            tx.commit().map_err(backend)?;
        }
        // Room for every statement the store caches (the audit lookups alone are nine).
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            checkpointer: None,
        })
    }

    pub(crate) fn conn(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.conn
            .lock()
            .map_err(|_| StoreError::Backend("connection lock poisoned".into()))
    }
}

fn insert_material(conn: &Connection, row: &MaterialRow) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO key_material (key_id, version, wrapped, created) VALUES (?1, ?2, ?3, ?4)",
        params![
            row.key_id.to_string(),
            row.version,
            row.wrapped,
            row.created.0
        ],
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict
        } else {
            backend(e)
        }
    })?;
    Ok(())
}

impl Store for SqliteStore {
    fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn()?
            .query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(backend)
    }

    fn put_meta_if_absent(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        tx.execute(
            "INSERT OR IGNORE INTO meta (name, value) VALUES (?1, ?2)",
            params![name, value],
        )
        .map_err(backend)?;
        let stored: Vec<u8> = tx
            .query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(stored)
    }

    fn replace_meta_if_equals(
        &self,
        name: &str,
        expected: &[u8],
        value: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let conn = self.conn()?;
        let changed = match value {
            Some(value) => conn.execute(
                "UPDATE meta SET value = ?3 WHERE name = ?1 AND value = ?2",
                params![name, expected, value],
            ),
            None => conn.execute(
                "DELETE FROM meta WHERE name = ?1 AND value = ?2",
                params![name, expected],
            ),
        }
        .map_err(backend)?;
        Ok(changed == 1)
    }

    fn create_key(
        &self,
        key: &KeyRecord,
        material: Option<&MaterialRow>,
    ) -> Result<u64, StoreError> {
        let doc = encode_key(key)?;
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        tx.execute(
            "INSERT INTO keys (id, account, region, revision, due_at, doc) VALUES (?1, ?2, ?3, 1, ?4, ?5)",
            params![key.id.to_string(), key.account, key.region, key.next_due().map(|d| d.0), doc],
        )
        .map_err(|e| if is_unique_violation(&e) { StoreError::AlreadyExists(format!("key {} exists", key.id)) } else { backend(e) })?;
        if let Some(material) = material {
            insert_material(&tx, material)?;
        }
        tx.commit().map_err(backend)?;
        Ok(1)
    }

    fn get_key(&self, id: &Uuid) -> Result<Option<KeyRecord>, StoreError> {
        let row: Option<(String, i64)> = self
            .conn()?
            .query_row(
                "SELECT doc, revision FROM keys WHERE id = ?1",
                [id.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(backend)?;
        row.map(|(doc, revision)| decode_key(&doc, revision))
            .transpose()
    }

    fn update_key(
        &self,
        key: &KeyRecord,
        new_material: Option<&MaterialRow>,
    ) -> Result<u64, StoreError> {
        let doc = encode_key(key)?;
        let revision = i64::try_from(key.revision).map_err(|_| StoreError::Conflict)?;
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let changed = tx
            .execute(
                "UPDATE keys SET doc = ?1, due_at = ?2, revision = revision + 1 WHERE id = ?3 AND revision = ?4",
                params![doc, key.next_due().map(|d| d.0), key.id.to_string(), revision],
            )
            .map_err(backend)?;
        if changed != 1 {
            return Err(StoreError::Conflict);
        }
        if let Some(row) = new_material {
            insert_material(&tx, row)?;
        }
        tx.commit().map_err(backend)?;
        Ok(key.revision + 1)
    }

    fn delete_key_material(&self, key: &KeyRecord, versions: &[u32]) -> Result<u64, StoreError> {
        let doc = encode_key(key)?;
        let revision = i64::try_from(key.revision).map_err(|_| StoreError::Conflict)?;
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let id = key.id.to_string();
        let changed = tx
            .execute(
                "UPDATE keys SET doc = ?1, due_at = ?2, revision = revision + 1 WHERE id = ?3 AND revision = ?4",
                params![doc, key.next_due().map(|d| d.0), id, revision],
            )
            .map_err(backend)?;
        if changed != 1 {
            return Err(StoreError::Conflict);
        }
        for version in versions {
            tx.execute(
                "DELETE FROM key_material WHERE key_id = ?1 AND version = ?2",
                params![id, version],
            )
            .map_err(backend)?;
        }
        tx.commit().map_err(backend)?;
        Ok(key.revision + 1)
    }

    fn delete_key(&self, id: &Uuid) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let id = id.to_string();
        tx.execute("DELETE FROM aliases WHERE target = ?1", [&id])
            .map_err(backend)?;
        tx.execute("DELETE FROM grants WHERE key_id = ?1", [&id])
            .map_err(backend)?;
        tx.execute("DELETE FROM key_material WHERE key_id = ?1", [&id])
            .map_err(backend)?;
        tx.execute("DELETE FROM keys WHERE id = ?1", [&id])
            .map_err(backend)?;
        tx.commit().map_err(backend)
    }

    fn list_keys(
        &self,
        account: &str,
        region: &str,
        after: Option<&Uuid>,
        limit: usize,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT doc, revision FROM keys WHERE account = ?1 AND region = ?2 AND id > ?3 ORDER BY id LIMIT ?4",
            )
            .map_err(backend)?;
        let after = after.map(Uuid::to_string).unwrap_or_default();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![account, region, after, limit], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(backend)?;
        rows.map(|row| {
            let (doc, revision) = row.map_err(backend)?;
            decode_key(&doc, revision)
        })
        .collect()
    }

    fn keys_due(&self, now: UnixMillis) -> Result<Vec<Uuid>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached("SELECT id FROM keys WHERE due_at <= ?1 ORDER BY due_at")
            .map_err(backend)?;
        let rows = stmt
            .query_map([now.0], |r| r.get::<_, String>(0))
            .map_err(backend)?;
        rows.map(|row| parse_uuid(&row.map_err(backend)?)).collect()
    }

    fn materials(&self, key_id: &Uuid) -> Result<Vec<MaterialRow>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached("SELECT version, wrapped, created FROM key_material WHERE key_id = ?1 ORDER BY version")
            .map_err(backend)?;
        let rows = stmt
            .query_map([key_id.to_string()], |r| {
                Ok((
                    r.get::<_, u32>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(backend)?;
        rows.map(|row| {
            let (version, wrapped, created) = row.map_err(backend)?;
            Ok(MaterialRow {
                key_id: *key_id,
                version,
                wrapped,
                created: UnixMillis(created),
            })
        })
        .collect()
    }

    fn create_alias(&self, alias: &AliasRecord) -> Result<(), StoreError> {
        let conn = self.conn()?;
        conn.execute(
            "INSERT INTO aliases (account, region, name, target, created, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![alias.account, alias.region, alias.name, alias.target.to_string(), alias.created.0, alias.updated.0],
        )
        .map_err(|e| {
            if is_unique_violation(&e) {
                alias_exists(alias)
            } else if matches!(&e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY) {
                alias_target_missing(alias)
            } else {
                backend(e)
            }
        })?;
        Ok(())
    }

    fn update_alias(&self, alias: &AliasRecord) -> Result<(), StoreError> {
        let changed = self
            .conn()?
            .execute(
                "UPDATE aliases SET target = ?1, updated = ?2 WHERE account = ?3 AND region = ?4 AND name = ?5",
                params![alias.target.to_string(), alias.updated.0, alias.account, alias.region, alias.name],
            )
            .map_err(backend)?;
        if changed == 0 {
            return Err(alias_not_found(alias));
        }
        Ok(())
    }

    fn delete_alias(&self, account: &str, region: &str, name: &str) -> Result<(), StoreError> {
        let changed = self
            .conn()?
            .execute(
                "DELETE FROM aliases WHERE account = ?1 AND region = ?2 AND name = ?3",
                params![account, region, name],
            )
            .map_err(backend)?;
        if changed == 0 {
            return Err(alias_name_not_found(account, region, name));
        }
        Ok(())
    }

    fn get_alias(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<Option<AliasRecord>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(&format!(
                "{ALIAS_COLUMNS} WHERE account = ?1 AND region = ?2 AND name = ?3"
            ))
            .map_err(backend)?;
        let mut rows = stmt
            .query_map(params![account, region, name], alias_columns)
            .map_err(backend)?;
        rows.next()
            .map(|row| alias_from_columns(row.map_err(backend)?))
            .transpose()
    }

    fn all_aliases(&self) -> Result<Vec<AliasRecord>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(&format!("{ALIAS_COLUMNS} ORDER BY account, region, name"))
            .map_err(backend)?;
        let rows = stmt.query_map([], alias_columns).map_err(backend)?;
        rows.map(|row| alias_from_columns(row.map_err(backend)?))
            .collect()
    }

    fn create_access_key(&self, row: &AccessKeyRow) -> Result<(), StoreError> {
        sqlite_iam::create_access_key(&mut *self.conn()?, row)
    }

    fn get_access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRow>, StoreError> {
        sqlite_iam::get_access_key(&*self.conn()?, access_key_id)
    }

    fn list_access_keys(
        &self,
        account: &str,
        user_name: Option<&str>,
    ) -> Result<Vec<AccessKeyRow>, StoreError> {
        sqlite_iam::list_access_keys(&*self.conn()?, account, user_name)
    }

    fn set_access_key_active(&self, access_key_id: &str, active: bool) -> Result<(), StoreError> {
        sqlite_iam::set_access_key_active(&*self.conn()?, access_key_id, active)
    }

    fn delete_access_key(&self, access_key_id: &str) -> Result<(), StoreError> {
        sqlite_iam::delete_access_key(&*self.conn()?, access_key_id)
    }

    fn create_user(&self, user: &UserRecord) -> Result<u64, StoreError> {
        sqlite_iam::create_user(&*self.conn()?, user)
    }

    fn get_user(&self, account: &str, name: &str) -> Result<Option<UserRecord>, StoreError> {
        sqlite_iam::get_user(&*self.conn()?, account, name)
    }

    fn update_user(&self, user: &UserRecord) -> Result<u64, StoreError> {
        sqlite_iam::update_user(&mut *self.conn()?, user)
    }

    fn delete_user(&self, account: &str, name: &str) -> Result<(), StoreError> {
        sqlite_iam::delete_user(&mut *self.conn()?, account, name)
    }

    fn list_users(&self, account: &str) -> Result<Vec<UserRecord>, StoreError> {
        sqlite_iam::list_users(&*self.conn()?, account)
    }

    fn create_role(&self, role: &RoleRecord) -> Result<u64, StoreError> {
        sqlite_iam::create_role(&*self.conn()?, role)
    }

    fn get_role(&self, account: &str, name: &str) -> Result<Option<RoleRecord>, StoreError> {
        sqlite_iam::get_role(&*self.conn()?, account, name)
    }

    fn update_role(&self, role: &RoleRecord) -> Result<u64, StoreError> {
        sqlite_iam::update_role(&mut *self.conn()?, role)
    }

    fn delete_role(&self, account: &str, name: &str) -> Result<(), StoreError> {
        sqlite_iam::delete_role(&mut *self.conn()?, account, name)
    }

    fn list_roles(&self, account: &str) -> Result<Vec<RoleRecord>, StoreError> {
        sqlite_iam::list_roles(&*self.conn()?, account)
    }

    fn create_grant(&self, grant: &GrantRecord) -> Result<(), StoreError> {
        sqlite_grants::create(&*self.conn()?, grant)
    }

    fn list_grants(&self, key_id: &Uuid) -> Result<Vec<GrantRecord>, StoreError> {
        sqlite_grants::list(&*self.conn()?, key_id)
    }

    fn get_grant(&self, key_id: &Uuid, grant_id: &str) -> Result<Option<GrantRecord>, StoreError> {
        sqlite_grants::get(&*self.conn()?, key_id, grant_id)
    }

    fn delete_grant(&self, key_id: &Uuid, grant_id: &str) -> Result<(), StoreError> {
        sqlite_grants::delete(&*self.conn()?, key_id, grant_id)
    }

    fn list_grants_by_retiring_principal(
        &self,
        account: &str,
        principal: &str,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        sqlite_grants::by_retiring_principal(&*self.conn()?, account, principal)
    }

    fn all_grants(&self) -> Result<Vec<GrantRecord>, StoreError> {
        sqlite_grants::all(&*self.conn()?)
    }

    fn create_secret(
        &self,
        secret: &SecretRecord,
        values: &[SecretValueRow],
    ) -> Result<u64, StoreError> {
        sqlite_secrets::create(&mut *self.conn()?, secret, values)
    }

    fn get_secret(&self, id: &Uuid) -> Result<Option<SecretRecord>, StoreError> {
        sqlite_secrets::get(&*self.conn()?, id)
    }

    fn get_secret_by_name(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<Option<SecretRecord>, StoreError> {
        sqlite_secrets::get_by_name(&*self.conn()?, account, region, name)
    }

    fn update_secret(
        &self,
        secret: &SecretRecord,
        new_values: &[SecretValueRow],
        removed_versions: &[String],
    ) -> Result<u64, StoreError> {
        sqlite_secrets::update(&mut *self.conn()?, secret, new_values, removed_versions)
    }

    fn delete_secret(&self, id: &Uuid) -> Result<(), StoreError> {
        sqlite_secrets::delete(&mut *self.conn()?, id)
    }

    fn list_secrets(&self, account: &str, region: &str) -> Result<Vec<SecretRecord>, StoreError> {
        sqlite_secrets::list(&*self.conn()?, account, region)
    }

    fn list_secrets_page(
        &self,
        account: &str,
        region: &str,
        order: SecretOrder,
        after: Option<&SecretCursor>,
        limit: usize,
    ) -> Result<Vec<SecretRecord>, StoreError> {
        sqlite_secrets::page(&*self.conn()?, account, region, order, after, limit)
    }

    fn secrets_due(&self, now: UnixMillis) -> Result<Vec<Uuid>, StoreError> {
        sqlite_secrets::due(&*self.conn()?, now)
    }

    fn get_secret_value(
        &self,
        secret_id: &Uuid,
        version_id: &str,
    ) -> Result<Option<SecretValueRow>, StoreError> {
        sqlite_secrets::value(&*self.conn()?, secret_id, version_id)
    }

    fn create_function(&self, function: &FunctionRecord) -> Result<(), StoreError> {
        sqlite_functions::create(&*self.conn()?, function)
    }

    fn get_function(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<Option<FunctionRecord>, StoreError> {
        sqlite_functions::get(&*self.conn()?, account, region, name)
    }

    fn update_function(
        &self,
        function: &FunctionRecord,
        expected_revision: &str,
    ) -> Result<(), StoreError> {
        sqlite_functions::update(&*self.conn()?, function, expected_revision)
    }

    fn delete_function(&self, account: &str, region: &str, name: &str) -> Result<(), StoreError> {
        sqlite_functions::delete(&*self.conn()?, account, region, name)
    }

    fn list_functions(
        &self,
        account: &str,
        region: &str,
    ) -> Result<Vec<FunctionRecord>, StoreError> {
        sqlite_functions::list(&*self.conn()?, account, region)
    }

    fn append_audit(&self, events: &[ChainedEvent]) -> Result<(), StoreError> {
        sqlite_audit::append(&mut *self.conn()?, events)
    }

    fn audit_head(&self) -> Result<Checkpoint, StoreError> {
        sqlite_audit::head(&mut *self.conn()?)
    }

    fn lookup_audit(&self, query: &AuditQuery) -> Result<Vec<ChainedEvent>, StoreError> {
        sqlite_audit::lookup(&mut *self.conn()?, query)
    }

    fn audit_range(&self, after_seq: u64, limit: usize) -> Result<Vec<ChainedEvent>, StoreError> {
        sqlite_audit::range(&mut *self.conn()?, after_seq, limit)
    }

    fn prune_audit(&self, before: UnixMillis) -> Result<Checkpoint, StoreError> {
        sqlite_audit::prune(&mut *self.conn()?, before)
    }

    fn audit_checkpoint(&self) -> Result<Checkpoint, StoreError> {
        sqlite_audit::checkpoint(&*self.conn()?)
    }
}

const ALIAS_COLUMNS: &str = "SELECT account, region, name, target, created, updated FROM aliases";

type AliasColumns = (String, String, String, String, i64, i64);

fn alias_columns(r: &rusqlite::Row<'_>) -> rusqlite::Result<AliasColumns> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn alias_from_columns(
    (account, region, name, target, created, updated): AliasColumns,
) -> Result<AliasRecord, StoreError> {
    Ok(AliasRecord {
        account,
        region,
        name,
        target: parse_uuid(&target)?,
        created: UnixMillis(created),
        updated: UnixMillis(updated),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Commits leave SQLite's automatic checkpoint off; the checkpointer thread copies the
    /// log into the database file by itself, and restarts the log once it is long.
    #[test]
    fn the_checkpointer_copies_the_log_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.db");
        // A small bound, checked often, so that a few thousand commits cross it many times.
        let restart_after = 256;
        let store = SqliteStore::open_checkpointed(&path, Duration::from_millis(20), restart_after)
            .unwrap();
        let autocheckpoint: i64 = store
            .conn()
            .unwrap()
            .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
            .unwrap();
        assert_eq!(autocheckpoint, 0);
        // 8192 commits, each writing at least one page of log (a 3000-byte value), with the
        // short pauses real writers leave between commits (the store's lock is not fair).
        let commits = 8192;
        let value = vec![7u8; 3000];
        for i in 0..commits {
            store
                .put_meta_if_absent(&format!("filler-{i}"), &value)
                .unwrap();
            std::thread::sleep(Duration::from_micros(20));
        }
        // The database file alone (no log beside it) holds the rows once the checkpointer
        // has run, and the log has been restarted instead of growing past the bound.
        let copy = dir.path().join("copy.db");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let rows = loop {
            std::fs::copy(&path, &copy).unwrap();
            let rows: i64 = Connection::open(&copy)
                .unwrap()
                .query_row(
                    "SELECT count(*) FROM meta WHERE name LIKE 'filler-%'",
                    [],
                    |r| r.get(0),
                )
                .unwrap_or(0);
            if rows == commits || std::time::Instant::now() > deadline {
                break rows;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(rows, commits);
        // Without restarts the log would hold every commit's pages: 8192 or more, 32 MiB.
        let log = std::fs::metadata(dir.path().join("k.db-wal"))
            .unwrap()
            .len();
        let bound = 16 * u64::try_from(restart_after).unwrap() * (4096 + 24);
        assert!(log < bound, "log of {log} bytes, bound {bound}");
        drop(store);
    }

    #[test]
    fn a_database_of_the_first_schema_gains_secrets_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(MIGRATIONS[0]).unwrap();
        old.pragma_update(None, "user_version", 1).unwrap();
        old.execute("INSERT INTO meta (name, value) VALUES ('root', x'01')", [])
            .unwrap();
        drop(old);

        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.get_meta("root").unwrap(), Some(vec![1]));
        let version: i64 = store
            .conn()
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        assert!(store.list_secrets("0", "r").unwrap().is_empty());
    }

    #[test]
    fn secrets_stored_before_the_created_column_page_by_their_creation_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v4.db");
        let old = Connection::open(&path).unwrap();
        for migration in &MIGRATIONS[..4] {
            old.execute_batch(migration).unwrap();
        }
        old.pragma_update(None, "user_version", 4).unwrap();
        for (name, created) in [("late", 2_000), ("early", 1_000)] {
            let doc = serde_json::json!({
                "id": Uuid::new_v4(), "account": "000000000000", "region": "us-east-1",
                "name": name, "arn": format!("arn:aws:secretsmanager:us-east-1:000000000000:secret:{name}-AbCdEf"),
                "created": created, "last_changed": created, "versions": [], "tags": [],
            });
            old.execute(
                "INSERT INTO secrets (id, account, region, name, revision, doc) VALUES (?1, '000000000000', 'us-east-1', ?2, 1, ?3)",
                params![doc["id"].as_str().unwrap(), name, doc.to_string()],
            )
            .unwrap();
        }
        drop(old);

        let store = SqliteStore::open(&path).unwrap();
        let page = store
            .list_secrets_page(
                "000000000000",
                "us-east-1",
                SecretOrder::Created { descending: false },
                None,
                10,
            )
            .unwrap();
        let names: Vec<&str> = page.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["early", "late"]);
    }
}
